/* Tests for row checking (core/audience/person.c): text, dates, ages, addresses. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "herald/audience.h"

static const struct hd_check_opts ref = {.ref_year = 2025, .ref_month = 6, .ref_day = 15};

static void set(struct hd_row *row, enum hd_field f, const char *v)
{
    row->value[f] = v;
    row->len[f] = v ? strlen(v) : 0;
}

/* A valid row to start from: id and country only. */
static struct hd_row base_row(void)
{
    struct hd_row row;
    memset(&row, 0, sizeof row);
    row.index = 1;
    row.line = 2;
    set(&row, HD_F_ID, "u1");
    set(&row, HD_F_COUNTRY, "DE");
    return row;
}

static void expect_bad(const struct hd_row *row, const struct hd_check_opts *opts, enum hd_field f,
                       const char *why)
{
    struct hd_person p;
    assert_false(hd_person_check(row, opts, &p));
    assert_int_equal(p.bad_field, f);
    assert_non_null(p.bad_why);
    assert_string_equal(p.bad_why, why);
}

static void expect_bad_value(enum hd_field f, const char *value, const char *why)
{
    struct hd_row row = base_row();
    set(&row, f, value);
    expect_bad(&row, &ref, f, why);
}

static void expect_good(const struct hd_row *row, const struct hd_check_opts *opts,
                        struct hd_person *p)
{
    bool ok = hd_person_check(row, opts, p);
    if (!ok)
        print_message("field %d: %s\n", (int)p->bad_field, p->bad_why);
    assert_true(ok);
}

/* ---- rows ----------------------------------------------------------------- */

#define NORM(n) ((unsigned char)(1u << (n)))

static void assert_span(const char *s, size_t len, const char *want)
{
    assert_non_null(s);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(s, want, len);
}

static void test_person_field_names(void **state)
{
    (void)state;
    assert_string_equal(hd_field_names[HD_F_ID], "id");
    assert_string_equal(hd_field_names[HD_F_PUSH_TOKEN], "push_token");
    assert_string_equal(hd_field_names[HD_F_BIRTH_DATE], "birth_date");
    assert_string_equal(hd_field_names[HD_F_TIME_ZONE], "time_zone");
    assert_string_equal(hd_field_names[HD_F_NAME], "name");
}

static void test_person_full_row(void **state)
{
    struct hd_row row = base_row();
    struct hd_person p;
    (void)state;
    set(&row, HD_F_EMAIL, "Ann.Example@Example.COM");
    set(&row, HD_F_PUSH_TOKEN, "tok:ABC_123");
    set(&row, HD_F_LANGUAGE, "pt_br");
    set(&row, HD_F_BIRTH_DATE, "1990-06-16");
    set(&row, HD_F_TIME_ZONE, "Europe/Paris");
    set(&row, HD_F_NAME, "Ann M\xC3\xBCller");
    expect_good(&row, &ref, &p);
    assert_memory_equal(p.id, "u1", 2);
    assert_int_equal(p.id_len, 2);
    assert_non_null(p.country);
    assert_string_equal(p.country->code, "DE");
    assert_string_equal(p.language, "pt-BR");
    assert_int_equal(p.age, 34); /* birthday is tomorrow */
    assert_int_equal(p.time_zone_len, strlen("Europe/Paris"));
    assert_memory_equal(p.time_zone, "Europe/Paris", p.time_zone_len);
    assert_int_equal(p.email_status, HD_EMAIL_OK);
    assert_null(p.email_why);
    assert_int_equal(p.email_len, strlen("Ann.Example@Example.COM"));
    assert_int_equal(p.push_token_len, strlen("tok:ABC_123"));
    assert_string_equal(p.name, "Ann M\xC3\xBCller");
    assert_int_equal(p.bad_field, HD_F_COUNT);
    assert_null(p.bad_why);
}

static void test_person_minimal_row(void **state)
{
    struct hd_row row = base_row();
    struct hd_person p;
    (void)state;
    set(&row, HD_F_COUNTRY, "uk"); /* alias of GB, any case */
    expect_good(&row, &ref, &p);
    assert_string_equal(p.country->code, "GB");
    assert_string_equal(p.language, "");
    assert_int_equal(p.age, -1);
    assert_null(p.email);
    assert_int_equal(p.email_status, HD_EMAIL_NONE);
    assert_non_null(p.email_why);
    assert_null(p.push_token);
    assert_null(p.name);
}

