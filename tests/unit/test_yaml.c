/* Unit tests for the YAML tree with source marks (core/campaign/yaml.c). */
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
    /* Without a final line break, libyaml marks the end on a line that does
     * not exist (4:1 here); the error is shown at the end of the last line. */
    assert_parse_error("id: minimal\nreferencid: minimal\nre_deferencae_t",
                       "t.yaml:3:16: YAML syntax error: could not find expected ':' while "
                       "scanning a simple key");
    assert_parse_error("a: [1, 2", "t.yaml:1:9: YAML syntax error: did not find expected ',' or "
                                   "']' while parsing a flow sequence");
    /* a lone CR ends a line, as in YAML (found by fuzz.campaign) */
    assert_parse_error("idminurl: encidinca\r_tinca",
                       "t.yaml:2:7: YAML syntax error: could not find expected ':' while "
                       "scanning a simple key");
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

/* Issue 10, finding 11: bad UTF-8 and control bytes are reported where they
 * are, not at 1:1. */
static void test_yaml_reader_error_position(void **state)
{
    (void)state;
    assert_parse_error("a: b\nc: d\x1b[31m\n",
                       "t.yaml:2:5: YAML syntax error: control characters are not allowed (byte "
                       "0x1b); the file must be UTF-8 text without control characters");
    assert_parse_error("a: b\nc: d\xff\n",
                       "t.yaml:2:5: YAML syntax error: invalid leading UTF-8 octet (byte 0xff); "
                       "the file must be UTF-8 text without control characters");
    /* columns count characters: "é" is one */
    assert_parse_error("a: \xc3\xa9\xc3\xa9\x01\n",
                       "t.yaml:1:6: YAML syntax error: control characters are not allowed (byte "
                       "0x01); the file must be UTF-8 text without control characters");
}

/* Issue 10, finding 11: a "\0" escape keeps the value's length and is
 * refused in a key, where it would silently cut the key short. */
static void test_yaml_nul_escape(void **state)
{
    struct hd_ydoc *doc = parse_ok("a: \"x\\0y\"\n");
    const struct hd_ynode *n = hd_ymap_get(doc->root, "a");
    (void)state;
    assert_int_equal(n->len, 3);
    assert_memory_equal(n->str, "x\0y", 4);
    hd_yaml_free(doc);
    assert_parse_error("\"ab\\0c\": 1\n", "t.yaml:1:4: a key must not hold a NUL character (\\0)");
    /* two keys equal up to the NUL are not duplicates of each other */
    assert_parse_error("a: 1\nx: {\"a\\0b\": 1}\n",
                       "t.yaml:2:7: a key must not hold a NUL character (\\0)");
}

/* The latest definition of an anchor wins, also with many anchors (the
 * table grows) and after an enclosing node with the same name. */
static void test_yaml_anchor_table(void **state)
{
    char src[64 * 1024];
    size_t n = 0;
    (void)state;
    n += (size_t)snprintf(src + n, sizeof src - n, "defs:\n");
    for (int i = 0; i < 500; i++)
        n += (size_t)snprintf(src + n, sizeof src - n, "  - &a%d v%d\n", i, i);
    n += (size_t)snprintf(src + n, sizeof src - n, "  - &a7 again\n  - &m {k: &m inner}\nuse:\n");
    for (int i = 0; i < 500; i++)
        n += (size_t)snprintf(src + n, sizeof src - n, "  - *a%d\n", i);
    n += (size_t)snprintf(src + n, sizeof src - n, "  - *m\n");
    struct hd_ydoc *doc = parse_ok(src);
    const struct hd_ynode *use = hd_ymap_get(doc->root, "use");
    assert_int_equal(use->count, 501);
    assert_string_equal(use->items[0]->str, "v0");
    assert_string_equal(use->items[499]->str, "v499");
    assert_string_equal(use->items[7]->str, "again");
    assert_string_equal(use->items[500]->str, "inner");
    hd_yaml_free(doc);
}

/* Many keys in one mapping: every one found, a duplicate among them too. */
static void test_yaml_many_keys(void **state)
{
    char src[64 * 1024];
    size_t n = 0;
    (void)state;
    for (int i = 0; i < 2000; i++)
        n += (size_t)snprintf(src + n, sizeof src - n, "k%d: %d\n", i, i);
    struct hd_ydoc *doc = parse_ok(src);
    assert_int_equal(doc->root->count, 2000);
    assert_string_equal(hd_ymap_get(doc->root, "k1999")->str, "1999");
    hd_yaml_free(doc);
    snprintf(src + n, sizeof src - n, "k1234: again\n");
    assert_parse_error(src, "t.yaml:2001:1: duplicate key \"k1234\"");
}

static void assert_locate(const struct hd_ynode *n, size_t at, unsigned long line,
                          unsigned long col)
{
    unsigned long l, c;
    hd_ynode_locate(n, at, &l, &c);
    if (l != line || c != col)
        fail_msg("byte %zu of \"%s\": %lu:%lu, expected %lu:%lu", at, n->str, l, c, line, col);
}

/* Issue 10, finding 11: a byte of a scalar maps back to where it is written,
 * whatever the style. */
