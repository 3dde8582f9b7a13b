/* YAML documents as trees with source marks, on top of libyaml's event API.
 *
 * libyaml's own document loader (yaml_parser_load) expands nothing but also
 * offers no limits on alias use, so a tiny file can describe a tree of
 * billions of nodes once a consumer walks it. Building our own tree from
 * events lets us count every node an alias brings in and stop early. */
#include "herald/yaml.h"
#include "herald/files.h"
#include "herald/hash.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include <openssl/sha.h>

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    max_align_t data[];
};

struct anchor {
    char *name;
    struct hd_ynode *node;
    size_t weight; /* nodes in the anchored subtree, aliases expanded */
};

struct builder {
    struct hd_ydoc *doc;
    yaml_parser_t parser;
    struct anchor *anchors;
    size_t nanchors, cap_anchors;
    /* Open-addressing table over anchors by name: 0 is empty, else the
     * index + 1 of the name's latest definition. */
    size_t *anchor_slots;
    size_t cap_slots; /* a power of two, at least twice nanchors */
    size_t nodes;     /* nodes so far, every alias expansion counted */
    /* libyaml's marks count characters; a cursor turns them into byte
     * offsets. Marks come in document order, so it only ever moves a
     * little: linear in the file over the whole parse. */
    size_t cur_chars, cur_bytes;
    struct hd_err *err;
};

/* FNV-1a: names and keys are short, and an attacker gains nothing from
 * collisions but a slower load of their own file. */
static size_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = hd_fnv1a64(s, n);
    return (size_t)(h ^ (h >> 32));
}

/* The byte offset in the document of a libyaml mark (whose index counts
 * characters: every byte that does not continue a UTF-8 sequence starts
 * one; libyaml has checked the input is UTF-8). */
static size_t mark_offset(struct builder *bld, const yaml_mark_t *m)
{
    const unsigned char *b = (const unsigned char *)bld->doc->bytes;
    size_t size = bld->doc->size;
    while (bld->cur_chars < m->index && bld->cur_bytes < size) {
        bld->cur_bytes++;
        while (bld->cur_bytes < size && (b[bld->cur_bytes] & 0xC0) == 0x80)
            bld->cur_bytes++;
        bld->cur_chars++;
    }
    while (bld->cur_chars > m->index && bld->cur_bytes > 0) {
        bld->cur_bytes--;
        while (bld->cur_bytes > 0 && (b[bld->cur_bytes] & 0xC0) == 0x80)
            bld->cur_bytes--;
        bld->cur_chars--;
    }
    return bld->cur_bytes;
}

