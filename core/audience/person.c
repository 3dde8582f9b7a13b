/* person.c - checking one audience row: text hygiene, dates, ages, email
 * addresses, push tokens.
 *
 * Everything here works on the caller's memory and static tables, so it is
 * thread-safe and allocation-free; the one exception is libidn2, which
 * allocates the A-label form of an internationalised domain (freed at once).
 */
#include "herald/audience.h"
#include "herald/utf8.h"

#include <idn2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ID_MAX 256
#define AGE_MAX 150
#define PUSH_TOKEN_MAX 4096
#define EMAIL_MAX 254 /* RFC 5321 path limit (256) less the angle brackets */
#define LOCAL_MAX 64
#define DOMAIN_MAX 253
#define LABEL_MAX 63

const char *const hd_field_names[HD_F_COUNT] = {
    [HD_F_ID] = "id",           [HD_F_EMAIL] = "email",         [HD_F_PUSH_TOKEN] = "push_token",
    [HD_F_COUNTRY] = "country", [HD_F_LANGUAGE] = "language",   [HD_F_BIRTH_DATE] = "birth_date",
    [HD_F_AGE] = "age",         [HD_F_TIME_ZONE] = "time_zone", [HD_F_NAME] = "name",
};

const char *const hd_norm_names[HD_N_COUNT] = {
    [HD_N_TRIMMED] = "trimmed",
    [HD_N_CASE_FOLDED] = "case_folded",
    [HD_N_LANG_CANONICAL] = "language_canonicalised",
    [HD_N_MACROLANGUAGE] = "macrolanguage_mapped",
    [HD_N_LANG_FALLBACK] = "unknown_language_fell_back",
    [HD_N_TZ_CASE] = "time_zone_case_matched",
    [HD_N_OPTIONAL_FALLBACK] = "optional_field_fell_back",
    [HD_N_DELIMITER] = "delimiter_detected",
};

/* ---- text ----------------------------------------------------------------- */

/* NULL when s is clean, else why not. Control characters are refused because
 * values end up in mail headers and push payloads, where CR/LF would split a
 * header and the rest would confuse templates or terminals. */
static const char *text_problem(const unsigned char *s, size_t len, size_t *at)
{
    size_t i = 0;
    while (i < len) {
        size_t n;
        long cp;
        if (s[i] < 0x80) {
            if (s[i] < 0x20 || s[i] == 0x7F)
                return (*at = i, "control character");
            i++;
            continue;
        }
        if ((cp = hd_utf8_decode(s + i, len - i, &n)) < 0)
            return (*at = i, "bad UTF-8");
        if (cp <= 0x9F)
            return (*at = i, "control character"); /* C1: U+0080-U+009F */
        i += n;
    }
    return NULL;
}

bool hd_text_clean(const char *s, size_t len)
{
    size_t at;
    return text_problem((const unsigned char *)s, len, &at) == NULL;
}

const char *hd_text_problem(const char *s, size_t len, size_t *at)
{
    *at = len;
    return text_problem((const unsigned char *)s, len, at);
}

/* ---- email ---------------------------------------------------------------- */

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 atext, plus any byte of a non-ASCII UTF-8 character (RFC 6531);
 * the whole address has already been checked to be valid UTF-8. */
static bool is_atext(unsigned char c)
{
    return is_alnum(c) || c >= 0x80 || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Dot-atom: atext runs separated by single dots. */
static const char *local_problem(const unsigned char *s, size_t len, bool *non_ascii)
{
    *non_ascii = false;
    if (len == 0)
        return "empty local part";
    if (len > LOCAL_MAX)
        return "local part longer than 64 bytes";
    /* A quoted local part ("john doe"@example.com) is valid RFC 5322, but
     * in a customer list it is almost always a data error, and carrying
     * quotes and spaces safely through every channel is not worth it: such
     * addresses are rejected as invalid. */
    if (s[0] == '"')
        return "quoted local part not supported";
    if (s[0] == '.' || s[len - 1] == '.')
        return "local part starts or ends with a dot";
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return "two dots in a row in the local part";
        } else if (!is_atext(s[i])) {
            return "bad character in the local part";
        } else if (s[i] >= 0x80) {
            *non_ascii = true;
        }
    }
    return NULL;
}

/* An ASCII host name: LDH labels of 1-63 bytes, at least two labels, and a
 * top-level label that is not all digits (so no bare IPv4 address). */
