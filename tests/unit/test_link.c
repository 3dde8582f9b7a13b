/* Unit tests for the objection link (core/campaign/link.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hd_test.h"
#include "herald/link.h"

/* The worked example of docs/objection-link.md. */
#define SECRET "example-secret-do-not-use-0123456789"
#define CAMPAIGN "privacy-2025"
#define TMPL "https://privacy.example.com/object?c={{campaign}}&p={{person}}&t={{token}}"

/* Expected tokens, computed independently of this code with Python:
 *   python3 -c 'import hmac,hashlib,base64; print(base64.urlsafe_b64encode(
 *     hmac.new(b"example-secret-do-not-use-0123456789",
 *              b"herald-link-v1\0privacy-2025\0" + "p-000123".encode(),
 *              hashlib.sha256).digest()[:16]).rstrip(b"=").decode())'
 * -> sbhKUwlItHVNje8JCDClrw; with "ü/ 1&2" as the person -> cySAIFIvtil604khza8O9w */
#define TOKEN_P000123 "sbhKUwlItHVNje8JCDClrw"
#define TOKEN_UMLAUT "cySAIFIvtil604khza8O9w"
#define PERSON_UMLAUT "\xc3\xbc/ 1&2" /* "ü/ 1&2" */

static struct hd_link_secret example_secret(void)
{
    struct hd_link_secret s = {{0}, 0};
    s.len = strlen(SECRET);
    memcpy(s.bytes, SECRET, s.len);
    return s;
}

/* Builds the link for person with the example secret and TMPL. */
static struct hd_buf build(const char *tmpl, const char *person)
{
    struct hd_link_secret s = example_secret();
    struct hd_buf out = HD_BUF_INIT;
    assert_int_equal(hd_link_build(&s, tmpl, CAMPAIGN, person, &out), 0);
    return out;
}

static bool verify(const char *tmpl, const char *campaign, const char *url)
{
    struct hd_link_secret s = example_secret();
    return hd_link_verify(&s, tmpl, campaign, url, NULL, 0);
}

static void test_link_token_known_vector(void **state)
{
    struct hd_link_secret s = example_secret();
    char token[HD_LINK_TOKEN_LEN + 1];
    (void)state;
    hd_link_token(&s, CAMPAIGN, "p-000123", token);
    assert_string_equal(token, TOKEN_P000123);
    hd_link_token(&s, CAMPAIGN, PERSON_UMLAUT, token);
    assert_string_equal(token, TOKEN_UMLAUT);
    assert_int_equal(strlen(token), HD_LINK_TOKEN_LEN);
}

static void test_link_token_separates_fields(void **state)
{
    /* The NUL separator keeps ("ab", "c") and ("a", "bc") apart. */
    struct hd_link_secret s = example_secret();
    char t1[HD_LINK_TOKEN_LEN + 1], t2[HD_LINK_TOKEN_LEN + 1];
    (void)state;
    hd_link_token(&s, "ab", "c", t1);
    hd_link_token(&s, "a", "bc", t2);
    assert_string_not_equal(t1, t2);
}

static void test_link_build_percent_encodes(void **state)
{
    struct hd_buf url = build(TMPL, PERSON_UMLAUT);
    (void)state;
    assert_string_equal(url.data, "https://privacy.example.com/object?c=privacy-2025"
                                  "&p=%C3%BC%2F%201%262&t=" TOKEN_UMLAUT);
    hd_buf_release(&url);
}

static void test_link_build_keeps_unreserved(void **state)
{
    struct hd_buf url = build("https://x.example/{{person}}/{{ token }}", "Az09-._~");
    (void)state;
    assert_int_equal(url.len, strlen("https://x.example/Az09-._~/") + HD_LINK_TOKEN_LEN);
    assert_memory_equal(url.data, "https://x.example/Az09-._~/", url.len - HD_LINK_TOKEN_LEN);
    hd_buf_release(&url);
}

static void test_link_build_rejects_bad_template(void **state)
{
    struct hd_link_secret s = example_secret();
    struct hd_buf out = HD_BUF_INIT;
    (void)state;
    assert_int_equal(hd_buf_puts(&out, "keep"), 0);
    assert_int_equal(hd_link_build(&s, "https://x.example/{{person}}", CAMPAIGN, "p", &out), -1);
    assert_string_equal(out.data, "keep");
    hd_buf_release(&out);
}

