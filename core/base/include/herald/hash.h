/* herald/hash.h - SHA-256 and HMAC-SHA256 for small inputs, without
 * allocation.
 *
 * One implementation for the whole program: link tokens (herald/link.h),
 * proof pseudonyms (herald/proof.h), message keys and MIME boundaries hash a
 * few dozen bytes per message, where OpenSSL's EVP layer costs more than the
 * hashing itself (a fetch, a provider dispatch, an allocation per context
 * copy). Here a hash state is a plain struct: it lives on the stack or inside
 * another struct, is copied by assignment, and no function can fail.
 *
 * HMAC (RFC 2104) with the key's pads absorbed once: hd_hmac_init hashes
 * key XOR ipad and key XOR opad into two states; each MAC then copies the
 * inner state (hd_hmac_begin), absorbs the message with hd_sha256_update, and
 * finishes through a copy of the outer state (hd_hmac_end):
 *
 *     struct hd_sha256 w;
 *     hd_hmac_begin(&key, &w);
 *     hd_sha256_update(&w, msg, len);
 *     hd_hmac_end(&key, &w, mac);
 *
 * hd_sha256_file and hd_sha256_fd hash a whole file (read in 64 KiB pieces
 * into a stack buffer) and report errors in a struct hd_err (herald/err.h).
 *
 * Ownership: nothing here allocates or keeps a pointer to its arguments; a
 * struct hd_hmac holds key-derived secrets (anyone who has it can make MACs),
 * so wipe it with hd_hmac_wipe when done. hd_hmac_end wipes the work state.
 *
 * Thread-safety: no global state. A struct hd_sha256 is used by one thread at
 * a time; an initialised struct hd_hmac is only read by hd_hmac_begin and
 * hd_hmac_end, so any number of threads may share one (each with its own work
 * state).
 */
#ifndef HERALD_HASH_H
#define HERALD_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "herald/err.h"

#define HD_SHA256_LEN 32

/* An incremental SHA-256 state. Opaque: it holds OpenSSL's SHA256_CTX (112
 * bytes on every platform OpenSSL supports; core/base/hash.c checks the size), so
 * users need no OpenSSL headers. Copyable by assignment. */
struct hd_sha256 {
    _Alignas(8) unsigned char state[112];
};

/* Starts a hash. */
void hd_sha256_init(struct hd_sha256 *h);
/* Absorbs len bytes (data may be NULL when len is 0). */
void hd_sha256_update(struct hd_sha256 *h, const void *data, size_t len);
/* Writes the digest. h must be initialised again (or assigned) before reuse. */
void hd_sha256_final(struct hd_sha256 *h, uint8_t out[HD_SHA256_LEN]);
/* SHA-256 of data in one call. */
void hd_sha256(const void *data, size_t len, uint8_t out[HD_SHA256_LEN]);

/* Writes n bytes as 2n lowercase hex digits and a NUL (out has 2n + 1
 * bytes): how digests, keys and MACs are shown everywhere. */
void hd_hex(const void *bytes, size_t n, char *out);

/* FNV-1a 64 of n bytes: a fast hash for tables (YAML keys, metric series,
 * the person hash's first step). Not for anything an attacker could profit
 * from colliding. */
uint64_t hd_fnv1a64(const void *data, size_t n);

/* SHA-256 of the file at path, as 64 lowercase hex digits and a NUL in hex;
 * its size in bytes in *size unless size is NULL. Returns 0, or -1 with err
 * set (hex and *size untouched): the file is opened with hd_input_open
 * (herald/files.h, kind HD_IN_RECORDS: no size limit), whose errors it
 * gives (HD_EX_NOINPUT "cannot open file PATH: REASON", and for a FIFO,
 * device, directory or procfs file), or HD_EX_IOERR "PATH: read error:
 * REASON" (from hd_sha256_fd). */
int hd_sha256_file(const char *path, char hex[2 * HD_SHA256_LEN + 1], uint64_t *size,
                   struct hd_err *err);
/* The same for an open descriptor: hashes what fd reads from its current
 * offset to the end of the file (restarting reads that EINTR interrupts);
 * fd stays open, the caller closes it. name is the file's name in messages.
 * Returns 0, or -1 with err set to HD_EX_IOERR "NAME: read error: REASON". */
int hd_sha256_fd(int fd, const char *name, char hex[2 * HD_SHA256_LEN + 1], uint64_t *size,
                 struct hd_err *err);

/* An HMAC-SHA256 key with its pads absorbed once. */
struct hd_hmac {
    struct hd_sha256 inner, outer;
};

/* Prepares k from key (any length; longer than 64 bytes is hashed first, as
 * RFC 2104 says). key may be NULL when len is 0. */
void hd_hmac_init(struct hd_hmac *k, const void *key, size_t len);
/* Sets *work to the inner state: feed the message to it with
 * hd_sha256_update. */
void hd_hmac_begin(const struct hd_hmac *k, struct hd_sha256 *work);
/* Finishes the MAC of what work absorbed since hd_hmac_begin and writes it to
 * out; work is wiped (begin again to reuse it). */
void hd_hmac_end(const struct hd_hmac *k, struct hd_sha256 *work, uint8_t out[HD_SHA256_LEN]);
/* Erases k (OPENSSL_cleanse, which the compiler cannot drop). */
void hd_hmac_wipe(struct hd_hmac *k);

#endif
