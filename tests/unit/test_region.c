#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "herald/region.h"

#define ALL_GROUPS (HD_GROUP_EU | HD_GROUP_EEA | HD_GROUP_UK)

static const struct hd_country *find(const char *code)
{
    return hd_country_find(code, strlen(code));
}

static void test_region_find_by_code(void **state)
{
    (void)state;
    const struct hd_country *de = find("DE");
    assert_non_null(de);
    assert_string_equal(de->code, "DE");
    assert_string_equal(de->name, "Germany");
    assert_int_equal(de->groups, HD_GROUP_EU | HD_GROUP_EEA);
    assert_ptr_equal(find("de"), de);
    assert_ptr_equal(find("dE"), de);
    /* len bounds the code: the rest of the string is not looked at. */
    assert_ptr_equal(hd_country_find("DEU", 2), de);
    assert_string_equal(find("AX")->name, "Åland Islands");
    assert_string_equal(find("zw")->name, "Zimbabwe");
    assert_string_equal(find("AD")->name, "Andorra");
}

static void test_region_find_uk_alias(void **state)
{
    (void)state;
    const struct hd_country *gb = find("GB");
    assert_non_null(gb);
    assert_ptr_equal(find("UK"), gb);
    assert_ptr_equal(find("uk"), gb);
    assert_int_equal(gb->groups, HD_GROUP_UK);
    assert_false(gb->groups & HD_GROUP_EU);
}

