/* merkle.c - RFC 9162 Merkle trees over SHA-256 (see herald/merkle.h). */
#include "herald/merkle.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

int hd_merkle_hasher_init(struct hd_merkle_hasher *h)
{
    h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    h->ctx = EVP_MD_CTX_new();
    if (h->md == NULL || h->ctx == NULL) {
        hd_merkle_hasher_free(h);
        return -1;
    }
    return 0;
}

void hd_merkle_hasher_free(struct hd_merkle_hasher *h)
{
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
    h->ctx = NULL;
    h->md = NULL;
}

/* SHA-256 of prefix (0 or 1 byte) then two pieces. OpenSSL only fails here
 * without memory, which the hasher's set-up already ruled out; a failure
 * would leave out zeroed, which never verifies. */
static void digest(struct hd_merkle_hasher *h, const void *pre, size_t npre, const void *a,
                   size_t na, const void *b, size_t nb, uint8_t out[HD_MERKLE_HASH_LEN])
{
    EVP_MD_CTX *ctx = h->ctx;
    if (!EVP_DigestInit_ex(ctx, h->md, NULL) || (npre && !EVP_DigestUpdate(ctx, pre, npre)) ||
        (na && !EVP_DigestUpdate(ctx, a, na)) || (nb && !EVP_DigestUpdate(ctx, b, nb)) ||
        !EVP_DigestFinal_ex(ctx, out, NULL))
        memset(out, 0, HD_MERKLE_HASH_LEN);
}

void hd_merkle_sha256(struct hd_merkle_hasher *h, const void *data, size_t len,
                      uint8_t out[HD_MERKLE_HASH_LEN])
{
    digest(h, NULL, 0, data, len, NULL, 0, out);
}

void hd_merkle_leaf_hash(struct hd_merkle_hasher *h, const void *data, size_t len,
                         uint8_t out[HD_MERKLE_HASH_LEN])
{
    static const uint8_t zero = 0;
    digest(h, &zero, 1, data, len, NULL, 0, out);
}

void hd_merkle_node_hash(struct hd_merkle_hasher *h, const uint8_t left[HD_MERKLE_HASH_LEN],
                         const uint8_t right[HD_MERKLE_HASH_LEN], uint8_t out[HD_MERKLE_HASH_LEN])
{
    /* One update of 65 bytes is cheaper than three. */
    uint8_t buf[1 + 2 * HD_MERKLE_HASH_LEN];
    buf[0] = 1;
    memcpy(buf + 1, left, HD_MERKLE_HASH_LEN);
    memcpy(buf + 1 + HD_MERKLE_HASH_LEN, right, HD_MERKLE_HASH_LEN);
    digest(h, NULL, 0, buf, sizeof buf, NULL, 0, out);
}

/* ---- streaming root ---------------------------------------------------------- */

void hd_merkle_stream_init(struct hd_merkle_stream *s, struct hd_merkle_hasher *h)
{
    memset(s, 0, sizeof *s);
    s->h = h;
}

/* The stack holds the roots of the perfect subtrees that make up the leaves
 * so far, largest (leftmost) first: one per set bit of size. A new leaf is
 * merged with the top while the subtree sizes match, like a binary carry. */
void hd_merkle_stream_add(struct hd_merkle_stream *s, const uint8_t leaf_hash[HD_MERKLE_HASH_LEN])
{
    uint8_t cur[HD_MERKLE_HASH_LEN];
    memcpy(cur, leaf_hash, HD_MERKLE_HASH_LEN);
    for (uint64_t n = s->size; n & 1; n >>= 1)
        hd_merkle_node_hash(s->h, s->stack[--s->depth], cur, cur);
    memcpy(s->stack[s->depth++], cur, HD_MERKLE_HASH_LEN);
    s->size++;
}

/* RFC 9162 splits at the largest power of two, so the tree is the perfect
 * subtrees joined from the right: fold the stack from its top down. */
void hd_merkle_stream_root(const struct hd_merkle_stream *s, uint8_t out[HD_MERKLE_HASH_LEN])
{
    if (s->depth == 0) {
        hd_merkle_sha256(s->h, "", 0, out);
        return;
    }
    memcpy(out, s->stack[s->depth - 1], HD_MERKLE_HASH_LEN);
    for (unsigned i = s->depth - 1; i-- > 0;)
        hd_merkle_node_hash(s->h, s->stack[i], out, out);
}

/* ---- proofs ------------------------------------------------------------------ */

int hd_merkle_range_root(struct hd_merkle_hasher *h, hd_merkle_leaf_fn leaf, void *ctx,
                         uint64_t begin, uint64_t end, uint8_t out[HD_MERKLE_HASH_LEN])
{
    struct hd_merkle_stream s;
    uint8_t lh[HD_MERKLE_HASH_LEN];
    hd_merkle_stream_init(&s, h);
    for (uint64_t i = begin; i < end; i++) {
        if (leaf(ctx, i, lh) != 0)
            return -1;
        hd_merkle_stream_add(&s, lh);
    }
    hd_merkle_stream_root(&s, out);
    return 0;
}

/* The largest power of two smaller than n (n >= 2). */
static uint64_t split(uint64_t n)
{
    uint64_t k = 1;
    while (k << 1 < n)
        k <<= 1;
    return k;
}

