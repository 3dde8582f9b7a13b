/* Fuzz target: MIME header encoding (core/render/mime.c).
 *
 * Input: SUBJECT NUL FROM_NAME NUL TO_NAME NUL TO_ADDR NUL TEXT, each part
 * optional (a missing name is NULL, a missing address a fixed one). The
 * message is built, and an independent reader written here (unfolding,
 * RFC 2047 B and Q words, quoted-strings) checks:
 * - the build succeeds exactly when every header input is clean text
 *   (hd_text_clean) and the address converts (hd_mime_ascii_address);
 *   a refusal is HD_EX_DATAERR and leaves the buffer as it was;
 * - every line ends in CRLF, there is no other CR or LF, header lines are
 *   at most 78 characters and other lines at most 998, a continuation line
 *   starts with a blank and is not blank only, a header line is "Name:";
 * - From, To and Subject occur once each, and decode back to exactly the
 *   inputs (display name and address, subject), every encoded-word is at
 *   most 75 characters and decodes to whole UTF-8 characters;
 * - the same inputs give the same bytes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fz.h"
#include "herald/audience.h"
#include "herald/buf.h"
#include "herald/err.h"
#include "herald/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes token [s, s+n) when it is an encoded-word "=?charset?B|Q?text?="
 * (RFC 2047), appending to out; false when it is not one. */
static bool decode_word(const char *s, size_t n, struct hd_buf *out)
{
    const char *q1, *q2;
    size_t start = out->len;
    if (n < 8 || memcmp(s, "=?", 2) != 0 || memcmp(s + n - 2, "?=", 2) != 0)
        return false;
    q1 = memchr(s + 2, '?', n - 4);
    if (q1 == NULL || q1 + 2 >= s + n - 2 || q1[2] != '?')
        return false;
    q2 = q1 + 3;
    const char *end = s + n - 2;
    FZ_CHECK(n <= 75, "encoded-word of %zu characters", n);
    FZ_CHECK((size_t)(q1 - s - 2) == 5 && strncasecmp(s + 2, "UTF-8", 5) == 0,
             "charset is not UTF-8");
    if (q1[1] == 'B' || q1[1] == 'b') {
        unsigned acc = 0, bits = 0;
        size_t len = (size_t)(end - q2);
        FZ_CHECK(len % 4 == 0, "base64 length %zu", len);
        for (const char *p = q2; p < end; p++) {
            if (*p == '=') {
                FZ_CHECK(p + 2 >= end, "padding inside a word");
                continue;
            }
            int v = b64_value(*p);
            FZ_CHECK(v >= 0, "bad base64 character");
            acc = acc << 6 | (unsigned)v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                hd_buf_putc(out, (char)(acc >> bits & 0xFF));
            }
        }
    } else if (q1[1] == 'Q' || q1[1] == 'q') {
        for (const char *p = q2; p < end; p++) {
            if (*p == '_') {
                hd_buf_putc(out, ' ');
            } else if (*p == '=') {
                FZ_CHECK(p + 2 < end && hex_value(p[1]) >= 0 && hex_value(p[2]) >= 0, "bad Q");
                hd_buf_putc(out, (char)(hex_value(p[1]) << 4 | hex_value(p[2])));
                p += 2;
            } else {
                hd_buf_putc(out, *p);
            }
        }
    } else {
        return false;
    }
    FZ_CHECK(hd_text_clean(out->data + start, out->len - start),
             "an encoded-word splits a character (or holds a control)");
    return true;
}

/* What a reader makes of unstructured text: encoded-words decoded,
 * whitespace between two adjacent encoded-words dropped, everything else
 * as written. */
static void decode_unstructured(const char *v, size_t n, struct hd_buf *out)
{
    size_t i = 0;
    bool prev_word = false;
    while (i < n) {
        size_t ws = i;
        while (i < n && (v[i] == ' ' || v[i] == '\t'))
            i++;
        size_t tok = i;
        while (i < n && v[i] != ' ' && v[i] != '\t')
            i++;
        struct hd_buf w = HD_BUF_INIT;
        bool is_word = tok < i && decode_word(v + tok, i - tok, &w);
        if (!(is_word && prev_word) || tok == i)
            hd_buf_append(out, v + ws, tok - ws);
        if (is_word)
            hd_buf_append(out, w.data, w.len);
        else
            hd_buf_append(out, v + tok, i - tok);
        hd_buf_release(&w);
        prev_word = is_word;
    }
}