static void test_person_malformed_row(void **state)
{
    struct hd_row row = base_row();
    (void)state;
    row.malformed = "expected 3 fields, found 4";
    expect_bad(&row, &ref, HD_F_COUNT, "expected 3 fields, found 4");
}

static void test_person_bad_text(void **state)
{
    (void)state;
    expect_bad_value(HD_F_NAME, "Ann\xC0\xAF", "bad UTF-8");
    expect_bad_value(HD_F_NAME, "Ann\tM", "control character");
    expect_bad_value(HD_F_ID, "u1\r\nBcc: x", "control character");
    expect_bad_value(HD_F_TIME_ZONE, "Europe/Berlin\xC2\x85", "control character");
    expect_bad_value(HD_F_EMAIL, "a@example.com\x7F", "control character");
}

static void test_person_id(void **state)
{
    struct hd_row row = base_row();
    struct hd_person p;
    char id[258];
    (void)state;
    set(&row, HD_F_ID, NULL);
    expect_bad(&row, &ref, HD_F_ID, "missing id");
    memset(id, 'i', 256);
    id[256] = '\0';
    set(&row, HD_F_ID, id);
    expect_good(&row, &ref, &p);
    id[256] = 'i';
    id[257] = '\0';
    set(&row, HD_F_ID, id);
    expect_bad(&row, &ref, HD_F_ID, "id too long");
}

static void test_person_country(void **state)
{
    struct hd_row row = base_row();
    (void)state;
    set(&row, HD_F_COUNTRY, NULL);
    expect_bad(&row, &ref, HD_F_COUNTRY, "missing country");
    expect_bad_value(HD_F_COUNTRY, "XX", "unknown country");
    expect_bad_value(HD_F_COUNTRY, "Germany", "unknown country");
}

static void test_person_language(void **state)
{
    (void)state;
    expect_bad_value(HD_F_LANGUAGE, "english", "bad language tag");
    expect_bad_value(HD_F_LANGUAGE, "de--DE", "bad language tag");
}

static void test_person_bad_dates(void **state)
{
    (void)state;
    expect_bad_value(HD_F_BIRTH_DATE, "2023-02-29", "bad date"); /* not a leap year */
    expect_bad_value(HD_F_BIRTH_DATE, "1900-02-29", "bad date"); /* century */
    expect_bad_value(HD_F_BIRTH_DATE, "1990-13-01", "bad date");
    expect_bad_value(HD_F_BIRTH_DATE, "1990-04-31", "bad date");
    expect_bad_value(HD_F_BIRTH_DATE, "1990-1-01", "bad date");
    expect_bad_value(HD_F_BIRTH_DATE, "01.02.1990", "bad date");
    expect_bad_value(HD_F_BIRTH_DATE, "1990-01-01T00:00", "bad date");
    expect_bad_value(HD_F_BIRTH_DATE, "1850-01-01", "bad date"); /* over 150 */
    expect_bad_value(HD_F_BIRTH_DATE, "2025-06-16", "date after the reference date");
    expect_bad_value(HD_F_BIRTH_DATE, "2030-01-01", "date after the reference date");
}

static int age_of(const char *birth_date, int y, int m, int d)
{
    struct hd_check_opts opts = {.ref_year = y, .ref_month = m, .ref_day = d, .need_age = true};
    struct hd_row row = base_row();
    struct hd_person p;
    set(&row, HD_F_BIRTH_DATE, birth_date);
    expect_good(&row, &opts, &p);
    return p.age;
}

static void test_person_age_from_birth_date(void **state)
{
    (void)state;
    assert_int_equal(age_of("2000-06-15", 2025, 6, 15), 25);
    assert_int_equal(age_of("2000-06-16", 2025, 6, 15), 24);
    assert_int_equal(age_of("2000-12-31", 2025, 1, 1), 24);
    assert_int_equal(age_of("2025-06-15", 2025, 6, 15), 0);
    /* 29 February: a year older on 1 March in common years. */
    assert_int_equal(age_of("2004-02-29", 2025, 2, 28), 20);
    assert_int_equal(age_of("2004-02-29", 2025, 3, 1), 21);
    assert_int_equal(age_of("2004-02-29", 2024, 2, 29), 20);
    assert_int_equal(age_of("2000-02-29", 2024, 2, 28), 23);
}

