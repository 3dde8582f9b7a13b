/* Unit tests for the YAML tree with source marks (core/yaml.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hd_test.h"
#include "herald/yaml.h"

/* Parses src (a C string) as "t.yaml"; fails the test on error. */
static struct hd_ydoc *parse_ok(const char *src)
{
    struct hd_err err = {0};
    struct hd_ydoc *doc = hd_yaml_parse("t.yaml", src, strlen(src), &err);
    if (doc == NULL)
        fail_msg("parse failed: %s", err.msg);
    assert_int_equal(err.code, 0);
    return doc;
}

/* Asserts that parsing src fails with exactly the message expected. */
static void assert_parse_error(const char *src, const char *expected)
{
    struct hd_err err = {0};
    struct hd_ydoc *doc = hd_yaml_parse("t.yaml", src, strlen(src), &err);
    if (doc != NULL) {
        hd_yaml_free(doc);
        fail_msg("parse succeeded, expected: %s", expected);
    }
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_string_equal(err.msg, expected);
}

static void assert_mark(const struct hd_ynode *n, unsigned long line, unsigned long col)
{
    assert_non_null(n);
    assert_int_equal(n->line, line);
    assert_int_equal(n->col, col);
}

static void test_yaml_scalars_maps_seqs_with_marks(void **state)
{
    struct hd_ydoc *doc = parse_ok("id: demo\n"
                                   "list:\n"
                                   "  - one\n"
                                   "  - two: 2\n"
                                   "flow: [a, {b: c}]\n"
                                   "nested:\n"
                                   "    deep: yes\n");
    const struct hd_ynode *root = doc->root, *n, *list, *flow;
    (void)state;

    assert_non_null(root);
    assert_int_equal(root->kind, HD_YMAP);
    assert_mark(root, 1, 1);
    assert_int_equal(root->count, 4);
    assert_string_equal(doc->file, "t.yaml");
    assert_string_equal(root->file, "t.yaml");

    /* keys keep their own marks, in document order */
    assert_string_equal(root->keys[0]->str, "id");
    assert_mark(root->keys[0], 1, 1);
    assert_string_equal(root->keys[3]->str, "nested");
    assert_mark(root->keys[3], 6, 1);

    n = hd_ymap_get(root, "id");
    assert_int_equal(n->kind, HD_YSCALAR);
    assert_string_equal(n->str, "demo");
    assert_int_equal(n->len, 4);
    assert_false(n->quoted);
    assert_mark(n, 1, 5);

    list = hd_ymap_get(root, "list");
    assert_int_equal(list->kind, HD_YSEQ);
    assert_mark(list, 3, 3);
    assert_int_equal(list->count, 2);
    assert_null(list->keys);
    assert_string_equal(list->items[0]->str, "one");
    assert_mark(list->items[0], 3, 5);
    assert_int_equal(list->items[1]->kind, HD_YMAP);
    assert_mark(list->items[1], 4, 5);
    assert_mark(hd_ymap_get(list->items[1], "two"), 4, 10);

    flow = hd_ymap_get(root, "flow");
    assert_int_equal(flow->kind, HD_YSEQ);
    assert_mark(flow, 5, 7);
    assert_mark(flow->items[0], 5, 8);
    assert_int_equal(flow->items[1]->kind, HD_YMAP);
    assert_mark(flow->items[1], 5, 11);
    assert_mark(hd_ymap_get(flow->items[1], "b"), 5, 15);

    /* YAML 1.1 booleans stay strings: the schema is the caller's business */
    n = hd_ymap_get(hd_ymap_get(root, "nested"), "deep");
    assert_string_equal(n->str, "yes");
    assert_mark(n, 7, 11);

    assert_null(hd_ymap_get(root, "missing"));
    assert_null(hd_ymap_get(list, "one")); /* not a mapping */
    assert_null(hd_ymap_get(NULL, "id"));
    assert_string_equal(hd_ynode_kind_name(hd_ymap_get(root, "id")), "a string");
    assert_string_equal(hd_ynode_kind_name(list), "a list");
    assert_string_equal(hd_ynode_kind_name(root), "a mapping");
    hd_yaml_free(doc);
}

static void test_yaml_quoted_flag(void **state)
{
    struct hd_ydoc *doc = parse_ok("plain: 42\n"
                                   "single: '42'\n"
                                   "double: \"42\"\n"
                                   "literal: |\n  42\n"
                                   "folded: >\n  42\n");
    const struct hd_ynode *root = doc->root;
    (void)state;

    assert_false(hd_ymap_get(root, "plain")->quoted);
    assert_true(hd_ymap_get(root, "single")->quoted);
    assert_true(hd_ymap_get(root, "double")->quoted);
    assert_true(hd_ymap_get(root, "literal")->quoted);
    assert_string_equal(hd_ymap_get(root, "literal")->str, "42\n");
    assert_true(hd_ymap_get(root, "folded")->quoted);
    hd_yaml_free(doc);
}