static void *arena_alloc(struct hd_ydoc *doc, size_t size)
{
    struct arena_block *b = doc->arena;
    size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (b == NULL || b->cap - b->used < size) {
        size_t cap = size > 64 * 1024 ? size : 64 * 1024;
        struct arena_block *nb = malloc(sizeof *nb + cap);
        if (nb == NULL)
            return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        doc->arena = nb;
        b = nb;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

static char *arena_strdup(struct hd_ydoc *doc, const char *s, size_t len)
{
    char *p = arena_alloc(doc, len + 1);
    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

void hd_yaml_free(struct hd_ydoc *doc)
{
    if (doc == NULL)
        return;
    struct arena_block *b = doc->arena;
    while (b != NULL) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(doc->bytes);
    free(doc->file);
    free(doc);
}

static bool tag_allowed(const yaml_char_t *tag)
{
    static const char *const core[] = {"tag:yaml.org,2002:str",   "tag:yaml.org,2002:int",
                                       "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
                                       "tag:yaml.org,2002:null",  "tag:yaml.org,2002:seq",
                                       "tag:yaml.org,2002:map",   NULL};
    if (tag == NULL)
        return true;
    for (size_t i = 0; core[i]; i++)
        if (strcmp((const char *)tag, core[i]) == 0)
            return true;
    return false;
}

static int fail_at(struct builder *bld, const yaml_mark_t *m, const char *fmt, const char *arg)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, arg);
    hd_err_at(bld->err, HD_EX_DATAERR, bld->doc->file, m->line + 1, m->column + 1, "%s", msg);
    return -1;
}

static int count_node(struct builder *bld, const yaml_mark_t *m, size_t weight)
{
    bld->nodes += weight;
    if (bld->nodes > HD_YAML_MAX_NODES)
        return fail_at(bld, m,
                       "document too large: more than %s nodes (aliases count each time "
                       "they are used)",
                       "200000");
    return 0;
}

/* The slot of name in the anchor table: its entry, or the empty slot
 * where it would go. */
static size_t *anchor_slot(const struct builder *bld, const char *name)
{
    size_t mask = bld->cap_slots - 1, i = hash_bytes(name, strlen(name)) & mask;
    for (;; i = (i + 1) & mask) {
        size_t *slot = &bld->anchor_slots[i];
        if (*slot == 0 || strcmp(bld->anchors[*slot - 1].name, name) == 0)
            return slot;
    }
}

static int remember_anchor(struct builder *bld, const yaml_char_t *name, struct hd_ynode *node,
                           size_t weight)
{
    if (name == NULL)
        return 0;
    if (bld->nanchors == bld->cap_anchors) {
        size_t cap = bld->cap_anchors ? bld->cap_anchors * 2 : 8;
        struct anchor *a = realloc(bld->anchors, cap * sizeof *a);
        if (a == NULL)
            return -1;
        bld->anchors = a;
        bld->cap_anchors = cap;
    }
    if (2 * (bld->nanchors + 1) > bld->cap_slots) {
        size_t cap = bld->cap_slots ? bld->cap_slots * 2 : 16;
        size_t *old = bld->anchor_slots, old_cap = bld->cap_slots;
        bld->anchor_slots = calloc(cap, sizeof *bld->anchor_slots);
        if (bld->anchor_slots == NULL) {
            bld->anchor_slots = old;
            return -1;
        }
        bld->cap_slots = cap;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i] != 0)
                *anchor_slot(bld, bld->anchors[old[i] - 1].name) = old[i];
        free(old);
    }
    /* Later definitions of the same name shadow earlier ones, as YAML says:
     * the table points at the latest; the array keeps every definition so
     * an enclosing node still being built fills in its own entry. */
    struct anchor *a = &bld->anchors[bld->nanchors];
    a->name = arena_strdup(bld->doc, (const char *)name, strlen((const char *)name));
    if (a->name == NULL)
        return -1;
    a->node = node;
    a->weight = weight;
    bld->nanchors++;
    *anchor_slot(bld, a->name) = bld->nanchors;
    return 0;
}

static const struct anchor *find_anchor(const struct builder *bld, const yaml_char_t *name)
{
    if (bld->cap_slots == 0)
        return NULL;
    size_t slot = *anchor_slot(bld, (const char *)name);
    return slot ? &bld->anchors[slot - 1] : NULL;
}

/* libyaml marks an error found at the end of a text without a final line
 * break on the line after the last one (it reads as if the break were
 * there): a position past the end is moved to just after the last
 * character, so every reported position is one the user can find. */
static void end_of_text_clamp(const char *text, size_t size, unsigned long *line,
                              unsigned long *col)
{
    /* Lines as YAML counts them (LF, CRLF or a lone CR ends one); after a
     * final line break comes an empty last line, where an error at the end
     * of the text is shown. */
    unsigned long lines = 1, chars = 0;
    for (size_t i = 0; i < size; i++) {
        if (text[i] == '\n' || (text[i] == '\r' && (i + 1 >= size || text[i + 1] != '\n'))) {
            lines++;
            chars = 0;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80 && text[i] != '\r') {
            chars++;
        }
    }
    if (*line > lines) {
        *line = lines;
        *col = chars + 1;
    }
}

