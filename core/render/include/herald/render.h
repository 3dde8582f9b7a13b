/* herald/render.h - turning one planned delivery into the exact bytes a
 * channel sends.
 *
 * Per delivery: the person's locale texts (the variant texts for people who
 * already objected), filled with the built-in variables (name, objection_url,
 * person_id, campaign_id, country, country_name, language) and the campaign's
 * vars (the locale's own value where its file sets one); then for email the MIME message
 * (herald/mime.h), for push the notice as canonical JSON (keys sorted, compact):
 *   {"body":..,"campaign_id":..,"language":..,"objection_url":..,
 *    "person_id":..,"title":..,"token":..}
 * and the SHA-256 of those bytes. The message id is deterministic per
 * campaign, person and channel (a re-send after a crash carries the same
 * one): hex(SHA-256("herald-msgid-v1" 0 campaign 0 person 0 channel))[0..32],
 * followed by "@" and the From domain for email; push uses the 32 hex digits
 * as its idempotency key. The same inputs (incl. date) always render the same
 * bytes.
 *
 * A renderer holds per-thread scratch buffers, a prepared objection link
 * builder (hd_linker) and the email channels' From addresses in ASCII form:
 * one per thread, not shared.
 */
#ifndef HERALD_RENDER_H
#define HERALD_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "herald/buf.h"
#include "herald/campaign.h"
#include "herald/err.h"
#include "herald/link.h"
#include "herald/store.h"

#define HD_MSGID_MAX 320

struct hd_rendered {
    struct hd_buf bytes;            /* what the channel sends */
    uint8_t sha256[32];             /* of bytes */
    char message_id[HD_MSGID_MAX];  /* email: "hex@domain"; push: "hex" */
    char recipient[4100];           /* email: address with ASCII domain; push: token (up to 4096) */
    const struct hd_locale *locale; /* the texts used */
    /* The person's objection URL as rendered into the texts (link_len
     * bytes, NUL-terminated), for the proof record. Borrowed from the
     * renderer: valid until its next hd_render or hd_renderer_free. */
    const char *link;
    size_t link_len;
};

struct hd_renderer;

/* campaign must outlive the renderer; the secret is copied (as key-derived
 * state, wiped by hd_renderer_free) and may be wiped after this returns.
 * Returns NULL on no memory (or for a link template hd_link_template_check
 * refuses, which a loaded campaign never has). */
struct hd_renderer *hd_renderer_new(const struct hd_campaign *c,
                                    const struct hd_link_secret *secret);
void hd_renderer_free(struct hd_renderer *r);

/* Renders person p for campaign channel index ch, dated date_s (the first
 * attempt's time, so a re-send is byte-identical). out->bytes is reset
 * first. Returns 0, or -1 with err set (HD_EX_DATAERR for a person whose
 * data cannot go into a header, a channel the person has no address for).
 * Messages name the field and the cause, never the person's id, address,
 * name or token: they end up in logs and in proof records. */
int hd_render(struct hd_renderer *r, const struct hd_person_rec *p, size_t ch, int64_t date_s,
              struct hd_rendered *out, struct hd_err *err);

/* The texts of the email hd_render rendered last with r, as filled in and
 * before MIME encoding (UTF-8, NUL-terminated): what `herald preview` shows
 * a reader. Borrowed from r: valid until its next hd_render or
 * hd_renderer_free; all three "" before any email was rendered. */
void hd_render_email_texts(const struct hd_renderer *r, const char **subject, const char **text,
                           const char **html);

/* The deterministic 32-hex-digit id (NUL-terminated, 33 bytes). */
void hd_render_message_key(const char *campaign_id, const char *person_id, size_t person_len,
                           const char *channel, char out[33]);

#define HD_JSON_BAD_UTF8 (-1)
#define HD_JSON_NOMEM (-2)

/* Appends s (len bytes) to out as a JSON string, quotes included, exactly as
 * jansson's json_dumps(JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
 * writes json_stringn(s, len): '"' '\\' \b \f \n \r \t escaped by name,
 * other C0 controls (and NUL) as \u00XX in upper-case hex, everything else
 * ('/', DEL, UTF-8) as is. The push notice is written with it. Returns 0,
 * HD_JSON_BAD_UTF8 when s is not valid UTF-8 (jansson refuses the same
 * strings: overlong forms, surrogates, code points past U+10FFFF, truncated
 * sequences) or HD_JSON_NOMEM; out's content is unchanged on failure. */
int hd_render_json_string(struct hd_buf *out, const char *s, size_t len);

#endif