static void test_yaml_text_position_quoted(void **state)
{
    struct hd_ydoc *doc = parse_ok("a:\n"
                                   "  double: \"Hello {{name}}\"\n"
                                   "  single: 'Hi'\n"
                                   "  plain: Hey\n");
    const struct hd_ynode *a = hd_ymap_get(doc->root, "a"), *n;
    (void)state;

    n = hd_ymap_get(a, "double");
    assert_mark(n, 2, 11); /* the opening quote */
    assert_int_equal(n->text_line, 2);
    assert_int_equal(n->text_col, 12); /* the H after it */
    assert_string_equal(n->str, "Hello {{name}}");

    n = hd_ymap_get(a, "single");
    assert_int_equal(n->text_line, 3);
    assert_int_equal(n->text_col, 12);

    n = hd_ymap_get(a, "plain");
    assert_int_equal(n->text_line, 4);
    assert_int_equal(n->text_col, 10);
    hd_yaml_free(doc);
}

static void test_yaml_text_position_literal_block(void **state)
{
    struct hd_ydoc *doc = parse_ok("email:\n"
                                   "  text: |\n"
                                   "    Dear {{name}},\n"
                                   "\n"
                                   "    object at {{objection_url}}\n");
    const struct hd_ynode *n = hd_ymap_get(hd_ymap_get(doc->root, "email"), "text");
    (void)state;

    assert_mark(n, 2, 9); /* the | indicator */
    assert_int_equal(n->text_line, 3);
    assert_int_equal(n->text_col, 5); /* every line is indented by 4 */
    assert_string_equal(n->str, "Dear {{name}},\n\nobject at {{objection_url}}\n");
    hd_yaml_free(doc);
}

/* Leading blank lines belong to the string (one "\n" each), so the text
 * starts on the line right after the indicator, while the indentation comes
 * from the first line that has content. */
static void test_yaml_text_position_block_blank_first_line(void **state)
{
    struct hd_ydoc *doc = parse_ok("text: |\n"
                                   "\n"
                                   "   \n"
                                   "      Hi {{x}}\n"
                                   "other: 1\n");
    const struct hd_ynode *n = hd_ymap_get(doc->root, "text");
    (void)state;

    assert_string_equal(n->str, "\n\nHi {{x}}\n");
    assert_int_equal(n->text_line, 2);
    assert_int_equal(n->text_col, 7);
    hd_yaml_free(doc);
}

static void test_yaml_syntax_error_has_line_col(void **state)
{
    (void)state;
    assert_parse_error("a: [1, 2\nb: 3\n", "t.yaml:2:2: YAML syntax error: did not find expected "
                                           "',' or ']' while parsing a flow sequence");
    assert_parse_error("a:\n  - b\n c: d\n", "t.yaml:3:2: YAML syntax error: did not find "
                                             "expected key while parsing a block mapping");
    assert_parse_error("a: \"x\n", "t.yaml:2:1: YAML syntax error: found unexpected end of "
                                   "stream while scanning a quoted scalar");
}

static void test_yaml_duplicate_key(void **state)
{
    (void)state;
    assert_parse_error("a: 1\nb:\n  c: 2\n  c: 3\n", "t.yaml:4:3: duplicate key \"c\"");
    assert_parse_error("a: 1\nb: 2\na: 3\n", "t.yaml:3:1: duplicate key \"a\"");
}

static void test_yaml_non_scalar_key_refused(void **state)
{
    (void)state;
    assert_parse_error("? [a]\n: 1\n", "t.yaml:1:3: mapping keys must be plain strings");
}

/* Ten times ten times ... : tiny as text, 10^7 nodes once expanded. */
static void test_yaml_billion_laughs_refused(void **state)
{
    (void)state;
    assert_parse_error("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                       "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
                       "t.yaml:6:8: document too large: more than 200000 nodes (aliases count "
                       "each time they are used)");
}

/* Aliases within the limit are fine and share the anchored node. */
static void test_yaml_alias_reuses_anchor(void **state)
{
    struct hd_ydoc *doc = parse_ok("base: &b {rate: 5/s}\n"
                                   "copy: *b\n"
                                   "word: &w hello\n"
                                   "again: *w\n");
    const struct hd_ynode *root = doc->root;
    (void)state;

    assert_ptr_equal(hd_ymap_get(root, "base"), hd_ymap_get(root, "copy"));
    assert_string_equal(hd_ymap_get(hd_ymap_get(root, "copy"), "rate")->str, "5/s");
    assert_string_equal(hd_ymap_get(root, "again")->str, "hello");
    hd_yaml_free(doc);
}