static int next_event(struct builder *bld, yaml_event_t *ev)
{
    if (yaml_parser_parse(&bld->parser, ev))
        return 0;
    const yaml_parser_t *p = &bld->parser;
    const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->context_mark;
    char msg[512];
    if (p->error == YAML_READER_ERROR) {
        /* Bad UTF-8 or a control character: libyaml has no mark for it,
         * only the byte offset; count the lines and characters up to it. */
        unsigned long line = 1, col = 1;
        const unsigned char *b = (const unsigned char *)bld->doc->bytes;
        size_t end = p->problem_offset < bld->doc->size ? p->problem_offset : bld->doc->size;
        for (size_t i = 0; i < end; i++) {
            if (b[i] == '\n' || (b[i] == '\r' && (i + 1 >= end || b[i + 1] != '\n'))) {
                line++;
                col = 1;
            } else if ((b[i] & 0xC0) != 0x80 && b[i] != '\r') {
                col++;
            }
        }
        if (p->problem_value >= 0)
            hd_err_at(bld->err, HD_EX_DATAERR, bld->doc->file, line, col,
                      "YAML syntax error: %s (byte 0x%02x); the file must be UTF-8 text without "
                      "control characters",
                      p->problem ? p->problem : "unreadable input",
                      (unsigned)p->problem_value & 0xff);
        else
            hd_err_at(bld->err, HD_EX_DATAERR, bld->doc->file, line, col, "YAML syntax error: %s",
                      p->problem ? p->problem : "unreadable input");
        return -1;
    }
    if (p->context)
        snprintf(msg, sizeof msg, "%s %s", p->problem ? p->problem : "syntax error", p->context);
    else
        snprintf(msg, sizeof msg, "%s", p->problem ? p->problem : "syntax error");
    unsigned long line = (unsigned long)m->line + 1, col = (unsigned long)m->column + 1;
    end_of_text_clamp(bld->doc->bytes, bld->doc->size, &line, &col);
    hd_err_at(bld->err, HD_EX_DATAERR, bld->doc->file, line, col, "YAML syntax error: %s", msg);
    return -1;
}

/* A block scalar's content starts on the line after its indicator: leading
 * blank lines are part of the string (one "\n" each), so that line is where
 * the string's first byte comes from. Its indentation is the leading spaces
 * of the first non-blank line. Scans only the scalar's own text. */
static void block_text_start(struct hd_ynode *node)
{
    const char *p = node->src, *end = node->src + node->src_len;
    const char *nl = memchr(p, '\n', node->src_len);
    node->text_line = node->line + 1;
    node->text_col = 1;
    if (nl == NULL)
        return;
    p = nl + 1;
    for (;;) {
        const char *q = p;
        while (q < end && *q == ' ')
            q++;
        if (q < end && (*q == '\n' || *q == '\r')) { /* blank line inside the scalar */
            p = memchr(q, '\n', (size_t)(end - q));
            if (p == NULL)
                break;
            p++;
            continue;
        }
        node->text_col = (unsigned long)(q - p) + 1;
        break;
    }
}

/* A byte position while walking a scalar's source: the pointer and its
 * line and column (in characters). */
struct walk {
    const char *p, *end;
    unsigned long line, col;
};

static bool is_break(char c)
{
    return c == '\n' || c == '\r';
}

/* Steps over one character (a CRLF pair counts as one line break). */
static void walk_char(struct walk *w)
{
    unsigned char c = (unsigned char)*w->p;
    if (w->p >= w->end)
        return;
    w->p++;
    if (c == '\r' && w->p < w->end && *w->p == '\n')
        w->p++;
    if (c == '\n' || c == '\r') {
        w->line++;
        w->col = 1;
        return;
    }
    while (w->p < w->end && ((unsigned char)*w->p & 0xC0) == 0x80)
        w->p++;
    w->col++;
}

/* Bytes of UTF-8 the character at p takes. */
static size_t char_len(const char *p, const char *end)
{
    size_t n = 1;
    while (p + n < end && ((unsigned char)p[n] & 0xC0) == 0x80)
        n++;
    return n;
}

