/* Test support: a small, independent MIME reader for checking the messages
 * core/render/mime.c builds (header unfolding, RFC 2047 B words, base64 with
 * OpenSSL's EVP_DecodeBlock, quoted-printable, the two parts of a
 * multipart/alternative body). Every reader asserts the RFC rules it relies
 * on as it goes, so a malformed message fails the test that reads it. */
#ifndef HERALD_TEST_MIME_READ_H
#define HERALD_TEST_MIME_READ_H

#include <stdbool.h>
#include <stddef.h>

#include "herald/buf.h"

/* Offset just past the blank line that ends the header section of m. */
size_t hd_test_mime_header_end(const char *m);
/* Unfolded value of the first header called name (CRLFs removed, the
 * folding whitespace kept, the space after the colon dropped) in out (cap
 * bytes); false when m has no such header. */
bool hd_test_mime_header_get(const char *m, const char *name, char *out, size_t cap);
/* Decodes n base64 characters (a multiple of 4) into out, which must hold
 * 3n/4 + 1 bytes; returns the decoded length. */
size_t hd_test_mime_b64_decode(const char *in, size_t n, unsigned char *out);
/* Decodes a header value made of RFC 2047 B words (whitespace between
 * adjacent words dropped) and plain tokens into out (cap bytes). Checks
 * every word is at most 75 characters and decodes to whole UTF-8
 * characters. */
void hd_test_mime_decode_words(const char *v, char *out, size_t cap);
/* Decodes n bytes of quoted-printable lines into out (reset first; hard
 * line breaks come out as CRLF), checking the RFC 2045 rules on the way:
 * lines within 76, no whitespace before a hard break, only printable ASCII,
 * space and tab literal, upper-case hex escapes never split by a soft
 * break. */
void hd_test_mime_qp_decode(const char *s, size_t n, struct hd_buf *out);
/* The multipart delimiter of message m ("\r\n--" and its boundary). */
void hd_test_mime_delimiter(const char *m, char *delim, size_t cap);

struct hd_test_mime_part {
    char type[128], cte[64]; /* Content-Type, Content-Transfer-Encoding */
    struct hd_buf body;      /* decoded, NUL-terminated; CRLF line ends */
};

/* Splits the multipart body of m into its two parts (0 text, 1 html) and
 * decodes them, checking the framing (delimiters, the close delimiter
 * ending the message), that each part has a Content-Type and a
 * Content-Transfer-Encoding of base64 (lines within 76) or
 * quoted-printable (see hd_test_mime_qp_decode). Release with
 * hd_test_mime_release_parts. */
void hd_test_mime_get_parts(const char *m, struct hd_test_mime_part parts[2]);
void hd_test_mime_release_parts(struct hd_test_mime_part parts[2]);
/* Part want (0 text, 1 html) of m decoded into out, with every check of
 * hd_test_mime_get_parts; returns its Content-Transfer-Encoding
 * ("base64" or "quoted-printable", static storage). */
const char *hd_test_mime_get_part(const char *m, int want, struct hd_buf *out);

#endif
