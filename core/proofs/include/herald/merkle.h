/* herald/merkle.h - Merkle trees as RFC 9162 (Certificate Transparency 2.0)
 * defines them, with SHA-256:
 *
 *   MTH({})        = SHA-256("")
 *   leaf hash      = SHA-256(0x00 || leaf bytes)
 *   node hash      = SHA-256(0x01 || left || right)
 *   MTH(D[n]), n>1 = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of
 *                    two smaller than n
 *
 * plus inclusion proofs (RFC 9162 2.1.3) and consistency proofs (2.1.4),
 * made and verified.
 *
 * A stream (hd_merkle_stream) computes the root of any number of leaves in
 * constant memory: it keeps one hash per set bit of the leaf count (at most
 * 64). Proofs are made from a leaf source (a callback that returns the leaf
 * hash at an index), in O(n) time and O(log n) memory.
 *
 * A hasher owns OpenSSL state and is used by one thread at a time.
 */
#ifndef HERALD_MERKLE_H
#define HERALD_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HD_MERKLE_HASH_LEN 32
#define HD_MERKLE_MAX_PROOF 64 /* hashes in any proof of a tree of < 2^64 leaves */

struct hd_merkle_hasher {
    void *ctx; /* EVP_MD_CTX */
    void *md;  /* EVP_MD (SHA-256) */
};

/* Returns 0, or -1 when OpenSSL cannot provide SHA-256 (no memory). */
int hd_merkle_hasher_init(struct hd_merkle_hasher *h);
void hd_merkle_hasher_free(struct hd_merkle_hasher *h);

void hd_merkle_leaf_hash(struct hd_merkle_hasher *h, const void *data, size_t len,
                         uint8_t out[HD_MERKLE_HASH_LEN]);
void hd_merkle_node_hash(struct hd_merkle_hasher *h, const uint8_t left[HD_MERKLE_HASH_LEN],
                         const uint8_t right[HD_MERKLE_HASH_LEN], uint8_t out[HD_MERKLE_HASH_LEN]);
/* Plain SHA-256 of data. */
void hd_merkle_sha256(struct hd_merkle_hasher *h, const void *data, size_t len,
                      uint8_t out[HD_MERKLE_HASH_LEN]);

/* The root of a growing list of leaves, in constant memory. */
struct hd_merkle_stream {
    struct hd_merkle_hasher *h;
    uint64_t size;  /* leaves added */
    unsigned depth; /* hashes on the stack = popcount(size) */
    uint8_t stack[64][HD_MERKLE_HASH_LEN];
};

void hd_merkle_stream_init(struct hd_merkle_stream *s, struct hd_merkle_hasher *h);
void hd_merkle_stream_add(struct hd_merkle_stream *s, const uint8_t leaf_hash[HD_MERKLE_HASH_LEN]);
/* The root of the leaves added so far (SHA-256("") for none). */
void hd_merkle_stream_root(const struct hd_merkle_stream *s, uint8_t out[HD_MERKLE_HASH_LEN]);

/* A leaf source: writes the hash of leaf index into out; returns 0 or -1. */
typedef int (*hd_merkle_leaf_fn)(void *ctx, uint64_t index, uint8_t out[HD_MERKLE_HASH_LEN]);

/* MTH(D[begin:end]). Returns 0, or -1 when the source failed. */
int hd_merkle_range_root(struct hd_merkle_hasher *h, hd_merkle_leaf_fn leaf, void *ctx,
                         uint64_t begin, uint64_t end, uint8_t out[HD_MERKLE_HASH_LEN]);

/* The inclusion proof of leaf index in the tree of the first size leaves
 * (RFC 9162 PATH(index, D[size])), leaf level first. *n gets the number of
 * hashes. Returns 0, or -1 when index >= size or the source failed. */
int hd_merkle_inclusion_proof(struct hd_merkle_hasher *h, hd_merkle_leaf_fn leaf, void *ctx,
                              uint64_t index, uint64_t size,
                              uint8_t proof[HD_MERKLE_MAX_PROOF][HD_MERKLE_HASH_LEN], size_t *n);

/* The consistency proof between the trees of the first m and the first n
 * leaves (RFC 9162 PROOF(m, D[n])); empty when m == n or m == 0. Returns 0,
 * or -1 when m > n or the source failed. */
int hd_merkle_consistency_proof(struct hd_merkle_hasher *h, hd_merkle_leaf_fn leaf, void *ctx,
                                uint64_t m, uint64_t n,
                                uint8_t proof[HD_MERKLE_MAX_PROOF][HD_MERKLE_HASH_LEN],
                                size_t *nproof);

/* RFC 9162 2.1.3.2: true when proof shows that leaf_hash is leaf index of
 * the tree of size leaves whose root is root. */
bool hd_merkle_verify_inclusion(struct hd_merkle_hasher *h,
                                const uint8_t leaf_hash[HD_MERKLE_HASH_LEN], uint64_t index,
                                uint64_t size, const uint8_t proof[][HD_MERKLE_HASH_LEN], size_t n,
                                const uint8_t root[HD_MERKLE_HASH_LEN]);

/* RFC 9162 2.1.4.2: true when proof shows that the tree of m leaves with
 * root old_root is a prefix of the tree of n leaves with root new_root.
 * m == n needs an empty proof and equal roots; m == 0 (the empty tree) is a
 * prefix of every tree and needs an empty proof. */
bool hd_merkle_verify_consistency(struct hd_merkle_hasher *h, uint64_t m, uint64_t n,
                                  const uint8_t old_root[HD_MERKLE_HASH_LEN],
                                  const uint8_t new_root[HD_MERKLE_HASH_LEN],
                                  const uint8_t proof[][HD_MERKLE_HASH_LEN], size_t nproof);

#endif