static void test_person_age_column(void **state)
{
    struct hd_row row = base_row();
    struct hd_person p;
    (void)state;
    set(&row, HD_F_AGE, "42");
    expect_good(&row, &ref, &p);
    assert_int_equal(p.age, 42);
    set(&row, HD_F_AGE, "0");
    expect_good(&row, &ref, &p);
    assert_int_equal(p.age, 0);
    set(&row, HD_F_AGE, "150");
    expect_good(&row, &ref, &p);
    assert_int_equal(p.age, 150);
    /* The birth date wins over the age column. */
    set(&row, HD_F_AGE, "42");
    set(&row, HD_F_BIRTH_DATE, "2005-01-01");
    expect_good(&row, &ref, &p);
    assert_int_equal(p.age, 20);
}

static void test_person_bad_age(void **state)
{
    (void)state;
    expect_bad_value(HD_F_AGE, "151", "bad age");
    expect_bad_value(HD_F_AGE, "-1", "bad age");
    expect_bad_value(HD_F_AGE, "4.5", "bad age");
    expect_bad_value(HD_F_AGE, "forty", "bad age");
    expect_bad_value(HD_F_AGE, "1000", "bad age");
}

static void test_person_missing_age(void **state)
{
    struct hd_check_opts need = ref;
    struct hd_row row = base_row();
    struct hd_person p;
    (void)state;
    need.need_age = true;
    expect_bad(&row, &need, HD_F_BIRTH_DATE, "missing birth date or age");
    expect_good(&row, &ref, &p); /* no minimum age: fine */
    assert_int_equal(p.age, -1);
    set(&row, HD_F_AGE, "17");
    expect_good(&row, &need, &p);
    assert_int_equal(p.age, 17);
}

static void test_person_time_zone(void **state)
{
    struct hd_row row = base_row();
    struct hd_person p;
    (void)state;
    /* Not even shaped like a zone name: refused (a mixed-up column). A
     * well-formed but unknown zone falls back: test_person_time_zone_forgiving. */
    expect_bad_value(HD_F_TIME_ZONE, "../../etc/passwd", "bad time zone");
    expect_bad_value(HD_F_TIME_ZONE, "UTC+01:00", "bad time zone");
    /* Without one, the country's main zone. */
    expect_good(&row, &ref, &p);
    assert_int_equal(p.norm[HD_F_TIME_ZONE], 0);
    assert_non_null(p.time_zone);
    assert_int_equal(p.time_zone_len, strlen("Europe/Berlin"));
    assert_memory_equal(p.time_zone, "Europe/Berlin", p.time_zone_len);
}

/* ---- forgiving input (issue 15) ------------------------------------------- */

/* The issue's padded row: every value is trimmed, the email's domain and the
 * country code are case-folded, and the row is valid. */
static void test_person_trims_padded_fields(void **state)
{
    struct hd_check_opts need = ref;
    struct hd_row row = base_row();
    struct hd_person p;
    (void)state;
    need.need_age = true;
    set(&row, HD_F_ID, " u1\t");
    set(&row, HD_F_EMAIL, " jan@Example.DE ");
    set(&row, HD_F_COUNTRY, " DE");
    set(&row, HD_F_BIRTH_DATE, " 1990-01-01");
    set(&row, HD_F_NAME, "\xC2\xA0Jan Kowalski\r\n"); /* NO-BREAK SPACE, a stray CRLF */
    expect_good(&row, &need, &p);
    assert_span(p.id, p.id_len, "u1");
    assert_span(p.email, p.email_len, "jan@example.de");
    assert_int_equal(p.email_status, HD_EMAIL_OK);
    assert_string_equal(p.country->code, "DE");
    assert_int_equal(p.age, 35);
    assert_span(p.name, p.name_len, "Jan Kowalski");
    assert_int_equal(p.norm[HD_F_ID], NORM(HD_N_TRIMMED));
    assert_int_equal(p.norm[HD_F_EMAIL], NORM(HD_N_TRIMMED) | NORM(HD_N_CASE_FOLDED));
    assert_int_equal(p.norm[HD_F_COUNTRY], NORM(HD_N_TRIMMED));
    assert_int_equal(p.norm[HD_F_BIRTH_DATE], NORM(HD_N_TRIMMED));
    assert_int_equal(p.norm[HD_F_NAME], NORM(HD_N_TRIMMED));
    assert_int_equal(p.norm[HD_F_LANGUAGE], 0);
    /* Inner white space is the value's own: still refused where it was. */
    expect_bad_value(HD_F_NAME, " Ann\tM ", "control character");
    expect_bad_value(HD_F_EMAIL, " jan @example.de", "bad email address");
}

