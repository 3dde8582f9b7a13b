/* Unit tests for herald/str.h (core/base/str.c): the one copy of strdup,
 * path resolution against the campaign folder, JSON string escaping and
 * base64. The jansson form of the escaping is also checked against jansson
 * itself in test_render.c (test_render_json_string_matches_jansson). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "herald/str.h"

static void test_str_strdup(void **state)
{
    struct hd_err err = {0};
    (void)state;
    char *p = hd_strdup("notice", &err);
    assert_string_equal(p, "notice");
    free(p);
    p = hd_strndup("notice", 3, &err);
    assert_string_equal(p, "not");
    free(p);
    assert_int_equal(err.code, 0);
}

static void test_str_path_resolve(void **state)
{
    static const struct {
        const char *dir, *path, *want;
    } cases[] = {
        {"/srv/c", "audience.csv", "/srv/c/audience.csv"},
        {"/srv/c", "/etc/ca.pem", "/etc/ca.pem"},
        {".", "audience.csv", "audience.csv"},
        {NULL, "keys/dkim.pem", "keys/dkim.pem"},
        {"/", "x", "//x"},
        {"rel/dir", "../x", "rel/dir/../x"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hd_err err = {0};
        char *p = hd_path_resolve(cases[i].dir, cases[i].path, &err);
        assert_non_null(p);
        assert_string_equal(p, cases[i].want);
        free(p);
    }
}

static void expect_json(const char *s, size_t n, unsigned flags, const char *want)
{
    struct hd_buf b = HD_BUF_INIT;
    assert_int_equal(hd_buf_json(&b, s, n, flags), 0);
    assert_string_equal(b.data, want);
    hd_buf_release(&b);
}

static void test_str_json_jansson_form(void **state)
{
    (void)state;
    expect_json("plain", 5, HD_JSON_QUOTED, "\"plain\"");
    expect_json("a\"b\\c", 5, 0, "a\\\"b\\\\c");
    expect_json("\x01\x1f\x7f/", 4, 0, "\\u0001\\u001F\x7f/");
    expect_json("\n\r\t\b\f", 5, 0, "\\n\\r\\t\\b\\f");
    expect_json("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, 0,
                "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    /* long plain runs take the 8-byte path; the escape after it still lands */
    expect_json("0123456789abcdef\n", 17, HD_JSON_QUOTED, "\"0123456789abcdef\\n\"");
    /* not UTF-8: refused, the buffer keeps what it had */
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_puts(&b, "pre");
    assert_int_equal(hd_buf_json(&b, "ok\xc0\x80", 4, HD_JSON_QUOTED), HD_JSON_BAD_UTF8);
    assert_string_equal(b.data, "pre");
    assert_int_equal(hd_buf_json(&b, "\xed\xa0\x80", 3, 0), HD_JSON_BAD_UTF8);
    hd_buf_release(&b);
}

static void test_str_json_ascii_form(void **state)
{
    (void)state;
    /* what Python's json.dumps(s, ensure_ascii=True) writes */
    expect_json("plain", 5, HD_JSON_QUOTED | HD_JSON_ASCII, "\"plain\"");
    expect_json("a\"b\\c", 5, HD_JSON_ASCII, "a\\\"b\\\\c");
    expect_json("\x01\x1f\x7f/", 4, HD_JSON_ASCII, "\\u0001\\u001f\\u007f/");
    expect_json("\n\r\t\b\f", 5, HD_JSON_ASCII, "\\n\\r\\t\\b\\f");
    expect_json("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, HD_JSON_ASCII,
                "\\u00e9\\u20ac\\ud83d\\ude00");
    expect_json("0123456789abcdef\x7f", 17, HD_JSON_ASCII, "0123456789abcdef\\u007f");
    /* bytes that are not UTF-8 become U+FFFD, one per byte */
    expect_json("a\xff\xc0\x80", 4, HD_JSON_ASCII, "a\\ufffd\\ufffd\\ufffd");
}

static void test_str_base64(void **state)
{
    /* RFC 4648 section 10 */
    static const char *const vec[][2] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    char out[16];
    uint8_t back[16];
    size_t n;
    (void)state;
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        size_t len = strlen(vec[i][0]);
        assert_int_equal(hd_base64_encode(vec[i][0], len, out), strlen(vec[i][1]));
        assert_int_equal(HD_BASE64_LEN(len), strlen(vec[i][1]));
        assert_string_equal(out, vec[i][1]);
        assert_int_equal(hd_base64_decode(out, strlen(out), back, sizeof back, &n, 0), 0);
        assert_int_equal(n, len);
        assert_memory_equal(back, vec[i][0], len);
    }
    /* strict: padding required, unused bits zero, nothing else */
    assert_int_equal(hd_base64_decode("Zm8", 3, back, sizeof back, &n, 0), -1);
    assert_int_equal(hd_base64_decode("Zm9=", 4, back, sizeof back, &n, 0), -1);
    assert_int_equal(hd_base64_decode("Zm 9", 4, back, sizeof back, &n, 0), -1);
    assert_int_equal(hd_base64_decode("Z===", 4, back, sizeof back, &n, 0), -1);
    assert_int_equal(hd_base64_decode("Zm9vYmFy", 8, back, 5, &n, 0), -1); /* too small */
    /* lax: padding optional, unused bits ignored */
    assert_int_equal(hd_base64_decode("Zm8", 3, back, sizeof back, &n, HD_BASE64_LAX), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(back, "fo", 2);
    assert_int_equal(hd_base64_decode("Zm9=", 4, back, sizeof back, &n, HD_BASE64_LAX), 0);
    assert_int_equal(n, 2);
    assert_int_equal(hd_base64_decode("Zm8=", 4, back, sizeof back, &n, HD_BASE64_LAX), 0);
    assert_int_equal(n, 2);
    assert_int_equal(hd_base64_decode("Z", 1, back, sizeof back, &n, HD_BASE64_LAX), -1);
    assert_int_equal(hd_base64_decode("Zm$v", 4, back, sizeof back, &n, HD_BASE64_LAX), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str_strdup),
        cmocka_unit_test(test_str_path_resolve),
        cmocka_unit_test(test_str_json_jansson_form),
        cmocka_unit_test(test_str_json_ascii_form),
        cmocka_unit_test(test_str_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
