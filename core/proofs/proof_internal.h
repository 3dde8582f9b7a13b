/* core/proofs/proof_internal.h - private to the delivery proofs (core/proofs/proof_*.c):
 * what their files share. The public interface is herald/proof.h; nothing
 * outside core/proofs/proof_*.c includes this file. Every name declared here
 * starts with hdp_ (HDP_ for macros), so a reader can tell it from the
 * public hd_ names.
 *
 * The files, each one concern (docs/proofs.md is the reference for every
 * format they read or write):
 *   proof_util.c      hex and base64 text, whole-file reads and writes, the clock
 *   proof_format.c    canonical JSON out, and a record's line (hd_proof_format)
 *   proof_parse.c     the strict record parser, hd_proof_unescape, records as CSV
 *   proof_record.c    pseudonyms and the recorder: records into the state store
 *   proof_sign.c      Ed25519 signing keys, C2SP signed notes, checkpoints
 *   proof_pipeline.c  record lines read and leaf-hashed on two threads
 *   proof_check.c     records checked one by one, and the summary they add up to
 *   proof_export.c    hd_proofs_export: a bundle out of the state store
 *   proof_verify.c    hd_proofs_verify: a bundle checked
 */
#ifndef HERALD_PROOF_INTERNAL_H
#define HERALD_PROOF_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "herald/clock.h"
#include "herald/hash.h"
#include "herald/proof.h"

/* ---- proof_util.c ---------------------------------------------------------------------------- */

/* The value of a lowercase hex digit, or -1. */
int hdp_hexval(char c);

/* Writes data to path with mode through a new temporary file (fsync'd),
 * renamed into place (force) or linked there (fails if path exists): a
 * link at path is never followed (hd_out_write). Returns 0, or -1 with err
 * (HD_EX_CANTCREAT, HD_EX_IOERR). */
int hdp_write_new(const char *path, const void *data, size_t len, mode_t mode, bool force,
                  struct hd_err *err);

/* Big files (records.jsonl, records.csv) are handed to writeback in chunks
 * of HDP_WRITEBACK_CHUNK bytes: hdp_writeback(fd, bytes written so far,
 * &bytes handed over) starts the writeback of each full chunk, waits for
 * the one before and drops it from the page cache. */
#define HDP_WRITEBACK_CHUNK (32u << 20)
void hdp_writeback(int fd, uint64_t written, uint64_t *flushed);

/* ---- proof_format.c: canonical JSON out ------------------------------------------------------ */

/* True when s[0..n) needs no escape (printable ASCII, no '"' or '\\'). */
bool hdp_json_plain(const char *s, size_t n);
/* Writes str[0..n) as a canonical JSON string, quotes included, at p (room
 * for 6 bytes per input byte plus 2); returns the end. */
char *hdp_json_str(char *p, const char *str, size_t n);
/* Writes v in decimal at p (up to 20 bytes); returns the end. */
char *hdp_put_uint(char *p, uint64_t v);
/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 bytes, UTC) at p; returns the end. */
char *hdp_put_ts(char *p, int64_t ms);
bool hdp_all_zero(const uint8_t *b, size_t n);

/* ---- proof_parse.c --------------------------------------------------------------------------- */

/* True when the slice is present and holds exactly the C string c. */
bool hdp_slice_eq(struct hd_proof_slice s, const char *c);

/* ---- proof_sign.c ---------------------------------------------------------------------------- */

/* A C2SP key name: 1-100 printable ASCII characters, no space, no '+'. */
bool hdp_key_name_ok(const char *n);
/* The C2SP verifier key line "<name>+<key hash hex>+<base64(0x01 || raw)>\n". */
void hdp_vkey_line(const char *name, const uint8_t raw[32], char *out, size_t cap);
/* The Ed25519 private key (PEM) at path, refused when group or others can
 * read it. NULL with err (HD_EX_NOINPUT, HD_EX_CONFIG). */
EVP_PKEY *hdp_load_signing_key(const char *path, struct hd_err *err);
/* Appends to out the checkpoint of a bundle, signed by pk as name: origin,
 * size, the base64 root and the "herald-manifest sha256:<hex>" line over
 * the SHA-256 of manifest.json, as hd_checkpoint_verify reads it back. */
int hdp_checkpoint_sign(EVP_PKEY *pk, const char *name, const char *origin, uint64_t size,
                        const uint8_t root[32], const uint8_t manifest_sha256[32],
                        struct hd_buf *out, struct hd_err *err);

/* ---- proof_pipeline.c: reading record lines -------------------------------------------------- */

/* Called for each line (no newline) in order, with its index and leaf
 * hash; non-zero stops the reading and is returned. */
typedef int (*hdp_line_fn)(void *ctx, uint64_t index, const char *line, size_t len,
                           const uint8_t leaf[32]);