/* A value of white space only is an empty cell: absent, not invalid. An id
 * or country made of it is missing. */
static void test_person_blank_values_are_absent(void **state)
{
    struct hd_row row = base_row();
    struct hd_person p;
    (void)state;
    set(&row, HD_F_EMAIL, "   ");
    set(&row, HD_F_TIME_ZONE, "\t");
    expect_good(&row, &ref, &p);
    assert_null(p.email);
    assert_int_equal(p.email_status, HD_EMAIL_NONE);
    assert_span(p.time_zone, p.time_zone_len, "Europe/Berlin");
    expect_bad_value(HD_F_ID, " \xC2\xA0 ", "missing id");
    expect_bad_value(HD_F_COUNTRY, "  ", "missing country");
}

/* Only the domain is folded: the local part may be case-sensitive. */
static void test_person_email_domain_folded_local_kept(void **state)
{
    struct hd_row row = base_row();
    struct hd_person p;
    (void)state;
    set(&row, HD_F_EMAIL, "Jan.Kowalski@Example.DE");
    expect_good(&row, &ref, &p);
    assert_span(p.email, p.email_len, "Jan.Kowalski@example.de");
    assert_int_equal(p.norm[HD_F_EMAIL], NORM(HD_N_CASE_FOLDED));
    set(&row, HD_F_EMAIL, "Jan@example.de");
    expect_good(&row, &ref, &p);
    assert_span(p.email, p.email_len, "Jan@example.de");
    assert_int_equal(p.norm[HD_F_EMAIL], 0);
    /* an IDN domain keeps its non-ASCII letters; ASCII ones are folded */
    set(&row, HD_F_EMAIL, "a@M\xC3\xBCnchen.DE");
    expect_good(&row, &ref, &p);
    assert_span(p.email, p.email_len, "a@m\xC3\xBCnchen.de");
}

static void test_person_country_case_folded(void **state)
{
    struct hd_row row = base_row();
    struct hd_person p;
    (void)state;
    set(&row, HD_F_COUNTRY, "de");
    expect_good(&row, &ref, &p);
    assert_string_equal(p.country->code, "DE");
    assert_int_equal(p.norm[HD_F_COUNTRY], NORM(HD_N_CASE_FOLDED));
    set(&row, HD_F_COUNTRY, "DE");
    expect_good(&row, &ref, &p);
    assert_int_equal(p.norm[HD_F_COUNTRY], 0);
}

static void test_person_language_canonicalised(void **state)
{
    struct hd_row row = base_row();
    struct hd_person p;
    (void)state;
    set(&row, HD_F_LANGUAGE, "PT_br");
    expect_good(&row, &ref, &p);
    assert_string_equal(p.language, "pt-BR");
    assert_string_equal(p.language_given, "pt-BR");
    assert_int_equal(p.norm[HD_F_LANGUAGE], NORM(HD_N_LANG_CANONICAL));
    set(&row, HD_F_LANGUAGE, "iw"); /* withdrawn code of Hebrew */
    expect_good(&row, &ref, &p);
    assert_string_equal(p.language, "he");
    assert_int_equal(p.norm[HD_F_LANGUAGE], NORM(HD_N_LANG_CANONICAL));
    set(&row, HD_F_LANGUAGE, "de");
    expect_good(&row, &ref, &p);
    assert_int_equal(p.norm[HD_F_LANGUAGE], 0);
}

/* A well-formed tag of no known language falls back like "qaa" or "es-XX":
 * it stays the person's tag, matches no locale, and the campaign's lookup
 * takes the country's language. */
