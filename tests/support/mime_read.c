/* Test support: the independent MIME reader (see mime_read.h). */
#include "mime_read.h"

#include <stdarg.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "herald/audience.h"

size_t hd_test_mime_header_end(const char *m)
{
    const char *p = strstr(m, "\r\n\r\n");
    assert_non_null(p);
    return (size_t)(p - m) + 4;
}

bool hd_test_mime_header_get(const char *m, const char *name, char *out, size_t cap)
{
    size_t end = hd_test_mime_header_end(m), nlen = strlen(name);
    const char *p = m;
    while (p < m + end - 2) {
        const char *eol = strstr(p, "\r\n");
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            size_t k = 0;
            const char *q = p + nlen + 1;
            for (;;) {
                eol = strstr(q, "\r\n");
                assert_true((size_t)(eol - q) + k < cap);
                memcpy(out + k, q, (size_t)(eol - q));
                k += (size_t)(eol - q);
                q = eol + 2;
                if (*q != ' ' && *q != '\t')
                    break;
            }
            out[k] = '\0';
            if (out[0] == ' ')
                memmove(out, out + 1, k);
            return true;
        }
        p = eol + 2;
    }
    return false;
}

size_t hd_test_mime_b64_decode(const char *in, size_t n, unsigned char *out)
{
    int len;
    size_t pad = 0;
    if (n == 0)
        return 0;
    assert_int_equal(n % 4, 0);
    len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    assert_true(len >= 0);
    while (pad < 2 && in[n - 1 - pad] == '=')
        pad++;
    return (size_t)len - pad;
}

void hd_test_mime_decode_words(const char *v, char *out, size_t cap)
{
    size_t k = 0;
    bool prev_ew = false;
    const char *p = v;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, " ");
        if (n > 12 && strncmp(p, "=?UTF-8?B?", 10) == 0 && p[n - 2] == '?' && p[n - 1] == '=') {
            unsigned char piece[128];
            size_t m;
            assert_true(n <= 75);
            m = hd_test_mime_b64_decode(p + 10, n - 12, piece);
            assert_true(hd_text_clean((const char *)piece, m)); /* no split character */
            assert_true(k + m < cap);
            memcpy(out + k, piece, m);
            k += m;
            prev_ew = true;
        } else {
            if (k > 0 || prev_ew)
                out[k++] = ' ';
            assert_true(k + n < cap);
            memcpy(out + k, p, n);
            k += n;
            prev_ew = false;
        }
        p += n;
    }
    out[k] = '\0';
}