static void test_link_build_verify_roundtrip(void **state)
{
    struct hd_link_secret s = example_secret();
    struct hd_buf url = build(TMPL, PERSON_UMLAUT);
    char person[64] = "";
    (void)state;
    assert_true(hd_link_verify(&s, TMPL, CAMPAIGN, url.data, person, sizeof person));
    assert_string_equal(person, PERSON_UMLAUT);
    hd_buf_release(&url);
}

static void test_link_verify_roundtrip_other_layouts(void **state)
{
    static const char *const tmpls[] = {
        "https://x.example/o/{{person}}/{{token}}",
        "http://x.example/{{token}}?who={{person}}",
        /* Placeholders separated by an unreserved character, or not at all:
         * the token's fixed length still makes the split unambiguous. */
        "https://x.example/{{campaign}}-{{person}}-{{token}}",
        "https://x.example/{{person}}{{token}}",
        "https://x.example/{{token}}{{person}}",
    };
    (void)state;
    for (size_t i = 0; i < sizeof tmpls / sizeof *tmpls; i++) {
        struct hd_buf url = build(tmpls[i], "a-b_%/c");
        char person[64] = "";
        struct hd_link_secret s = example_secret();
        assert_true(hd_link_verify(&s, tmpls[i], CAMPAIGN, url.data, person, sizeof person));
        assert_string_equal(person, "a-b_%/c");
        hd_buf_release(&url);
    }
}

static void test_link_verify_person_out_truncated(void **state)
{
    struct hd_link_secret s = example_secret();
    struct hd_buf url = build(TMPL, "p-000123");
    char person[4] = "xxx";
    (void)state;
    assert_true(hd_link_verify(&s, TMPL, CAMPAIGN, url.data, person, sizeof person));
    assert_string_equal(person, "p-0");
    hd_buf_release(&url);
}

static void test_link_verify_rejects_tampered_token(void **state)
{
    struct hd_buf url = build(TMPL, "p-000123");
    char *t = strstr(url.data, "&t=") + 3;
    (void)state;
    assert_true(verify(TMPL, CAMPAIGN, url.data));
    t[5] = t[5] == 'A' ? 'B' : 'A';
    assert_false(verify(TMPL, CAMPAIGN, url.data));
    hd_buf_release(&url);
}

static void test_link_verify_rejects_tampered_person(void **state)
{
    (void)state;
    assert_false(verify(TMPL, CAMPAIGN,
                        "https://privacy.example.com/object?c=privacy-2025&p=p-000124"
                        "&t=" TOKEN_P000123));
    /* Same person, but a different campaign id given to verify. */
    assert_false(verify("https://x.example/{{person}}/{{token}}", "privacy-2026",
                        "https://x.example/p-000123/" TOKEN_P000123));
    assert_true(verify("https://x.example/{{person}}/{{token}}", CAMPAIGN,
                       "https://x.example/p-000123/" TOKEN_P000123));
}

static void test_link_verify_rejects_tampered_campaign(void **state)
{
    (void)state;
    assert_true(verify(TMPL, CAMPAIGN,
                       "https://privacy.example.com/object?c=privacy-2025&p=p-000123"
                       "&t=" TOKEN_P000123));
    assert_false(verify(TMPL, CAMPAIGN,
                        "https://privacy.example.com/object?c=privacy-2026&p=p-000123"
                        "&t=" TOKEN_P000123));
    assert_false(verify(TMPL, "privacy-2026",
                        "https://privacy.example.com/object?c=privacy-2026&p=p-000123"
                        "&t=" TOKEN_P000123));
}

static void test_link_verify_rejects_extra_chars(void **state)
{
    (void)state;
    assert_false(verify(TMPL, CAMPAIGN,
                        "https://privacy.example.com/object?c=privacy-2025&p=p-000123"
                        "&t=" TOKEN_P000123 "x"));
    assert_false(verify(TMPL, CAMPAIGN,
                        "https://privacy.example.com/object?c=privacy-2025&p=p-000123"
                        "&t=" TOKEN_P000123 "&t=" TOKEN_P000123));
    assert_false(verify(TMPL, CAMPAIGN,
                        "https://privacy.example.com/object/?c=privacy-2025&p=p-000123"
                        "&t=" TOKEN_P000123));
    /* With {{person}} last, trailing text lands in the person and fails. */
    assert_false(verify("https://x.example/{{token}}/{{person}}", CAMPAIGN,
                        "https://x.example/" TOKEN_P000123 "/p-000123/"));
}

