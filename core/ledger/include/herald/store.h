/* herald/store.h - the LMDB state store of one campaign (or one partition).
 *
 * One LMDB environment per campaign in its own directory (mode 0700), with
 * these named databases; every integer in a key is big-endian so LMDB's
 * byte order is numeric order, and docs/state-store.md is the reference:
 *
 *   meta        "format", "campaign_id", "fingerprint", "plan_state", ... -> bytes
 *   snapshot    "campaign" | "locale/<tag>" -> exact file bytes
 *   shards      u16 shard -> struct hd_shard_rec (country, language, wave)
 *   persons     u16 shard . u64 row -> person record (hd_person_rec)
 *   deliveries  u16 shard . u64 row . u8 channel -> delivery record
 *   exclusions  u64 row -> exclusion record (hd_exclusion_rec)
 *   ids         u64 id hash . u64 row -> u16 shard (lookup by person id)
 *   counters    u16 shard . u8 kind . u8 state -> u64 (native order)
 *               (state HD_CK_DEFERRED: pending, deferred by the send window)
 *   due         u64 due time (unix ms) . delivery key -> "" (deferred and
 *               retrying deliveries, in the order they fall due)
 *   audit       u64 sequence -> JSON (who paused, retried, ... and why)
 *   proofs      u64 leaf index -> one canonical JSON proof record (the exact
 *               bytes of a line of an exported records.jsonl, no newline)
 *
 * Keys put shard before row so the planner's inserts land at one append
 * point per shard (near-sequential, which LMDB writes ~20x faster than
 * random keys) and the dispatcher walks a shard as one cursor range.
 *
 * Thread-safety: an hd_store may be shared by threads under LMDB's rules
 * (one write transaction at a time; read transactions per thread, opened
 * with MDB_NOTLS). Errors: functions return 0 or -1 with err set;
 * MDB_MAP_FULL and ENOSPC map to HD_EX_IOERR with a message saying so.
 */
#ifndef HERALD_STORE_H
#define HERALD_STORE_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "herald/buf.h"
#include "herald/err.h"

#define HD_STORE_FORMAT "herald-state/1"

enum hd_store_flags {
    HD_STORE_CREATE = 1u << 0, /* create the directory and databases */
    HD_STORE_RDONLY = 1u << 1,
    HD_STORE_BULK = 1u << 2, /* no fsync per commit; caller calls hd_store_sync */
};

struct hd_store {
    MDB_env *env;
    MDB_dbi meta, snapshot, shards, persons, deliveries, exclusions, ids, counters, due, audit;
    MDB_dbi proofs; /* u64 leaf index (BE) -> proof record line (docs/proofs.md) */
    char *dir;
    void *map; /* where LMDB mapped data.mdb, found on first hd_store_drop_mapped */
    int dirfd; /* the state directory, checked as ours (open files in it with openat) */
};

/* Delivery states. */
enum hd_dstate {
    HD_DS_PENDING,
    HD_DS_INFLIGHT,
    HD_DS_SENT,
    HD_DS_RETRY,
    HD_DS_FAILED,
    HD_DS_HELD,
    HD_DS_COUNT
};

/* Why a person cannot be reached on a channel (no delivery is made). */
enum hd_chskip {
    HD_CHSKIP_NONE,        /* a delivery exists */
    HD_CHSKIP_NO_ADDRESS,  /* no email / no push token */
    HD_CHSKIP_UNSUPPORTED, /* an address the channel cannot carry (non-ASCII local part) */
};

/* Plan-time exclusion reasons. */
enum hd_reason {
    HD_R_OUT_OF_REGION,
    HD_R_MINOR,
    HD_R_ALREADY_OBJECTED,
    HD_R_NO_CHANNEL,
    HD_R_DUPLICATE_ID,
    HD_R_INVALID_ROW,
    HD_R_COUNT
};

extern const char *const hd_reason_names[HD_R_COUNT];  /* "out_of_region", ... */
extern const char *const hd_dstate_names[HD_DS_COUNT]; /* "pending", ... */
extern const char *const hd_chskip_names[3];           /* "", "no_address", "unsupported_address" */