/* Unfolded value of header name (without the space after the colon);
 * checks it occurs exactly once. */
static char *header(const char *msg, size_t hend, const char *name)
{
    size_t nlen = strlen(name), count = 0;
    char *val = NULL;
    for (size_t p = 0; p < hend;) {
        const char *eol = strstr(msg + p, "\r\n");
        size_t next = (size_t)(eol - msg) + 2;
        if (strncmp(msg + p, name, nlen) == 0 && msg[p + nlen] == ':') {
            struct hd_buf b = HD_BUF_INIT;
            size_t q = p + nlen + 1;
            count++;
            for (;;) {
                eol = strstr(msg + q, "\r\n");
                hd_buf_append(&b, msg + q, (size_t)(eol - msg) - q);
                q = (size_t)(eol - msg) + 2;
                if (msg[q] != ' ' && msg[q] != '\t')
                    break;
            }
            next = q;
            free(val);
            val = strdup(b.data && b.data[0] == ' ' ? b.data + 1 : b.data ? b.data : "");
            hd_buf_release(&b);
        }
        p = next;
    }
    FZ_CHECK(count == 1, "%zu %s headers", count, name);
    return val;
}

static void check_mailbox(const char *v, const char *name, const char *addr)
{
    size_t n = strlen(v);
    if (name == NULL || *name == '\0') {
        FZ_CHECK(strcmp(v, addr) == 0, "address \"%s\", expected \"%s\"", v, addr);
        return;
    }
    const char *lt = strrchr(v, '<');
    FZ_CHECK(lt != NULL && lt > v && lt[-1] == ' ' && v[n - 1] == '>', "mailbox \"%s\"", v);
    FZ_CHECK(strlen(addr) == (size_t)(v + n - 1 - lt - 1) &&
                 memcmp(lt + 1, addr, strlen(addr)) == 0,
             "address in \"%s\", expected \"%s\"", v, addr);
    size_t dlen = (size_t)(lt - 1 - v);
    struct hd_buf got = HD_BUF_INIT;
    if (v[0] == '"') {
        FZ_CHECK(dlen >= 2 && v[dlen - 1] == '"', "unterminated quoted-string in \"%s\"", v);
        for (size_t i = 1; i < dlen - 1; i++) {
            FZ_CHECK(v[i] != '"', "bare quote inside a quoted-string: \"%s\"", v);
            if (v[i] == '\\')
                i++;
            hd_buf_putc(&got, v[i]);
        }
    } else {
        for (size_t i = 0; i < dlen; i++)
            FZ_CHECK(strchr("()<>[]:;@\\,\".", v[i]) == NULL || memchr(v, '?', dlen) != NULL,
                     "special character '%c' in a bare display name \"%s\"", v[i], v);
        decode_unstructured(v, dlen, &got);
    }
    FZ_CHECK(got.len == strlen(name) && memcmp(got.data ? got.data : "", name, got.len) == 0,
             "display name decodes to \"%s\", was \"%s\"", got.data ? got.data : "", name);
    hd_buf_release(&got);
}