static void test_link_verify_rejects_truncated_token(void **state)
{
    (void)state;
    assert_false(verify(TMPL, CAMPAIGN,
                        "https://privacy.example.com/object?c=privacy-2025&p=p-000123"
                        "&t=sbhKUwlItHVNje8JCDClr"));
    assert_false(
        verify(TMPL, CAMPAIGN, "https://privacy.example.com/object?c=privacy-2025&p=p-000123&t="));
    assert_false(verify(TMPL, CAMPAIGN, "https://privacy.example.com/object?c=privacy-2025"));
    assert_false(verify(TMPL, CAMPAIGN, ""));
}

static void test_link_verify_rejects_bad_escapes(void **state)
{
    static const char *const persons[] = {"p%", "p%4", "p%zz", "p%00x", "%"};
    struct hd_link_secret s = example_secret();
    (void)state;
    for (size_t i = 0; i < sizeof persons / sizeof *persons; i++) {
        char url[128];
        /* Give each URL the token of its literal text, so only the decoding
         * can be what rejects it. */
        char token[HD_LINK_TOKEN_LEN + 1];
        hd_link_token(&s, CAMPAIGN, persons[i], token);
        snprintf(url, sizeof url, "https://x.example/%s/%s", persons[i], token);
        assert_false(verify("https://x.example/{{person}}/{{token}}", CAMPAIGN, url));
    }
}

static void test_link_verify_accepts_lowercase_escapes(void **state)
{
    (void)state;
    assert_true(verify(TMPL, CAMPAIGN,
                       "https://privacy.example.com/object?c=privacy-2025"
                       "&p=%c3%bc%2f%201%262&t=" TOKEN_UMLAUT));
}

static void test_link_verify_rejects_other_secret(void **state)
{
    struct hd_link_secret s = example_secret();
    struct hd_buf url = build(TMPL, "p-000123");
    (void)state;
    s.bytes[0] ^= 1;
    assert_false(hd_link_verify(&s, TMPL, CAMPAIGN, url.data, NULL, 0));
    hd_buf_release(&url);
}

static void test_link_verify_rejects_bad_template(void **state)
{
    (void)state;
    assert_false(verify("https://x.example/{{person}}", CAMPAIGN, "https://x.example/p-000123"));
}

static void assert_template_error(const char *tmpl, const char *expected)
{
    struct hd_err err = {0};
    assert_int_equal(hd_link_template_check(tmpl, &err), -1);
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_string_equal(err.msg, expected);
}

static void test_link_template_check_accepts(void **state)
{
    struct hd_err err = {0};
    (void)state;
    assert_int_equal(hd_link_template_check(TMPL, &err), 0);
    assert_int_equal(hd_link_template_check("http://x/{{ person }}/{{token}}", &err), 0);
    assert_int_equal(err.code, 0);
}

static void test_link_template_check_errors(void **state)
{
    (void)state;
    assert_template_error("https://x.example/{{person}}",
                          "objection link template lacks {{token}}");
    assert_template_error("https://x.example/{{token}}",
                          "objection link template lacks {{person}}");
    assert_template_error("ftp://x.example/{{person}}/{{token}}",
                          "objection link template must start with \"https://\" or \"http://\"");
    assert_template_error("/object/{{person}}/{{token}}",
                          "objection link template must start with \"https://\" or \"http://\"");
    assert_template_error("https:///{{person}}/{{token}}",
                          "objection link template has no host after \"https://\"");
    assert_template_error("https://x/{{person}}/{{token}}/{{token}}",
                          "objection link template has {{token}} more than once");
    assert_template_error("https://x/{{person}}/{{token}}/{{campaign}}{{campaign}}",
                          "objection link template has {{campaign}} more than once");
    assert_template_error("https://x/{{person}}/{{token}}?n={{name}}",
                          "objection link template has unknown placeholder \"{{name}}\" "
                          "(allowed: {{token}}, {{person}}, {{campaign}})");
    assert_template_error("https://x/{{person}}/{{token",
                          "objection link template has an unterminated \"{{\"");
    assert_template_error("https://x/{{person}} {{token}}",
                          "objection link template contains a space or control character");
    assert_template_error("", "objection link template is empty");
}