#define HDP_BATCH_BYTES (4u << 20) /* what a source puts in a batch, about */

/* A batch of lines, filled by a source on the producer's thread. */
struct hdp_batch {
    char *buf; /* the lines, each followed by '\n' */
    size_t len, cap;
    size_t *off; /* n + 1 offsets: line k is buf[off[k] .. off[k+1] - 1) */
    uint8_t (*leaf)[32];
    size_t n, cap_lines;
    size_t hashed;  /* lines 0 .. hashed-1 were hashed by the producer */
    uint64_t first; /* index of line 0 */
    bool last;
};

#define HDP_NBATCH 3 /* batches circulating */

/* The caller zeroes it and sets fill, after (optional), src, tree and
 * early_pct; hdp_pipeline_run does the rest. */
struct hdp_pipeline {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct hdp_batch b[HDP_NBATCH];
    bool full[HDP_NBATCH];
    bool stop;         /* the consumer gave up */
    bool failed;       /* the producer failed: err says why */
    struct hd_err err; /* the producer's */
    /* The source: fill puts lines in b (off[0..n], last at the end), after
     * (optional) then sees them hashed; both on the producer's thread, 0 or
     * -1 with p->err. */
    int (*fill)(struct hdp_pipeline *p, struct hdp_batch *b);
    int (*after)(struct hdp_pipeline *p, struct hdp_batch *b);
    void *src;
    struct hd_merkle_hasher h;
    uint64_t next;              /* index of the next line */
    bool tree;                  /* also build the Merkle tree */
    unsigned early_pct;         /* share of each batch's lines the producer hashes; the
                                   consumer hashes the rest (and then builds the tree) */
    struct hd_merkle_hasher ch; /* the consumer's */
    struct hd_merkle_stream ms;
    uint8_t root[32]; /* when tree, after a successful run */
};

/* Makes room in b for bytes bytes and lines lines (plus the last offset). */
int hdp_batch_reserve(struct hdp_batch *b, size_t bytes, size_t lines);
/* Runs the producer p->fill and calls fn for every line, in order, on the
 * caller's thread. Returns 0, fn's non-zero, or -1 with err set. */
int hdp_pipeline_run(struct hdp_pipeline *p, hdp_line_fn fn, void *ctx, struct hd_err *err);
/* Every line of the file at path to fn; root (when not NULL) gets the
 * Merkle root of the lines. */
int hdp_each_record(const char *path, hdp_line_fn fn, void *ctx, uint8_t *root, struct hd_err *err);

/* ---- proof_check.c: checking records one by one (export and verify) -------------------------- */

/* Counts per key (a tuple of fields joined by 0x01, which sorts below every
 * character a field may hold, so byte order is tuple order). */
struct hdp_agg {
    char **keys;
    uint64_t *count, *extra;
    size_t n, cap;
    uint32_t *slots; /* index + 1; 0 empty */
    size_t nslots;
};

struct hdp_summary {
    struct hdp_agg deliv, excl, state, reason, key_ids;
    uint64_t records, deliveries, exclusions;
};

/* summary.json of the records counted in s (pretty, keys sorted, one
 * trailing newline; the caller frees it), or NULL (no memory). */
char *hdp_summary_text(const struct hdp_summary *s, const char *campaign);
/* The records' pseudonym key ids, sorted, as a JSON array. */
json_t *hdp_summary_key_ids(const struct hdp_summary *s);

/* The state of a check: hdp_rcheck_init, then the caller sets the csv
 * fields it needs, hdp_rcheck_line on every line (an hdp_line_fn),
 * hdp_rcheck_finish, hdp_rcheck_free. */
struct hdp_rcheck {
    uint64_t count; /* lines checked */
    uint8_t prev_leaf[32];
    char campaign[128], snapshot[65];
    struct hdp_summary sum;
    bool csv;
    struct hd_buf csv_line;
    /* verify: the records.csv being compared; export: where it goes */
    FILE *csv_in, *csv_out;
    uint64_t csv_written, csv_flushed;
    EVP_MD_CTX *csv_md;
    bool broken;          /* the last line's prev did not link to the line before */
    uint64_t broken_line; /* that line (1-based) */
    const char *file;     /* "records.jsonl" or "state store proof" */
    struct hd_err *err;
};

void hdp_rcheck_init(struct hdp_rcheck *c, const char *file, struct hd_err *err);
void hdp_rcheck_free(struct hdp_rcheck *c);
/* Checks one line (form, seq, the prev chain, one campaign and snapshot),
 * counts it, and writes or compares its CSV row. 0, or -1 with c->err. */
int hdp_rcheck_line(void *ctx, uint64_t index, const char *line, size_t len,
                    const uint8_t leaf[32]);
/* After the last line: 0, or -1 with c->err for a broken link at the end. */
int hdp_rcheck_finish(struct hdp_rcheck *c);

#endif