static void test_region_find_rejects_unassigned(void **state)
{
    (void)state;
    const char *bad[] = {"XX", "EU",  "ZZ", "AA", "QM", "XK", "",
                         "D",  "DEU", "D1", "1D", "D-", "  "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(find(bad[i]));
    assert_null(hd_country_find(NULL, 2));
    assert_null(hd_country_find("DE", 0));
    assert_null(hd_country_find("DE", 1));
}

/* Walking every two-letter code also proves the table is sorted: a binary
 * search over an unsorted table would miss some entries. */
static void test_region_all_249_codes_found(void **state)
{
    (void)state;
    size_t found = 0;
    char code[3] = {0};
    for (char a = 'A'; a <= 'Z'; a++) {
        for (char b = 'A'; b <= 'Z'; b++) {
            code[0] = a;
            code[1] = b;
            const struct hd_country *c = hd_country_find(code, 2);
            if (c == NULL || strcmp(code, "UK") == 0)
                continue;
            assert_string_equal(c->code, code);
            assert_non_null(c->name);
            assert_true(c->name[0] != '\0');
            found++;
        }
    }
    assert_int_equal(found, 249);
}

static size_t group_count(unsigned groups)
{
    size_t n = 0;
    while (hd_country_in_groups(groups, n) != NULL)
        n++;
    return n;
}

static void test_region_group_counts(void **state)
{
    (void)state;
    assert_int_equal(group_count(HD_GROUP_EU), 27);
    assert_int_equal(group_count(HD_GROUP_EEA), 30);
    assert_int_equal(group_count(HD_GROUP_UK), 1);
    assert_int_equal(group_count(ALL_GROUPS), 31);
    assert_int_equal(group_count(HD_GROUP_EU | HD_GROUP_UK), 28);
    assert_int_equal(group_count(0), 0);
    assert_ptr_equal(hd_country_in_groups(HD_GROUP_UK, 0), find("GB"));
}

static void test_region_group_membership(void **state)
{
    (void)state;
    const char *eu[] = {"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI",
                        "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU",
                        "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"};
    for (size_t i = 0; i < sizeof eu / sizeof eu[0]; i++)
        assert_int_equal(find(eu[i])->groups, HD_GROUP_EU | HD_GROUP_EEA);
    assert_int_equal(find("IS")->groups, HD_GROUP_EEA);
    assert_int_equal(find("LI")->groups, HD_GROUP_EEA);
    assert_int_equal(find("NO")->groups, HD_GROUP_EEA);
    assert_int_equal(find("CH")->groups, 0);
    assert_int_equal(find("US")->groups, 0);
}

static void test_region_in_groups_is_code_ordered(void **state)
{
    (void)state;
    const struct hd_country *prev = NULL, *c;
    for (size_t i = 0; (c = hd_country_in_groups(ALL_GROUPS, i)) != NULL; i++) {
        assert_true(c->groups & ALL_GROUPS);
        if (prev != NULL)
            assert_true(strcmp(prev->code, c->code) < 0);
        prev = c;
    }
    assert_string_equal(hd_country_in_groups(HD_GROUP_EU, 0)->code, "AT");
    assert_string_equal(hd_country_in_groups(HD_GROUP_EEA, 29)->code, "SK");
    assert_null(hd_country_in_groups(HD_GROUP_EEA, 30));
}

static void test_region_group_parse(void **state)
{
    (void)state;
    assert_int_equal(hd_region_group_parse("EU"), HD_GROUP_EU);
    assert_int_equal(hd_region_group_parse("eu"), HD_GROUP_EU);
    assert_int_equal(hd_region_group_parse("EEA"), HD_GROUP_EEA);
    assert_int_equal(hd_region_group_parse("eEa"), HD_GROUP_EEA);
    assert_int_equal(hd_region_group_parse("UK"), HD_GROUP_UK);
    assert_int_equal(hd_region_group_parse("uk"), HD_GROUP_UK);
    assert_int_equal(hd_region_group_parse("GB"), 0);
    assert_int_equal(hd_region_group_parse("E"), 0);
    assert_int_equal(hd_region_group_parse("EUR"), 0);
    assert_int_equal(hd_region_group_parse("EU "), 0);
    assert_int_equal(hd_region_group_parse(""), 0);
    assert_int_equal(hd_region_group_parse(NULL), 0);
}

/* Calls fn on each space-separated word of list. */
static void each_word(const char *list, void (*fn)(const char *word, size_t len))
{
    while (*list) {
        size_t n = strcspn(list, " ");
        assert_true(n > 0);
        fn(list, n);
        list += n;
        if (*list == ' ')
            list++;
    }
}

static void check_zone(const char *word, size_t len)
{
    if (!hd_tz_valid(word, len))
        fail_msg("zone %.*s is not valid", (int)len, word);
}

static void check_language(const char *word, size_t len)
{
    char canon[16];
    if (!hd_lang_valid(word, len))
        fail_msg("language %.*s is not valid", (int)len, word);
    /* Country data must already be canonical and name a known language. */
    assert_int_equal(hd_lang_canonical(word, len, canon, sizeof canon), len);
    assert_memory_equal(canon, word, len);
    assert_non_null(hd_lang_name(canon));
}

static void check_country_data(const struct hd_country *c)
{
    const char *main_lang = hd_country_main_language(c);
    assert_non_null(c->languages);
    assert_non_null(c->time_zones);
    assert_true(c->population_k > 0);
    each_word(c->languages, check_language);
    each_word(c->time_zones, check_zone);
    assert_non_null(main_lang);
    assert_memory_equal(main_lang, c->languages, strlen(main_lang));
    assert_true(c->languages[strlen(main_lang)] == ' ' || c->languages[strlen(main_lang)] == '\0');
}

static void test_region_group_countries_have_data(void **state)
{
    (void)state;
    const struct hd_country *c;
    for (size_t i = 0; (c = hd_country_in_groups(ALL_GROUPS, i)) != NULL; i++)
        check_country_data(c);
}

static void test_region_frequent_outsiders_have_data(void **state)
{
    (void)state;
    const char *codes[] = {"US", "CH", "TR", "BR", "CA", "RS", "UA", "MA", "IN", "AU"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        check_country_data(find(codes[i]));
}

static void test_region_country_details(void **state)
{
    (void)state;
    assert_string_equal(find("ES")->time_zones, "Europe/Madrid Atlantic/Canary Africa/Ceuta");
    assert_string_equal(find("PT")->time_zones, "Europe/Lisbon Atlantic/Madeira Atlantic/Azores");
    assert_string_equal(find("BE")->languages, "nl fr de");
    assert_string_equal(find("NO")->languages, "no nb nn");
    assert_string_equal(find("LU")->languages, "fr de lb");
    assert_string_equal(hd_country_main_language(find("DE")), "de");
    assert_string_equal(hd_country_main_language(find("BE")), "nl");
    assert_string_equal(hd_country_main_language(find("CH")), "de");
    assert_string_equal(hd_country_main_language(find("UK")), "en");
    assert_true(find("DE")->population_k > find("LU")->population_k);
}

static void test_region_other_countries_may_lack_data(void **state)
{
    (void)state;
    const struct hd_country *jp = find("JP");
    assert_non_null(jp);
    assert_null(jp->languages);
    assert_null(jp->time_zones);
    assert_int_equal(jp->population_k, 0);
    assert_null(hd_country_main_language(jp));
    assert_null(hd_country_main_language(NULL));
}

static void test_region_main_language_of_foreign_struct(void **state)
{
    (void)state;
    struct hd_country c = {"ZZ", "Nowhere", 0, "fr it", "Europe/Paris", 1};
    assert_string_equal(hd_country_main_language(&c), "fr");
    c.languages = "";
    assert_null(hd_country_main_language(&c));
}

static bool valid(const char *tag)
{
    return hd_lang_valid(tag, strlen(tag));
}

static void test_region_lang_valid_tags(void **state)
{
    (void)state;
    const char *good[] = {"de",      "DE",         "pt-BR",   "pt_BR",  "PT_br",
                          "sr-Latn", "sr-latn-rs", "zh-Hant", "es-419", "gsw",
                          "gsw-CH",  "nb",         "en-GB",   "fil-PH", "yue-Hant-HK"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!valid(good[i]))
            fail_msg("%s should be valid", good[i]);
    /* len bounds the tag. */
    assert_true(hd_lang_valid("de-DE garbage", 5));
}

static void test_region_lang_invalid_tags(void **state)
{
    (void)state;
    const char *bad[] = {"",           "e",
                         "english",    "de-",
                         "de--DE",     "-de",
                         "xx",         "iw",
                         "sh",         "de-DE-x-foo",
                         "de-DE-1996", "de-1996",
                         "de-D",       "de-DEU",
                         "de-12",      "de-1234",
                         "d3",         "de-Latn-Cyrl",
                         "de-DE-Latn", "de-DE-AT",
                         "de-DE-",     "de DE",
                         "de.DE",      "de-Lat1",
                         "x-private",  "i-klingon",
                         "de_",        "_de",
                         "de-DE_",     "de-Latn-DE-1",
                         "abcd",       "de-Latn-419-",
                         "de-Lat",     "de-u-co-phonebk"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (valid(bad[i]))
            fail_msg("%s should be invalid", bad[i]);
    assert_false(hd_lang_valid(NULL, 2));
    assert_false(hd_lang_valid("de\0DE", 5));
    assert_false(hd_lang_valid("deu-Latn-DE-xxxx", 16));
}

static void expect_canonical(const char *tag, const char *want)
{
    char out[16];
    size_t n = hd_lang_canonical(tag, strlen(tag), out, sizeof out);
    assert_int_equal(n, strlen(want));
    assert_string_equal(out, want);
}

static void test_region_lang_canonical(void **state)
{
    (void)state;
    expect_canonical("PT_br", "pt-BR");
    expect_canonical("sr-latn-rs", "sr-Latn-RS");
    expect_canonical("SR_LATN", "sr-Latn");
    expect_canonical("de", "de");
    expect_canonical("GSW-ch", "gsw-CH");
    expect_canonical("es_419", "es-419");
    expect_canonical("zh-hANT-tw", "zh-Hant-TW");
}

static void test_region_lang_canonical_rejects(void **state)
{
    (void)state;
    char out[8];
    memset(out, 'x', sizeof out);
    assert_int_equal(hd_lang_canonical("de--DE", 6, out, sizeof out), 0);
    assert_int_equal(out[0], '\0');
    /* Room for the text and its NUL, no less. */
    assert_int_equal(hd_lang_canonical("pt-br", 5, out, 6), 5);
    assert_string_equal(out, "pt-BR");
    memset(out, 'x', sizeof out);
    assert_int_equal(hd_lang_canonical("pt-br", 5, out, 5), 0);
    assert_int_equal(out[0], '\0');
    assert_int_equal(hd_lang_canonical("pt-br", 5, out, 0), 0);
    assert_int_equal(out[1], 'x');
    assert_int_equal(hd_lang_canonical("pt-br", 5, NULL, 0), 0);
}

static void expect_parent(const char *tag, const char *want)
{
    char out[16];
    size_t n = hd_lang_parent(tag, out, sizeof out);
    if (want == NULL) {
        assert_int_equal(n, 0);
        return;
    }
    assert_int_equal(n, strlen(want));
    assert_string_equal(out, want);
}

static void test_region_lang_parent_chain(void **state)
{
    (void)state;
    char tag[16] = "sr-latn-rs";
    const char *chain[] = {"sr-Latn", "sr"};
    for (size_t i = 0; i < 2; i++) {
        char parent[16];
        assert_int_equal(hd_lang_parent(tag, parent, sizeof parent), strlen(chain[i]));
        assert_string_equal(parent, chain[i]);
        memcpy(tag, parent, sizeof tag);
    }
    expect_parent(tag, NULL);
    expect_parent("pt-BR", "pt");
    expect_parent("pt_br", "pt");
    expect_parent("zh-Hant", "zh");
    expect_parent("es-419", "es");
    expect_parent("GSW-CH", "gsw");
    expect_parent("de", NULL);
    expect_parent("", NULL);
    expect_parent("de-", NULL);
    expect_parent("de-DE-x-foo", NULL);
    expect_parent(NULL, NULL);
}

static void test_region_lang_parent_small_buffer(void **state)
{
    (void)state;
    char out[8];
    assert_int_equal(hd_lang_parent("sr-Latn-RS", out, 8), 7);
    assert_string_equal(out, "sr-Latn");
    assert_int_equal(hd_lang_parent("sr-Latn-RS", out, 7), 0);
    assert_int_equal(out[0], '\0');
}

static void test_region_lang_name(void **state)
{
    (void)state;
    assert_string_equal(hd_lang_name("de"), "German");
    assert_string_equal(hd_lang_name("DE"), "German");
    assert_string_equal(hd_lang_name("en"), "English");
    assert_string_equal(hd_lang_name("aa"), "Afar");
    assert_string_equal(hd_lang_name("zu"), "Zulu");
    assert_string_equal(hd_lang_name("nb"), "Norwegian Bokmål");
    assert_null(hd_lang_name("xx"));
    assert_null(hd_lang_name("iw"));
    assert_null(hd_lang_name("deu"));
    assert_null(hd_lang_name("pt-BR"));
    assert_null(hd_lang_name("d"));
    assert_null(hd_lang_name(""));
    assert_null(hd_lang_name(NULL));
}

/* Every ISO 639-1 code is a valid tag with a name; everything else of two
 * letters is neither. */
static void test_region_lang_iso639_table(void **state)
{
    (void)state;
    size_t known = 0;
    char code[3] = {0};
    for (char a = 'a'; a <= 'z'; a++) {
        for (char b = 'a'; b <= 'z'; b++) {
            code[0] = a;
            code[1] = b;
            bool named = hd_lang_name(code) != NULL;
            assert_int_equal(named, hd_lang_valid(code, 2));
            known += named;
        }
    }
    assert_int_equal(known, 183);
}

static bool tz(const char *name)
{
    return hd_tz_valid(name, strlen(name));
}

static void test_region_tz_valid(void **state)
{
    (void)state;
    assert_true(tz("UTC"));
    assert_true(tz("Europe/Berlin"));
    assert_true(tz("America/Argentina/Buenos_Aires"));
    assert_true(tz("Etc/GMT+1"));
    assert_true(tz("America/Port-au-Prince"));
    /* Cached answers must match fresh ones. */
    for (int i = 0; i < 3; i++) {
        assert_true(tz("Europe/Berlin"));
        assert_false(tz("Mars/Olympus"));
    }
    assert_true(hd_tz_valid("Europe/Berlin/junk", 13));
}

static void test_region_tz_invalid(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "Mars/Olympus",
                         "Europe",
                         "Europe/",
                         "Europe//Berlin",
                         "europe/berlin",
                         "Europe/Berlin ",
                         " UTC",
                         "/etc/passwd",
                         "/usr/share/zoneinfo/UTC",
                         "../../../etc/passwd",
                         "Europe/../UTC",
                         "Europe/../../../../etc/passwd",
                         "./UTC",
                         "..",
                         "zone.tab",
                         "tzdata.zi",
                         "Europe/Berlin\n",
                         "Europe\\Berlin",
                         "Europe/Berlin%00",
                         "UTC;rm"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (tz(bad[i]))
            fail_msg("%s should be invalid", bad[i]);
    assert_false(hd_tz_valid(NULL, 3));
    assert_false(hd_tz_valid("UTC\0/x", 6));
    char longname[80];
    memset(longname, 'A', sizeof longname);
    assert_false(hd_tz_valid(longname, 65));
    assert_false(hd_tz_valid(longname, sizeof longname));
}

/* Many distinct names must not confuse the fixed-size cache. */
static void test_region_tz_cache_churn(void **state)
{
    (void)state;
    const struct hd_country *c;
    char name[32];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 200; i++) {
            int n = snprintf(name, sizeof name, "Nowhere/Zone%d", i);
            assert_false(hd_tz_valid(name, (size_t)n));
        }
        for (size_t i = 0; (c = hd_country_in_groups(ALL_GROUPS, i)) != NULL; i++)
            each_word(c->time_zones, check_zone);
    }
}

/* Workers report a mismatch instead of asserting: cmocka's longjmp is not
 * usable from another thread. */
static void *tz_worker(void *arg)
{
    static const struct {
        const char *name;
        bool valid;
    } cases[] = {{"UTC", true},           {"Europe/Berlin", true},  {"Europe/Paris", true},
                 {"Mars/Olympus", false}, {"Europe/../UTC", false}, {"Asia/Kolkata", true}};
    size_t *mismatches = arg;
    for (size_t i = 0; i < 5000; i++) {
        size_t k = i % (sizeof cases / sizeof cases[0]);
        if (hd_tz_valid(cases[k].name, strlen(cases[k].name)) != cases[k].valid)
            (*mismatches)++;
    }
    return NULL;
}

static void test_region_tz_valid_across_threads(void **state)
{
    (void)state;
    pthread_t threads[4];
    size_t mismatches[4] = {0};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, tz_worker, &mismatches[i]), 0);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(mismatches[i], 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_region_find_by_code),
        cmocka_unit_test(test_region_find_uk_alias),
        cmocka_unit_test(test_region_find_rejects_unassigned),
        cmocka_unit_test(test_region_all_249_codes_found),
        cmocka_unit_test(test_region_group_counts),
        cmocka_unit_test(test_region_group_membership),
        cmocka_unit_test(test_region_in_groups_is_code_ordered),
        cmocka_unit_test(test_region_group_parse),
        cmocka_unit_test(test_region_group_countries_have_data),
        cmocka_unit_test(test_region_frequent_outsiders_have_data),
        cmocka_unit_test(test_region_country_details),
        cmocka_unit_test(test_region_other_countries_may_lack_data),
        cmocka_unit_test(test_region_main_language_of_foreign_struct),
        cmocka_unit_test(test_region_lang_valid_tags),
        cmocka_unit_test(test_region_lang_invalid_tags),
        cmocka_unit_test(test_region_lang_canonical),
        cmocka_unit_test(test_region_lang_canonical_rejects),
        cmocka_unit_test(test_region_lang_parent_chain),
        cmocka_unit_test(test_region_lang_parent_small_buffer),
        cmocka_unit_test(test_region_lang_name),
        cmocka_unit_test(test_region_lang_iso639_table),
        cmocka_unit_test(test_region_tz_valid),
        cmocka_unit_test(test_region_tz_invalid),
        cmocka_unit_test(test_region_tz_cache_churn),
        cmocka_unit_test(test_region_tz_valid_across_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