static void test_yaml_alias_to_enclosing_node_refused(void **state)
{
    (void)state;
    assert_parse_error("a: &x [1, *x]\n",
                       "t.yaml:1:11: alias \"*x\" refers to its own enclosing node");
    assert_parse_error("a: &x {b: {c: *x}}\n",
                       "t.yaml:1:15: alias \"*x\" refers to its own enclosing node");
}

static void test_yaml_unknown_alias(void **state)
{
    (void)state;
    assert_parse_error("a: 1\nb: *nope\n", "t.yaml:2:4: unknown alias \"*nope\"");
}

static void test_yaml_unsupported_tag(void **state)
{
    struct hd_ydoc *doc;
    (void)state;
    assert_parse_error("a: !!python/object:os.system x\n",
                       "t.yaml:1:4: unsupported tag \"tag:yaml.org,2002:python/object:os.system\"");
    assert_parse_error("a: !!python/object\n  b: 1\n",
                       "t.yaml:1:4: unsupported tag \"tag:yaml.org,2002:python/object\"");
    assert_parse_error("a:\n  - !foo x\n", "t.yaml:2:5: unsupported tag \"!foo\"");
    /* the core schema's own tags are accepted */
    doc = parse_ok("a: !!str 1\nb: !!int 2\nc: !!seq [x]\nd: !!map {e: f}\n");
    assert_string_equal(hd_ymap_get(doc->root, "a")->str, "1");
    hd_yaml_free(doc);
}

static char *nested_seqs(unsigned levels)
{
    char *s = malloc(2 * levels + 2);
    assert_non_null(s);
    memset(s, '[', levels);
    s[levels] = 'x';
    memset(s + levels + 1, ']', levels);
    s[2 * levels + 1] = '\0';
    return s;
}

static void test_yaml_too_deep(void **state)
{
    char *ok = nested_seqs(HD_YAML_MAX_DEPTH), *deep = nested_seqs(HD_YAML_MAX_DEPTH + 1),
         *deeper = nested_seqs(1000);
    (void)state;

    hd_yaml_free(parse_ok(ok));
    assert_parse_error(deep, "t.yaml:1:66: nesting deeper than 64 levels");
    assert_parse_error(deeper, "t.yaml:1:66: nesting deeper than 64 levels");
    free(ok);
    free(deep);
    free(deeper);
}

static void test_yaml_oversize_input(void **state)
{
    size_t len = HD_YAML_MAX_BYTES + 1;
    char *big = malloc(len);
    struct hd_err err = {0};
    (void)state;

    assert_non_null(big);
    memset(big, '#', len); /* one long comment: valid YAML, just too big */
    assert_null(hd_yaml_parse("big.yaml", big, len, &err));
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_string_equal(err.msg, "big.yaml: file too large (4194305 bytes; the limit is 4194304)");
    /* exactly the limit is fine */
    memset(&err, 0, sizeof err);
    struct hd_ydoc *doc = hd_yaml_parse("big.yaml", big, len - 1, &err);
    assert_non_null(doc);
    assert_null(doc->root);
    hd_yaml_free(doc);
    free(big);
}

static void test_yaml_more_than_one_document(void **state)
{
    struct hd_ydoc *doc;
    (void)state;
    assert_parse_error("a: 1\n---\nb: 2\n", "t.yaml:2:1: more than one YAML document in the file");
    /* one explicit document with its end marker is fine */
    doc = parse_ok("---\na: 1\n...\n");
    assert_string_equal(hd_ymap_get(doc->root, "a")->str, "1");
    hd_yaml_free(doc);
}

static void test_yaml_empty_document(void **state)
{
    struct hd_ydoc *doc = parse_ok("");
    (void)state;
    assert_null(doc->root);
    hd_yaml_free(doc);
    doc = parse_ok("# just a comment\n");
    assert_null(doc->root);
    hd_yaml_free(doc);
    hd_yaml_free(NULL); /* a no-op */
}

