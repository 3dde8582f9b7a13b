/* Unit tests for the notice template language (core/campaign/tmpl.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "herald/tmpl.h"

static const char *const known[] = {"name", "objection_url", "person_id", "country", NULL};

/* Compiles src (a C string) from a fake YAML position 10:7 in "loc.yaml". */
static struct hd_tmpl *compile(const char *src, enum hd_tmpl_mode mode, struct hd_err *err)
{
    return hd_tmpl_compile(src, strlen(src), mode, known, "loc.yaml", 10, 7, err);
}

/* Renders src with the given values (in `known` order) and returns the text
 * in a buffer the caller releases. */
static struct hd_buf render(const char *src, enum hd_tmpl_mode mode, const char *const *values)
{
    struct hd_err err = {0};
    struct hd_tmpl_vars vars = {known, values};
    struct hd_buf out = HD_BUF_INIT;
    struct hd_tmpl *t = compile(src, mode, &err);
    if (t == NULL)
        fail_msg("compile failed: %s", err.msg);
    assert_int_equal(hd_tmpl_render(t, &vars, &out), 0);
    hd_tmpl_free(t);
    return out;
}

/* Asserts that compiling src fails with exactly the message expected. */
static void assert_compile_error(const char *src, const char *expected)
{
    struct hd_err err = {0};
    struct hd_tmpl *t = compile(src, HD_TMPL_TEXT, &err);
    assert_null(t);
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_string_equal(err.msg, expected);
}

static void test_tmpl_render_text(void **state)
{
    const char *values[] = {"Ada", "https://x.example/o", "p1", "FR", NULL};
    struct hd_buf out =
        render("Dear {{name}},\nobject at {{ objection_url }}.", HD_TMPL_TEXT, values);
    (void)state;
    assert_string_equal(out.data, "Dear Ada,\nobject at https://x.example/o.");
    hd_buf_release(&out);
}

static void test_tmpl_render_text_does_not_escape(void **state)
{
    const char *values[] = {"<b>&\"'", NULL, NULL, NULL, NULL};
    struct hd_buf out = render("[{{name}}]", HD_TMPL_TEXT, values);
    (void)state;
    assert_string_equal(out.data, "[<b>&\"']");
    hd_buf_release(&out);
}

static void test_tmpl_render_html_escapes_all_five(void **state)
{
    const char *values[] = {"a&b<c>d\"e'f", NULL, NULL, NULL, NULL};
    struct hd_buf out = render("<p>{{name}}</p>", HD_TMPL_HTML, values);
    (void)state;
    assert_string_equal(out.data, "<p>a&amp;b&lt;c&gt;d&quot;e&#39;f</p>");
    hd_buf_release(&out);
}

static void test_tmpl_render_html_keeps_literal_text(void **state)
{
    /* Literal markup is the template author's and is copied as written. */
    const char *values[] = {"x", NULL, NULL, NULL, NULL};
    struct hd_buf out = render("<a href=\"a?b=1&c=2\">{{name}}</a> & 'more'", HD_TMPL_HTML, values);
    (void)state;
    assert_string_equal(out.data, "<a href=\"a?b=1&c=2\">x</a> & 'more'");
    hd_buf_release(&out);
}

static void test_tmpl_render_unicode_passthrough(void **state)
{
    const char *values[] = {"Zoë 李 🙂", NULL, NULL, NULL, NULL};
    struct hd_buf text = render("Grüße, {{name}} — ✓", HD_TMPL_TEXT, values);
    struct hd_buf html = render("Grüße, {{name}} — ✓", HD_TMPL_HTML, values);
    (void)state;
    assert_string_equal(text.data, "Grüße, Zoë 李 🙂 — ✓");
    assert_string_equal(html.data, "Grüße, Zoë 李 🙂 — ✓");
    hd_buf_release(&text);
    hd_buf_release(&html);
}

static void test_tmpl_render_literal_open_braces(void **state)
{
    const char *values[] = {"Ada", NULL, NULL, NULL, NULL};
    struct hd_buf out = render("{{{{name}} is {{name}}; {{{{{{{{", HD_TMPL_TEXT, values);
    (void)state;
    assert_string_equal(out.data, "{{name}} is Ada; {{{{");
    hd_buf_release(&out);
}

