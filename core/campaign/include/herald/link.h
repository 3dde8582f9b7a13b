/* herald/link.h - the personal objection link.
 *
 * token = base64url_nopad( HMAC-SHA256(secret, "herald-link-v1" 0x00 campaign_id
 *                                              0x00 person_id)[0..15] )
 * i.e. the first 128 bits of the MAC, 22 characters. The URL template names
 * where the token and the person id go with {{token}} and {{person}} (both
 * required) and optionally {{campaign}}; values are percent-encoded
 * (RFC 3986 unreserved characters kept). docs/objection-link.md documents
 * the scheme so another service can verify links.
 *
 * The secret never comes from YAML: hd_link_secret_load reads it from an
 * environment variable or a key file named by the campaign.
 * All functions are thread-safe; nothing here keeps global state. A struct
 * hd_linker (a prepared hd_link_build for one campaign, for making a link
 * per message) is used by one thread at a time: make one per thread.
 */
#ifndef HERALD_LINK_H
#define HERALD_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "herald/buf.h"
#include "herald/err.h"

#define HD_LINK_TOKEN_LEN 22
#define HD_LINK_SECRET_MAX 256
#define HD_LINK_SECRET_MIN 16

struct hd_link_secret {
    uint8_t bytes[HD_LINK_SECRET_MAX];
    size_t len;
};

/* Loads the secret: from the environment variable env_name when set and
 * non-empty, else from key_file (raw bytes, one trailing newline ignored).
 * Either name may be NULL. Fails with HD_EX_CONFIG when neither yields a
 * secret of at least HD_LINK_SECRET_MIN bytes; the message names the variable
 * or file, never the secret. */
int hd_link_secret_load(struct hd_link_secret *out, const char *env_name, const char *key_file,
                        struct hd_err *err);

/* Checks a URL template: absolute http(s) URL, {{token}} and {{person}}
 * present once each, only known placeholders. Returns 0 or -1 with err set
 * (HD_EX_DATAERR, message without location). */
int hd_link_template_check(const char *tmpl, struct hd_err *err);

/* Writes the 22-character token plus NUL into out. */
void hd_link_token(const struct hd_link_secret *secret, const char *campaign_id,
                   const char *person_id, char out[HD_LINK_TOKEN_LEN + 1]);

/* Appends the personal URL to out. Returns 0 or -1 (out of memory). */
int hd_link_build(const struct hd_link_secret *secret, const char *tmpl, const char *campaign_id,
                  const char *person_id, struct hd_buf *out);

/* A prepared link builder: the template split once and the secret keyed
 * once (its HMAC pads and the MAC input up to the person id absorbed).
 * Ownership: the linker copies what it needs and borrows nothing, so secret,
 * tmpl and campaign_id may be freed or wiped after hd_linker_new; it holds
 * key-derived state that can make tokens, wiped by hd_linker_free.
 * Thread-safety: one thread at a time per linker (make one per thread). */
struct hd_linker;

/* Splits tmpl once (refuses a template hd_link_template_check refuses, err
 * set as it sets it) and keys the secret once. Returns NULL with err set:
 * HD_EX_DATAERR for a bad template, HD_EX_SOFTWARE when out of memory or
 * secret / campaign_id is NULL. */
struct hd_linker *hd_linker_new(const struct hd_link_secret *secret, const char *tmpl,
                                const char *campaign_id, struct hd_err *err);

/* Appends the person's objection URL to out: byte for byte what
 * hd_link_build makes for the same secret, template, campaign and person.
 * person_id is len bytes, not necessarily NUL-terminated, and must not
 * contain a NUL byte (ids never do: the audience refuses control
 * characters). Returns 0, or -1 (out of memory, out unchanged). */
int hd_linker_build(struct hd_linker *l, const char *person_id, size_t len, struct hd_buf *out);

/* Wipes and frees l. NULL is a no-op. */
void hd_linker_free(struct hd_linker *l);

/* Verifies url against the template: extracts person (and campaign when the
 * template has it, which must then equal campaign_id), recomputes the token
 * and compares in constant time. Returns true only for an authentic link.
 * When person_out is not NULL, the decoded person id is copied there
 * (truncated to cap) on success. */
bool hd_link_verify(const struct hd_link_secret *secret, const char *tmpl, const char *campaign_id,
                    const char *url, char *person_out, size_t cap);

#endif
