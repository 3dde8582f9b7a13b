/* herald/utf8.h - the one UTF-8 decoder, shared by the text checks
 * (hd_text_problem), the terminal escaping of messages (hd_err_escape) and
 * the proof records' canonical JSON.
 *
 * Inline because it sits on per-character paths of rendering and proof
 * writing; callers handle ASCII themselves and call it past 0x7F.
 * Thread-safety: pure function.
 */
#ifndef HERALD_UTF8_H
#define HERALD_UTF8_H

#include <stddef.h>

/* The code point of the UTF-8 sequence at s (n >= 1 bytes left) and its
 * length in *len, or -1 (*len untouched) when it is not UTF-8: a byte that
 * cannot start a sequence, an overlong form, a surrogate, past U+10FFFF,
 * or cut short. */
static inline long hd_utf8_decode(const unsigned char *s, size_t n, size_t *len)
{
    unsigned char c = s[0];
    unsigned long cp, min;
    size_t k;
    if (c < 0x80) {
        *len = 1;
        return c;
    }
    /* 0x80-0xC1 cannot start a sequence (continuation bytes, or a lead byte
     * that could only encode an overlong form); F5-FF never occur. */
    if (c >= 0xC2 && c <= 0xDF) {
        k = 2;
        cp = c & 0x1Fu;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        cp = c & 0x0Fu;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        cp = c & 0x07u;
        min = 0x10000;
    } else {
        return -1;
    }
    if (n < k)
        return -1;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return -1;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *len = k;
    return (long)cp;
}

#endif
