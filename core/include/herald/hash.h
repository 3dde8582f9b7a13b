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

#define HD_SHA256_LEN 32

/* An incremental SHA-256 state. Opaque: it holds OpenSSL's SHA256_CTX (112
 * bytes on every platform OpenSSL supports; core/hash.c checks the size), so
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