static size_t utf8_len(unsigned long cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* A double-quoted escape at p (p[0] is the backslash): the bytes it puts in
 * the string, and the characters it takes in the source in *src_chars. */
static size_t escape_len(const char *p, const char *end, size_t *src_chars)
{
    size_t digits = 0;
    *src_chars = 2;
    if (p + 1 >= end)
        return 1;
    switch (p[1]) {
    case 'N':
    case '_':
        return 2; /* U+0085, U+00A0 */
    case 'L':
    case 'P':
        return 3; /* U+2028, U+2029 */
    case 'x':
        digits = 2;
        break;
    case 'u':
        digits = 4;
        break;
    case 'U':
        digits = 8;
        break;
    default:
        return 1;
    }
    unsigned long cp = 0;
    for (size_t i = 0; i < digits && p + 2 + i < end; i++) {
        char h = p[2 + i];
        cp = cp * 16 + (unsigned long)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
    }
    *src_chars = 2 + digits;
    return utf8_len(cp);
}

void hd_ynode_locate(const struct hd_ynode *n, size_t at, unsigned long *line, unsigned long *col)
{
    *line = n ? n->line : 0;
    *col = n ? n->col : 0;
    if (n == NULL || n->kind != HD_YSCALAR || n->src == NULL)
        return;
    struct walk w = {n->src, n->src + n->src_len, n->line, n->col};
    size_t v = 0; /* bytes of str accounted for */
/* The next k bytes of str come from where w is. */
#define EMIT(k)                                                                                    \
    do {                                                                                           \
        if (at < v + (k))                                                                          \
            goto found;                                                                            \
        v += (k);                                                                                  \
    } while (0)

    if (n->style == HD_YLITERAL || n->style == HD_YFOLDED) {
        size_t indent = n->text_col > 0 ? n->text_col - 1 : 0;
        while (w.p < w.end && !is_break(*w.p)) /* the indicator line */
            walk_char(&w);
        walk_char(&w);
        while (w.p < w.end && v < n->len) {
            for (size_t i = 0; i < indent && w.p < w.end && *w.p == ' '; i++)
                walk_char(&w);
            while (w.p < w.end && !is_break(*w.p)) {
                EMIT(char_len(w.p, w.end));
                walk_char(&w);
            }
            if (w.p >= w.end)
                break;
            if (n->style == HD_YLITERAL || v >= n->len) {
                EMIT(1);
            } else if (n->str[v] == ' ') {
                EMIT(1); /* a folded line break */
            } else {
                /* Breaks kept as they are, or blank lines each giving one:
                 * map them all to this line's end. */
                size_t k = 0;
                while (v + k < n->len && n->str[v + k] == '\n')
                    k++;
                EMIT(k);
            }
            walk_char(&w);
        }
        goto found;
    }

    if (n->style != HD_YPLAIN)
        walk_char(&w); /* the opening quote */
    while (w.p < w.end) {
        char c = *w.p;
        if ((n->style == HD_YSINGLE && c == '\'' && !(w.p + 1 < w.end && w.p[1] == '\'')) ||
            (n->style == HD_YDOUBLE && c == '"'))
            break; /* the closing quote */
        if (n->style == HD_YSINGLE && c == '\'') {
            EMIT(1); /* '' is one quote */
            walk_char(&w);
            walk_char(&w);
            continue;
        }
        if (n->style == HD_YDOUBLE && c == '\\') {
            if (w.p + 1 < w.end && is_break(w.p[1])) {
                /* An escaped line break: nothing, and the next line's
                 * leading blanks neither. */
                walk_char(&w);
                walk_char(&w);
                while (w.p < w.end && (*w.p == ' ' || *w.p == '\t'))
                    walk_char(&w);
                continue;
            }
            size_t chars, k = escape_len(w.p, w.end, &chars);
            EMIT(k);
            for (size_t i = 0; i < chars; i++)
                walk_char(&w);
            continue;
        }
        if (c == ' ' || c == '\t') {
            /* Blanks before a line break are not part of the string. */
            const char *q = w.p;
            while (q < w.end && (*q == ' ' || *q == '\t'))
                q++;
            if (q < w.end && is_break(*q)) {
                while (w.p < q)
                    walk_char(&w);
                continue;
            }
            EMIT(1);
            walk_char(&w);
            continue;
        }
        if (is_break(c)) {
            /* Folding: one break is a space, n breaks are n - 1 "\n"; all
             * of them map to the end of this line. */
            struct walk first = w;
            size_t breaks = 0;
            while (w.p < w.end && (is_break(*w.p) || *w.p == ' ' || *w.p == '\t')) {
                breaks += is_break(*w.p);
                walk_char(&w);
            }
            if (at < v + (breaks == 1 ? 1 : breaks - 1)) {
                w = first;
                goto found;
            }
            v += breaks == 1 ? 1 : breaks - 1;
            continue;
        }
        EMIT(char_len(w.p, w.end));
        walk_char(&w);
    }
#undef EMIT
found:
    *line = w.line;
    *col = w.col;
}

/* The slot of key in a set of cap (a power of two) keys: the equal key
 * already there, or the empty slot where it goes. */
static struct hd_ynode **key_slot(struct hd_ynode **set, size_t cap, const struct hd_ynode *key)
{
    size_t mask = cap - 1, i = hash_bytes(key->str, key->len) & mask;
    for (;; i = (i + 1) & mask)
        if (set[i] == NULL ||
            (set[i]->len == key->len && memcmp(set[i]->str, key->str, key->len) == 0))
            return &set[i];
}

/* Parses one node whose first event is *ev (consumed by the caller);
 * stores the node and its weight (alias-expanded size). */
static int build_node(struct builder *bld, yaml_event_t *ev, unsigned depth, struct hd_ynode **out,
                      size_t *weight);

static int build_children(struct builder *bld, struct hd_ynode *node, unsigned depth,
                          size_t *weight)
{
    size_t cap = 0;
    yaml_event_type_t end =
        node->kind == HD_YSEQ ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT;
    struct hd_ynode **items = NULL, **keys = NULL;
    struct hd_ynode **set = NULL; /* the keys so far, by hash */
    size_t set_cap = 0;
    int rc = -1;
    for (;;) {
        yaml_event_t ev;
        struct hd_ynode *key = NULL, *child = NULL;
        size_t w = 0;
        if (next_event(bld, &ev) != 0)
            goto out;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            break;
        }
        if (node->kind == HD_YMAP) {
            yaml_mark_t km = ev.start_mark;
            int krc = build_node(bld, &ev, depth + 1, &key, &w);
            if (krc != 0)
                goto out;
            *weight += w;
            if (key->kind != HD_YSCALAR) {
                fail_at(bld, &km, "mapping keys must be plain strings%s", "");
                goto out;
            }
            size_t nul = strlen(key->str);
            if (nul != key->len) {
                unsigned long line, col;
                hd_ynode_locate(key, nul, &line, &col);
                hd_err_at(bld->err, HD_EX_DATAERR, bld->doc->file, line, col,
                          "a key must not hold a NUL character (\\0)");
                goto out;
            }
            if (2 * (node->count + 1) > set_cap) {
                size_t ncap = set_cap ? set_cap * 2 : 16;
                struct hd_ynode **nset = calloc(ncap, sizeof *nset);
                if (nset == NULL)
                    goto oom;
                for (size_t i = 0; i < set_cap; i++)
                    if (set[i] != NULL)
                        *key_slot(nset, ncap, set[i]) = set[i];
                free(set);
                set = nset;
                set_cap = ncap;
            }
            struct hd_ynode **slot = key_slot(set, set_cap, key);
            if (*slot != NULL) {
                fail_at(bld, &km, "duplicate key \"%s\"", key->str);
                goto out;
            }
            *slot = key;
            if (next_event(bld, &ev) != 0)
                goto out;
        }
        if (build_node(bld, &ev, depth + 1, &child, &w) != 0)
            goto out;
        *weight += w;
        if (node->count == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            struct hd_ynode **ni = arena_alloc(bld->doc, ncap * sizeof *ni);
            struct hd_ynode **nk =
                node->kind == HD_YMAP ? arena_alloc(bld->doc, ncap * sizeof *nk) : NULL;
            if (ni == NULL || (node->kind == HD_YMAP && nk == NULL))
                goto oom;
            if (node->count) {
                memcpy(ni, items, node->count * sizeof *ni);
                if (nk)
                    memcpy(nk, keys, node->count * sizeof *nk);
            }
            items = ni;
            keys = nk;
            cap = ncap;
        }
        items[node->count] = child;
        if (keys)
            keys[node->count] = key;
        node->count++;
        node->items = items;
        node->keys = keys;
    }
    rc = 0;
out:
    free(set);
    return rc;
oom:
    free(set);
    hd_err_set(bld->err, HD_EX_SOFTWARE, "out of memory");
    return -1;
}

