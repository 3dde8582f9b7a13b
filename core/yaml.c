/* YAML documents as trees with source marks, on top of libyaml's event API.
 *
 * libyaml's own document loader (yaml_parser_load) expands nothing but also
 * offers no limits on alias use, so a tiny file can describe a tree of
 * billions of nodes once a consumer walks it. Building our own tree from
 * events lets us count every node an alias brings in and stop early. */
#include "herald/yaml.h"
#include "herald/files.h"

#include <errno.h>
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
    size_t nodes; /* nodes so far, every alias expansion counted */
    struct hd_err *err;
};

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
    /* Later definitions of the same name shadow earlier ones, as YAML says. */
    struct anchor *a = &bld->anchors[bld->nanchors++];
    a->name = arena_strdup(bld->doc, (const char *)name, strlen((const char *)name));
    a->node = node;
    a->weight = weight;
    return a->name ? 0 : -1;
}

static const struct anchor *find_anchor(const struct builder *bld, const yaml_char_t *name)
{
    for (size_t i = bld->nanchors; i-- > 0;)
        if (strcmp(bld->anchors[i].name, (const char *)name) == 0)
            return &bld->anchors[i];
    return NULL;
}

static int next_event(struct builder *bld, yaml_event_t *ev)
{
    if (yaml_parser_parse(&bld->parser, ev))
        return 0;
    const yaml_parser_t *p = &bld->parser;
    const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->context_mark;
    char msg[512];
    if (p->context)
        snprintf(msg, sizeof msg, "%s %s", p->problem ? p->problem : "syntax error", p->context);
    else
        snprintf(msg, sizeof msg, "%s", p->problem ? p->problem : "syntax error");
    hd_err_at(bld->err, HD_EX_DATAERR, bld->doc->file, m->line + 1, m->column + 1,
              "YAML syntax error: %s", msg);
    return -1;
}

/* A block scalar's content starts on the line after its indicator: leading
 * blank lines are part of the string (one "\n" each), so that line is where
 * the string's first byte comes from. Its indentation is the leading spaces
 * of the first non-blank line. */
static void block_text_start(const struct hd_ydoc *doc, struct hd_ynode *node)
{
    const char *p = doc->bytes, *end = doc->bytes + doc->size;
    unsigned long line = 1;
    while (p < end && line < node->line + 1) {
        if (*p++ == '\n')
            line++;
    }
    node->text_line = line;
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
            for (size_t i = 0; i < node->count; i++) {
                if (strcmp(keys[i]->str, key->str) == 0) {
                    fail_at(bld, &km, "duplicate key \"%s\"", key->str);
                    goto out;
                }
            }
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
    return rc;
oom:
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
        node->text_line = node->line;
        node->text_col = node->col;
        if (ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
            ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE)
            node->text_col++;
        if (ev->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
            ev->data.scalar.style == YAML_FOLDED_SCALAR_STYLE)
            block_text_start(bld->doc, node);
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
    yaml_parser_set_input_string(&bld.parser, (const unsigned char *)doc->bytes, len);
    int rc = build_document(&bld);
    yaml_parser_delete(&bld.parser);
    free(bld.anchors);
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
