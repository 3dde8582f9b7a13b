/* herald/yaml.h - a YAML document as a small tree with source marks.
 *
 * Built on libyaml's parser. Every node keeps the file, line and column where
 * it starts, so errors found long after parsing still point at the source.
 * Safety limits: the input must not exceed HD_YAML_MAX_BYTES, the tree
 * HD_YAML_MAX_NODES nodes (aliases count every time they are expanded, which
 * defeats "billion laughs"), HD_YAML_MAX_DEPTH levels; an alias may not refer
 * to a node still being built (no cycles). Tags other than the core schema's
 * are refused, so are keys holding a NUL character (a "\0" escape); values
 * keep their length (str may hold a NUL: compare len with strlen(str)).
 * Loading takes time linear in the file's size: keys are checked for
 * duplicates and anchors found through hash tables, marks are turned into
 * byte offsets incrementally.
 * Errors, syntax errors included, name the line and column where the
 * problem is (for bad UTF-8 and control characters, the offending byte).
 *
 * Ownership: hd_yaml_load returns a document the caller frees with
 * hd_yaml_free (NULL is a no-op); every node and string lives as long as the
 * document. Documents are immutable once loaded: safe to read from threads.
 */
#ifndef HERALD_YAML_H
#define HERALD_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "herald/err.h"

#define HD_YAML_MAX_BYTES (4u << 20)
#define HD_YAML_MAX_NODES 200000u
#define HD_YAML_MAX_DEPTH 64u

enum hd_ynode_kind { HD_YSCALAR, HD_YSEQ, HD_YMAP };
enum hd_yscalar_style { HD_YPLAIN, HD_YSINGLE, HD_YDOUBLE, HD_YLITERAL, HD_YFOLDED };

/* Part of the channel module ABI (herald/channel.h): a module reads a
 * channel's settings through these nodes, so fields are only ever added at
 * the end, never moved or removed, without bumping HD_CHANNEL_ABI. */
struct hd_ynode {
    enum hd_ynode_kind kind;
    const char *file;        /* owned by the document */
    unsigned long line, col; /* 1-based */
    /* scalar */
    const char *str; /* NUL-terminated UTF-8 */
    size_t len;
    bool quoted; /* written in quotes or as a block scalar: always a string */
    /* Where the scalar's text itself starts: after an opening quote, or the
     * first content line of a block scalar. For a block scalar every line is
     * indented by text_col - 1 columns. */
    unsigned long text_line, text_col;
    /* Where the scalar is written: src_len bytes at src (inside the
     * document's bytes), from its first character (an opening quote, a
     * block indicator) to its end, and how it is written. hd_ynode_locate
     * maps a byte of str back to the file through them. */
    const char *src;
    size_t src_len;
    enum hd_yscalar_style style;
    /* sequence: items; mapping: keys[i] -> items[i] (keys are scalars) */
    struct hd_ynode **items;
    struct hd_ynode **keys;
    size_t count;
};

struct hd_ydoc {
    char *file;
    struct hd_ynode *root;    /* NULL for an empty document */
    unsigned char sha256[32]; /* of the exact file bytes */
    char *bytes;              /* the file's bytes, NUL-terminated */
    size_t size;
    /* private */
    void *arena;
};

/* Loads and parses path. On error returns NULL, err is "file:line:col:
 * message" with HD_EX_DATAERR (syntax, limits) or HD_EX_NOINPUT / HD_EX_IOERR. */
struct hd_ydoc *hd_yaml_load(const char *path, struct hd_err *err);
/* Parses a buffer (copied); name is used in marks. */
struct hd_ydoc *hd_yaml_parse(const char *name, const char *bytes, size_t len, struct hd_err *err);
void hd_yaml_free(struct hd_ydoc *doc);

/* The file position (1-based line and column, columns in characters as in
 * every mark) of byte `at` of scalar n's string: exact for plain, quoted and
 * literal block scalars, escapes and folded line breaks included (a byte
 * made by an escape maps to its backslash, a folded line break to the end of
 * its line); for folded block scalars at least the right line. An `at` past
 * the end maps to the scalar's end; a node that is not a scalar maps to its
 * own mark. */
void hd_ynode_locate(const struct hd_ynode *n, size_t at, unsigned long *line, unsigned long *col);

/* Mapping lookup by key; NULL when map is not a mapping or lacks the key. */
const struct hd_ynode *hd_ymap_get(const struct hd_ynode *map, const char *key);

/* Scalar helpers: true when node is a plain or quoted scalar. Plain "null",
 * "~" and an empty plain scalar are null. */
bool hd_ynode_is_null(const struct hd_ynode *n);
const char *hd_ynode_kind_name(const struct hd_ynode *n); /* "a string", "a list", "a mapping" */

#endif