static const char *hostname_problem(const char *d, size_t len)
{
    size_t start = 0;
    int labels = 0;
    bool digits = true;
    if (len == 0)
        return "missing domain";
    if (len > DOMAIN_MAX)
        return "domain longer than 253 bytes";
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)d[i] : '.';
        if (c == '.') {
            if (i == start)
                return "empty label in the domain";
            if (i - start > LABEL_MAX)
                return "domain label longer than 63 bytes";
            if (d[start] == '-' || d[i - 1] == '-')
                return "domain label starts or ends with a hyphen";
            labels++;
            if (i < len)
                digits = true;
            start = i + 1;
        } else if (is_alnum(c) || c == '-') {
            if (c < '0' || c > '9')
                digits = false;
        } else {
            return "bad character in the domain";
        }
    }
    if (labels < 2)
        return "domain needs at least two labels";
    if (digits)
        return "numeric top-level domain";
    return NULL;
}

/* Copies the lower-cased ASCII domain out; false when it does not fit. */
static bool put_domain(const char *d, size_t len, char *out, size_t cap)
{
    if (out == NULL)
        return true;
    if (len >= cap)
        return false;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)(d[i] >= 'A' && d[i] <= 'Z' ? d[i] - 'A' + 'a' : d[i]);
    out[len] = '\0';
    return true;
}

enum hd_email_status hd_email_check(const char *addr, size_t len, char *ascii_domain, size_t cap,
                                    const char **why)
{
    const unsigned char *u = (const unsigned char *)addr;
    const char *problem = NULL;
    enum hd_email_status status = HD_EMAIL_INVALID;
    char utf8[EMAIL_MAX + 1];
    char *alabel = NULL;
    const char *dom;
    size_t at, dlen, alen;
    bool non_ascii_local, non_ascii_domain = false;

    if (ascii_domain != NULL && cap > 0)
        ascii_domain[0] = '\0';
    if (addr == NULL || len == 0) {
        problem = "no email address";
        status = HD_EMAIL_NONE;
        goto done;
    }
    if (len > EMAIL_MAX) {
        problem = "address longer than 254 bytes";
        goto done;
    }
    size_t bad_at;
    problem = text_problem(u, len, &bad_at);
    if (problem != NULL)
        goto done;
    for (at = len; at > 0 && addr[at - 1] != '@'; at--)
        ;
    if (at == 0) {
        problem = "no @ in the address";
        goto done;
    }
    at--; /* index of the last '@' */
    problem = local_problem(u, at, &non_ascii_local);
    if (problem != NULL)
        goto done;
    dom = addr + at + 1;
    dlen = len - at - 1;
    for (size_t i = 0; i < dlen; i++)
        if ((unsigned char)dom[i] >= 0x80)
            non_ascii_domain = true;
    if (non_ascii_domain) {
        int rc;
        memcpy(utf8, dom, dlen); /* dlen < len <= EMAIL_MAX */
        utf8[dlen] = '\0';
        rc = idn2_to_ascii_8z(utf8, &alabel, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
        if (rc != IDN2_OK) {
            problem = "bad internationalised domain";
            goto done;
        }
        dom = alabel;
        dlen = strlen(alabel);
    }
    problem = hostname_problem(dom, dlen);
    if (problem != NULL)
        goto done;
    alen = at + 1 + dlen;
    if (alen > EMAIL_MAX) {
        problem = "address longer than 254 bytes";
        goto done;
    }
    if (!put_domain(dom, dlen, ascii_domain, cap)) {
        problem = "domain does not fit the caller's buffer";
        goto done;
    }
    if (non_ascii_local) {
        problem = "non-ASCII local part needs SMTPUTF8";
        status = HD_EMAIL_NON_ASCII_LOCAL;
    } else {
        status = HD_EMAIL_OK;
    }
done:
    idn2_free(alabel);
    if (why != NULL)
        *why = status == HD_EMAIL_OK ? NULL : problem;
    return status;
}

/* ---- dates and ages ------------------------------------------------------- */

static bool leap_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap_year(y) ? 29 : days[m - 1];
}