/* ---- the prepared builder (hd_linker) ------------------------------------------------------- */

/* hd_linker_build must make exactly what hd_link_build makes, appended after
 * whatever out already holds. */
static void assert_linker_matches(struct hd_linker *l, const struct hd_link_secret *s,
                                  const char *tmpl, const char *campaign, const char *person)
{
    struct hd_buf want = HD_BUF_INIT, got = HD_BUF_INIT;
    assert_int_equal(hd_buf_puts(&want, "prefix:"), 0);
    assert_int_equal(hd_buf_puts(&got, "prefix:"), 0);
    assert_int_equal(hd_link_build(s, tmpl, campaign, person, &want), 0);
    assert_int_equal(hd_linker_build(l, person, strlen(person), &got), 0);
    assert_int_equal(got.len, want.len);
    assert_string_equal(got.data, want.data);
    assert_true(hd_link_verify(s, tmpl, campaign, got.data + 7, NULL, 0));
    hd_buf_release(&want);
    hd_buf_release(&got);
}

static void test_linker_matches_link_build(void **state)
{
    static const char *const tmpls[] = {
        TMPL,
        "https://x.example/o/{{person}}/{{token}}",
        "http://x.example/{{token}}?who={{person}}",
        "https://x.example/{{ token }}/{{campaign}}/{{ person }}#frag",
        "https://x.example/{{campaign}}-{{person}}-{{token}}",
        "https://x.example/{{person}}{{token}}{{campaign}}",
        "https://x.example/{{token}}{{person}}",
        "https://x.example/?t={{token}}&c={{campaign}}&p={{person}}&end=1",
        "https://{{campaign}}.x.example/{{person}}?{{token}}",
    };
    static const char *const campaigns[] = {CAMPAIGN, "a", "Camp_1.x-y", "c a/mp%"};
    char long_id[1400], utf8_id[1400];
    const char *persons[] = {
        "p-000123", PERSON_UMLAUT, "a b+c%d~e.f_g-h=?#&/",
        "x",        "Az09-._~",    "\xf0\x9f\x98\x80 \xe6\x97\xa5\xe6\x9c\xac",
        "%41%",     "{{token}}",   long_id,
        utf8_id,
    };
    struct hd_link_secret s = example_secret();
    (void)state;
    memset(long_id, 'q', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    utf8_id[0] = '\0';
    while (strlen(utf8_id) + 5 < sizeof utf8_id)
        strcat(utf8_id, "\xc3\xa9/");
    for (size_t t = 0; t < sizeof tmpls / sizeof *tmpls; t++) {
        for (size_t c = 0; c < sizeof campaigns / sizeof *campaigns; c++) {
            struct hd_err err = {0};
            struct hd_linker *l = hd_linker_new(&s, tmpls[t], campaigns[c], &err);
            assert_non_null(l);
            assert_int_equal(err.code, 0);
            for (size_t p = 0; p < sizeof persons / sizeof *persons; p++)
                assert_linker_matches(l, &s, tmpls[t], campaigns[c], persons[p]);
            hd_linker_free(l);
        }
    }
}

/* The id is len bytes: not read past len, no NUL needed. */
static void test_linker_uses_len(void **state)
{
    struct hd_link_secret s = example_secret();
    struct hd_linker *l = hd_linker_new(&s, TMPL, CAMPAIGN, NULL);
    struct hd_buf url = HD_BUF_INIT;
    char *id = malloc(8);
    (void)state;
    assert_non_null(l);
    assert_non_null(id);
    memcpy(id, "p-000123", 8); /* no NUL */
    assert_int_equal(hd_linker_build(l, id, 8, &url), 0);
    assert_string_equal(
        url.data, "https://privacy.example.com/object?c=privacy-2025&p=p-000123&t=" TOKEN_P000123);
    hd_buf_reset(&url);
    assert_int_equal(hd_linker_build(l, "p-000123-and-more", 8, &url), 0);
    assert_string_equal(
        url.data, "https://privacy.example.com/object?c=privacy-2025&p=p-000123&t=" TOKEN_P000123);
    free(id);
    hd_buf_release(&url);
    hd_linker_free(l);
}

/* The linker keeps what it needs: secret, template and campaign id can go. */
static void test_linker_borrows_nothing(void **state)
{
    struct hd_link_secret *s = malloc(sizeof *s);
    char *tmpl = strdup(TMPL), *campaign = strdup(CAMPAIGN);
    struct hd_linker *l;
    struct hd_buf url = HD_BUF_INIT;
    (void)state;
    assert_non_null(s);
    *s = example_secret();
    l = hd_linker_new(s, tmpl, campaign, NULL);
    assert_non_null(l);
    memset(s, 0, sizeof *s);
    memset(tmpl, 'x', strlen(tmpl));
    memset(campaign, 'y', strlen(campaign));
    free(s);
    free(tmpl);
    free(campaign);
    for (int i = 0; i < 3; i++) {
        hd_buf_reset(&url);
        assert_int_equal(hd_linker_build(l, PERSON_UMLAUT, strlen(PERSON_UMLAUT), &url), 0);
        assert_string_equal(url.data, "https://privacy.example.com/object?c=privacy-2025"
                                      "&p=%C3%BC%2F%201%262&t=" TOKEN_UMLAUT);
    }
    hd_buf_release(&url);
    hd_linker_free(l);
    hd_linker_free(NULL);
}

static void test_linker_refuses_bad_template(void **state)
{
    static const char *const bad[] = {
        "https://x.example/{{person}}",
        "https://x.example/{{token}}",
        "ftp://x.example/{{person}}/{{token}}",
        "https://x/{{person}}/{{token}}/{{token}}",
        "https://x/{{person}}/{{token}}?n={{name}}",
        "https://x/{{person}}/{{token",
        "https://x/{{person}} {{token}}",
        "",
    };
    struct hd_link_secret s = example_secret();
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct hd_err err = {0}, want = {0};
        assert_null(hd_linker_new(&s, bad[i], CAMPAIGN, &err));
        assert_int_equal(hd_link_template_check(bad[i], &want), -1);
        assert_int_equal(err.code, HD_EX_DATAERR);
        assert_string_equal(err.msg, want.msg);
    }
    {
        struct hd_err err = {0};
        assert_null(hd_linker_new(&s, NULL, CAMPAIGN, &err));
        assert_int_equal(err.code, HD_EX_DATAERR);
        assert_null(hd_linker_new(NULL, TMPL, CAMPAIGN, &err));
        assert_int_equal(err.code, HD_EX_SOFTWARE);
        assert_null(hd_linker_new(&s, TMPL, NULL, NULL)); /* err may be NULL */
    }
}