static void test_yaml_locate(void **state)
{
    struct hd_ydoc *doc = parse_ok("plain: one two\n"
                                   "  three X\n"                     /* 2 */
                                   "single: 'it''s\n"                /* 3 */
                                   "\n"                              /* 4 */
                                   "  X'\n"                          /* 5 */
                                   "double: \"\\t\\u00e9\\x1bX \\\n" /* 6 */
                                   "   Y\\\"Z\"\n"                   /* 7 */
                                   "lit: |\n"                        /* 8 */
                                   "\n"                              /* 9 */
                                   "    \xc3\xa9X\n"                 /* 10 */
                                   "      Y\n"                       /* 11 */
                                   "fold: >\n"                       /* 12 */
                                   "  a b\n"                         /* 13 */
                                   "  X\n"                           /* 14 */
                                   "\n"                              /* 15 */
                                   "  Y\n");                         /* 16 */
    const struct hd_ynode *r = doc->root;
    (void)state;
    const struct hd_ynode *n = hd_ymap_get(r, "plain");
    assert_string_equal(n->str, "one two three X");
    assert_locate(n, 0, 1, 8);
    assert_locate(n, 7, 1, 15); /* the folded break */
    assert_locate(n, 14, 2, 9); /* X */

    n = hd_ymap_get(r, "single");
    assert_string_equal(n->str, "it's\nX");
    assert_locate(n, 0, 3, 10);
    assert_locate(n, 3, 3, 14); /* the s after '' */
    assert_locate(n, 5, 5, 3);  /* X */

    n = hd_ymap_get(r, "double");
    assert_string_equal(n->str, "\t\xc3\xa9\x1bX Y\"Z");
    assert_locate(n, 0, 6, 10); /* \t */
    assert_locate(n, 2, 6, 12); /* second byte of \u00e9 */
    assert_locate(n, 3, 6, 18); /* \x1b */
    assert_locate(n, 4, 6, 22); /* X */
    assert_locate(n, 6, 7, 4);  /* Y, after the escaped break */
    assert_locate(n, 7, 7, 5);  /* \" */
    assert_locate(n, 8, 7, 7);  /* Z */

    n = hd_ymap_get(r, "lit");
    assert_string_equal(n->str, "\n\xc3\xa9X\n  Y\n");
    assert_locate(n, 0, 9, 1);
    assert_locate(n, 3, 10, 6); /* X after the two-byte é */
    assert_locate(n, 7, 11, 7); /* Y */

    n = hd_ymap_get(r, "fold");
    assert_string_equal(n->str, "a b X\nY\n");
    assert_locate(n, 2, 13, 5); /* b */
    assert_locate(n, 4, 14, 3); /* X */
    assert_locate(n, 6, 16, 3); /* Y */
    hd_yaml_free(doc);
}

/* The byte at the file position of a line and a column in characters. */
static const char *byte_at(const struct hd_ydoc *doc, unsigned long line, unsigned long col)
{
    const char *p = doc->bytes, *end = doc->bytes + doc->size;
    for (unsigned long l = 1; l < line && p < end; p++)
        if (*p == '\n')
            l++;
    for (unsigned long c = 1; c < col && p < end; c++)
        do
            p++;
        while (p < end && ((unsigned char)*p & 0xC0) == 0x80);
    return p;
}

/* Every letter and digit of every string in a real file, located, is that
 * letter or digit in the file, and positions never go backwards. */
static void check_locations(const struct hd_ydoc *doc, const struct hd_ynode *n, size_t *checked)
{
    if (n->kind != HD_YSCALAR) {
        for (size_t i = 0; i < n->count; i++) {
            if (n->keys)
                check_locations(doc, n->keys[i], checked);
            check_locations(doc, n->items[i], checked);
        }
        return;
    }
    unsigned long pl = 0, pc = 0;
    for (size_t i = 0; i < n->len; i++) {
        unsigned long l, c;
        hd_ynode_locate(n, i, &l, &c);
        if (l < pl || (l == pl && c < pc))
            fail_msg("%s: byte %zu of the scalar at %lu:%lu goes back to %lu:%lu", doc->file, i,
                     n->line, n->col, l, c);
        pl = l;
        pc = c;
        char ch = n->str[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) {
            const char *p = byte_at(doc, l, c);
            if (*p != ch)
                fail_msg("%s: byte %zu ('%c') of the scalar at %lu:%lu located at %lu:%lu, "
                         "which holds '%c'",
                         doc->file, i, ch, n->line, n->col, l, c, *p);
            (*checked)++;
        }
    }
}

static void test_yaml_locate_real_files(void **state)
{
    static const char *const files[] = {
        "campaigns/ai-training-notice.yaml",  "locales/ai-training-notice/en.yaml",
        "locales/ai-training-notice/de.yaml", "locales/ai-training-notice/el.yaml",
        "locales/ai-training-notice/fr.yaml", NULL};
    size_t checked = 0;
    (void)state;
    for (size_t f = 0; files[f]; f++) {
        struct hd_err err = {0};
        struct hd_ydoc *doc = hd_yaml_load(hd_test_source_path(files[f]), &err);
        if (doc == NULL)
            fail_msg("%s", err.msg);
        check_locations(doc, doc->root, &checked);
        hd_yaml_free(doc);
    }
    assert_true(checked > 5000);
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
        cmocka_unit_test(test_yaml_reader_error_position),
        cmocka_unit_test(test_yaml_nul_escape),
        cmocka_unit_test(test_yaml_anchor_table),
        cmocka_unit_test(test_yaml_many_keys),
        cmocka_unit_test(test_yaml_locate),
        cmocka_unit_test(test_yaml_locate_real_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