static void test_person_unknown_language_falls_back(void **state)
{
    struct hd_row row = base_row();
    struct hd_person p;
    (void)state;
    set(&row, HD_F_LANGUAGE, "xx");
    expect_good(&row, &ref, &p);
    assert_string_equal(p.language, "xx");
    assert_int_equal(p.norm[HD_F_LANGUAGE], NORM(HD_N_LANG_FALLBACK));
    set(&row, HD_F_LANGUAGE, "XX_de");
    expect_good(&row, &ref, &p);
    assert_string_equal(p.language, "xx-DE");
    assert_int_equal(p.norm[HD_F_LANGUAGE], NORM(HD_N_LANG_FALLBACK) | NORM(HD_N_LANG_CANONICAL));
    /* known or 3-letter tags are no fallback here */
    set(&row, HD_F_LANGUAGE, "qaa");
    expect_good(&row, &ref, &p);
    assert_int_equal(p.norm[HD_F_LANGUAGE], 0);
    set(&row, HD_F_LANGUAGE, "es-XX");
    expect_good(&row, &ref, &p);
    assert_int_equal(p.norm[HD_F_LANGUAGE], 0);
}

/* BCP 47 macrolanguages against the campaign's locales. */
static void test_person_macrolanguage(void **state)
{
    struct hd_check_opts no = ref, nb = ref, both = ref;
    struct hd_row row = base_row();
    struct hd_person p;
    (void)state;
    no.locales = "de no sv";
    nb.locales = "en nb";
    both.locales = "nb no";
    set(&row, HD_F_COUNTRY, "SE");
    set(&row, HD_F_LANGUAGE, "nb"); /* a Bokmal speaker living in Sweden */
    expect_good(&row, &no, &p);
    assert_string_equal(p.language, "no");
    assert_string_equal(p.language_given, "nb");
    assert_int_equal(p.norm[HD_F_LANGUAGE], NORM(HD_N_MACROLANGUAGE));
    set(&row, HD_F_LANGUAGE, "nn-NO");
    expect_good(&row, &no, &p);
    assert_string_equal(p.language, "no-NO");
    assert_string_equal(p.language_given, "nn-NO");
    /* the reverse, only without a no locale */
    set(&row, HD_F_LANGUAGE, "no");
    expect_good(&row, &nb, &p);
    assert_string_equal(p.language, "nb");
    assert_int_equal(p.norm[HD_F_LANGUAGE], NORM(HD_N_MACROLANGUAGE));
    expect_good(&row, &both, &p);
    assert_string_equal(p.language, "no");
    assert_int_equal(p.norm[HD_F_LANGUAGE], 0);
    /* a locale of its own wins; no locales given maps nothing */
    set(&row, HD_F_LANGUAGE, "NB");
    expect_good(&row, &both, &p);
    assert_string_equal(p.language, "nb");
    assert_int_equal(p.norm[HD_F_LANGUAGE], NORM(HD_N_LANG_CANONICAL));
    expect_good(&row, &ref, &p);
    assert_string_equal(p.language, "nb");
    /* no mapping reaches a locale: the tag stays (the country decides) */
    set(&row, HD_F_LANGUAGE, "nn");
    expect_good(&row, &nb, &p);
    assert_string_equal(p.language, "nn");
    assert_int_equal(p.norm[HD_F_LANGUAGE], 0);
}

/* Time zones in the wrong case match their IANA name; a well-formed zone
 * the system does not know falls back to the country's main zone. */
static void test_person_time_zone_forgiving(void **state)
{
    struct hd_row row = base_row();
    struct hd_person p;
    (void)state;
    set(&row, HD_F_TIME_ZONE, "europe/berlin");
    expect_good(&row, &ref, &p);
    assert_span(p.time_zone, p.time_zone_len, "Europe/Berlin");
    assert_int_equal(p.norm[HD_F_TIME_ZONE], NORM(HD_N_TZ_CASE));
    set(&row, HD_F_TIME_ZONE, " AMERICA/ARGENTINA/BUENOS_AIRES");
    expect_good(&row, &ref, &p);
    assert_span(p.time_zone, p.time_zone_len, "America/Argentina/Buenos_Aires");
    assert_int_equal(p.norm[HD_F_TIME_ZONE], NORM(HD_N_TZ_CASE) | NORM(HD_N_TRIMMED));
    set(&row, HD_F_TIME_ZONE, "Europe/Paris");
    expect_good(&row, &ref, &p);
    assert_span(p.time_zone, p.time_zone_len, "Europe/Paris");
    assert_int_equal(p.norm[HD_F_TIME_ZONE], 0);
    set(&row, HD_F_TIME_ZONE, "Mars/Olympus_Mons");
    expect_good(&row, &ref, &p);
    assert_span(p.time_zone, p.time_zone_len, "Europe/Berlin");
    assert_int_equal(p.norm[HD_F_TIME_ZONE], NORM(HD_N_OPTIONAL_FALLBACK));
    /* a zoneinfo file that is no zone is no zone in any case */
    set(&row, HD_F_TIME_ZONE, "LEAPSECONDS");
    expect_good(&row, &ref, &p);
    assert_int_equal(p.norm[HD_F_TIME_ZONE], NORM(HD_N_OPTIONAL_FALLBACK));
}

