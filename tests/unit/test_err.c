/* Unit tests for errors and diagnostics (core/base/err.c): what they print is safe
 * on a terminal whatever user text went into them (issue 10, finding 11). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "herald/err.h"

static void assert_escaped(const char *in, size_t len, const char *want)
{
    char out[256];
    size_t n = hd_err_escape(out, sizeof out, in, len);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_err_escape_controls(void **state)
{
    (void)state;
    assert_escaped("plain é €", strlen("plain é €"), "plain é €");
    assert_escaped("a\x1b[31mb", 7, "a\\x1b[31mb");
    assert_escaped("cr\rlf\ntab\tdel\x7f", 14, "cr\\x0dlf\\x0atab\\x09del\\x7f");
    assert_escaped("nul\0x", 5, "nul\\x00x");
    /* C1 (U+0085, U+009B: a one-byte CSI on some terminals), bidi override,
     * line separator */
    assert_escaped("\xc2\x85\xc2\x9b\xe2\x80\xae\xe2\x80\xa8", 10, "\\u0085\\u009b\\u202e\\u2028");
    /* not UTF-8: a stray continuation, an overlong form, a cut sequence */
    assert_escaped("\x80 \xc0\xaf \xe2\x82", 7, "\\x80 \\xc0\\xaf \\xe2\\x82");
    /* a backslash stays: escaping twice changes nothing */
    assert_escaped("a\\x1b", 5, "a\\x1b");
}

static void test_err_escape_cut_at_boundary(void **state)
{
    char out[6];
    (void)state;
    /* "ab" + "\x1b" (4 bytes) does not fit in 5 + NUL: cut before it */
    assert_int_equal(hd_err_escape(out, sizeof out, "ab\x1b", 3), 2);
    assert_string_equal(out, "ab");
    assert_int_equal(hd_err_escape(out, sizeof out, "abc\xc3\xa9", 5), 5);
    assert_string_equal(out, "abc\xc3\xa9");
    assert_int_equal(hd_err_escape(out, sizeof out, "abcd\xc3\xa9", 6), 4);
    assert_string_equal(out, "abcd");
}

static void test_err_messages_escaped(void **state)
{
    struct hd_err err = {0};
    struct hd_diags d;
    (void)state;
    hd_err_set(&err, HD_EX_DATAERR, "bad value \"%s\"", "x\x1b]0;pwned\x07y");
    assert_string_equal(err.msg, "bad value \"x\\x1b]0;pwned\\x07y\"");
    hd_err_at(&err, HD_EX_DATAERR, "dir\x1b/c.yaml", 2, 3, "bad \"%s\"", "\r");
    assert_string_equal(err.msg, "dir\\x1b/c.yaml:2:3: bad \"\\x0d\"");
    hd_err_prefix(&err, "column \"%s\"", "\xff");
    assert_string_equal(err.msg, "column \"\\xff\": dir\\x1b/c.yaml:2:3: bad \"\\x0d\"");
    hd_diags_init(&d);
    hd_diags_add(&d, HD_EX_DATAERR, "h\x9b.csv", 1, 0, "header \"%s\"", "a\x1b[2Jb");
    assert_int_equal(d.count, 1);
    assert_string_equal(d.items[0], "h\\x9b.csv:1: header \"a\\x1b[2Jb\"");
    hd_diags_release(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_escape_controls),
        cmocka_unit_test(test_err_escape_cut_at_boundary),
        cmocka_unit_test(test_err_messages_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
