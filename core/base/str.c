/* str.c - the shared string helpers of herald/str.h. */
#include "herald/str.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herald/utf8.h"

static void *oom(struct hd_err *err)
{
    if (err != NULL)
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
    return NULL;
}

char *hd_strdup(const char *s, struct hd_err *err)
{
    char *p = strdup(s);
    return p != NULL ? p : oom(err);
}

char *hd_strndup(const char *s, size_t n, struct hd_err *err)
{
    char *p = strndup(s, n);
    return p != NULL ? p : oom(err);
}

char *hd_path_resolve(const char *dir, const char *path, struct hd_err *err)
{
    if (path[0] == '/' || dir == NULL || strcmp(dir, ".") == 0)
        return hd_strdup(path, err);
    size_t n = strlen(dir) + strlen(path) + 2;
    char *out = malloc(n);
    if (out == NULL)
        return oom(err);
    snprintf(out, n, "%s/%s", dir, path);
    return out;
}

/* ---- JSON strings --------------------------------------------------------- */

/* True when none of the 8 bytes in v needs a look: no byte >= 0x80, none
 * below 0x20, no '"', no '\\' and (ascii) no DEL. (The word tricks "has a
 * zero byte" and "has a byte below n", exact for the any-test once the high
 * bits are known clear.) */
static inline bool json_plain8(uint64_t v, bool ascii)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
    uint64_t t = v | ((v - ones * 0x20) & ~v) | ((q - ones) & ~q) | ((b - ones) & ~b);
    if (ascii) {
        uint64_t d = v ^ (ones * 0x7F);
        t |= (d - ones) & ~d;
    }
    return (t & highs) == 0;
}

static char *json_u(char *o, uint32_t u, const char *hex)
{
    o[0] = '\\';
    o[1] = 'u';
    o[2] = hex[u >> 12 & 15];
    o[3] = hex[u >> 8 & 15];
    o[4] = hex[u >> 4 & 15];
    o[5] = hex[u & 15];
    return o + 6;
}

char *hd_json_escape(char *o, const char *str, size_t n, unsigned flags)
{
    const bool ascii = (flags & HD_JSON_ASCII) != 0;
    /* jansson writes "%04X"; Python's ensure_ascii writes lower case */
    const char *hex = ascii ? "0123456789abcdef" : "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    if (flags & HD_JSON_QUOTED)
        *o++ = '"';
    while (i < n) {
        uint64_t v;
        if (n - i >= 8) {
            memcpy(&v, s + i, 8);
            if (json_plain8(v, ascii)) {
                memcpy(o, &v, 8);
                o += 8;
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        char e = 0;
        switch (c) {
        case '"':
        case '\\':
            e = (char)c;
            break;
        case '\b':
            e = 'b';
            break;
        case '\f':
            e = 'f';
            break;
        case '\n':
            e = 'n';
            break;
        case '\r':
            e = 'r';
            break;
        case '\t':
            e = 't';
            break;
        default:
            break;
        }
        if (e) {
            *o++ = '\\';
            *o++ = e;
            i++;
        } else if (c < 0x20 || (c == 0x7F && ascii)) {
            o = json_u(o, c, hex);
            i++;
        } else if (c < 0x80) {
            *o++ = (char)c;
            i++;
        } else {
            size_t len;
            long cp = hd_utf8_decode(s + i, n - i, &len);
            if (!ascii) {
                if (cp < 0)
                    return NULL;
                memcpy(o, s + i, len);
                o += len;
                i += len;
                continue;
            }
            if (cp < 0) {
                cp = 0xFFFD;
                len = 1;
            }
            i += len;
            if (cp >= 0x10000) {
                uint32_t u = (uint32_t)cp - 0x10000;
                o = json_u(o, 0xD800 | (u >> 10), hex);
                o = json_u(o, 0xDC00 | (u & 0x3FF), hex);
            } else {
                o = json_u(o, (uint32_t)cp, hex);
            }
        }
    }
    if (flags & HD_JSON_QUOTED)
        *o++ = '"';
    return o;
}

int hd_buf_json(struct hd_buf *b, const char *s, size_t n, unsigned flags)
{
    char *end;
    if (n > (HD_BUF_MAX - 2) / 6 || hd_buf_reserve(b, HD_JSON_ESCAPED_MAX(n)) != 0)
        return HD_JSON_NOMEM;
    end = hd_json_escape(b->data + b->len, s, n, flags);
    if (end == NULL) {
        b->data[b->len] = '\0';
        return HD_JSON_BAD_UTF8;
    }
    *end = '\0';
    b->len = (size_t)(end - b->data);
    return 0;
}

/* ---- base64 --------------------------------------------------------------- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t hd_base64_encode(const void *in, size_t n, char *out)
{
    const uint8_t *b = in;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)b[i + 1] << 8;
        if (i + 2 < n)
            v |= b[i + 2];
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64chars[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64chars[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

static int b64value(char c)
{
    const char *p = c ? strchr(b64chars, c) : NULL;
    return p ? (int)(p - b64chars) : -1;
}

int hd_base64_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *outlen,
                     unsigned flags)
{
    const bool lax = (flags & HD_BASE64_LAX) != 0;
    size_t o = 0;
    if (n % 4 && !lax)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4] = {0, 0, 0, 0}, pad = 0;
        for (size_t j = 0; j < 4; j++) {
            if (i + j >= n) { /* lax: the padding left out */
                pad++;
                continue;
            }
            char c = s[i + j];
            if (c == '=' && j >= 2 && (i + 4 == n || (lax && i + 4 > n))) {
                pad++;
                continue;
            }
            v[j] = b64value(c);
            if (v[j] < 0 || pad)
                return -1;
        }
        if (pad > 2)
            return -1;
        uint32_t w = (uint32_t)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        size_t k = (size_t)(3 - pad);
        if (!lax && ((pad == 1 && (w & 0xFF)) || (pad == 2 && (w & 0xFFFF))))
            return -1;
        if (o + k > cap)
            return -1;
        for (size_t j = 0; j < k; j++)
            out[o++] = (uint8_t)(w >> (16 - 8 * j));
    }
    *outlen = o;
    return 0;
}
