/* herald/str.h - the one copy of the small string helpers every layer needs:
 * copying a string, resolving a path against the campaign's folder, JSON
 * string escaping and base64. Before this header each existed three to five
 * times (issue 11, item 5); look here before writing another.
 *
 * Out of memory, the one policy (for core/ and channels/ alike): library
 * code never aborts and never exits on a failed allocation. It reports
 * HD_EX_SOFTWARE with a message starting "out of memory" through the
 * caller's struct hd_err (or the module's outcome) and returns failure
 * (-1 or NULL), leaving what it owns freeable by its destroy function. The
 * helpers below that allocate follow it: they take a struct hd_err and set
 * it on failure, so a call site needs no message of its own.
 *
 * Thread-safety: pure functions over their arguments.
 */
#ifndef HERALD_STR_H
#define HERALD_STR_H

#include <stddef.h>
#include <stdint.h>

#include "herald/buf.h"
#include "herald/err.h"

/* ---- copies --------------------------------------------------------------- */

/* A malloc'd copy of s (not NULL), or NULL with err set (HD_EX_SOFTWARE,
 * "out of memory"). err may be NULL when the caller reports itself. */
char *hd_strdup(const char *s, struct hd_err *err);
/* The same for the first n bytes of s (fewer when s ends first). */
char *hd_strndup(const char *s, size_t n, struct hd_err *err);

/* ---- paths ---------------------------------------------------------------- */

/* Resolves path (not NULL) against dir, the folder of the campaign file
 * (struct hd_campaign's dir): path itself when it is absolute or when dir
 * is NULL or ".", else "dir/path". Every path a campaign or a module's
 * settings name is resolved through this, so a campaign moved with its
 * files still finds them wherever herald runs. Returns a malloc'd string,
 * or NULL with err set (out of memory). */
char *hd_path_resolve(const char *dir, const char *path, struct hd_err *err);

/* ---- JSON strings --------------------------------------------------------- */

enum hd_json_flags {
    /* Surround the escaped text with '"'. */
    HD_JSON_QUOTED = 1,
    /* Python's json.dumps(ensure_ascii=True) form, the proof records'
     * canonical one: \u00xx (lower-case) for C0 controls other than the
     * short escapes and for DEL, \uxxxx (surrogate pairs past U+FFFF) for
     * every character past ASCII; bytes that are not UTF-8 become \ufffd.
     * Never fails. Without this flag: jansson's json_dumps form, the one
     * the rendered notices use: '"' '\\' \b \f \n \r \t by name, other C0
     * controls as \u00XX (upper-case hex), '/', DEL and UTF-8 as they are;
     * input that is not UTF-8 (overlong forms, surrogates, past U+10FFFF,
     * cut short: what jansson refuses) fails. */
    HD_JSON_ASCII = 2,
};

/* Room hd_json_escape may write for n input bytes (every byte a \u00XX,
 * plus the quotes). */
#define HD_JSON_ESCAPED_MAX(n) (6 * (size_t)(n) + 2)

/* Writes s[0..n) escaped as a JSON string (see enum hd_json_flags) at out,
 * which has room for HD_JSON_ESCAPED_MAX(n) bytes; writes no NUL. Returns
 * the end of what was written, or NULL when s is not UTF-8 (only without
 * HD_JSON_ASCII). Fast for the common case: 8 plain bytes at a time. */
char *hd_json_escape(char *out, const char *s, size_t n, unsigned flags);

#define HD_JSON_BAD_UTF8 (-1)
#define HD_JSON_NOMEM (-2)

/* Appends s[0..n) escaped to b. Returns 0, HD_JSON_BAD_UTF8 (b unchanged)
 * or HD_JSON_NOMEM (b unchanged, or past HD_BUF_MAX). */
int hd_buf_json(struct hd_buf *b, const char *s, size_t n, unsigned flags);

/* ---- base64 (RFC 4648 section 4, the standard alphabet) ------------------- */

/* Length hd_base64_encode writes for n bytes, NUL excluded. */
#define HD_BASE64_LEN(n) (4 * (((size_t)(n) + 2) / 3))

/* Writes in[0..n) as padded base64 and a NUL at out (HD_BASE64_LEN(n) + 1
 * bytes). Returns the length written, NUL excluded. */
size_t hd_base64_encode(const void *in, size_t n, char *out);

enum hd_base64_flags {
    /* Accept missing '=' padding and non-zero unused bits (what OpenSSL's
     * EVP_DecodeBlock-based readers accepted for user-typed keys). Without
     * it decoding is strict: padded, no whitespace, the unused bits zero,
     * so each value has one text (signatures, checkpoints). */
    HD_BASE64_LAX = 1,
};

/* Decodes s[0..n) into out (cap bytes); the length goes to *outlen.
 * Returns 0, or -1 when s is not base64 as flags define it or the result
 * does not fit in cap. */
int hd_base64_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *outlen,
                     unsigned flags);

#endif