/* Counter keys: kind is a channel index (0..HD_MAX_CHANNELS-1) with state an
 * enum hd_dstate, or 16 + enum hd_chskip for channels a person cannot use,
 * or HD_CK_DEFERRED; HD_CK_PERSONS with HD_CK_ELIGIBLE / HD_CK_VARIANT; and
 * shard HD_SHARD_NONE with kind HD_CK_EXCLUDED and state an enum hd_reason. */
#define HD_CK_SKIP_BASE 16
/* With a channel index: the pending deliveries deferred by the send window
 * (pending with a next-attempt time and a due entry). Not a state: they are
 * also counted in HD_DS_PENDING. Absent (0) in stores made before it. */
#define HD_CK_DEFERRED 0x20
#define HD_CK_PERSONS 0xFE
#define HD_CK_ELIGIBLE 0
#define HD_CK_VARIANT 1 /* eligible, already objected, sent the variant text */
#define HD_CK_EXCLUDED 0xFF
#define HD_SHARD_NONE 0xFFFF
#define HD_MAX_SHARDS 0xFFFE

struct hd_counter_key {
    uint8_t b[4];
};
static inline struct hd_counter_key hd_counter_key(uint16_t shard, uint8_t kind, uint8_t state)
{
    struct hd_counter_key k = {{(uint8_t)(shard >> 8), (uint8_t)shard, kind, state}};
    return k;
}

/* Shard record: country, canonical language tag actually used, and wave
 * index (0xFFFF when no wave reaches it). */
struct hd_shard_rec {
    char country[3];
    char language[16];
    uint16_t wave;
};

/* Person record. Strings point into the encoded bytes when decoded. */
struct hd_person_rec {
    uint64_t row, line;
    const char *id, *email, *push_token, *language_asked, *time_zone, *name;
    uint16_t id_len, email_len, push_token_len, language_asked_len, time_zone_len, name_len;
    char country[3];
    char language[16];   /* the language used */
    uint8_t lang_source; /* enum hd_lang_source */
    uint8_t variant;     /* 1 when already objected and sent the variant text */
    int16_t age;         /* -1 unknown */
    uint8_t nchannels;
    uint8_t chskip[8]; /* enum hd_chskip per campaign channel index */
};

/* Exclusion record. */
struct hd_exclusion_rec {
    uint64_t row, line;
    uint8_t reason;  /* enum hd_reason */
    uint8_t field;   /* enum hd_field, HD_F_COUNT for the whole row */
    char country[3]; /* "" when unknown */
    const char *id, *why;
    uint16_t id_len, why_len;
};

/* Delivery flags. */
#define HD_DF_UNCERTAIN 0x1 /* was in flight when a run died: re-sent, may exist twice */
#define HD_DF_VARIANT 0x2   /* the variant text (already objected) */

/* Delivery record. Strings point into the encoded bytes when decoded and
 * are not NUL-terminated. */
struct hd_delivery_rec {
    uint8_t state; /* enum hd_dstate */
    uint8_t attempts;
    uint16_t flags;           /* HD_DF_* */
    uint16_t code;            /* last remote status (SMTP/HTTP), 0 if none */
    int64_t next_attempt_ms;  /* unix ms when deferred or retrying, else 0 */
    int64_t first_attempt_ms; /* 0 before the first attempt; dates the message */
    int64_t last_change_ms;   /* when the state last changed (acceptance time when sent) */
    uint8_t sha256[32];       /* of the exact bytes handed to the channel; zero before */
    const char *event, *provider_id, *response;
    uint16_t event_len, provider_id_len, response_len;
};
#define HD_RESPONSE_MAX 512 /* a service's reply is kept up to this many bytes */

/* Opens the store in dir (HD_STORE_CREATE: making dir, mode 0700, and the
 * store). The directory must belong to the effective user and not be
 * writable by group or others; data.mdb and lock.mdb must be regular files
 * of ours with one link and mode 0600 or stricter, and are never followed
 * as links (docs/state-store.md, "Trust"). Errors:
 *   HD_EX_CANTCREAT dir cannot be created, is not a directory, is not
 *                   writable (with HD_STORE_CREATE), or its path is longer
 *                   than 4095 bytes (checked before anything is created);
 *   HD_EX_NOINPUT   no store there (without HD_STORE_CREATE);
 *   HD_EX_CONFIG    a trust check failed (the message says what to run);
 *   others as hd_store_fail. */
