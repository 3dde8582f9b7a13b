/* herald/proof.h - delivery proofs: pseudonymous, tamper-evident records of
 * who was told what, when and how; bundles that can leave the company.
 *
 * Records. Every delivery that reaches a final state (sent, failed) and every
 * exclusion decided at plan time yields one record, written to the store's
 * `proofs` database in the same transaction as the state change. A record is
 * one line of canonical JSON (compact, keys sorted, ASCII only, the escapes
 * Python's json.dumps(..., sort_keys=True, separators=(",", ":")) makes),
 * stored as its exact bytes; its key, `seq`, is its leaf index, contiguous
 * from 0, and `prev` is the leaf hash of the record before it. People and
 * addresses appear only as HMAC-SHA256 under a pseudonym key kept outside
 * the store (docs/proofs.md lists every field and what it proves).
 *
 * Bundles. hd_proofs_export writes records.jsonl (the records, in seq
 * order), summary.json, manifest.json, VERIFY.md, signer.vkey, optionally
 * records.csv, and a checkpoint: a C2SP signed note over the RFC 9162
 * Merkle root of the records, signed with Ed25519. hd_proofs_verify checks
 * all of it and names the first bad record or file.
 *
 * Thread-safety: a struct hd_proofs is used by one thread (the store's
 * writer), except hd_proofs_prepare, which any number of threads may call at
 * once, also while the writer records. Other functions keep no global state.
 */
#ifndef HERALD_PROOF_H
#define HERALD_PROOF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "herald/buf.h"
#include "herald/campaign.h"
#include "herald/err.h"
#include "herald/link.h"
#include "herald/merkle.h"
#include "herald/store.h"

#define HD_PROOF_FORMAT "herald-proofs/1"
#define HD_PSEUDONYM_KEY_MIN 16
#define HD_PSEUDONYM_KEY_MAX 256
#define HD_PROOF_KEY_NAME_DEFAULT "herald-proofs"

/* ---- pseudonyms ------------------------------------------------------------ */

struct hd_pseudonym_key {
    uint8_t bytes[HD_PSEUDONYM_KEY_MAX];
    size_t len;
    char id[33]; /* key_id of the records */
};

/* Loads the pseudonym key from the environment variable env when set and
 * non-empty, else from key file (raw bytes, one trailing newline ignored,
 * mode 0600 or stricter). key_id NULL derives an id from the key
 * ("k-" + 12 hex digits of SHA-256("herald-key-id-v1" 0 key)). Fails with
 * HD_EX_CONFIG naming the variable or file, never the key. */
int hd_pseudonym_key_load(struct hd_pseudonym_key *k, const char *env, const char *file,
                          const char *key_id, struct hd_err *err);

/* Lowercase hex HMAC-SHA256 pseudonyms (65 bytes with the NUL):
 *   person_key  = HMAC(key, "herald-person-v1" 0 id)
 *   address_key = HMAC(key, "herald-address-v1" 0 type 0 address), type
 *                 "email" or "push", the address as in the audience
 *   link_hmac   = HMAC(key, "herald-link-v1" 0 objection URL) */
void hd_proof_person_key(const struct hd_pseudonym_key *k, const char *id, size_t len,
                         char out[65]);
void hd_proof_address_key(const struct hd_pseudonym_key *k, const char *type, const char *addr,
                          size_t len, char out[65]);
void hd_proof_link_hmac(const struct hd_pseudonym_key *k, const char *url, size_t len,
                        char out[65]);

/* ---- records ------------------------------------------------------------------- */

/* The fields of a record (strings need not be NUL-terminated when a length
 * is given; NULL or length 0 leaves an optional field out). */
struct hd_proof_fields {
    bool exclusion; /* kind: "exclusion", else "delivery" */
    uint64_t seq;
    const uint8_t *prev; /* 32 bytes: leaf hash of record seq-1; NULL for seq 0 */
    const char *campaign, *snapshot, *key_id;
    const char *person_key; /* 64 hex, or NULL */
    const char *country;    /* 2 letters, or NULL */
    const char *event;      /* sanitised to [A-Za-z0-9._/-], at most 64 bytes */
    int64_t last_change_ms;
    /* deliveries */
    const char *address_key, *channel, *language, *template_, *link_hmac;
    bool fallback, uncertain, sent; /* sent: state "sent", else "failed" */
    int64_t first_attempt_ms;       /* 0: none */
    unsigned attempts;
    const uint8_t *sha256; /* 32 bytes, or NULL when nothing was sent */
    bool push;             /* idempotency_key, else message_id */
    const char *message_id;
    unsigned code;
    const char *provider_id, *response;
    size_t provider_id_len, response_len;
    /* exclusions */
    const char *reason, *field; /* field: invalid_row only */
};