static void check_lines(const char *m, size_t len, size_t hend)
{
    for (size_t p = 0; p < len;) {
        const char *crlf = strstr(m + p, "\r\n");
        FZ_CHECK(crlf != NULL, "last line without CRLF");
        size_t n = (size_t)(crlf - m) - p;
        FZ_CHECK(memchr(m + p, '\r', n) == NULL && memchr(m + p, '\n', n) == NULL,
                 "bare CR or LF at %zu", p);
        FZ_CHECK(n <= 998, "line of %zu characters", n);
        if (p < hend - 2) {
            if (n > 78) {
                /* Allowed only for what cannot be folded: one address
                 * longer than a line (mime.h), alone after the name. */
                size_t k = 0;
                const char *colon = memchr(m + p, ':', n);
                if (m[p] != ' ' && m[p] != '\t' && colon != NULL)
                    k = (size_t)(colon - (m + p)) + 1;
                while (k < n && (m[p + k] == ' ' || m[p + k] == '\t'))
                    k++;
                FZ_CHECK(memchr(m + p + k, ' ', n - k) == NULL && memchr(m + p + k, '@', n - k),
                         "header line of %zu characters: %.*s", n, (int)n, m + p);
            }
            if (m[p] == ' ' || m[p] == '\t') {
                size_t k = 0;
                while (k < n && (m[p + k] == ' ' || m[p + k] == '\t'))
                    k++;
                FZ_CHECK(k < n, "blank-only continuation line");
                FZ_CHECK(p > 0, "continuation first");
            } else {
                size_t k = 0;
                while (k < n && m[p + k] > ' ' && m[p + k] < 127 && m[p + k] != ':')
                    k++;
                FZ_CHECK(k > 0 && k < n && m[p + k] == ':', "not a header line: %.*s", (int)n,
                         m + p);
            }
        }
        p += n + 2;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1), *part[5] = {NULL, NULL, NULL, NULL, NULL};
    size_t nparts = 0;
    FZ_CHECK(copy != NULL, "oom");
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (char *p = copy; nparts < 5;) {
        part[nparts++] = p;
        char *z = memchr(p, 0, size + 1 - (size_t)(p - copy)); /* copy[size] is NUL */
        if (z == copy + size || nparts == 5)
            break;
        p = z + 1;
    }
    const char *to_addr = part[3] && part[3][0] ? part[3] : "person@example.org";
    struct hd_mime_email m = {
        .from_name = part[1],
        .from_addr = "privacy@lumen.example",
        .to_name = part[2],
        .to_addr = to_addr,
        .subject = part[0],
        .text = part[4] ? part[4] : "Hello,\n\nA notice.\n",
        .html = "<p>Hello</p>",
        .message_id = "0123456789abcdef0123456789abcdef@lumen.example",
        .date = 1750924800,
        .language = "en",
        .campaign_id = "ai-training-notice-2025",
    };
    m.text_len = strlen(m.text);
    m.html_len = strlen(m.html);

    char ascii_to[320];
    struct hd_err err = {0}, aerr = {0};
    bool addr_ok = hd_mime_ascii_address(to_addr, ascii_to, sizeof ascii_to, &aerr) == 0;
    bool clean = (m.from_name == NULL || hd_text_clean(m.from_name, strlen(m.from_name))) &&
                 (m.to_name == NULL || hd_text_clean(m.to_name, strlen(m.to_name))) &&
                 hd_text_clean(m.subject, strlen(m.subject));
    struct hd_buf out = HD_BUF_INIT, again = HD_BUF_INIT;
    hd_buf_puts(&out, "X");
    hd_buf_puts(&again, "X");
    int rc = hd_mime_build(&m, &out, &err);
    FZ_CHECK((rc == 0) == (clean && addr_ok), "build %d, clean %d, address ok %d: %s", rc, clean,
             addr_ok, err.msg);
    if (rc != 0) {
        FZ_CHECK(err.code == HD_EX_DATAERR, "code %d", err.code);
        FZ_CHECK(out.len == 1 && out.data[1] == '\0', "a refused build wrote output");
        goto done;
    }
    FZ_CHECK(hd_mime_build(&m, &again, &err) == 0 && again.len == out.len &&
                 memcmp(again.data, out.data, out.len) == 0,
             "not deterministic");
    const char *msg = out.data + 1;
    size_t len = out.len - 1;
    const char *end = strstr(msg, "\r\n\r\n");
    FZ_CHECK(end != NULL, "no header end");
    size_t hend = (size_t)(end - msg) + 4;
    check_lines(msg, len, hend);

    char *subject = header(msg, hend, "Subject");
    struct hd_buf dec = HD_BUF_INIT;
    decode_unstructured(subject, strlen(subject), &dec);
    FZ_CHECK(dec.len == strlen(m.subject) &&
                 memcmp(dec.data ? dec.data : "", m.subject, dec.len) == 0,
             "subject decodes to \"%s\", was \"%s\" (header \"%s\")", dec.data ? dec.data : "",
             m.subject, subject);
    hd_buf_release(&dec);
    free(subject);
    char *from = header(msg, hend, "From"), *to = header(msg, hend, "To");
    check_mailbox(from, m.from_name, m.from_addr);
    check_mailbox(to, m.to_name, ascii_to);
    free(from);
    free(to);
done:
    hd_buf_release(&out);
    hd_buf_release(&again);
    free(copy);
    return 0;
}