/* Environment variable names unique to this test program. */
#define ENV_NAME "HERALD_TEST_LINK_SECRET"

static void test_link_secret_from_env(void **state)
{
    struct hd_link_secret s;
    struct hd_err err = {0};
    (void)state;
    assert_int_equal(setenv(ENV_NAME, SECRET, 1), 0);
    assert_int_equal(hd_link_secret_load(&s, ENV_NAME, NULL, &err), 0);
    assert_int_equal(s.len, strlen(SECRET));
    assert_memory_equal(s.bytes, SECRET, s.len);
    unsetenv(ENV_NAME);
}

static void test_link_secret_env_wins_over_file(void **state)
{
    const char *dir = hd_test_tmpdir();
    char *path = hd_test_write(dir, "key", "file-secret-0123456789\n", (size_t)-1);
    struct hd_link_secret s;
    struct hd_err err = {0};
    (void)state;
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(setenv(ENV_NAME, SECRET, 1), 0);
    assert_int_equal(hd_link_secret_load(&s, ENV_NAME, path, &err), 0);
    assert_memory_equal(s.bytes, SECRET, s.len);
    /* An empty variable counts as unset. */
    assert_int_equal(setenv(ENV_NAME, "", 1), 0);
    assert_int_equal(hd_link_secret_load(&s, ENV_NAME, path, &err), 0);
    assert_int_equal(s.len, strlen("file-secret-0123456789"));
    assert_memory_equal(s.bytes, "file-secret-0123456789", s.len);
    unsetenv(ENV_NAME);
    free(path);
    hd_test_rmtree(dir);
}

