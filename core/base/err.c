#include "herald/err.h"
#include "herald/utf8.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Code points a terminal or a reader could be fooled by: C1 controls, the
 * line and paragraph separators, the bidirectional marks, embeddings,
 * overrides and isolates. */
static bool unsafe_cp(long cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x200E || cp == 0x200F ||
           (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t hd_err_escape(char *out, size_t cap, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t o = 0, i = 0;
    if (cap == 0)
        return 0;
    while (i < len) {
        char tmp[8];
        size_t k, n = 0;
        long cp = hd_utf8_decode(s + i, len - i, &k);
        if (cp < 0) {
            k = 1;
            n = (size_t)snprintf(tmp, sizeof tmp, "\\x%c%c", hex[s[i] >> 4], hex[s[i] & 15]);
        } else if (cp < 0x20 || cp == 0x7F) {
            n = (size_t)snprintf(tmp, sizeof tmp, "\\x%c%c", hex[cp >> 4], hex[cp & 15]);
        } else if (unsafe_cp(cp)) {
            n = (size_t)snprintf(tmp, sizeof tmp, "\\u%04lx", (unsigned long)cp);
        }
        const char *src = n ? tmp : (const char *)s + i;
        if (n == 0)
            n = k;
        if (o + n >= cap)
            break;
        memcpy(out + o, src, n);
        o += n;
        i += k;
    }
    out[o] = '\0';
    return o;
}

/* Formats into a scratch buffer, then escapes into out. */
static void vformat_escaped(char *out, size_t cap, const char *fmt, va_list ap)
{
    char raw[HD_ERR_MSG_MAX];
    int n = vsnprintf(raw, sizeof raw, fmt, ap);
    if (n < 0)
        n = 0;
    hd_err_escape(out, cap, raw, (size_t)n < sizeof raw ? (size_t)n : sizeof raw - 1);
}

void hd_err_set(struct hd_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL)
        return;
    err->code = code;
    va_start(ap, fmt);
    vformat_escaped(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

static int format_location(char *out, size_t cap, const char *file, unsigned long line,
                           unsigned long col)
{
    char name[HD_ERR_MSG_MAX / 2];
    if (file == NULL)
        return 0;
    hd_err_escape(name, sizeof name, file, strlen(file));
    if (line && col)
        return snprintf(out, cap, "%s:%lu:%lu: ", name, line, col);
    if (line)
        return snprintf(out, cap, "%s:%lu: ", name, line);
    return snprintf(out, cap, "%s: ", name);
}

void hd_err_at(struct hd_err *err, int code, const char *file, unsigned long line,
               unsigned long col, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (err == NULL)
        return;
    err->code = code;
    n = format_location(err->msg, sizeof err->msg, file, line, col);
    if (n < 0 || (size_t)n >= sizeof err->msg)
        return;
    va_start(ap, fmt);
    vformat_escaped(err->msg + n, sizeof err->msg - (size_t)n, fmt, ap);
    va_end(ap);
}

void hd_err_prefix(struct hd_err *err, const char *fmt, ...)
{
    char head[HD_ERR_MSG_MAX];
    size_t hl, ol, cap = sizeof err->msg;
    va_list ap;
    if (err == NULL)
        return;
    va_start(ap, fmt);
    vformat_escaped(head, sizeof head, fmt, ap);
    va_end(ap);
    hl = strlen(head);
    if (hl + 3 >= cap)
        return;
    ol = strlen(err->msg);
    if (hl + 2 + ol >= cap)
        ol = cap - hl - 3; /* keep the head whole; the tail of the old text goes */
    memmove(err->msg + hl + 2, err->msg, ol);
    memcpy(err->msg, head, hl);
    memcpy(err->msg + hl, ": ", 2);
    err->msg[hl + 2 + ol] = '\0';
}

void hd_diags_init(struct hd_diags *d)
{
    memset(d, 0, sizeof *d);
}

void hd_diags_release(struct hd_diags *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->count; i++)
        free(d->items[i]);
    free(d->items);
    memset(d, 0, sizeof *d);
}

void hd_diags_vadd(struct hd_diags *d, int code, const char *file, unsigned long line,
                   unsigned long col, const char *fmt, va_list ap)
{
    char text[HD_ERR_MSG_MAX];
    int n;
    if (d->code == 0)
        d->code = code;
    n = format_location(text, sizeof text, file, line, col);
    if (n < 0 || (size_t)n >= sizeof text)
        n = 0;
    vformat_escaped(text + n, sizeof text - (size_t)n, fmt, ap);
    if (d->count == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        char **items = realloc(d->items, cap * sizeof *items);
        if (items == NULL)
            return;
        d->items = items;
        d->cap = cap;
    }
    d->items[d->count] = strdup(text);
    if (d->items[d->count] != NULL)
        d->count++;
}

void hd_diags_add(struct hd_diags *d, int code, const char *file, unsigned long line,
                  unsigned long col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hd_diags_vadd(d, code, file, line, col, fmt, ap);
    va_end(ap);
}

const char *hd_err_excerpt(char *out, size_t cap, const void *s, size_t len, size_t max)
{
    const unsigned char *p = s;
    size_t used = 0, take = len;
    bool cut = false;
    if (cap == 0)
        return out;
    if (max > HD_ERR_EXCERPT_MAX)
        max = HD_ERR_EXCERPT_MAX;
    if (take > max) {
        take = max;
        cut = true;
    }
    for (size_t i = 0; i < take; i++) {
        char piece[5];
        size_t n;
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\' && p[i] != '"') {
            piece[0] = (char)p[i];
            n = 1;
        } else if (p[i] == '\\' || p[i] == '"') {
            piece[0] = '\\';
            piece[1] = (char)p[i];
            n = 2;
        } else {
            n = (size_t)snprintf(piece, sizeof piece, "\\x%02x", p[i]);
        }
        if (used + n + 4 > cap) { /* room for "..." and the NUL */
            cut = true;
            break;
        }
        memcpy(out + used, piece, n);
        used += n;
    }
    if (cut && used + 4 <= cap) {
        memcpy(out + used, "...", 3);
        used += 3;
    }
    out[used] = '\0';
    return out;
}