static void test_person_norm_names(void **state)
{
    (void)state;
    assert_string_equal(hd_norm_names[HD_N_TRIMMED], "trimmed");
    assert_string_equal(hd_norm_names[HD_N_MACROLANGUAGE], "macrolanguage_mapped");
    assert_string_equal(hd_norm_names[HD_N_DELIMITER], "delimiter_detected");
    for (int n = 0; n < HD_N_COUNT; n++)
        assert_non_null(hd_norm_names[n]);
}

static void test_person_email(void **state)
{
    struct hd_row row = base_row();
    struct hd_person p;
    (void)state;
    set(&row, HD_F_EMAIL, "a..b@example.com");
    expect_bad(&row, &ref, HD_F_EMAIL, "bad email address");
    hd_person_check(&row, &ref, &p);
    assert_int_equal(p.email_status, HD_EMAIL_INVALID);
    assert_non_null(p.email_why);
    /* A valid address a channel cannot carry does not make the row bad. */
    set(&row, HD_F_EMAIL, "j\xC3\xB6rg@example.com");
    expect_good(&row, &ref, &p);
    assert_int_equal(p.email_status, HD_EMAIL_NON_ASCII_LOCAL);
    assert_non_null(p.email_why);
}

static void test_person_push_token(void **state)
{
    struct hd_row row = base_row();
    struct hd_person p;
    char *tok = malloc(4098);
    (void)state;
    assert_non_null(tok);
    expect_bad_value(HD_F_PUSH_TOKEN, "abc def", "bad push token");
    expect_bad_value(HD_F_PUSH_TOKEN, "abc\xC3\xA9", "bad push token");
    memset(tok, 'k', 4096);
    tok[4096] = '\0';
    set(&row, HD_F_PUSH_TOKEN, tok);
    expect_good(&row, &ref, &p);
    assert_int_equal(p.push_token_len, 4096);
    tok[4096] = 'k';
    tok[4097] = '\0';
    set(&row, HD_F_PUSH_TOKEN, tok);
    expect_bad(&row, &ref, HD_F_PUSH_TOKEN, "bad push token");
    free(tok);
}

/* ---- email addresses ------------------------------------------------------ */

static enum hd_email_status email(const char *addr, char *domain, size_t cap)
{
    const char *why = "unset";
    enum hd_email_status st = hd_email_check(addr, strlen(addr), domain, cap, &why);
    if (st == HD_EMAIL_OK)
        assert_null(why);
    else
        assert_non_null(why);
    return st;
}

static void expect_invalid(const char *addr)
{
    char domain[256];
    enum hd_email_status st = email(addr, domain, sizeof domain);
    if (st != HD_EMAIL_INVALID)
        print_message("accepted: %s\n", addr);
    assert_int_equal(st, HD_EMAIL_INVALID);
    assert_string_equal(domain, "");
}

static void test_person_email_valid(void **state)
{
    char domain[256];
    (void)state;
    assert_int_equal(email("user@example.com", domain, sizeof domain), HD_EMAIL_OK);
    assert_string_equal(domain, "example.com");
    assert_int_equal(email("First.Last+tag@Mail.Example.DE", domain, sizeof domain), HD_EMAIL_OK);
    assert_string_equal(domain, "mail.example.de");
    assert_int_equal(email("o'brien!#$%&*/=?^_`{|}~-@a-b.co", domain, sizeof domain), HD_EMAIL_OK);
    assert_int_equal(email("x@xn--p1ai.xn--p1ai", domain, sizeof domain), HD_EMAIL_OK);
    assert_int_equal(hd_email_check("a@example.com", 13, NULL, 0, NULL), HD_EMAIL_OK);
}