int hd_store_open(struct hd_store **out, const char *dir, unsigned flags, struct hd_err *err);
/* Closes and frees; NULL is a no-op. */
void hd_store_close(struct hd_store *s);
/* Releases the process's mappings of the store's pages (they stay cached by
 * the kernel). A bulk load reads each page once; without this, every page
 * it ever touched would count in its resident set. Safe at any time: the
 * map stays valid and pages fault back in on access. */
void hd_store_drop_mapped(struct hd_store *s);

/* Forces buffered writes to disk (after HD_STORE_BULK work). */
int hd_store_sync(struct hd_store *s, struct hd_err *err);
/* Maps an LMDB error of an operation named what into err. Returns -1. */
int hd_store_fail(struct hd_err *err, int rc, const char *what);

/* Transactions with errors mapped into err. */
int hd_store_begin(struct hd_store *s, bool write, MDB_txn **txn, struct hd_err *err);
int hd_store_commit(MDB_txn *txn, struct hd_err *err);

/* meta helpers: a missing key is not an error for get (returns 0 with
 * *found false). Values are copied into out. */
int hd_store_meta_get(MDB_txn *txn, const struct hd_store *s, const char *key, struct hd_buf *out,
                      bool *found, struct hd_err *err);
int hd_store_meta_put(MDB_txn *txn, const struct hd_store *s, const char *key, const void *val,
                      size_t len, struct hd_err *err);

/* Adds delta to a counter in txn. */
int hd_store_counter_add(MDB_txn *txn, const struct hd_store *s, struct hd_counter_key key,
                         int64_t delta, struct hd_err *err);
/* Like hd_store_counter_add, but the counter stops at 0 instead of
 * wrapping: for a counter a store may lack for records made before it
 * existed (HD_CK_DEFERRED). */
int hd_store_counter_add_floor(MDB_txn *txn, const struct hd_store *s, struct hd_counter_key key,
                               int64_t delta, struct hd_err *err);
uint64_t hd_store_counter_get(MDB_txn *txn, const struct hd_store *s, struct hd_counter_key key);

/* Empties every plan database, the snapshot and the proofs (for --replan). */
int hd_store_clear_plan(MDB_txn *txn, const struct hd_store *s, struct hd_err *err);

/* Record codecs. Encoders append to out and return 0 or -1 (no memory);
 * decoders return 0 or -1 when the bytes are not a record of that kind. */
int hd_person_rec_encode(const struct hd_person_rec *p, struct hd_buf *out);
int hd_person_rec_decode(const void *data, size_t len, struct hd_person_rec *p);
int hd_exclusion_rec_encode(const struct hd_exclusion_rec *x, struct hd_buf *out);
int hd_exclusion_rec_decode(const void *data, size_t len, struct hd_exclusion_rec *x);
int hd_delivery_rec_encode(const struct hd_delivery_rec *d, struct hd_buf *out);
int hd_delivery_rec_decode(const void *data, size_t len, struct hd_delivery_rec *d);

/* Key builders (big-endian). */
void hd_key_person(uint8_t out[10], uint16_t shard, uint64_t row);
void hd_key_delivery(uint8_t out[11], uint16_t shard, uint64_t row, uint8_t channel);
void hd_key_u64(uint8_t out[8], uint64_t v);
void hd_key_due(uint8_t out[19], int64_t due_ms, const uint8_t delivery_key[11]);
uint64_t hd_get_u64(const uint8_t *p);

/* Appends a JSON object (caller's text) to the audit log in txn. */
int hd_store_audit(MDB_txn *txn, const struct hd_store *s, const char *json, struct hd_err *err);
uint16_t hd_get_u16(const uint8_t *p);

/* The stable 64-bit hash of a person id: FNV-1a 64 finished with the
 * SplitMix64 mixer. Used for the id index and, later, partitioning
 * (partition = hash % N); docs/state-store.md specifies it. */
uint64_t hd_person_hash(const char *id, size_t len);

#endif