/* Appends the canonical line (no newline) to out. Returns 0 or -1 (no memory). */
int hd_proof_format(const struct hd_proof_fields *f, struct hd_buf *out);

/* A record parsed by hd_proof_parse: slices into the line. String slices
 * are the raw JSON text between the quotes (escapes not decoded; the fields
 * used for counting only hold [A-Za-z0-9._/-], which never needs one). */
enum hd_proof_field {
    HD_PF_ACCEPTED,
    HD_PF_ADDRESS_KEY,
    HD_PF_ATTEMPTS,
    HD_PF_CAMPAIGN,
    HD_PF_CHANNEL,
    HD_PF_COUNTRY,
    HD_PF_EVENT,
    HD_PF_FALLBACK,
    HD_PF_FIELD,
    HD_PF_FIRST_ATTEMPT,
    HD_PF_IDEMPOTENCY_KEY,
    HD_PF_KEY_ID,
    HD_PF_KIND,
    HD_PF_LANGUAGE,
    HD_PF_LAST_CHANGE,
    HD_PF_LINK_HMAC,
    HD_PF_MESSAGE_ID,
    HD_PF_PERSON_KEY,
    HD_PF_PREV,
    HD_PF_REASON,
    HD_PF_RESPONSE,
    HD_PF_SEQ,
    HD_PF_SHA256,
    HD_PF_SNAPSHOT,
    HD_PF_STATE,
    HD_PF_TEMPLATE,
    HD_PF_UNCERTAIN,
    HD_PF_RESPONSE_CODE, /* inside "response" */
    HD_PF_RESPONSE_PROVIDER_ID,
    HD_PF_RESPONSE_TEXT,
    HD_PF_COUNT
};
extern const char *const hd_proof_field_names[HD_PF_COUNT];

struct hd_proof_slice {
    const char *p;
    size_t n;
};

struct hd_proof_rec {
    struct hd_proof_slice f[HD_PF_COUNT]; /* p NULL: absent */
    uint64_t seq, attempts, code;
    bool exclusion, fallback, uncertain;
};

/* The largest integer a record holds (seq, attempts, code): 2^53-1, the
 * I-JSON limit (RFC 7493), which every JSON reader holds exactly. */
#define HD_PROOF_INT_MAX ((UINT64_C(1) << 53) - 1)

/* Parses one line (no newline) and checks its form: canonical JSON, only
 * known fields, the right types and formats, the fields a kind needs and
 * no others, consistent values (event, template, accepted). Returns 0, or
 * -1 with a reason in why ("field \"seq\": ...", "not canonical JSON: ..."). */
int hd_proof_parse(const char *line, size_t len, struct hd_proof_rec *r, char *why, size_t cap);

/* Appends the decoded value of a JSON string slice (UTF-8) to out. */
int hd_proof_unescape(struct hd_proof_slice s, struct hd_buf *out);

/* The CSV header line and one record's CSV line (RFC 4180, CRLF ends). */
extern const char hd_proof_csv_header[];
int hd_proof_csv_line(const struct hd_proof_rec *r, struct hd_buf *out);

/* ---- recording ---------------------------------------------------------------------- */

struct hd_proofs;

/* Opens the recorder of campaign c. *out is NULL (and 0 returned) when the
 * campaign turns proofs off (proofs.enabled: false, with a reason; on by
 * default). Loads the pseudonym key (HD_EX_CONFIG
 * when missing). link is the objection-link secret, needed for delivery
 * records (NULL when only exclusions are recorded). c and link must outlive
 * the recorder. */
int hd_proofs_open(struct hd_proofs **out, const struct hd_campaign *c,
                   const struct hd_link_secret *link, struct hd_err *err);
void hd_proofs_close(struct hd_proofs *p);

/* Records the final state r of the delivery at key (shard . row . channel)
 * in txn: reads the person, builds the objection URL and the message id as
 * the renderer does, then hd_proofs_prepare and hd_proofs_delivery_pre (the
 * one code path of every delivery record). For deliveries without a
 * prepared struct hd_proof_pre (render failures). Returns 0 or -1 with err
 * set. */
int hd_proofs_delivery(struct hd_proofs *p, MDB_txn *txn, const struct hd_store *s,
                       const uint8_t key[11], const struct hd_delivery_rec *r, struct hd_err *err);