static void test_link_secret_from_0600_file(void **state)
{
    const char *dir = hd_test_tmpdir();
    char *lf = hd_test_write(dir, "lf", SECRET "\n", (size_t)-1);
    char *crlf = hd_test_write(dir, "crlf", SECRET "\r\n", (size_t)-1);
    char *two = hd_test_write(dir, "two", SECRET "\n\n", (size_t)-1);
    char *raw = hd_test_write(dir, "raw", "0123456789abcdef\0\xff", 18);
    struct hd_link_secret s;
    struct hd_err err = {0};
    (void)state;
    assert_int_equal(chmod(lf, 0600), 0);
    assert_int_equal(chmod(crlf, 0600), 0);
    assert_int_equal(chmod(two, 0400), 0);
    assert_int_equal(chmod(raw, 0600), 0);
    assert_int_equal(hd_link_secret_load(&s, NULL, lf, &err), 0);
    assert_int_equal(s.len, strlen(SECRET));
    assert_memory_equal(s.bytes, SECRET, s.len);
    assert_int_equal(hd_link_secret_load(&s, NULL, crlf, &err), 0);
    assert_int_equal(s.len, strlen(SECRET));
    /* Only one newline is stripped. */
    assert_int_equal(hd_link_secret_load(&s, "HERALD_TEST_UNSET_VARIABLE", two, &err), 0);
    assert_int_equal(s.len, strlen(SECRET) + 1);
    /* The file holds raw bytes, NUL included. */
    assert_int_equal(hd_link_secret_load(&s, NULL, raw, &err), 0);
    assert_int_equal(s.len, 18);
    assert_memory_equal(s.bytes, "0123456789abcdef\0\xff", 18);
    assert_int_equal(err.code, 0);
    free(lf);
    free(crlf);
    free(two);
    free(raw);
    hd_test_rmtree(dir);
}

/* A lone final "\r" (no "\n") is part of the secret, as it always was: the
 * pseudonym key file drops it (test_proof.c), this one must not, or every
 * link already sent would break. */
