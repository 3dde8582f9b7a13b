#include "herald/region.h"
#include "herald/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Hand-rolled ASCII case handling: <ctype.h> and strcasecmp() follow the
 * locale, and a Turkish locale would otherwise fold "i" to a dotless I. */
static bool is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static char to_lower(char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
}

static char to_upper(char ch)
{
    return (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
}

static bool ascii_case_equal(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (to_lower(*a) != to_lower(*b))
            return false;
    return *a == *b;
}

/* ISO 3166-1 alpha-2, every officially assigned code, sorted by code because
 * hd_country_find() binary-searches it. Names are the ISO English short names.
 * Overseas parts of member states that ISO codes separately (GF, GP, MQ, RE,
 * YT, MF, AX) are deliberately not flagged EU: a group lists member states,
 * 27 of them, and those territories carry their own codes in audience data. */
#define ISO(code, name)                                                                            \
    {                                                                                              \
        code, name, 0, NULL, NULL, 0                                                               \
    }
#define EU(code, name, langs, zones, pop)                                                          \
    {                                                                                              \
        code, name, HD_GROUP_EU | HD_GROUP_EEA, langs, zones, pop                                  \
    }
#define EEA(code, name, langs, zones, pop)                                                         \
    {                                                                                              \
        code, name, HD_GROUP_EEA, langs, zones, pop                                                \
    }
#define UK(code, name, langs, zones, pop)                                                          \
    {                                                                                              \
        code, name, HD_GROUP_UK, langs, zones, pop                                                 \
    }
/* Outside the groups, but common enough among a European audience that a
 * synthetic one needs a language, zone and weight for them. */
#define NEAR(code, name, langs, zones, pop)                                                        \
    {                                                                                              \
        code, name, 0, langs, zones, pop                                                           \
    }

static const struct hd_country countries[] = {
    ISO("AD", "Andorra"),
    ISO("AE", "United Arab Emirates"),
    ISO("AF", "Afghanistan"),
    ISO("AG", "Antigua and Barbuda"),
    ISO("AI", "Anguilla"),
    ISO("AL", "Albania"),
    ISO("AM", "Armenia"),
    ISO("AO", "Angola"),
    ISO("AQ", "Antarctica"),
    ISO("AR", "Argentina"),
    ISO("AS", "American Samoa"),
    EU("AT", "Austria", "de", "Europe/Vienna", 9105),
    NEAR("AU", "Australia", "en", "Australia/Sydney", 26639),
    ISO("AW", "Aruba"),
    ISO("AX", "Åland Islands"),
    ISO("AZ", "Azerbaijan"),
    ISO("BA", "Bosnia and Herzegovina"),
    ISO("BB", "Barbados"),
    ISO("BD", "Bangladesh"),
    EU("BE", "Belgium", "nl fr de", "Europe/Brussels", 11743),
    ISO("BF", "Burkina Faso"),
    EU("BG", "Bulgaria", "bg", "Europe/Sofia", 6448),
    ISO("BH", "Bahrain"),
    ISO("BI", "Burundi"),
    ISO("BJ", "Benin"),
    ISO("BL", "Saint Barthélemy"),
    ISO("BM", "Bermuda"),
    ISO("BN", "Brunei Darussalam"),
    ISO("BO", "Bolivia (Plurinational State of)"),
    ISO("BQ", "Bonaire, Sint Eustatius and Saba"),
    NEAR("BR", "Brazil", "pt", "America/Sao_Paulo", 203081),
    ISO("BS", "Bahamas"),
    ISO("BT", "Bhutan"),
    ISO("BV", "Bouvet Island"),
    ISO("BW", "Botswana"),
    ISO("BY", "Belarus"),
    ISO("BZ", "Belize"),
    NEAR("CA", "Canada", "en fr", "America/Toronto", 40098),
    ISO("CC", "Cocos (Keeling) Islands"),
    ISO("CD", "Congo, Democratic Republic of the"),
    ISO("CF", "Central African Republic"),
    ISO("CG", "Congo"),
    NEAR("CH", "Switzerland", "de fr it", "Europe/Zurich", 8812),
    ISO("CI", "Côte d'Ivoire"),
    ISO("CK", "Cook Islands"),
    ISO("CL", "Chile"),
    ISO("CM", "Cameroon"),
    ISO("CN", "China"),
    ISO("CO", "Colombia"),
    ISO("CR", "Costa Rica"),
    ISO("CU", "Cuba"),
    ISO("CV", "Cabo Verde"),
    ISO("CW", "Curaçao"),
    ISO("CX", "Christmas Island"),
    EU("CY", "Cyprus", "el tr", "Asia/Nicosia Asia/Famagusta", 921),
    EU("CZ", "Czechia", "cs", "Europe/Prague", 10828),
    EU("DE", "Germany", "de", "Europe/Berlin Europe/Busingen", 84359),
    ISO("DJ", "Djibouti"),
    EU("DK", "Denmark", "da", "Europe/Copenhagen", 5933),
    ISO("DM", "Dominica"),
    ISO("DO", "Dominican Republic"),
    ISO("DZ", "Algeria"),
    ISO("EC", "Ecuador"),
    EU("EE", "Estonia", "et", "Europe/Tallinn", 1366),
    ISO("EG", "Egypt"),
    ISO("EH", "Western Sahara"),
    ISO("ER", "Eritrea"),
    EU("ES", "Spain", "es", "Europe/Madrid Atlantic/Canary Africa/Ceuta", 48060),
    ISO("ET", "Ethiopia"),
    EU("FI", "Finland", "fi sv", "Europe/Helsinki", 5564),
    ISO("FJ", "Fiji"),
    ISO("FK", "Falkland Islands (Malvinas)"),
    ISO("FM", "Micronesia (Federated States of)"),
    ISO("FO", "Faroe Islands"),
    EU("FR", "France", "fr", "Europe/Paris", 68173),
    ISO("GA", "Gabon"),
    UK("GB", "United Kingdom of Great Britain and Northern Ireland", "en", "Europe/London", 68265),
    ISO("GD", "Grenada"),
    ISO("GE", "Georgia"),
    ISO("GF", "French Guiana"),
    ISO("GG", "Guernsey"),
    ISO("GH", "Ghana"),
    ISO("GI", "Gibraltar"),
    ISO("GL", "Greenland"),
    ISO("GM", "Gambia"),
    ISO("GN", "Guinea"),
    ISO("GP", "Guadeloupe"),
    ISO("GQ", "Equatorial Guinea"),
    EU("GR", "Greece", "el", "Europe/Athens", 10414),
    ISO("GS", "South Georgia and the South Sandwich Islands"),
    ISO("GT", "Guatemala"),
    ISO("GU", "Guam"),
    ISO("GW", "Guinea-Bissau"),
    ISO("GY", "Guyana"),
    ISO("HK", "Hong Kong"),
    ISO("HM", "Heard Island and McDonald Islands"),
    ISO("HN", "Honduras"),
    EU("HR", "Croatia", "hr", "Europe/Zagreb", 3851),
    ISO("HT", "Haiti"),
    EU("HU", "Hungary", "hu", "Europe/Budapest", 9600),
    ISO("ID", "Indonesia"),
    EU("IE", "Ireland", "en ga", "Europe/Dublin", 5271),
    ISO("IL", "Israel"),
    ISO("IM", "Isle of Man"),
    NEAR("IN", "India", "hi en", "Asia/Kolkata", 1428628),
    ISO("IO", "British Indian Ocean Territory"),
    ISO("IQ", "Iraq"),
    ISO("IR", "Iran (Islamic Republic of)"),
    EEA("IS", "Iceland", "is", "Atlantic/Reykjavik", 388),
    EU("IT", "Italy", "it", "Europe/Rome", 58997),
    ISO("JE", "Jersey"),
    ISO("JM", "Jamaica"),
    ISO("JO", "Jordan"),
    ISO("JP", "Japan"),
    ISO("KE", "Kenya"),
    ISO("KG", "Kyrgyzstan"),
    ISO("KH", "Cambodia"),
    ISO("KI", "Kiribati"),
    ISO("KM", "Comoros"),
    ISO("KN", "Saint Kitts and Nevis"),
    ISO("KP", "Korea (Democratic People's Republic of)"),
    ISO("KR", "Korea, Republic of"),
    ISO("KW", "Kuwait"),
    ISO("KY", "Cayman Islands"),
    ISO("KZ", "Kazakhstan"),
    ISO("LA", "Lao People's Democratic Republic"),
    ISO("LB", "Lebanon"),
    ISO("LC", "Saint Lucia"),
    EEA("LI", "Liechtenstein", "de", "Europe/Vaduz", 40),
    ISO("LK", "Sri Lanka"),
    ISO("LR", "Liberia"),
    ISO("LS", "Lesotho"),
    EU("LT", "Lithuania", "lt", "Europe/Vilnius", 2857),
    EU("LU", "Luxembourg", "fr de lb", "Europe/Luxembourg", 661),
    EU("LV", "Latvia", "lv", "Europe/Riga", 1883),
    ISO("LY", "Libya"),
    NEAR("MA", "Morocco", "ar fr", "Africa/Casablanca", 37067),
    ISO("MC", "Monaco"),
    ISO("MD", "Moldova, Republic of"),
    ISO("ME", "Montenegro"),
    ISO("MF", "Saint Martin (French part)"),
    ISO("MG", "Madagascar"),
    ISO("MH", "Marshall Islands"),
    ISO("MK", "North Macedonia"),
    ISO("ML", "Mali"),
    ISO("MM", "Myanmar"),
    ISO("MN", "Mongolia"),
    ISO("MO", "Macao"),
    ISO("MP", "Northern Mariana Islands"),
    ISO("MQ", "Martinique"),
    ISO("MR", "Mauritania"),
    ISO("MS", "Montserrat"),
    EU("MT", "Malta", "mt en", "Europe/Malta", 542),
    ISO("MU", "Mauritius"),
    ISO("MV", "Maldives"),
    ISO("MW", "Malawi"),
    ISO("MX", "Mexico"),
    ISO("MY", "Malaysia"),
    ISO("MZ", "Mozambique"),
    ISO("NA", "Namibia"),
    ISO("NC", "New Caledonia"),
    ISO("NE", "Niger"),
    ISO("NF", "Norfolk Island"),
    ISO("NG", "Nigeria"),
    ISO("NI", "Nicaragua"),
    EU("NL", "Netherlands (Kingdom of the)", "nl", "Europe/Amsterdam", 17811),
    EEA("NO", "Norway", "no nb nn", "Europe/Oslo", 5489),
    ISO("NP", "Nepal"),
    ISO("NR", "Nauru"),
    ISO("NU", "Niue"),
    ISO("NZ", "New Zealand"),
    ISO("OM", "Oman"),
    ISO("PA", "Panama"),
    ISO("PE", "Peru"),
    ISO("PF", "French Polynesia"),
    ISO("PG", "Papua New Guinea"),
    ISO("PH", "Philippines"),
    ISO("PK", "Pakistan"),
    EU("PL", "Poland", "pl", "Europe/Warsaw", 36754),
    ISO("PM", "Saint Pierre and Miquelon"),
    ISO("PN", "Pitcairn"),
    ISO("PR", "Puerto Rico"),
    ISO("PS", "Palestine, State of"),
    EU("PT", "Portugal", "pt", "Europe/Lisbon Atlantic/Madeira Atlantic/Azores", 10467),
    ISO("PW", "Palau"),
    ISO("PY", "Paraguay"),
    ISO("QA", "Qatar"),
    ISO("RE", "Réunion"),
    EU("RO", "Romania", "ro", "Europe/Bucharest", 19052),
    NEAR("RS", "Serbia", "sr", "Europe/Belgrade", 6623),
    ISO("RU", "Russian Federation"),
    ISO("RW", "Rwanda"),
    ISO("SA", "Saudi Arabia"),
    ISO("SB", "Solomon Islands"),
    ISO("SC", "Seychelles"),
    ISO("SD", "Sudan"),
    EU("SE", "Sweden", "sv", "Europe/Stockholm", 10522),
    ISO("SG", "Singapore"),
    ISO("SH", "Saint Helena, Ascension and Tristan da Cunha"),
    EU("SI", "Slovenia", "sl", "Europe/Ljubljana", 2117),
    ISO("SJ", "Svalbard and Jan Mayen"),
    EU("SK", "Slovakia", "sk", "Europe/Bratislava", 5429),
    ISO("SL", "Sierra Leone"),
    ISO("SM", "San Marino"),
    ISO("SN", "Senegal"),
    ISO("SO", "Somalia"),
    ISO("SR", "Suriname"),
    ISO("SS", "South Sudan"),
    ISO("ST", "Sao Tome and Principe"),
    ISO("SV", "El Salvador"),
    ISO("SX", "Sint Maarten (Dutch part)"),
    ISO("SY", "Syrian Arab Republic"),
    ISO("SZ", "Eswatini"),
    ISO("TC", "Turks and Caicos Islands"),
    ISO("TD", "Chad"),
    ISO("TF", "French Southern Territories"),
    ISO("TG", "Togo"),
    ISO("TH", "Thailand"),
    ISO("TJ", "Tajikistan"),
    ISO("TK", "Tokelau"),
    ISO("TL", "Timor-Leste"),
    ISO("TM", "Turkmenistan"),
    ISO("TN", "Tunisia"),
    ISO("TO", "Tonga"),
    NEAR("TR", "Türkiye", "tr", "Europe/Istanbul", 85372),
    ISO("TT", "Trinidad and Tobago"),
    ISO("TV", "Tuvalu"),
    ISO("TW", "Taiwan, Province of China"),
    ISO("TZ", "Tanzania, United Republic of"),
    NEAR("UA", "Ukraine", "uk", "Europe/Kyiv", 37000),
    ISO("UG", "Uganda"),
    ISO("UM", "United States Minor Outlying Islands"),
    NEAR("US", "United States of America", "en", "America/New_York", 334915),
    ISO("UY", "Uruguay"),
    ISO("UZ", "Uzbekistan"),
    ISO("VA", "Holy See"),
    ISO("VC", "Saint Vincent and the Grenadines"),
    ISO("VE", "Venezuela (Bolivarian Republic of)"),
    ISO("VG", "Virgin Islands (British)"),
    ISO("VI", "Virgin Islands (U.S.)"),
    ISO("VN", "Viet Nam"),
    ISO("VU", "Vanuatu"),
    ISO("WF", "Wallis and Futuna"),
    ISO("WS", "Samoa"),
    ISO("YE", "Yemen"),
    ISO("YT", "Mayotte"),
    ISO("ZA", "South Africa"),
    ISO("ZM", "Zambia"),
    ISO("ZW", "Zimbabwe"),
};

#undef ISO
#undef EU
#undef EEA
#undef UK
#undef NEAR

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

_Static_assert(COUNT(countries) == 249, "ISO 3166-1 assigns 249 alpha-2 codes");

/* Compares a two-letter key, already upper case, with a table code. */
static int code_cmp(const char key[2], const char *code)
{
    if (key[0] != code[0])
        return key[0] < code[0] ? -1 : 1;
    if (key[1] != code[1])
        return key[1] < code[1] ? -1 : 1;
    return 0;
}

const struct hd_country *hd_country_find(const char *code, size_t len)
{
    char key[2];
    size_t lo = 0, hi = COUNT(countries);
    if (code == NULL || len != 2 || !is_alpha(code[0]) || !is_alpha(code[1]))
        return NULL;
    key[0] = to_upper(code[0]);
    key[1] = to_upper(code[1]);
    /* "UK" is ISO-reserved (not assigned), but it is what people write. */
    if (key[0] == 'U' && key[1] == 'K') {
        key[0] = 'G';
        key[1] = 'B';
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = code_cmp(key, countries[mid].code);
        if (cmp == 0)
            return &countries[mid];
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const struct hd_country *hd_country_in_groups(unsigned groups, size_t i)
{
    for (size_t k = 0; k < COUNT(countries); k++) {
        if ((countries[k].groups & groups) == 0)
            continue;
        if (i == 0)
            return &countries[k];
        i--;
    }
    return NULL;
}

unsigned hd_region_group_parse(const char *name)
{
    if (name == NULL)
        return 0;
    if (ascii_case_equal(name, "EU"))
        return HD_GROUP_EU;
    if (ascii_case_equal(name, "EEA"))
        return HD_GROUP_EEA;
    if (ascii_case_equal(name, "UK"))
        return HD_GROUP_UK;
    return 0;
}

/* ISO 639-1: all 183 current two-letter codes (withdrawn ones such as "iw",
 * "in", "mo" and "sh" are not), sorted by code for binary search. */
struct language {
    char code[3];
    const char *name;
};

static const struct language languages[] = {
    {"aa", "Afar"},
    {"ab", "Abkhazian"},
    {"ae", "Avestan"},
    {"af", "Afrikaans"},
    {"ak", "Akan"},
    {"am", "Amharic"},
    {"an", "Aragonese"},
    {"ar", "Arabic"},
    {"as", "Assamese"},
    {"av", "Avaric"},
    {"ay", "Aymara"},
    {"az", "Azerbaijani"},
    {"ba", "Bashkir"},
    {"be", "Belarusian"},
    {"bg", "Bulgarian"},
    {"bi", "Bislama"},
    {"bm", "Bambara"},
    {"bn", "Bengali"},
    {"bo", "Tibetan"},
    {"br", "Breton"},
    {"bs", "Bosnian"},
    {"ca", "Catalan"},
    {"ce", "Chechen"},
    {"ch", "Chamorro"},
    {"co", "Corsican"},
    {"cr", "Cree"},
    {"cs", "Czech"},
    {"cu", "Church Slavic"},
    {"cv", "Chuvash"},
    {"cy", "Welsh"},
    {"da", "Danish"},
    {"de", "German"},
    {"dv", "Divehi"},
    {"dz", "Dzongkha"},
    {"ee", "Ewe"},
    {"el", "Greek"},
    {"en", "English"},
    {"eo", "Esperanto"},
    {"es", "Spanish"},
    {"et", "Estonian"},
    {"eu", "Basque"},
    {"fa", "Persian"},
    {"ff", "Fulah"},
    {"fi", "Finnish"},
    {"fj", "Fijian"},
    {"fo", "Faroese"},
    {"fr", "French"},
    {"fy", "Western Frisian"},
    {"ga", "Irish"},
    {"gd", "Scottish Gaelic"},
    {"gl", "Galician"},
    {"gn", "Guarani"},
    {"gu", "Gujarati"},
    {"gv", "Manx"},
    {"ha", "Hausa"},
    {"he", "Hebrew"},
    {"hi", "Hindi"},
    {"ho", "Hiri Motu"},
    {"hr", "Croatian"},
    {"ht", "Haitian"},
    {"hu", "Hungarian"},
    {"hy", "Armenian"},
    {"hz", "Herero"},
    {"ia", "Interlingua"},
    {"id", "Indonesian"},
    {"ie", "Interlingue"},
    {"ig", "Igbo"},
    {"ii", "Sichuan Yi"},
    {"ik", "Inupiaq"},
    {"io", "Ido"},
    {"is", "Icelandic"},
    {"it", "Italian"},
    {"iu", "Inuktitut"},
    {"ja", "Japanese"},
    {"jv", "Javanese"},
    {"ka", "Georgian"},
    {"kg", "Kongo"},
    {"ki", "Kikuyu"},
    {"kj", "Kuanyama"},
    {"kk", "Kazakh"},
    {"kl", "Kalaallisut"},
    {"km", "Khmer"},
    {"kn", "Kannada"},
    {"ko", "Korean"},
    {"kr", "Kanuri"},
    {"ks", "Kashmiri"},
    {"ku", "Kurdish"},
    {"kv", "Komi"},
    {"kw", "Cornish"},
    {"ky", "Kyrgyz"},
    {"la", "Latin"},
    {"lb", "Luxembourgish"},
    {"lg", "Ganda"},
    {"li", "Limburgish"},
    {"ln", "Lingala"},
    {"lo", "Lao"},
    {"lt", "Lithuanian"},
    {"lu", "Luba-Katanga"},
    {"lv", "Latvian"},
    {"mg", "Malagasy"},
    {"mh", "Marshallese"},
    {"mi", "Maori"},
    {"mk", "Macedonian"},
    {"ml", "Malayalam"},
    {"mn", "Mongolian"},
    {"mr", "Marathi"},
    {"ms", "Malay"},
    {"mt", "Maltese"},
    {"my", "Burmese"},
    {"na", "Nauru"},
    {"nb", "Norwegian Bokmål"},
    {"nd", "North Ndebele"},
    {"ne", "Nepali"},
    {"ng", "Ndonga"},
    {"nl", "Dutch"},
    {"nn", "Norwegian Nynorsk"},
    {"no", "Norwegian"},
    {"nr", "South Ndebele"},
    {"nv", "Navajo"},
    {"ny", "Chichewa"},
    {"oc", "Occitan"},
    {"oj", "Ojibwa"},
    {"om", "Oromo"},
    {"or", "Oriya"},
    {"os", "Ossetian"},
    {"pa", "Punjabi"},
    {"pi", "Pali"},
    {"pl", "Polish"},
    {"ps", "Pashto"},
    {"pt", "Portuguese"},
    {"qu", "Quechua"},
    {"rm", "Romansh"},
    {"rn", "Rundi"},
    {"ro", "Romanian"},
    {"ru", "Russian"},
    {"rw", "Kinyarwanda"},
    {"sa", "Sanskrit"},
    {"sc", "Sardinian"},
    {"sd", "Sindhi"},
    {"se", "Northern Sami"},
    {"sg", "Sango"},
    {"si", "Sinhala"},
    {"sk", "Slovak"},
    {"sl", "Slovenian"},
    {"sm", "Samoan"},
    {"sn", "Shona"},
    {"so", "Somali"},
    {"sq", "Albanian"},
    {"sr", "Serbian"},
    {"ss", "Swati"},
    {"st", "Southern Sotho"},
    {"su", "Sundanese"},
    {"sv", "Swedish"},
    {"sw", "Swahili"},
    {"ta", "Tamil"},
    {"te", "Telugu"},
    {"tg", "Tajik"},
    {"th", "Thai"},
    {"ti", "Tigrinya"},
    {"tk", "Turkmen"},
    {"tl", "Tagalog"},
    {"tn", "Tswana"},
    {"to", "Tonga"},
    {"tr", "Turkish"},
    {"ts", "Tsonga"},
    {"tt", "Tatar"},
    {"tw", "Twi"},
    {"ty", "Tahitian"},
    {"ug", "Uyghur"},
    {"uk", "Ukrainian"},
    {"ur", "Urdu"},
    {"uz", "Uzbek"},
    {"ve", "Venda"},
    {"vi", "Vietnamese"},
    {"vo", "Volapük"},
    {"wa", "Walloon"},
    {"wo", "Wolof"},
    {"xh", "Xhosa"},
    {"yi", "Yiddish"},
    {"yo", "Yoruba"},
    {"za", "Zhuang"},
    {"zh", "Chinese"},
    {"zu", "Zulu"},
};

_Static_assert(COUNT(languages) == 183, "ISO 639-1 has 183 codes");

/* Looks up two letters in any case; NULL unless they form an ISO 639-1 code. */
static const struct language *language_find(const char *code)
{
    char key[2];
    size_t lo = 0, hi = COUNT(languages);
    if (!is_alpha(code[0]) || !is_alpha(code[1]))
        return NULL;
    key[0] = to_lower(code[0]);
    key[1] = to_lower(code[1]);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = code_cmp(key, languages[mid].code);
        if (cmp == 0)
            return &languages[mid];
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* The struct has no main-language field, so the first word of languages is
 * mapped onto the ISO 639-1 table, whose codes are NUL-terminated statics.
 * This also works for a struct hd_country the caller built itself. */
const char *hd_country_main_language(const struct hd_country *c)
{
    const struct language *lang;
    if (c == NULL || c->languages == NULL || strcspn(c->languages, " ") != 2)
        return NULL;
    lang = language_find(c->languages);
    return lang ? lang->code : NULL;
}

const char *hd_lang_name(const char *primary)
{
    const struct language *lang;
    if (primary == NULL || primary[0] == '\0' || primary[1] == '\0' || primary[2] != '\0')
        return NULL;
    lang = language_find(primary);
    return lang ? lang->name : NULL;
}

/* Longest accepted tag, "xxx-Xxxx-999", is 12; BCP 47 allows more, but the
 * extra subtag kinds are rejected anyway, so the cap only bounds the scan. */
#define LANG_TAG_MAX 15

enum subtag_kind { SUBTAG_LANGUAGE, SUBTAG_SCRIPT, SUBTAG_REGION };

/* Splits a tag into subtags and classifies them. Returns the number of
 * subtags (1..3) with each one's offset in start[], or 0 when malformed. */
static size_t lang_parse(const char *tag, size_t len, size_t start[3], enum subtag_kind kind[3],
                         bool lax)
{
    size_t n = 0, pos = 0;
    if (tag == NULL || len == 0 || len > LANG_TAG_MAX)
        return 0;
    while (pos <= len) {
        size_t end = pos, alpha = 0, digit = 0;
        while (end < len && tag[end] != '-' && tag[end] != '_') {
            if (is_alpha(tag[end]))
                alpha++;
            else if (is_digit(tag[end]))
                digit++;
            else
                return 0;
            end++;
        }
        size_t sublen = end - pos;
        if (sublen == 0 || n == 3)
            return 0;
        if (n == 0) {
            if (digit != 0 || sublen < 2 || sublen > 3)
                return 0;
            /* lax: well-formed is enough (hd_lang_normalise). */
            if (!lax && sublen == 2 && language_find(tag) == NULL)
                return 0;
            kind[n] = SUBTAG_LANGUAGE;
        } else if (sublen == 4 && alpha == 4 && kind[n - 1] == SUBTAG_LANGUAGE) {
            kind[n] = SUBTAG_SCRIPT;
        } else if ((sublen == 2 && alpha == 2) || (sublen == 3 && digit == 3)) {
            if (kind[n - 1] == SUBTAG_REGION)
                return 0;
            kind[n] = SUBTAG_REGION;
        } else {
            return 0;
        }
        start[n++] = pos;
        /* end == len finishes; otherwise skip the separator, and a trailing
         * one makes the next round see an empty subtag. */
        pos = end + 1;
    }
    return n;
}

bool hd_lang_valid(const char *tag, size_t len)
{
    size_t start[3];
    enum subtag_kind kind[3];
    return lang_parse(tag, len, start, kind, false) != 0;
}

/* Writes the first len characters of an already-parsed tag in canonical form. */
static size_t lang_write(const char *tag, size_t len, const size_t start[3],
                         const enum subtag_kind kind[3], size_t n, char *out, size_t cap)
{
    if (out == NULL || cap < len + 1) {
        if (out != NULL && cap > 0)
            out[0] = '\0';
        return 0;
    }
    for (size_t s = 0; s < n; s++) {
        size_t end = s + 1 < n ? start[s + 1] - 1 : len;
        for (size_t i = start[s]; i < end; i++) {
            char ch = tag[i];
            if (kind[s] == SUBTAG_LANGUAGE)
                ch = to_lower(ch);
            else if (kind[s] == SUBTAG_REGION)
                ch = to_upper(ch);
            else
                ch = i == start[s] ? to_upper(ch) : to_lower(ch);
            out[i] = ch;
        }
        if (end < len)
            out[end] = '-';
    }
    out[len] = '\0';
    return len;
}

size_t hd_lang_canonical(const char *tag, size_t len, char *out, size_t cap)
{
    size_t start[3];
    enum subtag_kind kind[3];
    size_t n = lang_parse(tag, len, start, kind, false);
    if (n == 0) {
        if (out != NULL && cap > 0)
            out[0] = '\0';
        return 0;
    }
    return lang_write(tag, len, start, kind, n, out, cap);
}

size_t hd_lang_parent(const char *tag, char *out, size_t cap)
{
    size_t start[3];
    enum subtag_kind kind[3];
    size_t n = 0;
    if (tag != NULL) {
        size_t len = strnlen(tag, LANG_TAG_MAX + 1);
        n = lang_parse(tag, len, start, kind, false);
    }
    if (n < 2) {
        if (out != NULL && cap > 0)
            out[0] = '\0';
        return 0;
    }
    /* The parent ends just before the separator of the last subtag. */
    return lang_write(tag, start[n - 1] - 1, start, kind, n - 1, out, cap);
}

/* Deprecated ISO 639-1 codes still found in old systems, and the codes
 * that replaced them (the IANA subtag registry's Preferred-Value). */
static const char lang_aliases[][2][3] = {
    {"in", "id"}, {"iw", "he"}, {"ji", "yi"}, {"jw", "jv"}, {"mo", "ro"},
};

size_t hd_lang_normalise(const char *tag, size_t len, char *out, size_t cap, unsigned *how)
{
    size_t start[3];
    enum subtag_kind kind[3];
    size_t n = lang_parse(tag, len, start, kind, true), w = 0;
    unsigned h = 0;
    if (how != NULL)
        *how = 0;
    if (n == 0 || (w = lang_write(tag, len, start, kind, n, out, cap)) == 0) {
        if (out != NULL && cap > 0)
            out[0] = '\0';
        return 0;
    }
    if (n > 1 ? start[1] == 3 : w == 2) { /* a two-letter primary language */
        for (size_t i = 0; i < COUNT(lang_aliases); i++)
            if (memcmp(out, lang_aliases[i][0], 2) == 0)
                memcpy(out, lang_aliases[i][1], 2);
        if (language_find(out) == NULL)
            h |= HD_LANG_NORM_UNKNOWN;
    }
    if (memcmp(out, tag, w) != 0)
        h |= HD_LANG_NORM_CHANGED;
    if (how != NULL)
        *how = h;
    return w;
}

/* True when tag[0..n) is one of the space-separated words of list. */
static bool word_listed(const char *list, const char *tag, size_t n)
{
    const char *p = list;
    while (p != NULL && *p) {
        size_t k = strcspn(p, " ");
        if (k == n && memcmp(p, tag, n) == 0)
            return true;
        p += k;
        while (*p == ' ')
            p++;
    }
    return false;
}

/* True when tag or one of its parents is in locales: what the campaign's
 * exact-or-parent locale lookup would find. */
static bool lang_resolves(const char *tag, const char *locales)
{
    char t[LANG_TAG_MAX + 1], parent[LANG_TAG_MAX + 1];
    snprintf(t, sizeof t, "%s", tag);
    for (;;) {
        if (word_listed(locales, t, strlen(t)))
            return true;
        if (hd_lang_parent(t, parent, sizeof parent) == 0)
            return false;
        memcpy(t, parent, sizeof t);
    }
}

/* Macrolanguage members and the macrolanguage, both ways. Only Norwegian
 * for now: it is the one an EU/EEA audience meets (Norway writes nb or nn,
 * many systems write no). The reverse maps no to Bokmal, the written
 * standard of most Norwegians, never to Nynorsk. */
static const char lang_macro[][2][3] = {{"nb", "no"}, {"nn", "no"}, {"no", "nb"}};

size_t hd_lang_macro_map(const char *tag, const char *locales, char *out, size_t cap)
{
    char mapped[LANG_TAG_MAX + 1];
    size_t len = tag ? strnlen(tag, LANG_TAG_MAX + 1) : 0;
    if (out != NULL && cap > 0)
        out[0] = '\0';
    if (locales == NULL || len < 2 || len > LANG_TAG_MAX || (len > 2 && tag[2] != '-'))
        return 0;
    for (size_t i = 0; i < COUNT(lang_macro); i++) {
        /* Cheap test first: this runs for every row that has a language. */
        if (memcmp(tag, lang_macro[i][0], 2) != 0 || lang_resolves(tag, locales))
            continue;
        memcpy(mapped, tag, len + 1);
        memcpy(mapped, lang_macro[i][1], 2);
        if (!lang_resolves(mapped, locales))
            continue;
        if (out == NULL || cap < len + 1)
            return 0;
        memcpy(out, mapped, len + 1);
        return len;
    }
    return 0;
}

#define TZ_NAME_MAX 64
#define TZ_DIR "/usr/share/zoneinfo/"

/* Rejects anything that could leave the zoneinfo directory or is not shaped
 * like a zone name. The character set has no '.', so "..", "./" and hidden
 * files are impossible; empty components ("a//b", "a/") are refused so one
 * zone has exactly one accepted spelling. */
static bool tz_name_ok(const char *tz, size_t len)
{
    if (tz == NULL || len == 0 || len > TZ_NAME_MAX || tz[0] == '/' || tz[len - 1] == '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = tz[i];
        if (ch == '/') {
            if (tz[i - 1] == '/')
                return false;
        } else if (!is_alpha(ch) && !is_digit(ch) && ch != '_' && ch != '+' && ch != '-') {
            return false;
        }
    }
    return true;
}

bool hd_tz_well_formed(const char *tz, size_t len)
{
    return tz_name_ok(tz, len);
}

/* A regular file is not enough: zoneinfo also holds "leapseconds",
 * "SECURITY" and the like, so the TZif magic is checked too. O_NONBLOCK keeps
 * a FIFO planted in the tree from hanging the caller. */
static bool tz_file_ok(const char *tz, size_t len)
{
    char path[sizeof TZ_DIR + TZ_NAME_MAX];
    char magic[4];
    struct hd_err err = {0};
    bool ok = false;
    int fd;
    memcpy(path, TZ_DIR, sizeof TZ_DIR - 1);
    memcpy(path + sizeof TZ_DIR - 1, tz, len);
    path[sizeof TZ_DIR - 1 + len] = '\0';
    /* The one input opener: a regular file, never blocking (herald/files.h). */
    fd = hd_input_open(path, HD_IN_SYSTEM, "time zone file", NULL, &err);
    if (fd < 0)
        return false;
    if (read(fd, magic, sizeof magic) == (ssize_t)sizeof magic)
        ok = memcmp(magic, "TZif", sizeof magic) == 0;
    close(fd);
    return ok;
}

/* Audience files repeat a handful of zones over millions of rows, so answers
 * are memoised in a direct-mapped per-thread cache: no locks, no
 * sharing. Entries never expire; a zoneinfo update during one run is not
 * worth an invalidation scheme. */
#define TZ_CACHE_SLOTS 1024 /* audiences use a few dozen zones: keep collisions rare */

struct tz_cache_entry {
    unsigned char len; /* 0: empty slot */
    bool valid;
    char name[TZ_NAME_MAX];
};

static _Thread_local struct tz_cache_entry tz_cache[TZ_CACHE_SLOTS];

static size_t tz_hash(const char *tz, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)tz[i];
        h *= 16777619u;
    }
    return h % TZ_CACHE_SLOTS;
}

bool hd_tz_valid(const char *tz, size_t len)
{
    struct tz_cache_entry *e;
    if (!tz_name_ok(tz, len))
        return false;
    e = &tz_cache[tz_hash(tz, len)];
    if (e->len == len && memcmp(e->name, tz, len) == 0)
        return e->valid;
    e->valid = tz_file_ok(tz, len);
    e->len = (unsigned char)len;
    memcpy(e->name, tz, len);
    return e->valid;
}

/* Case-insensitive lookups, memoised like hd_tz_valid: the input spelling
 * and the IANA name it found (same length: only the case differs). */
#define TZ_CI_SLOTS 256

struct tz_ci_entry {
    unsigned char len; /* 0: empty slot */
    bool found;
    char name[TZ_NAME_MAX];
    char canon[TZ_NAME_MAX];
};

static _Thread_local struct tz_ci_entry tz_ci_cache[TZ_CI_SLOTS];

static bool ascii_case_equal_n(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (to_lower(a[i]) != to_lower(b[i]))
            return false;
    return true;
}

/* Walks zoneinfo one component at a time, taking the directory entry that
 * equals the component in any case; an exact entry wins, and two entries
 * that differ only in case (none in the IANA data) make the name ambiguous.
 * The name was checked by tz_name_ok, so no component is "." or "..". */
static bool tz_case_lookup(const char *tz, size_t len, char canon[TZ_NAME_MAX])
{
    char dir[sizeof TZ_DIR + TZ_NAME_MAX], found[TZ_NAME_MAX];
    size_t pos = 0;
    while (pos < len) {
        size_t n = 0, matches = 0;
        bool exact = false;
        struct dirent *de;
        DIR *d;
        while (pos + n < len && tz[pos + n] != '/')
            n++;
        memcpy(dir, TZ_DIR, sizeof TZ_DIR - 1);
        memcpy(dir + sizeof TZ_DIR - 1, canon, pos);
        dir[sizeof TZ_DIR - 1 + pos] = '\0';
        if ((d = opendir(dir)) == NULL)
            return false;
        while ((de = readdir(d)) != NULL) {
            if (strlen(de->d_name) != n || !ascii_case_equal_n(de->d_name, tz + pos, n))
                continue;
            if (memcmp(de->d_name, tz + pos, n) == 0) {
                exact = true;
            } else if (matches == 0 || memcmp(found, de->d_name, n) != 0) {
                matches++;
                memcpy(found, de->d_name, n);
            }
        }
        closedir(d);
        if (exact)
            memcpy(canon + pos, tz + pos, n);
        else if (matches == 1)
            memcpy(canon + pos, found, n);
        else
            return false;
        pos += n;
        if (pos < len)
            canon[pos++] = '/';
    }
    return true;
}

size_t hd_tz_canonical(const char *tz, size_t len, char *out, size_t cap)
{
    struct tz_ci_entry *e;
    if (out != NULL && cap > 0)
        out[0] = '\0';
    if (!tz_name_ok(tz, len) || out == NULL || cap < len + 1)
        return 0;
    if (hd_tz_valid(tz, len)) {
        memcpy(out, tz, len);
        out[len] = '\0';
        return len;
    }
    e = &tz_ci_cache[tz_hash(tz, len) % TZ_CI_SLOTS];
    if (e->len != len || memcmp(e->name, tz, len) != 0) {
        char canon[TZ_NAME_MAX];
        e->found = tz_case_lookup(tz, len, canon) && hd_tz_valid(canon, len);
        e->len = (unsigned char)len;
        memcpy(e->name, tz, len);
        if (e->found)
            memcpy(e->canon, canon, len);
    }
    if (!e->found)
        return 0;
    memcpy(out, e->canon, len);
    out[len] = '\0';
    return len;
}