/* Recording in two steps, to take the hashing off the writer thread: a
 * render thread, which has the person and the rendered message at hand,
 * makes everything a delivery record takes from the person and the channel
 * (person_key, address_key, link_hmac, the message id, country, language,
 * template, fallback, already in their canonical JSON form) with
 * hd_proofs_prepare; the writer adds the outcome, seq and prev with
 * hd_proofs_delivery_pre. The record is byte for byte the one
 * hd_proofs_delivery writes for the same person and outcome.
 *
 * A plain value: fixed size (1024 bytes), no pointers, copy it freely (a
 * queue, a slot); only its first offsetof(struct hd_proof_pre, text) +
 * end[6] bytes are ever read (about 400 for a typical person), so a copy of
 * those is enough. It is tied to the recorder that made it (the same
 * pseudonym key and campaign) and to its channel: hd_proofs_delivery_pre
 * refuses any other, and a zeroed one. It holds pseudonyms and short hashes
 * of the person's identifiers (to find them in the outcome's text), no
 * addresses or ids. */
#define HD_PROOF_PRE_TEXT 976
#define HD_PROOF_PII 4 /* person id, email address, its local part, push token */
struct hd_proof_pre {
    uint32_t tag; /* the recorder that made it; 0: not prepared */
    uint8_t ch;   /* campaign channel index */
    uint8_t reserved;
    uint16_t end[7]; /* where each of the 7 record fragments ends in text */
    /* What the writer must keep out of the free text of the outcome (the
     * module's event, provider id and reply text; a render failure's
     * reason): the length, folded first byte and 32-bit hash (ASCII case
     * folded) of each of the person's identifiers; length 0: none. Hashes,
     * not the strings: a collision only hides a few more bytes. */
    uint16_t pii_len[HD_PROOF_PII];
    uint8_t pii_first[HD_PROOF_PII];
    uint32_t pii_hash[HD_PROOF_PII];
    char text[HD_PROOF_PRE_TEXT];
};

/* Fills *out for person on campaign channel ch. url is the person's
 * objection URL exactly as rendered (url_len bytes; NULL when 0),
 * message_id the rendered Message-ID (email: "key@domain") or idempotency
 * key (push: "key"), NUL-terminated. Copies what it needs: nothing is kept
 * of person, url or message_id.
 * Thread-safe: p is only read (any number of threads, also while the writer
 * uses p). Returns 0, or -1 with err (HD_EX_SOFTWARE: an unknown channel, no
 * message id, or fields that do not fit, which no rendered message has). */
int hd_proofs_prepare(const struct hd_proofs *p, const struct hd_person_rec *person, uint8_t ch,
                      const char *url, size_t url_len, const char *message_id,
                      struct hd_proof_pre *out, struct hd_err *err);

/* Writer thread: records the final state r of the delivery at key in txn,
 * as hd_proofs_delivery does, from pre (made by hd_proofs_prepare on this p
 * for channel key[10]) and r: no person read, no HMAC, one SHA-256 (the
 * record's leaf hash, kept for the next record's prev). pre and r are only
 * read. The free text of r (event, provider_id, response) is recorded
 * scrubbed: every occurrence of the person's id, email address, its local
 * part or push token (ASCII case ignored, between non-alphanumerics) becomes
 * "[id]", "[address]", "[address]", "[token]"; any other word holding an '@'
 * becomes "[address]"; for event "render.failed" (Herald's own message,
 * which quotes values) every quoted excerpt becomes "[value]". The event
 * then keeps to [A-Za-z0-9._/-]. Returns 0, or -1 with err (HD_EX_SOFTWARE for a pre of another
 * recorder or channel; store errors as hd_store_fail maps them). */
int hd_proofs_delivery_pre(struct hd_proofs *p, MDB_txn *txn, const struct hd_store *s,
                           const uint8_t key[11], const struct hd_delivery_rec *r,
                           const struct hd_proof_pre *pre, struct hd_err *err);

/* Records every exclusion of the store, in row order, in *txn; calls
 * renew(ctx) (which commits and begins a new *txn) every 100,000 records. */
int hd_proofs_exclusions(struct hd_proofs *p, const struct hd_store *s, MDB_txn **txn,
                         int (*renew)(void *ctx), void *ctx, struct hd_err *err);

/* ---- signing keys and checkpoints ------------------------------------------------------ */

