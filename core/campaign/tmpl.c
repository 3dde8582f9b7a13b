/* tmpl.c - compiling and rendering notice templates (see herald/tmpl.h).
 *
 * A template compiles into an array of segments over one owned text block:
 * literal segments are spans of that block, variable segments carry the
 * variable's index in the compile-time `known` list plus its name (kept only
 * for hd_tmpl_uses). Rendering is then a straight walk over the segments with
 * no parsing and no allocation other than growing the output buffer.
 *
 * Error positions: the byte offset of the offending byte inside src, turned
 * into a file position by the caller's locate function (hd_ynode_locate for
 * a YAML scalar, exact whatever the scalar's style). hd_tmpl_compile's own
 * locator takes every line of src to start at base_col (columns in bytes):
 * right for single-line plain scalars and literal blocks only.
 * Unterminated, empty and malformed placeholders point at their "{{"; a bad
 * character points at that character; an unknown name points at the name's
 * first byte.
 */
#include "herald/tmpl.h"
#include "herald/suggest.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Marks a literal segment; any other value is an index into `known`. */
#define SEG_LITERAL SIZE_MAX

struct seg {
    size_t var; /* SEG_LITERAL or the variable's index */
    size_t off; /* literal text, or the variable's NUL-terminated name */
    size_t len;
};

struct hd_tmpl {
    enum hd_tmpl_mode mode;
    size_t nseg;
    size_t nvars_needed; /* 1 + the highest variable index used, 0 if none */
    size_t literal_len;  /* sum of literal lengths, reserved up front */
    struct seg *segs;
    char *text;
};

/* Growing state while compiling. */
struct compiler {
    const char *src;
    struct seg *segs;
    size_t nseg, cap;
    char *text;
    size_t tlen;
    const char *file;
    hd_tmpl_locate_fn locate;
    const void *locate_ctx;
};