static int build_node(struct builder *bld, yaml_event_t *ev, unsigned depth, struct hd_ynode **out,
                      size_t *weight)
{
    struct hd_ynode *node = NULL;
    const yaml_char_t *anchor = NULL;
    int rc = -1;
    yaml_mark_t m = ev->start_mark;

    *weight = 0;
    if (depth > HD_YAML_MAX_DEPTH) {
        fail_at(bld, &m, "nesting deeper than %s levels", "64");
        goto out;
    }
    if (ev->type == YAML_ALIAS_EVENT) {
        const struct anchor *a = find_anchor(bld, ev->data.alias.anchor);
        if (a == NULL) {
            fail_at(bld, &m, "unknown alias \"*%s\"", (const char *)ev->data.alias.anchor);
            goto out;
        }
        if (a->node == NULL) { /* still being built: a cycle */
            fail_at(bld, &m, "alias \"*%s\" refers to its own enclosing node",
                    (const char *)ev->data.alias.anchor);
            goto out;
        }
        if (count_node(bld, &m, a->weight) != 0)
            goto out;
        *out = a->node;
        *weight = a->weight;
        rc = 0;
        goto out;
    }
    node = arena_alloc(bld->doc, sizeof *node);
    if (node == NULL)
        goto oom;
    node->file = bld->doc->file;
    node->line = m.line + 1;
    node->col = m.column + 1;
    if (count_node(bld, &m, 1) != 0)
        goto out;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        if (!tag_allowed(ev->data.scalar.tag)) {
            fail_at(bld, &m, "unsupported tag \"%s\"", (const char *)ev->data.scalar.tag);
            goto out;
        }
        node->kind = HD_YSCALAR;
        node->str =
            arena_strdup(bld->doc, (const char *)ev->data.scalar.value, ev->data.scalar.length);
        if (node->str == NULL)
            goto oom;
        node->len = ev->data.scalar.length;
        node->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        switch (ev->data.scalar.style) {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE:
            node->style = HD_YSINGLE;
            break;
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
            node->style = HD_YDOUBLE;
            break;
        case YAML_LITERAL_SCALAR_STYLE:
            node->style = HD_YLITERAL;
            break;
        case YAML_FOLDED_SCALAR_STYLE:
            node->style = HD_YFOLDED;
            break;
        default:
            node->style = HD_YPLAIN;
        }
        {
            size_t start = mark_offset(bld, &ev->start_mark);
            size_t end = mark_offset(bld, &ev->end_mark);
            node->src = bld->doc->bytes + start;
            node->src_len = end > start ? end - start : 0;
        }
        node->text_line = node->line;
        node->text_col = node->col;
        if (node->style == HD_YSINGLE || node->style == HD_YDOUBLE)
            node->text_col++;
        if (node->style == HD_YLITERAL || node->style == HD_YFOLDED)
            block_text_start(node);
        *weight = 1;
        if (remember_anchor(bld, ev->data.scalar.anchor, node, 1) != 0)
            goto oom;
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        const yaml_char_t *tag = seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
        size_t w = 1;
        if (!tag_allowed(tag)) {
            fail_at(bld, &m, "unsupported tag \"%s\"", (const char *)tag);
            goto out;
        }
        node->kind = seq ? HD_YSEQ : HD_YMAP;
        anchor = seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
        /* Register the anchor before the children with a NULL node so an
         * alias inside it is seen as the cycle it is. */
        if (remember_anchor(bld, anchor, NULL, 0) != 0)
            goto oom;
        size_t slot = bld->nanchors;
        bool anchored = anchor != NULL; /* anchor dies with the event */
        yaml_event_delete(ev);
        if (build_children(bld, node, depth, &w) != 0)
            return -1;
        if (anchored) {
            bld->anchors[slot - 1].node = node;
            bld->anchors[slot - 1].weight = w;
        }
        *weight = w;
        *out = node;
        return 0;
    }
    default:
        fail_at(bld, &m, "unexpected YAML event%s", "");
        goto out;
    }
    *out = node;
    rc = 0;