static int hexval(char c)
{
    assert_true((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'));
    return c <= '9' ? c - '0' : c - 'A' + 10;
}

void hd_test_mime_qp_decode(const char *s, size_t n, struct hd_buf *out)
{
    size_t i = 0;
    hd_buf_reset(out);
    while (i < n) {
        const char *eol = strstr(s + i, "\r\n");
        size_t end = eol && (size_t)(eol - s) < n ? (size_t)(eol - s) : n;
        size_t len = end - i;
        bool soft = len > 0 && s[end - 1] == '=';
        assert_true(len <= 76);
        if (len > 0 && !soft)
            assert_true(s[end - 1] != ' ' && s[end - 1] != '\t');
        for (size_t j = i; j < end - (soft ? 1 : 0); j++) {
            unsigned char c = (unsigned char)s[j];
            if (c == '=') {
                assert_true(j + 2 < end - (soft ? 1 : 0)); /* never split */
                assert_int_equal(hd_buf_putc(out, (char)(hexval(s[j + 1]) * 16 + hexval(s[j + 2]))),
                                 0);
                j += 2;
            } else {
                assert_true(c == ' ' || c == '\t' || (c >= 33 && c <= 126));
                assert_int_equal(hd_buf_putc(out, (char)c), 0);
            }
        }
        if (end < n && !soft)
            assert_int_equal(hd_buf_append(out, "\r\n", 2), 0);
        i = end + 2;
    }
}

void hd_test_mime_delimiter(const char *m, char *delim, size_t cap)
{
    char ct[256];
    const char *b;
    assert_true(hd_test_mime_header_get(m, "Content-Type", ct, sizeof ct));
    b = strstr(ct, "boundary=\"");
    assert_non_null(b);
    b += 10;
    assert_true((size_t)snprintf(delim, cap, "\r\n--%.*s", (int)strcspn(b, "\""), b) < cap);
}

/* Joins base64 lines (each within 76) and decodes them into out. */
static void b64_body(const char *body, size_t n, struct hd_buf *out)
{
    struct hd_buf joined = HD_BUF_INIT;
    const char *q = body;
    while (q < body + n) {
        const char *e = strstr(q, "\r\n");
        size_t len = e && e < body + n ? (size_t)(e - q) : (size_t)(body + n - q);
        assert_true(len <= 76);
        assert_int_equal(hd_buf_append(&joined, q, len), 0);
        q += len + 2;
    }
    assert_int_equal(hd_buf_reserve(out, joined.len + 4), 0);
    out->len = hd_test_mime_b64_decode(joined.data ? joined.data : "", joined.len,
                                       (unsigned char *)out->data);
    out->data[out->len] = '\0';
    hd_buf_release(&joined);
}

void hd_test_mime_get_parts(const char *m, struct hd_test_mime_part parts[2])
{
    char delim[128];
    const char *p;
    hd_test_mime_delimiter(m, delim, sizeof delim);
    assert_memory_equal(m + hd_test_mime_header_end(m), delim + 2, strlen(delim) - 2);
    p = m + hd_test_mime_header_end(m) + strlen(delim) - 2;
    for (int i = 0; i < 2; i++) {
        const char *h, *end, *body;
        char hdrs[512];
        assert_memory_equal(p, "\r\n", 2);
        h = p + 2;
        body = strstr(h, "\r\n\r\n");
        assert_non_null(body);
        body += 4;
        end = strstr(body - 2, delim);
        assert_non_null(end);
        assert_true((size_t)snprintf(hdrs, sizeof hdrs, "%.*s", (int)(body - h), h) < sizeof hdrs);
        assert_true(
            hd_test_mime_header_get(hdrs, "Content-Type", parts[i].type, sizeof parts[i].type));
        assert_true(hd_test_mime_header_get(hdrs, "Content-Transfer-Encoding", parts[i].cte,
                                            sizeof parts[i].cte));
        memset(&parts[i].body, 0, sizeof parts[i].body);
        size_t n = (size_t)(end - body);
        if (end < body)
            n = 0; /* empty body: the delimiter's CRLF is the blank line's */
        if (strcmp(parts[i].cte, "base64") == 0) {
            b64_body(body, n, &parts[i].body);
        } else {
            assert_string_equal(parts[i].cte, "quoted-printable");
            hd_test_mime_qp_decode(body, n, &parts[i].body);
        }
        p = end + strlen(delim);
    }
    assert_memory_equal(p, "--\r\n", 5); /* the close delimiter ends the message */
}

void hd_test_mime_release_parts(struct hd_test_mime_part parts[2])
{
    hd_buf_release(&parts[0].body);
    hd_buf_release(&parts[1].body);
}

const char *hd_test_mime_get_part(const char *m, int want, struct hd_buf *out)
{
    struct hd_test_mime_part parts[2];
    const char *cte;
    assert_true(want == 0 || want == 1);
    hd_test_mime_get_parts(m, parts);
    cte = strcmp(parts[want].cte, "base64") == 0 ? "base64" : "quoted-printable";
    hd_buf_reset(out);
    assert_int_equal(hd_buf_append(out, parts[want].body.data ? parts[want].body.data : "",
                                   parts[want].body.len),
                     0);
    hd_test_mime_release_parts(parts);
    return cte;
}