static void test_person_email_idn_domain(void **state)
{
    char domain[256];
    (void)state;
    assert_int_equal(email("user@m\xC3\xBCnchen.de", domain, sizeof domain), HD_EMAIL_OK);
    assert_string_equal(domain, "xn--mnchen-3ya.de");
    assert_int_equal(email("user@M\xC3\x9CNCHEN.DE", domain, sizeof domain), HD_EMAIL_OK);
    assert_string_equal(domain, "xn--mnchen-3ya.de");
    /* Non-transitional: sharp s stays itself. */
    assert_int_equal(email("a@fa\xC3\x9F.de", domain, sizeof domain), HD_EMAIL_OK);
    assert_string_equal(domain, "xn--fa-hia.de");
    expect_invalid("a@\xE2\x98\x83.com"); /* a snowman is not allowed */
}

static void test_person_email_non_ascii_local(void **state)
{
    char domain[256];
    (void)state;
    assert_int_equal(email("j\xC3\xB6rg@example.com", domain, sizeof domain),
                     HD_EMAIL_NON_ASCII_LOCAL);
    assert_string_equal(domain, "example.com");
    assert_int_equal(email("\xE7\x94\xA8\xE6\x88\xB7@m\xC3\xBCnchen.de", domain, sizeof domain),
                     HD_EMAIL_NON_ASCII_LOCAL);
    assert_string_equal(domain, "xn--mnchen-3ya.de");
}

static void test_person_email_invalid(void **state)
{
    (void)state;
    assert_int_equal(hd_email_check(NULL, 0, NULL, 0, NULL), HD_EMAIL_NONE);
    expect_invalid("user.example.com");    /* no '@' */
    expect_invalid("@example.com");        /* empty local part */
    expect_invalid("user@");               /* no domain */
    expect_invalid("a..b@example.com");    /* double dot */
    expect_invalid(".ab@example.com");     /* leading dot */
    expect_invalid("ab.@example.com");     /* trailing dot */
    expect_invalid("a b@example.com");     /* space */
    expect_invalid("a@b@example.com");     /* '@' in the local part */
    expect_invalid("\"a b\"@example.com"); /* quoted local parts are refused */
    expect_invalid("a@example.123");       /* numeric TLD */
    expect_invalid("a@192.168.0.1");
    expect_invalid("a@[192.168.0.1]");
    expect_invalid("a@localhost"); /* one label */
    expect_invalid("a@example..com");
    expect_invalid("a@example.com.");
    expect_invalid("a@-example.com");
    expect_invalid("a@example-.com");
    expect_invalid("a@exa_mple.com");
    expect_invalid("a@example.com\r\nBcc: x@y.z");
    expect_invalid("a\xC0\xAF@example.com");
}

static void test_person_email_lengths(void **state)
{
    char addr[400], domain[256];
    (void)state;
    /* Local part: 64 bytes fine, 65 not. */
    memset(addr, 'l', 64);
    strcpy(addr + 64, "@example.com");
    assert_int_equal(email(addr, domain, sizeof domain), HD_EMAIL_OK);
    memset(addr, 'l', 65);
    strcpy(addr + 65, "@example.com");
    expect_invalid(addr);
    /* A label of 63 bytes is fine, 64 not. */
    strcpy(addr, "a@");
    memset(addr + 2, 'd', 63);
    strcpy(addr + 65, ".com");
    assert_int_equal(email(addr, domain, sizeof domain), HD_EMAIL_OK);
    memset(addr + 2, 'd', 64);
    strcpy(addr + 66, ".com");
    expect_invalid(addr);
    /* Whole address: 254 bytes fine, 255 not (labels of 50 + dots). */
    strcpy(addr, "a@");
    for (int i = 0; i < 5; i++) {
        memset(addr + 2 + i * 51, 'x', 50);
        addr[2 + i * 51 + 50] = '.';
    }
    strcpy(addr + 2 + 5 * 51, "com");
    assert_int_equal(strlen(addr), 260);
    expect_invalid(addr);
    addr[2 + 4 * 51 + 44] = '\0'; /* shorten the last label: 2 + 204 + 44 */
    strcat(addr, ".com");
    assert_int_equal(strlen(addr), 254);
    assert_int_equal(email(addr, domain, sizeof domain), HD_EMAIL_OK);
    /* The caller's buffer must hold the domain. */
    assert_int_equal(email("a@example.com", domain, 5), HD_EMAIL_INVALID);
}