out:
    yaml_event_delete(ev);
    return rc;
oom:
    yaml_event_delete(ev);
    hd_err_set(bld->err, HD_EX_SOFTWARE, "out of memory");
    return -1;
}

static int build_document(struct builder *bld)
{
    yaml_event_t ev;
    size_t w;
    int docs = 0;
    for (;;) {
        if (next_event(bld, &ev) != 0)
            return -1;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            yaml_event_delete(&ev);
            return 0;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                fail_at(bld, &ev.start_mark, "more than one YAML document in the file%s", "");
                yaml_event_delete(&ev);
                return -1;
            }
            yaml_event_delete(&ev);
            if (next_event(bld, &ev) != 0)
                return -1;
            if (ev.type == YAML_DOCUMENT_END_EVENT) {
                yaml_event_delete(&ev);
                continue;
            }
            if (build_node(bld, &ev, 0, &bld->doc->root, &w) != 0)
                return -1;
            break;
        default:
            yaml_event_delete(&ev);
            break;
        }
    }
}

struct hd_ydoc *hd_yaml_parse(const char *name, const char *bytes, size_t len, struct hd_err *err)
{
    struct builder bld;
    struct hd_ydoc *doc = NULL;

    memset(&bld, 0, sizeof bld);
    bld.err = err;
    if (len > HD_YAML_MAX_BYTES) {
        hd_err_at(err, HD_EX_DATAERR, name, 0, 0, "file too large (%zu bytes; the limit is %u)",
                  len, HD_YAML_MAX_BYTES);
        return NULL;
    }
    doc = calloc(1, sizeof *doc);
    if (doc == NULL || (doc->file = strdup(name)) == NULL || (doc->bytes = malloc(len + 1)) == NULL)
        goto oom;
    memcpy(doc->bytes, bytes, len);
    doc->bytes[len] = '\0';
    doc->size = len;
    SHA256((const unsigned char *)bytes, len, doc->sha256);
    bld.doc = doc;
    if (!yaml_parser_initialize(&bld.parser))
        goto oom;
    /* UTF-8 only: marks are turned into byte offsets of these bytes. */
    yaml_parser_set_encoding(&bld.parser, YAML_UTF8_ENCODING);
    yaml_parser_set_input_string(&bld.parser, (const unsigned char *)doc->bytes, len);
    int rc = build_document(&bld);
    yaml_parser_delete(&bld.parser);
    free(bld.anchors);
    free(bld.anchor_slots);
    if (rc != 0) {
        hd_yaml_free(doc);
        return NULL;
    }
    return doc;
oom:
    hd_yaml_free(doc);
    hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
    return NULL;
}