static void test_link_secret_keeps_lone_cr(void **state)
{
    const char *dir = hd_test_tmpdir();
    char *cr = hd_test_write(dir, "cr", SECRET "\r", (size_t)-1);
    char *missing = NULL;
    struct hd_link_secret s;
    struct hd_err err = {0};
    char expected[1024];
    (void)state;
    assert_int_equal(chmod(cr, 0600), 0);
    assert_int_equal(hd_link_secret_load(&s, NULL, cr, &err), 0);
    assert_int_equal(s.len, strlen(SECRET) + 1);
    assert_memory_equal(s.bytes, SECRET "\r", s.len);
    /* a missing file is named */
    missing = hd_test_write(dir, "gone", "", 0);
    assert_int_equal(unlink(missing), 0);
    assert_int_equal(hd_link_secret_load(&s, NULL, missing, &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    snprintf(expected, sizeof expected,
             "cannot open objection link key file %s: No such file or directory", missing);
    assert_string_equal(err.msg, expected);
    free(cr);
    free(missing);
    hd_test_rmtree(dir);
}

static void test_link_secret_refuses_0644_file(void **state)
{
    const char *dir = hd_test_tmpdir();
    char *path = hd_test_write(dir, "key", SECRET "\n", (size_t)-1);
    char expected[1024];
    struct hd_link_secret s;
    struct hd_err err = {0};
    (void)state;
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(hd_link_secret_load(&s, NULL, path, &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    snprintf(expected, sizeof expected,
             "objection link key file %s is accessible by group or others (mode 0644); "
             "run: chmod 600 %s",
             path, path);
    assert_string_equal(err.msg, expected);
    assert_null(strstr(err.msg, SECRET));
    assert_int_equal(s.len, 0);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(hd_link_secret_load(&s, NULL, path, &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    free(path);
    hd_test_rmtree(dir);
}

static void test_link_secret_too_short(void **state)
{
    const char *dir = hd_test_tmpdir();
    char *path = hd_test_write(dir, "key", "short-secret\n", (size_t)-1);
    char expected[1024];
    struct hd_link_secret s;
    struct hd_err err = {0};
    (void)state;
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(hd_link_secret_load(&s, NULL, path, &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    snprintf(expected, sizeof expected,
             "objection link secret in key file %s is shorter than 16 bytes", path);
    assert_string_equal(err.msg, expected);
    assert_null(strstr(err.msg, "short-secret"));

    /* A set but short variable is an error, not a reason to use the file. */
    assert_int_equal(setenv(ENV_NAME, "short-secret", 1), 0);
    assert_int_equal(hd_link_secret_load(&s, ENV_NAME, path, &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_string_equal(err.msg, "objection link secret in environment variable " ENV_NAME
                                 " is shorter than 16 bytes");
    unsetenv(ENV_NAME);
    free(path);
    hd_test_rmtree(dir);
}

static void test_link_secret_too_long(void **state)
{
    const char *dir = hd_test_tmpdir();
    char data[HD_LINK_SECRET_MAX + 3];
    char *ok, *bad;
    struct hd_link_secret s;
    struct hd_err err = {0};
    (void)state;
    memset(data, 'k', sizeof data);
    data[HD_LINK_SECRET_MAX] = '\r';
    data[HD_LINK_SECRET_MAX + 1] = '\n';
    ok = hd_test_write(dir, "ok", data, HD_LINK_SECRET_MAX + 2);
    /* The same bytes followed by one more: must not be silently cut. */
    bad = hd_test_write(dir, "bad", data, HD_LINK_SECRET_MAX + 3);
    assert_int_equal(chmod(ok, 0600), 0);
    assert_int_equal(chmod(bad, 0600), 0);
    assert_int_equal(hd_link_secret_load(&s, NULL, ok, &err), 0);
    assert_int_equal(s.len, HD_LINK_SECRET_MAX);
    assert_int_equal(hd_link_secret_load(&s, NULL, bad, &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    free(ok);
    free(bad);
    hd_test_rmtree(dir);
}

static void test_link_secret_missing(void **state)
{
    struct hd_link_secret s;
    struct hd_err err = {0};
    (void)state;
    unsetenv(ENV_NAME);
    assert_int_equal(hd_link_secret_load(&s, ENV_NAME, NULL, &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_non_null(strstr(err.msg, ENV_NAME));
    assert_int_equal(hd_link_secret_load(&s, NULL, NULL, &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_int_equal(hd_link_secret_load(&s, ENV_NAME, "/nonexistent/herald-test/key", &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_non_null(strstr(err.msg, "/nonexistent/herald-test/key"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_token_known_vector),
        cmocka_unit_test(test_link_token_separates_fields),
        cmocka_unit_test(test_link_build_percent_encodes),
        cmocka_unit_test(test_link_build_keeps_unreserved),
        cmocka_unit_test(test_link_build_rejects_bad_template),
        cmocka_unit_test(test_link_build_verify_roundtrip),
        cmocka_unit_test(test_link_verify_roundtrip_other_layouts),
        cmocka_unit_test(test_link_verify_person_out_truncated),
        cmocka_unit_test(test_link_verify_rejects_tampered_token),
        cmocka_unit_test(test_link_verify_rejects_tampered_person),
        cmocka_unit_test(test_link_verify_rejects_tampered_campaign),
        cmocka_unit_test(test_link_verify_rejects_extra_chars),
        cmocka_unit_test(test_link_verify_rejects_truncated_token),
        cmocka_unit_test(test_link_verify_rejects_bad_escapes),
        cmocka_unit_test(test_link_verify_accepts_lowercase_escapes),
        cmocka_unit_test(test_link_verify_rejects_other_secret),
        cmocka_unit_test(test_link_verify_rejects_bad_template),
        cmocka_unit_test(test_link_template_check_accepts),
        cmocka_unit_test(test_link_template_check_errors),
        cmocka_unit_test(test_linker_matches_link_build),
        cmocka_unit_test(test_linker_uses_len),
        cmocka_unit_test(test_linker_borrows_nothing),
        cmocka_unit_test(test_linker_refuses_bad_template),
        cmocka_unit_test(test_link_secret_from_env),
        cmocka_unit_test(test_link_secret_env_wins_over_file),
        cmocka_unit_test(test_link_secret_from_0600_file),
        cmocka_unit_test(test_link_secret_keeps_lone_cr),
        cmocka_unit_test(test_link_secret_refuses_0644_file),
        cmocka_unit_test(test_link_secret_too_short),
        cmocka_unit_test(test_link_secret_too_long),
        cmocka_unit_test(test_link_secret_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
