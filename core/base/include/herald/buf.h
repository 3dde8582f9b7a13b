/* herald/buf.h - a growable byte buffer, always NUL-terminated.
 *
 * Ownership: the buffer owns data; hd_buf_release frees it. A zeroed struct
 * (HD_BUF_INIT) is an empty buffer. Appends return 0, or -1 when memory runs
 * out or the buffer would pass HD_BUF_MAX (every growing buffer has a cap).
 */
#ifndef HERALD_BUF_H
#define HERALD_BUF_H

#include <stddef.h>
#include <stdint.h>

#define HD_BUF_MAX ((size_t)1 << 30)

struct hd_buf {
    char *data;
    size_t len, cap;
};

#define HD_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

int hd_buf_reserve(struct hd_buf *b, size_t extra);
int hd_buf_append(struct hd_buf *b, const void *p, size_t n);
int hd_buf_puts(struct hd_buf *b, const char *s);
int hd_buf_putc(struct hd_buf *b, char c);
int hd_buf_printf(struct hd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hd_buf_reset(struct hd_buf *b); /* len = 0, keeps memory */
void hd_buf_release(struct hd_buf *b);

#endif