static void test_tmpl_render_stray_close_braces_are_literal(void **state)
{
    const char *values[] = {"Ada", NULL, NULL, NULL, NULL};
    struct hd_buf out = render("}} {{name}}}} }", HD_TMPL_TEXT, values);
    (void)state;
    assert_string_equal(out.data, "}} Ada}} }");
    hd_buf_release(&out);
}

static void test_tmpl_render_null_value_is_empty(void **state)
{
    const char *values[] = {NULL, NULL, NULL, NULL, NULL};
    struct hd_buf out = render("[{{name}}][{{ country }}]", HD_TMPL_HTML, values);
    (void)state;
    assert_string_equal(out.data, "[][]");
    hd_buf_release(&out);
}

static void test_tmpl_render_appends_and_repeats(void **state)
{
    const char *values[] = {"Ada", NULL, "p&1", NULL, NULL};
    struct hd_tmpl_vars vars = {known, values};
    struct hd_buf out = HD_BUF_INIT;
    struct hd_err err = {0};
    struct hd_tmpl *t = compile("{{name}}:{{person_id}};", HD_TMPL_HTML, &err);
    (void)state;
    assert_non_null(t);
    assert_int_equal(hd_buf_puts(&out, ">"), 0);
    assert_int_equal(hd_tmpl_render(t, &vars, &out), 0);
    assert_int_equal(hd_tmpl_render(t, &vars, &out), 0);
    assert_string_equal(out.data, ">Ada:p&amp;1;Ada:p&amp;1;");
    hd_buf_release(&out);
    hd_tmpl_free(t);
}

static void test_tmpl_render_empty_template(void **state)
{
    struct hd_err err = {0};
    struct hd_buf out = HD_BUF_INIT;
    struct hd_tmpl *t = hd_tmpl_compile("", 0, HD_TMPL_TEXT, known, NULL, 1, 1, &err);
    (void)state;
    assert_non_null(t);
    /* No variables, so no values are needed. */
    assert_int_equal(hd_tmpl_render(t, NULL, &out), 0);
    assert_int_equal(out.len, 0);
    hd_buf_release(&out);
    hd_tmpl_free(t);
}

static void test_tmpl_unknown_variable_line_col_and_suggestion(void **state)
{
    (void)state;
    /* Second line: "{{" at byte 4, the name at byte 7. Every line is shifted
     * by base_col - 1 (a block scalar's indentation), so column 7 + 6. */
    assert_compile_error("Hello,\nHi {{ nmae }}!",
                         "loc.yaml:11:13: unknown template variable \"nmae\" "
                         "(did you mean \"name\"?)");
}

static void test_tmpl_unknown_variable_first_line_adds_base_col(void **state)
{
    (void)state;
    /* Name at byte 8 of the first line, which starts at column 7. */
    assert_compile_error("Dear {{contry}}", "loc.yaml:10:14: unknown template variable \"contry\" "
                                            "(did you mean \"country\"?)");
}

static void test_tmpl_unknown_variable_without_suggestion(void **state)
{
    (void)state;
    assert_compile_error("a\nb\n{{zzz}}", "loc.yaml:12:9: unknown template variable \"zzz\"");
    /* "nm" is two edits from "name", but a suggestion must be closer than
     * the typo is long. */
    assert_compile_error("{{nm}}", "loc.yaml:10:9: unknown template variable \"nm\"");
    assert_compile_error("{{x}}", "loc.yaml:10:9: unknown template variable \"x\"");
}

static void test_tmpl_columns_count_bytes(void **state)
{
    (void)state;
    /* "ü" is two bytes, so the name starts at byte 6 of the second line. */
    assert_compile_error("x\nü {{nam}}", "loc.yaml:11:12: unknown template variable \"nam\" "
                                         "(did you mean \"name\"?)");
}

