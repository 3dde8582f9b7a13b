#include "herald/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hd_buf_reserve(struct hd_buf *b, size_t extra)
{
    size_t need, cap;
    char *data;
    if (extra > HD_BUF_MAX - b->len - 1)
        return -1;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > HD_BUF_MAX)
        cap = HD_BUF_MAX;
    data = realloc(b->data, cap);
    if (data == NULL)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

int hd_buf_append(struct hd_buf *b, const void *p, size_t n)
{
    if (hd_buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int hd_buf_puts(struct hd_buf *b, const char *s)
{
    return hd_buf_append(b, s, strlen(s));
}

int hd_buf_putc(struct hd_buf *b, char c)
{
    return hd_buf_append(b, &c, 1);
}

int hd_buf_printf(struct hd_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || hd_buf_reserve(b, (size_t)n) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void hd_buf_reset(struct hd_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void hd_buf_release(struct hd_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
