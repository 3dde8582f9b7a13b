/* Fuzz target: the template language (core/campaign/tmpl.c).
 *
 * Input: the first byte picks the mode (bit 0: HTML), the rest is the
 * template source. A small reference parser written from herald/tmpl.h's
 * contract (not from tmpl.c) decides what must happen, and the target checks:
 * - compile succeeds exactly when the reference accepts the source;
 * - a refusal is HD_EX_DATAERR at the reference's "file:line:col", shifted
 *   by the base line and column;
 * - hd_tmpl_uses agrees with the reference for every known name;
 * - rendering with a distinct value per variable (holding every character
 *   HTML escaping changes) gives byte for byte the reference's rendering,
 *   escaped in HTML mode and raw in text mode. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fz.h"
#include "herald/buf.h"
#include "herald/tmpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const known[] = {"name", "objection_url", "company", "x", "a_1", NULL};
static const char *const values[] = {"<N&>", "\"u'", "", "x{{y}}", "&amp;", NULL};
#define NKNOWN 5
#define BASE_LINE 7ul
#define BASE_COL 5ul

struct ref {
    bool ok;
    size_t err_at;
    struct hd_buf out; /* rendering with values[] */
    bool uses[NKNOWN];
};

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static void put_value(struct hd_buf *out, const char *v, bool html)
{
    for (; *v; v++) {
        const char *e = NULL;
        if (html) {
            switch (*v) {
            case '&':
                e = "&amp;";
                break;
            case '<':
                e = "&lt;";
                break;
            case '>':
                e = "&gt;";
                break;
            case '"':
                e = "&quot;";
                break;
            case '\'':
                e = "&#39;";
                break;
            default:
                break;
            }
        }
        if (e)
            hd_buf_puts(out, e);
        else
            hd_buf_putc(out, *v);
    }
}

/* The contract: literal text; "{{{{" is a literal "{{"; otherwise "{{" opens
 * a placeholder closed by the first "}}" on the same line, holding a name of
 * [a-z0-9_]+ with optional blanks around it, which must be known. */
static void reference(const char *s, size_t n, bool html, struct ref *r)
{
    size_t i = 0;
    r->ok = true;
    while (i < n) {
        if (!(s[i] == '{' && i + 1 < n && s[i + 1] == '{')) {
            hd_buf_putc(&r->out, s[i++]);
            continue;
        }
        if (i + 3 < n && s[i + 2] == '{' && s[i + 3] == '{') {
            hd_buf_puts(&r->out, "{{");
            i += 4;
            continue;
        }
        size_t close = i + 2;
        while (close + 1 < n && s[close] != '\n' && !(s[close] == '}' && s[close + 1] == '}'))
            close++;
        if (close + 1 >= n || s[close] == '\n') {
            r->ok = false;
            r->err_at = i;
            return;
        }
        size_t a = i + 2, b = close;
        while (a < b && blank(s[a]))
            a++;
        while (b > a && blank(s[b - 1]))
            b--;
        if (a == b) {
            r->ok = false;
            r->err_at = i;
            return;
        }
        for (size_t k = a; k < b; k++)
            if (!name_char(s[k])) {
                r->ok = false;
                r->err_at = k;
                return;
            }
        size_t v = 0;
        while (v < NKNOWN && !(strlen(known[v]) == b - a && memcmp(known[v], s + a, b - a) == 0))
            v++;
        if (v == NKNOWN) {
            r->ok = false;
            r->err_at = a;
            return;
        }
        r->uses[v] = true;
        put_value(&r->out, values[v], html);
        i = close + 2;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool html = data[0] & 1;
    const char *src = (const char *)data + 1;
    size_t len = size - 1;
    struct ref r = {.out = HD_BUF_INIT};
    struct hd_err err = {0};
    struct hd_tmpl *t;

    reference(src, len, html, &r);
    t = hd_tmpl_compile(src, len, html ? HD_TMPL_HTML : HD_TMPL_TEXT, known, "f.yaml", BASE_LINE,
                        BASE_COL, &err);
    FZ_CHECK((t != NULL) == r.ok, "compile %s, reference %s (%s)", t ? "accepted" : "refused",
             r.ok ? "accepts" : "refuses", err.msg);
    if (t == NULL) {
        unsigned long line = BASE_LINE, col;
        size_t line_start = 0;
        char want[64];
        for (size_t i = 0; i < r.err_at; i++)
            if (src[i] == '\n') {
                line++;
                line_start = i + 1;
            }
        col = (unsigned long)(r.err_at - line_start) + BASE_COL;
        snprintf(want, sizeof want, "f.yaml:%lu:%lu: ", line, col);
        FZ_CHECK(err.code == 65, "code %d", err.code);
        FZ_CHECK(strncmp(err.msg, want, strlen(want)) == 0, "error \"%s\", expected at %s", err.msg,
                 want);
        hd_buf_release(&r.out);
        return 0;
    }
    for (size_t v = 0; v < NKNOWN; v++)
        FZ_CHECK(hd_tmpl_uses(t, known[v]) == r.uses[v], "uses(%s)", known[v]);
    FZ_CHECK(!hd_tmpl_uses(t, "nope"), "uses an unknown name");

    struct hd_buf out = HD_BUF_INIT;
    struct hd_tmpl_vars vars = {known, values};
    hd_buf_puts(&out, "prefix:"); /* render appends */
    FZ_CHECK(hd_tmpl_render(t, &vars, &out) == 0, "render failed");
    FZ_CHECK(out.len == r.out.len + 7 && memcmp(out.data, "prefix:", 7) == 0 &&
                 memcmp(out.data + 7, r.out.data ? r.out.data : "", r.out.len) == 0,
             "rendering differs from the reference (%zu vs %zu bytes)", out.len - 7, r.out.len);
    FZ_CHECK(out.data[out.len] == '\0', "rendering not NUL-terminated");
    hd_buf_release(&out);
    hd_buf_release(&r.out);
    hd_tmpl_free(t);
    return 0;
}