struct prover {
    struct hd_merkle_hasher *h;
    hd_merkle_leaf_fn leaf;
    void *ctx;
    uint8_t (*out)[HD_MERKLE_HASH_LEN];
    size_t n;
};

static int push_range(struct prover *p, uint64_t begin, uint64_t end)
{
    if (p->n >= HD_MERKLE_MAX_PROOF)
        return -1;
    return hd_merkle_range_root(p->h, p->leaf, p->ctx, begin, end, p->out[p->n++]);
}

/* PATH(m, D[begin:end]) with m relative to begin. */
static int path(struct prover *p, uint64_t m, uint64_t begin, uint64_t end)
{
    uint64_t n = end - begin, k;
    if (n <= 1)
        return 0;
    k = split(n);
    if (m < k)
        return path(p, m, begin, begin + k) || push_range(p, begin + k, end) ? -1 : 0;
    return path(p, m - k, begin + k, end) || push_range(p, begin, begin + k) ? -1 : 0;
}

int hd_merkle_inclusion_proof(struct hd_merkle_hasher *h, hd_merkle_leaf_fn leaf, void *ctx,
                              uint64_t index, uint64_t size,
                              uint8_t proof[HD_MERKLE_MAX_PROOF][HD_MERKLE_HASH_LEN], size_t *n)
{
    struct prover p = {h, leaf, ctx, proof, 0};
    *n = 0;
    if (index >= size)
        return -1;
    if (path(&p, index, 0, size) != 0)
        return -1;
    *n = p.n;
    return 0;
}

/* SUBPROOF(m, D[begin:end], b). */
static int subproof(struct prover *p, uint64_t m, uint64_t begin, uint64_t end, bool b)
{
    uint64_t n = end - begin, k;
    if (m == n)
        return b ? 0 : push_range(p, begin, end);
    k = split(n);
    if (m <= k)
        return subproof(p, m, begin, begin + k, b) || push_range(p, begin + k, end) ? -1 : 0;
    return subproof(p, m - k, begin + k, end, false) || push_range(p, begin, begin + k) ? -1 : 0;
}

int hd_merkle_consistency_proof(struct hd_merkle_hasher *h, hd_merkle_leaf_fn leaf, void *ctx,
                                uint64_t m, uint64_t n,
                                uint8_t proof[HD_MERKLE_MAX_PROOF][HD_MERKLE_HASH_LEN],
                                size_t *nproof)
{
    struct prover p = {h, leaf, ctx, proof, 0};
    *nproof = 0;
    if (m > n)
        return -1;
    if (m == 0 || m == n)
        return 0;
    if (subproof(&p, m, 0, n, true) != 0)
        return -1;
    *nproof = p.n;
    return 0;
}

bool hd_merkle_verify_inclusion(struct hd_merkle_hasher *h,
                                const uint8_t leaf_hash[HD_MERKLE_HASH_LEN], uint64_t index,
                                uint64_t size, const uint8_t proof[][HD_MERKLE_HASH_LEN], size_t n,
                                const uint8_t root[HD_MERKLE_HASH_LEN])
{
    uint64_t fn = index, sn;
    uint8_t r[HD_MERKLE_HASH_LEN];
    if (index >= size)
        return false;
    sn = size - 1;
    memcpy(r, leaf_hash, HD_MERKLE_HASH_LEN);
    for (size_t i = 0; i < n; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) || fn == sn) {
            hd_merkle_node_hash(h, proof[i], r, r);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            hd_merkle_node_hash(h, r, proof[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && memcmp(r, root, HD_MERKLE_HASH_LEN) == 0;
}

bool hd_merkle_verify_consistency(struct hd_merkle_hasher *h, uint64_t m, uint64_t n,
                                  const uint8_t old_root[HD_MERKLE_HASH_LEN],
                                  const uint8_t new_root[HD_MERKLE_HASH_LEN],
                                  const uint8_t proof[][HD_MERKLE_HASH_LEN], size_t nproof)
{
    uint8_t fr[HD_MERKLE_HASH_LEN], sr[HD_MERKLE_HASH_LEN];
    uint64_t fn, sn;
    size_t i = 0;
    if (m > n)
        return false;
    if (m == 0)
        return nproof == 0;
    if (m == n)
        return nproof == 0 && memcmp(old_root, new_root, HD_MERKLE_HASH_LEN) == 0;
    if (nproof == 0)
        return false;
    /* When m is a power of two the old root is itself a node of the new
     * tree and the proof leaves it out: it starts the walk instead. */
    if ((m & (m - 1)) == 0) {
        memcpy(fr, old_root, HD_MERKLE_HASH_LEN);
    } else {
        memcpy(fr, proof[0], HD_MERKLE_HASH_LEN);
        i = 1;
    }
    memcpy(sr, fr, HD_MERKLE_HASH_LEN);
    fn = m - 1;
    sn = n - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    for (; i < nproof; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) || fn == sn) {
            hd_merkle_node_hash(h, proof[i], fr, fr);
            hd_merkle_node_hash(h, proof[i], sr, sr);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            hd_merkle_node_hash(h, sr, proof[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && memcmp(fr, old_root, HD_MERKLE_HASH_LEN) == 0 &&
           memcmp(sr, new_root, HD_MERKLE_HASH_LEN) == 0;
}