static bool digits_value(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Strictly YYYY-MM-DD, a real Gregorian date in years 1-9999. */
static bool parse_date(const char *s, size_t len, int *y, int *m, int *d)
{
    if (len != 10 || s[4] != '-' || s[7] != '-')
        return false;
    if (!digits_value(s, 4, y) || !digits_value(s + 5, 2, m) || !digits_value(s + 8, 2, d))
        return false;
    return *y >= 1 && *m >= 1 && *m <= 12 && *d >= 1 && *d <= days_in_month(*y, *m);
}

/* Whole years completed at the reference date. A 29 February birthday is
 * reached on 1 March in common years (the date comparison below). */
static int age_at(int by, int bm, int bd, const struct hd_check_opts *o)
{
    int age = o->ref_year - by;
    if (o->ref_month < bm || (o->ref_month == bm && o->ref_day < bd))
        age--;
    return age;
}

static bool after_ref(int y, int m, int d, const struct hd_check_opts *o)
{
    if (y != o->ref_year)
        return y > o->ref_year;
    if (m != o->ref_month)
        return m > o->ref_month;
    return d > o->ref_day;
}

/* ---- the row -------------------------------------------------------------- */

static bool bad(struct hd_person *p, enum hd_field f, const char *why)
{
    p->bad_field = f;
    p->bad_why = why;
    return false;
}

static bool push_token_ok(const char *s, size_t len)
{
    if (len == 0 || len > PUSH_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7E)
            return false;
    return true;
}

/* The first zone of a space-separated list. */
static void first_zone(const char *zones, const char **tz, size_t *len)
{
    size_t n = 0;
    *tz = NULL;
    *len = 0;
    if (zones == NULL)
        return;
    while (zones[n] != '\0' && zones[n] != ' ')
        n++;
    if (n > 0) {
        *tz = zones;
        *len = n;
    }
}

/* Surrounding white space: ASCII white space and U+00A0 (NO-BREAK SPACE,
 * which spreadsheets leave behind). Inner white space is the value's own. */
static bool trim(const char **s, size_t *len)
{
    const char *b = *s, *e = *s + *len;
    for (;;) {
        if (b < e && (*b == ' ' || (*b >= '\t' && *b <= '\r')))
            b++;
        else if (e - b >= 2 && (unsigned char)b[0] == 0xC2 && (unsigned char)b[1] == 0xA0)
            b += 2;
        else
            break;
    }
    for (;;) {
        if (e > b && (e[-1] == ' ' || (e[-1] >= '\t' && e[-1] <= '\r')))
            e--;
        else if (e - b >= 2 && (unsigned char)e[-2] == 0xC2 && (unsigned char)e[-1] == 0xA0)
            e -= 2;
        else
            break;
    }
    if (b == *s && e == *s + *len)
        return false;
    *s = b;
    *len = (size_t)(e - b);
    return true;
}

static void note(struct hd_person *p, enum hd_field f, enum hd_norm n)
{
    p->norm[f] = (unsigned char)(p->norm[f] | (1u << n));
}

/* The address with its domain's ASCII letters lower-cased (DNS names are
 * case-insensitive; the local part may not be, RFC 5321 2.4, so it is kept
 * as written). Points p->email at the copy. */
static void fold_email(struct hd_person *p, const char *s, size_t len)
{
    size_t at = len;
    bool changed = false;
    p->email = s;
    p->email_len = len;
    if (len >= sizeof p->email_buf)
        return; /* too long to be valid: hd_email_check says so */
    while (at > 0 && s[at - 1] != '@')
        at--;
    if (at == 0)
        return;
    memcpy(p->email_buf, s, len);
    p->email_buf[len] = '\0';
    for (size_t i = at; i < len; i++) {
        if (s[i] >= 'A' && s[i] <= 'Z') {
            p->email_buf[i] = (char)(s[i] - 'A' + 'a');
            changed = true;
        }
    }
    p->email = p->email_buf;
    if (changed)
        note(p, HD_F_EMAIL, HD_N_CASE_FOLDED);
}

bool hd_person_check(const struct hd_row *row, const struct hd_check_opts *opts,
                     struct hd_person *p)
{
    const char *v[HD_F_COUNT];
    size_t len[HD_F_COUNT];
    int y, m, d;

    memset(p, 0, sizeof *p);
    p->age = -1;
    p->bad_field = HD_F_COUNT;
    if (row->malformed != NULL)
        return bad(p, HD_F_COUNT, row->malformed);
    for (int f = 0; f < HD_F_COUNT; f++) {
        const char *why;
        size_t at;
        v[f] = row->value[f];
        len[f] = v[f] != NULL ? row->len[f] : 0;
        if (v[f] == NULL)
            continue;
        /* Trimming an id can make two rows' ids equal: both are then
         * duplicate_id (the plan's dedup sees trimmed ids), never merged. */
        if (trim(&v[f], &len[f]))
            note(p, (enum hd_field)f, HD_N_TRIMMED);
        if (len[f] == 0) {
            v[f] = NULL; /* only white space: absent, like an empty cell */
            continue;
        }
        why = text_problem((const unsigned char *)v[f], len[f], &at);
        if (why != NULL)
            return bad(p, (enum hd_field)f, why);
    }

    if (v[HD_F_ID] == NULL)
        return bad(p, HD_F_ID, "missing id");
    if (len[HD_F_ID] > ID_MAX)
        return bad(p, HD_F_ID, "id too long");
    p->id = v[HD_F_ID];
    p->id_len = len[HD_F_ID];

    if (v[HD_F_COUNTRY] == NULL)
        return bad(p, HD_F_COUNTRY, "missing country");
    p->country = hd_country_find(v[HD_F_COUNTRY], len[HD_F_COUNTRY]);
    if (p->country == NULL)
        return bad(p, HD_F_COUNTRY, "unknown country");
    if (v[HD_F_COUNTRY][0] >= 'a' || v[HD_F_COUNTRY][1] >= 'a')
        note(p, HD_F_COUNTRY, HD_N_CASE_FOLDED);

    if (v[HD_F_LANGUAGE] != NULL) {
        unsigned how;
        char mapped[sizeof p->language];
        if (hd_lang_normalise(v[HD_F_LANGUAGE], len[HD_F_LANGUAGE], p->language_given,
                              sizeof p->language_given, &how) == 0)
            return bad(p, HD_F_LANGUAGE, "bad language tag");
        memcpy(p->language, p->language_given, sizeof p->language);
        if (how & HD_LANG_NORM_CHANGED)
            note(p, HD_F_LANGUAGE, HD_N_LANG_CANONICAL);
        /* An unknown language matches no locale: the campaign's lookup
         * falls back to the country's languages, as for "qaa" or "es-XX". */
        if (how & HD_LANG_NORM_UNKNOWN)
            note(p, HD_F_LANGUAGE, HD_N_LANG_FALLBACK);
        else if (hd_lang_macro_map(p->language, opts->locales, mapped, sizeof mapped) > 0) {
            memcpy(p->language, mapped, sizeof p->language);
            note(p, HD_F_LANGUAGE, HD_N_MACROLANGUAGE);
        }
    }

    /* A birth date wins over an age column, but a present age must still
     * be sane: both are checked. */
    if (v[HD_F_BIRTH_DATE] != NULL) {
        if (!parse_date(v[HD_F_BIRTH_DATE], len[HD_F_BIRTH_DATE], &y, &m, &d))
            return bad(p, HD_F_BIRTH_DATE, "bad date");
        if (after_ref(y, m, d, opts))
            return bad(p, HD_F_BIRTH_DATE, "date after the reference date");
        p->age = age_at(y, m, d, opts);
        if (p->age > AGE_MAX)
            return bad(p, HD_F_BIRTH_DATE, "bad date");
    }
    if (v[HD_F_AGE] != NULL) {
        int age;
        if (len[HD_F_AGE] > 3 || !digits_value(v[HD_F_AGE], len[HD_F_AGE], &age) || age > AGE_MAX)
            return bad(p, HD_F_AGE, "bad age");
        if (p->age < 0)
            p->age = age;
    }
    if (opts->need_age && p->age < 0)
        return bad(p, HD_F_BIRTH_DATE, "missing birth date or age");

    /* The zone only times the notice: one the system does not know falls
     * back to the country's main zone rather than costing the person the
     * notice. A value not even shaped like a zone name is still refused. */
    if (v[HD_F_TIME_ZONE] != NULL) {
        size_t n;
        if (!hd_tz_well_formed(v[HD_F_TIME_ZONE], len[HD_F_TIME_ZONE]))
            return bad(p, HD_F_TIME_ZONE, "bad time zone");
        n = hd_tz_canonical(v[HD_F_TIME_ZONE], len[HD_F_TIME_ZONE], p->time_zone_buf,
                            sizeof p->time_zone_buf);
        if (n > 0) {
            p->time_zone = p->time_zone_buf;
            p->time_zone_len = n;
            if (memcmp(p->time_zone_buf, v[HD_F_TIME_ZONE], n) != 0)
                note(p, HD_F_TIME_ZONE, HD_N_TZ_CASE);
        } else {
            note(p, HD_F_TIME_ZONE, HD_N_OPTIONAL_FALLBACK);
            first_zone(p->country->time_zones, &p->time_zone, &p->time_zone_len);
        }
    } else {
        first_zone(p->country->time_zones, &p->time_zone, &p->time_zone_len);
    }

    if (v[HD_F_EMAIL] != NULL)
        fold_email(p, v[HD_F_EMAIL], len[HD_F_EMAIL]);
    p->email_status = hd_email_check(p->email, p->email_len, NULL, 0, &p->email_why);
    if (p->email_status == HD_EMAIL_INVALID)
        return bad(p, HD_F_EMAIL, "bad email address");

    if (v[HD_F_PUSH_TOKEN] != NULL) {
        if (!push_token_ok(v[HD_F_PUSH_TOKEN], len[HD_F_PUSH_TOKEN]))
            return bad(p, HD_F_PUSH_TOKEN, "bad push token");
        p->push_token = v[HD_F_PUSH_TOKEN];
        p->push_token_len = len[HD_F_PUSH_TOKEN];
    }

    p->name = v[HD_F_NAME];
    p->name_len = len[HD_F_NAME];
    return true;
}