/* Writes PREFIX.key (Ed25519 private key, PKCS#8 PEM, mode 0600),
 * PREFIX.pub (SubjectPublicKeyInfo PEM) and PREFIX.vkey (the C2SP
 * verifier key "<name>+<key hash hex>+<base64(0x01 || public key)>").
 * Refuses to overwrite unless force. */
int hd_proof_keygen(const char *prefix, const char *name, bool force, struct hd_err *err);

/* A public key for checking signatures: a PEM public key or a vkey line. */
struct hd_proof_pubkey {
    uint8_t raw[32];
    char name[128]; /* from a vkey; "" for a PEM key */
};
int hd_proof_pubkey_load(const char *path, struct hd_proof_pubkey *k, struct hd_err *err);
/* The C2SP key hash: SHA-256(name || 0x0A || 0x01 || raw)[0..3]. */
void hd_proof_key_hash(const char *name, const uint8_t raw[32], uint8_t out[4]);

/* C2SP signed notes. hd_note_verify checks that one signature of the note
 * is by key (its name matched when key->name is set) and gives the length of
 * the signed text and the signer's name; -1 with err (HD_EX_FAIL) naming the
 * problem. hd_note_sign_seed appends text, a blank line and the signature
 * line by the Ed25519 key with that 32-byte seed (text ends in a newline). */
int hd_note_verify(const char *note, size_t len, const struct hd_proof_pubkey *key,
                   size_t *text_len, char signer[128], struct hd_err *err);
int hd_note_sign_seed(const uint8_t seed[32], const char *name, const char *text, size_t len,
                      struct hd_buf *out, struct hd_err *err);

/* A checkpoint is a few hundred bytes; one larger than this is not one. */
#define HD_CHECKPOINT_MAX (64u << 10)

struct hd_checkpoint {
    char origin[160];
    uint64_t size;
    uint8_t root[32];
    uint8_t manifest_sha256[32]; /* the "herald-manifest sha256:<hex>" extension line */
    bool has_manifest;
    char signer[128]; /* name on the signature that verified */
};

/* Parses a signed note checkpoint and checks that one of its signatures is
 * by key (name matched when key->name is set, else any name whose key hash
 * matches). Returns 0, or -1 with err (HD_EX_FAIL) saying what is wrong,
 * also for text longer than HD_CHECKPOINT_MAX. */
int hd_checkpoint_verify(const char *text, size_t len, const struct hd_proof_pubkey *key,
                         struct hd_checkpoint *cp, struct hd_err *err);

/* ---- bundles ----------------------------------------------------------------------------- */

struct hd_proof_export_opts {
    const char *out_dir;
    bool csv;
    const char *key_path; /* Ed25519 private key (PEM) */
    const char *key_name; /* NULL: from KEY's sibling .vkey, else HD_PROOF_KEY_NAME_DEFAULT */
    const char *tool;     /* "herald 0.1.0" */
};

struct hd_proof_export_result {
    uint64_t records;
    uint8_t root[32];
    char origin[160];
};

/* Exports the proofs of the store s (one read transaction: a consistent
 * snapshot while a run goes on). */
int hd_proofs_export(struct hd_store *s, const struct hd_proof_export_opts *o,
                     struct hd_proof_export_result *res, struct hd_err *err);

struct hd_proof_verify_result {
    uint64_t records;
    uint8_t root[32];
    char signer[128];
    bool own_key; /* checked against the bundle's signer.vkey (no --pubkey) */
};

/* Verifies a bundle directory. Returns 0 when everything holds; -1 with err
 * (HD_EX_FAIL: the bundle is not valid, the message names the first bad
 * file or record line; other codes: could not check). pubkey NULL checks
 * the signature against the bundle's own signer.vkey. */
int hd_proofs_verify(const char *bundle, const char *pubkey, struct hd_proof_verify_result *res,
                     struct hd_err *err);

/* Reads a bundle's records.jsonl and calls fn for each line (no newline)
 * with its index and leaf hash. Returns 0, -1 with err, or fn's non-zero. */
int hd_proofs_each_record(const char *path,
                          int (*fn)(void *ctx, uint64_t index, const char *line, size_t len,
                                    const uint8_t leaf[32]),
                          void *ctx, struct hd_err *err);

/* Base64 (standard, padded) and hex helpers shared with the commands (hex
 * out: hd_hex in herald/hash.h). */
int hd_proof_unhex(const char *s, size_t n, uint8_t *out);
size_t hd_proof_base64(const uint8_t *b, size_t n, char *out); /* out: 4*ceil(n/3)+1 */
int hd_proof_unbase64(const char *s, size_t n, uint8_t *out, size_t cap, size_t *outlen);

#endif