static void test_yaml_is_null(void **state)
{
    struct hd_ydoc *doc = parse_ok("empty:\n"
                                   "tilde: ~\n"
                                   "null1: null\n"
                                   "null2: Null\n"
                                   "null3: NULL\n"
                                   "quoted: \"null\"\n"
                                   "quoted_empty: ''\n"
                                   "odd: nUll\n"
                                   "zero: 0\n"
                                   "list: []\n"
                                   "map: {}\n");
    const struct hd_ynode *r = doc->root;
    (void)state;

    assert_true(hd_ynode_is_null(NULL));
    assert_true(hd_ynode_is_null(hd_ymap_get(r, "empty")));
    assert_true(hd_ynode_is_null(hd_ymap_get(r, "tilde")));
    assert_true(hd_ynode_is_null(hd_ymap_get(r, "null1")));
    assert_true(hd_ynode_is_null(hd_ymap_get(r, "null2")));
    assert_true(hd_ynode_is_null(hd_ymap_get(r, "null3")));
    assert_false(hd_ynode_is_null(hd_ymap_get(r, "quoted")));
    assert_false(hd_ynode_is_null(hd_ymap_get(r, "quoted_empty")));
    assert_false(hd_ynode_is_null(hd_ymap_get(r, "odd")));
    assert_false(hd_ynode_is_null(hd_ymap_get(r, "zero")));
    assert_false(hd_ynode_is_null(hd_ymap_get(r, "list")));
    assert_false(hd_ynode_is_null(hd_ymap_get(r, "map")));
    assert_string_equal(hd_ynode_kind_name(hd_ymap_get(r, "tilde")), "null");
    assert_string_equal(hd_ynode_kind_name(hd_ymap_get(r, "quoted")), "a string");
    hd_yaml_free(doc);
}

static void test_yaml_load_file(void **state)
{
    /* sha256("a: 1\n") */
    static const unsigned char sha[32] = {0x37, 0xb1, 0x28, 0xc5, 0x9f, 0x1f, 0x50, 0x97,
                                          0xf7, 0x3f, 0x82, 0x69, 0x1c, 0xb5, 0x19, 0xf1,
                                          0xf5, 0x68, 0x66, 0x7f, 0xaa, 0xb5, 0xce, 0xd1,
                                          0xb4, 0xab, 0x97, 0x9d, 0x36, 0x83, 0x7e, 0xae};
    char dir[256];
    struct hd_err err = {0};
    (void)state;

    snprintf(dir, sizeof dir, "%s", hd_test_tmpdir());
    char *path = hd_test_write(dir, "c.yaml", "a: 1\n", (size_t)-1);
    struct hd_ydoc *doc = hd_yaml_load(path, &err);
    assert_non_null(doc);
    assert_string_equal(doc->file, path);
    assert_string_equal(hd_ymap_get(doc->root, "a")->file, path);
    assert_int_equal(doc->size, 5);
    assert_string_equal(doc->bytes, "a: 1\n");
    assert_memory_equal(doc->sha256, sha, 32);
    hd_yaml_free(doc);

    /* errors found in a loaded file carry its path */
    free(path);
    path = hd_test_write(dir, "bad.yaml", "a: 1\na: 2\n", (size_t)-1);
    assert_null(hd_yaml_load(path, &err));
    char expected[512];
    snprintf(expected, sizeof expected, "%s:2:1: duplicate key \"a\"", path);
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_string_equal(err.msg, expected);
    free(path);
    hd_test_rmtree(dir);
}

static void test_yaml_missing_file(void **state)
{
    struct hd_err err = {0};
    char dir[256], path[300];
    (void)state;

    snprintf(dir, sizeof dir, "%s", hd_test_tmpdir());
    snprintf(path, sizeof path, "%s/absent.yaml", dir);
    assert_null(hd_yaml_load(path, &err));
    assert_int_equal(err.code, HD_EX_NOINPUT);
    char expected[400];
    snprintf(expected, sizeof expected, "cannot open YAML file %s: No such file or directory",
             path);
    assert_string_equal(err.msg, expected);

    /* a directory is not a YAML file either */
    memset(&err, 0, sizeof err);
    assert_null(hd_yaml_load(dir, &err));
    assert_int_equal(err.code, HD_EX_NOINPUT);
    hd_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml_scalars_maps_seqs_with_marks),
        cmocka_unit_test(test_yaml_quoted_flag),
        cmocka_unit_test(test_yaml_text_position_quoted),
        cmocka_unit_test(test_yaml_text_position_literal_block),
        cmocka_unit_test(test_yaml_text_position_block_blank_first_line),
        cmocka_unit_test(test_yaml_syntax_error_has_line_col),
        cmocka_unit_test(test_yaml_duplicate_key),
        cmocka_unit_test(test_yaml_non_scalar_key_refused),
        cmocka_unit_test(test_yaml_billion_laughs_refused),
        cmocka_unit_test(test_yaml_alias_reuses_anchor),
        cmocka_unit_test(test_yaml_alias_to_enclosing_node_refused),
        cmocka_unit_test(test_yaml_unknown_alias),
        cmocka_unit_test(test_yaml_unsupported_tag),
        cmocka_unit_test(test_yaml_too_deep),
        cmocka_unit_test(test_yaml_oversize_input),
        cmocka_unit_test(test_yaml_more_than_one_document),
        cmocka_unit_test(test_yaml_empty_document),
        cmocka_unit_test(test_yaml_is_null),
        cmocka_unit_test(test_yaml_load_file),
        cmocka_unit_test(test_yaml_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
