/* herald/mime.h - the one RFC 5322 / MIME builder, shared by every email path
 * (the file module's Maildir, the SMTP module, proofs re-rendering).
 *
 * Output: multipart/alternative with a text/plain and a text/html part in
 * UTF-8; each body in quoted-printable when mostly Latin, base64 when mostly
 * non-ASCII (Greek, Cyrillic); RFC 2047 encoded-words for non-ASCII subject
 * and display names; Date in RFC 5322 form with fixed English names
 * (whatever the process locale), in UTC; Message-ID; MIME-Version;
 * Content-Language; X-Herald-Campaign; Auto-Submitted: auto-generated.
 * No List-Unsubscribe: a legally mandated notice is not a subscription.
 * Header lines are folded under 78 characters (except an address longer
 * than that, which cannot be folded and stands alone on its line), no line
 * exceeds 998, every line ends in CRLF (tests/fuzz/fuzz_mime.c checks these). The same inputs
 * always give the same bytes (the boundary derives from the Message-ID), which is what lets proofs
 * re-render a message and compare hashes.
 *
 * Inputs that would reach a header are refused if they hold CR, LF or any
 * control character (HD_EX_DATAERR), even though the planner already
 * rejected such rows: defence in depth against header injection.
 * Thread-safe: no global state.
 */
#ifndef HERALD_MIME_H
#define HERALD_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "herald/buf.h"
#include "herald/err.h"

struct hd_mime_email {
    const char *from_name; /* UTF-8 display name, or NULL */
    const char *from_addr; /* ASCII local part; domain may be Unicode (converted with libidn2) */
    const char *to_name;   /* UTF-8 display name, or NULL */
    const char *to_addr;   /* same rule as from_addr */
    const char *subject;   /* UTF-8, one line */
    const char *text;      /* UTF-8, LF or CRLF line ends */
    size_t text_len;
    const char *html; /* UTF-8 HTML fragment or document */
    size_t html_len;
    const char *message_id;  /* without angle brackets: "<32 hex>@<domain>" */
    int64_t date;            /* unix seconds */
    const char *language;    /* BCP 47, for Content-Language */
    const char *campaign_id; /* for X-Herald-Campaign */
    /* true when from_addr and to_addr are already what hd_mime_ascii_address
     * makes of them (hd_render converts each once and passes the result):
     * each is then only checked to be one header-safe token with an '@'
     * (refused as usual otherwise), not validated and converted again. */
    bool ascii_addrs;
};

/* Appends the whole message to out. Returns 0, or -1 with err set. */
int hd_mime_build(const struct hd_mime_email *m, struct hd_buf *out, struct hd_err *err);

/* Converts an address's domain to its ASCII (A-label) form into out.
 * Returns 0, or -1 (HD_EX_DATAERR) for an address libidn2 refuses or a
 * non-ASCII local part. */
int hd_mime_ascii_address(const char *addr, char *out, size_t cap, struct hd_err *err);

#endif