struct hd_ydoc *hd_yaml_load(const char *path, struct hd_err *err)
{
    struct hd_ydoc *doc = NULL;
    char *bytes = NULL;
    struct stat st;
    size_t n;
    /* The one input opener: never blocks on a FIFO, regular files only, no
     * procfs, within the size limit (herald/files.h). */
    int fd = hd_input_open(path, HD_IN_YAML, "YAML file", &st, err);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "rb");

    if (f == NULL) {
        if (fd >= 0) {
            hd_err_set(err, HD_EX_SOFTWARE, "%s: cannot read: %s", path, strerror(errno));
            close(fd);
        }
        return NULL;
    }
    if ((unsigned long long)st.st_size > HD_YAML_MAX_BYTES) {
        hd_err_at(err, HD_EX_DATAERR, path, 0, 0, "file too large (%lld bytes; the limit is %u)",
                  (long long)st.st_size, HD_YAML_MAX_BYTES);
        goto out;
    }
    bytes = malloc((size_t)st.st_size + 1);
    if (bytes == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        goto out;
    }
    n = fread(bytes, 1, (size_t)st.st_size + 1, f);
    if (ferror(f) || n > (size_t)st.st_size) {
        hd_err_set(err, HD_EX_IOERR, "%s: read error or file changed while reading", path);
        goto out;
    }
    doc = hd_yaml_parse(path, bytes, n, err);
out:
    free(bytes);
    fclose(f);
    return doc;
}

const struct hd_ynode *hd_ymap_get(const struct hd_ynode *map, const char *key)
{
    if (map == NULL || map->kind != HD_YMAP)
        return NULL;
    for (size_t i = 0; i < map->count; i++)
        if (strcmp(map->keys[i]->str, key) == 0)
            return map->items[i];
    return NULL;
}

bool hd_ynode_is_null(const struct hd_ynode *n)
{
    if (n == NULL)
        return true;
    if (n->kind != HD_YSCALAR || n->quoted)
        return false;
    return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
           strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

const char *hd_ynode_kind_name(const struct hd_ynode *n)
{
    if (n == NULL)
        return "nothing";
    switch (n->kind) {
    case HD_YSCALAR:
        return hd_ynode_is_null(n) ? "null" : "a string";
    case HD_YSEQ:
        return "a list";
    case HD_YMAP:
        return "a mapping";
    }
    return "?";
}