static void test_tmpl_unterminated_braces_position(void **state)
{
    (void)state;
    assert_compile_error("ok {{name}}\n  {{ name", "loc.yaml:11:9: unterminated \"{{\"");
    /* A newline before the "}}" counts as unterminated too. */
    assert_compile_error("Hi {{name\n}}", "loc.yaml:10:10: unterminated \"{{\"");
    assert_compile_error("{{", "loc.yaml:10:7: unterminated \"{{\"");
}

static void test_tmpl_empty_variable_name(void **state)
{
    (void)state;
    assert_compile_error("x {{  }}", "loc.yaml:10:9: empty variable name");
}

static void test_tmpl_bad_character_in_variable_name(void **state)
{
    (void)state;
    assert_compile_error("\n{{ Name }}", "loc.yaml:11:10: bad character in variable name");
    assert_compile_error("{{na me}}", "loc.yaml:10:11: bad character in variable name");
    assert_compile_error("{{{name}}}", "loc.yaml:10:9: bad character in variable name");
}

static void test_tmpl_error_without_file_keeps_location(void **state)
{
    struct hd_err err = {0};
    struct hd_tmpl *t = hd_tmpl_compile("{{nme}}", 7, HD_TMPL_TEXT, known, NULL, 3, 4, &err);
    (void)state;
    assert_null(t);
    assert_string_equal(err.msg, "3:6: unknown template variable \"nme\" (did you mean \"name\"?)");
}

static void test_tmpl_uses(void **state)
{
    struct hd_err err = {0};
    struct hd_tmpl *t = compile("{{{{country}} {{ objection_url }} {{name}}", HD_TMPL_TEXT, &err);
    (void)state;
    assert_non_null(t);
    assert_true(hd_tmpl_uses(t, "objection_url"));
    assert_true(hd_tmpl_uses(t, "name"));
    /* Escaped "{{{{country}}" is text, not a use. */
    assert_false(hd_tmpl_uses(t, "country"));
    assert_false(hd_tmpl_uses(t, "person_id"));
    assert_false(hd_tmpl_uses(t, "nam"));
    hd_tmpl_free(t);
}

static void test_tmpl_free_null(void **state)
{
    (void)state;
    hd_tmpl_free(NULL);
}

static void test_tmpl_html_escape_function(void **state)
{
    struct hd_buf out = HD_BUF_INIT;
    (void)state;
    assert_int_equal(hd_html_escape(&out, "x'&'y\0z", 7), 0);
    /* The NUL byte passes through: len, not strlen, bounds the value. */
    assert_int_equal(out.len, 19);
    assert_memory_equal(out.data, "x&#39;&amp;&#39;y\0z", 19);
    hd_buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tmpl_render_text),
        cmocka_unit_test(test_tmpl_render_text_does_not_escape),
        cmocka_unit_test(test_tmpl_render_html_escapes_all_five),
        cmocka_unit_test(test_tmpl_render_html_keeps_literal_text),
        cmocka_unit_test(test_tmpl_render_unicode_passthrough),
        cmocka_unit_test(test_tmpl_render_literal_open_braces),
        cmocka_unit_test(test_tmpl_render_stray_close_braces_are_literal),
        cmocka_unit_test(test_tmpl_render_null_value_is_empty),
        cmocka_unit_test(test_tmpl_render_appends_and_repeats),
        cmocka_unit_test(test_tmpl_render_empty_template),
        cmocka_unit_test(test_tmpl_unknown_variable_line_col_and_suggestion),
        cmocka_unit_test(test_tmpl_unknown_variable_first_line_adds_base_col),
        cmocka_unit_test(test_tmpl_unknown_variable_without_suggestion),
        cmocka_unit_test(test_tmpl_columns_count_bytes),
        cmocka_unit_test(test_tmpl_unterminated_braces_position),
        cmocka_unit_test(test_tmpl_empty_variable_name),
        cmocka_unit_test(test_tmpl_bad_character_in_variable_name),
        cmocka_unit_test(test_tmpl_error_without_file_keeps_location),
        cmocka_unit_test(test_tmpl_uses),
        cmocka_unit_test(test_tmpl_free_null),
        cmocka_unit_test(test_tmpl_html_escape_function),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