/* ---- clean text ----------------------------------------------------------- */

static bool clean(const char *s)
{
    return hd_text_clean(s, strlen(s));
}

static void test_person_text_clean(void **state)
{
    (void)state;
    assert_true(clean(""));
    assert_true(clean("plain ASCII ~!"));
    assert_true(clean("M\xC3\xBCller \xE2\x82\xAC \xF0\x9F\x98\x80")); /* u-umlaut, euro, emoji */
    assert_true(clean("\xC2\xA0"));                                    /* U+00A0, just after C1 */
    assert_true(clean("\xF4\x8F\xBF\xBF"));                            /* U+10FFFF */
    assert_true(hd_text_clean("ab", 1));
}

static void test_person_text_clean_rejects(void **state)
{
    (void)state;
    assert_false(clean("\xC0\xAF"));         /* overlong '/' */
    assert_false(clean("\xE0\x80\xAF"));     /* overlong, 3 bytes */
    assert_false(clean("\xF0\x80\x80\xAF")); /* overlong, 4 bytes */
    assert_false(clean("\xED\xA0\x80"));     /* surrogate U+D800 */
    assert_false(clean("\xED\xBF\xBF"));     /* surrogate U+DFFF */
    assert_false(clean("\xF4\x90\x80\x80")); /* U+110000 */
    assert_false(clean("\xC2\x85"));         /* C1 NEL */
    assert_false(clean("\xC2\x80"));         /* C1, first */
    assert_false(clean("\xC2\x9F"));         /* C1, last */
    assert_false(clean("a\tb"));
    assert_false(clean("a\rb"));
    assert_false(clean("a\nb"));
    assert_false(clean("\x1B[31m"));
    assert_false(clean("a\x7F"));
    assert_false(clean("\x80"));         /* lone continuation byte */
    assert_false(clean("\xC3"));         /* truncated */
    assert_false(clean("\xE2\x82"));     /* truncated */
    assert_false(clean("\xE2\x28\xA1")); /* bad continuation */
    assert_false(clean("\xFF"));
    assert_false(hd_text_clean("a\0b", 3)); /* NUL inside */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_person_field_names),
        cmocka_unit_test(test_person_full_row),
        cmocka_unit_test(test_person_minimal_row),
        cmocka_unit_test(test_person_malformed_row),
        cmocka_unit_test(test_person_bad_text),
        cmocka_unit_test(test_person_id),
        cmocka_unit_test(test_person_country),
        cmocka_unit_test(test_person_language),
        cmocka_unit_test(test_person_bad_dates),
        cmocka_unit_test(test_person_age_from_birth_date),
        cmocka_unit_test(test_person_age_column),
        cmocka_unit_test(test_person_bad_age),
        cmocka_unit_test(test_person_missing_age),
        cmocka_unit_test(test_person_time_zone),
        cmocka_unit_test(test_person_trims_padded_fields),
        cmocka_unit_test(test_person_blank_values_are_absent),
        cmocka_unit_test(test_person_email_domain_folded_local_kept),
        cmocka_unit_test(test_person_country_case_folded),
        cmocka_unit_test(test_person_language_canonicalised),
        cmocka_unit_test(test_person_unknown_language_falls_back),
        cmocka_unit_test(test_person_macrolanguage),
        cmocka_unit_test(test_person_time_zone_forgiving),
        cmocka_unit_test(test_person_norm_names),
        cmocka_unit_test(test_person_email),
        cmocka_unit_test(test_person_push_token),
        cmocka_unit_test(test_person_email_valid),
        cmocka_unit_test(test_person_email_idn_domain),
        cmocka_unit_test(test_person_email_non_ascii_local),
        cmocka_unit_test(test_person_email_invalid),
        cmocka_unit_test(test_person_email_lengths),
        cmocka_unit_test(test_person_text_clean),
        cmocka_unit_test(test_person_text_clean_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