static bool is_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static bool is_blank(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* The old placement for hd_tmpl_compile: src's first byte at base_line,
 * base_col, every line starting at base_col, columns in bytes. */
struct base_pos {
    const char *src;
    unsigned long line, col;
};

static void base_locate(const void *ctx, size_t at, unsigned long *line, unsigned long *col)
{
    const struct base_pos *b = ctx;
    size_t line_start = 0;
    *line = b->line;
    for (size_t i = 0; i < at; i++) {
        if (b->src[i] == '\n') {
            (*line)++;
            line_start = i + 1;
        }
    }
    *col = (unsigned long)(at - line_start) + 1;
    if (b->col > 0)
        *col += b->col - 1;
}

/* Reports a compile error at byte offset `at` of the source. */
static void error_at(struct hd_err *err, const struct compiler *c, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void error_at(struct hd_err *err, const struct compiler *c, size_t at, const char *fmt, ...)
{
    char msg[HD_ERR_MSG_MAX];
    unsigned long line, col;
    va_list ap;
    c->locate(c->locate_ctx, at, &line, &col);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* hd_err_at drops the location when file is NULL, but the contract wants
     * "line:col: message" even then, so format it here. */
    if (c->file != NULL)
        hd_err_set(err, HD_EX_DATAERR, "%s:%lu:%lu: %s", c->file, line, col, msg);
    else
        hd_err_set(err, HD_EX_DATAERR, "%lu:%lu: %s", line, col, msg);
}

static int push_seg(struct compiler *c, size_t var, size_t off, size_t len)
{
    /* Adjacent literal pieces (text around a "{{{{" escape) merge into one
     * segment so rendering does fewer appends. */
    if (var == SEG_LITERAL && c->nseg > 0 && c->segs[c->nseg - 1].var == SEG_LITERAL &&
        c->segs[c->nseg - 1].off + c->segs[c->nseg - 1].len == off) {
        c->segs[c->nseg - 1].len += len;
        return 0;
    }
    if (c->nseg == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        struct seg *segs = realloc(c->segs, cap * sizeof *segs);
        if (segs == NULL)
            return -1;
        c->segs = segs;
        c->cap = cap;
    }
    c->segs[c->nseg].var = var;
    c->segs[c->nseg].off = off;
    c->segs[c->nseg].len = len;
    c->nseg++;
    return 0;
}

/* Copies literal bytes into the text block and records them. */
static int add_literal(struct compiler *c, const char *p, size_t n)
{
    if (n == 0)
        return 0;
    memcpy(c->text + c->tlen, p, n);
    if (push_seg(c, SEG_LITERAL, c->tlen, n) != 0)
        return -1;
    c->tlen += n;
    return 0;
}

struct hd_tmpl *hd_tmpl_compile(const char *src, size_t len, enum hd_tmpl_mode mode,
                                const char *const *known, const char *file, unsigned long base_line,
                                unsigned long base_col, struct hd_err *err)
{
    struct base_pos b = {src ? src : "", base_line, base_col};
    return hd_tmpl_compile_located(src, len, mode, known, file, base_locate, &b, err);
}

struct hd_tmpl *hd_tmpl_compile_located(const char *src, size_t len, enum hd_tmpl_mode mode,
                                        const char *const *known, const char *file,
                                        hd_tmpl_locate_fn locate, const void *locate_ctx,
                                        struct hd_err *err)
{
    struct compiler c = {.src = src, .file = file, .locate = locate, .locate_ctx = locate_ctx};
    struct hd_tmpl *t = NULL;
    size_t i = 0, lit_start = 0, needed = 0, literal_len = 0;

    if (src == NULL) {
        /* Treat a missing text as empty rather than crash. */
        c.src = src = "";
        len = 0;
    }
    /* Output text never exceeds the source: a literal byte maps to at most
     * one byte, and a placeholder's name plus NUL fits inside its braces. */
    c.text = malloc(len + 1);
    if (c.text == NULL)
        goto oom;

    while (i < len) {
        size_t open, name_start, name_end, close, k;
        if (!(src[i] == '{' && i + 1 < len && src[i + 1] == '{')) {
            i++;
            continue;
        }
        open = i;
        if (add_literal(&c, src + lit_start, open - lit_start) != 0)
            goto oom;
        if (open + 3 < len && src[open + 2] == '{' && src[open + 3] == '{') {
            /* "{{{{" is the escape for a literal "{{". */
            if (add_literal(&c, "{{", 2) != 0)
                goto oom;
            i = lit_start = open + 4;
            continue;
        }
        /* The placeholder ends at the first "}}" on the same line; a newline
         * first almost always means a forgotten "}}", so say that. */
        close = open + 2;
        while (close < len && src[close] != '\n' &&
               !(src[close] == '}' && close + 1 < len && src[close + 1] == '}'))
            close++;
        if (close >= len || src[close] == '\n') {
            error_at(err, &c, open, "unterminated \"{{\"");
            goto fail;
        }
        name_start = open + 2;
        while (name_start < close && is_blank((unsigned char)src[name_start]))
            name_start++;
        name_end = close;
        while (name_end > name_start && is_blank((unsigned char)src[name_end - 1]))
            name_end--;
        if (name_start == name_end) {
            error_at(err, &c, open, "empty variable name");
            goto fail;
        }
        for (k = name_start; k < name_end; k++) {
            if (!is_name_char((unsigned char)src[k])) {
                error_at(err, &c, k, "bad character in variable name");
                goto fail;
            }
        }
        /* Store the name NUL-terminated so lookups and hd_tmpl_uses can use
         * string functions. */
        size_t name_off = c.tlen, name_len = name_end - name_start;
        memcpy(c.text + c.tlen, src + name_start, name_len);
        c.text[c.tlen + name_len] = '\0';
        c.tlen += name_len + 1;
        const char *name = c.text + name_off;
        size_t idx = 0;
        while (known != NULL && known[idx] != NULL && strcmp(known[idx], name) != 0)
            idx++;
        if (known == NULL || known[idx] == NULL) {
            const char *hint = hd_suggest(name, known);
            if (hint != NULL)
                error_at(err, &c, name_start,
                         "unknown template variable \"%s\" (did you mean \"%s\"?)", name, hint);
            else
                error_at(err, &c, name_start, "unknown template variable \"%s\"", name);
            goto fail;
        }
        if (push_seg(&c, idx, name_off, name_len) != 0)
            goto oom;
        if (idx + 1 > needed)
            needed = idx + 1;
        i = lit_start = close + 2;
    }
    if (add_literal(&c, src + lit_start, len - lit_start) != 0)
        goto oom;

    t = malloc(sizeof *t);
    if (t == NULL)
        goto oom;
    for (size_t s = 0; s < c.nseg; s++)
        if (c.segs[s].var == SEG_LITERAL)
            literal_len += c.segs[s].len;
    t->mode = mode;
    t->nseg = c.nseg;
    t->nvars_needed = needed;
    t->literal_len = literal_len;
    t->segs = c.segs;
    t->text = c.text;
    return t;

oom:
    hd_err_set(err, HD_EX_SOFTWARE, "out of memory compiling a template");
fail:
    free(c.segs);
    free(c.text);
    return NULL;
}

void hd_tmpl_free(struct hd_tmpl *t)
{
    if (t == NULL)
        return;
    free(t->segs);
    free(t->text);
    free(t);
}

bool hd_tmpl_uses(const struct hd_tmpl *t, const char *name)
{
    if (t == NULL || name == NULL)
        return false;
    for (size_t i = 0; i < t->nseg; i++)
        if (t->segs[i].var != SEG_LITERAL && strcmp(t->text + t->segs[i].off, name) == 0)
            return true;
    return false;
}

/* Replacement for each byte that HTML escaping changes, NULL otherwise. */
static const char *html_entity(unsigned char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#39;";
    default:
        return NULL;
    }
}

int hd_html_escape(struct hd_buf *out, const char *s, size_t len)
{
    size_t run = 0;
    /* Most values have nothing to escape: reserve once, then copy whole runs
     * of plain bytes between the (rare) special characters. */
    if (hd_buf_reserve(out, len) != 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        const char *ent = html_entity((unsigned char)s[i]);
        if (ent == NULL)
            continue;
        if (hd_buf_append(out, s + run, i - run) != 0 || hd_buf_puts(out, ent) != 0)
            return -1;
        run = i + 1;
    }
    return hd_buf_append(out, s + run, len - run);
}

int hd_tmpl_render(const struct hd_tmpl *t, const struct hd_tmpl_vars *vars, struct hd_buf *out)
{
    size_t avail = 0;
    /* A caller passing fewer names than at compile time is a bug; count only
     * as far as needed (a handful of pointers) so a short list renders the
     * missing values as "" instead of reading past its end. */
    if (vars != NULL && vars->names != NULL && vars->values != NULL)
        while (avail < t->nvars_needed && vars->names[avail] != NULL)
            avail++;
    assert(avail == t->nvars_needed);
    if (hd_buf_reserve(out, t->literal_len) != 0)
        return -1;
    for (size_t i = 0; i < t->nseg; i++) {
        const struct seg *s = &t->segs[i];
        const char *value;
        int rc;
        if (s->var == SEG_LITERAL) {
            if (hd_buf_append(out, t->text + s->off, s->len) != 0)
                return -1;
            continue;
        }
        assert(strcmp(vars->names[s->var], t->text + s->off) == 0);
        value = s->var < avail ? vars->values[s->var] : NULL;
        if (value == NULL)
            continue;
        if (t->mode == HD_TMPL_HTML)
            rc = hd_html_escape(out, value, strlen(value));
        else
            rc = hd_buf_puts(out, value);
        if (rc != 0)
            return -1;
    }
    return 0;
}
