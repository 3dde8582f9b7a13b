/* Unit tests for RFC 9162 Merkle trees (core/proofs/merkle.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herald/merkle.h"

/* The RFC 6962 / RFC 9162 test leaves used by Certificate Transparency's
 * reference implementations, and the expected roots of their prefixes.
 * Checked independently with a 10-line Python definition of MTH. */
static const struct {
    const char *bytes;
    size_t len;
} leaves8[8] = {
    {"", 0},
    {"\x00", 1},
    {"\x10", 1},
    {"\x20\x21", 2},
    {"\x30\x31", 2},
    {"\x40\x41\x42\x43", 4},
    {"\x50\x51\x52\x53\x54\x55\x56\x57", 8},
    {"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16},
};
static const char *const roots8[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void unhex(const char *hex, uint8_t *out)
{
    for (size_t i = 0; hex[2 * i]; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

struct leaves {
    uint8_t (*h)[HD_MERKLE_HASH_LEN];
    uint64_t n;
    unsigned calls;
};

static int leaf_at(void *ctx, uint64_t i, uint8_t out[HD_MERKLE_HASH_LEN])
{
    struct leaves *l = ctx;
    l->calls++;
    if (i >= l->n)
        return -1;
    memcpy(out, l->h[i], HD_MERKLE_HASH_LEN);
    return 0;
}

static struct hd_merkle_hasher H;

static int setup(void **state)
{
    (void)state;
    return hd_merkle_hasher_init(&H);
}

static int teardown(void **state)
{
    (void)state;
    hd_merkle_hasher_free(&H);
    return 0;
}

static struct leaves rfc_leaves(void)
{
    struct leaves l = {calloc(8, HD_MERKLE_HASH_LEN), 8, 0};
    for (int i = 0; i < 8; i++)
        hd_merkle_leaf_hash(&H, leaves8[i].bytes, leaves8[i].len, l.h[i]);
    return l;
}

/* A definition-by-recursion MTH, independent of the stream. */
static void ref_mth(const uint8_t (*h)[HD_MERKLE_HASH_LEN], uint64_t n,
                    uint8_t out[HD_MERKLE_HASH_LEN])
{
    uint64_t k = 1;
    uint8_t l[HD_MERKLE_HASH_LEN], r[HD_MERKLE_HASH_LEN];
    if (n == 0) {
        hd_merkle_sha256(&H, "", 0, out);
        return;
    }
    if (n == 1) {
        memcpy(out, h[0], HD_MERKLE_HASH_LEN);
        return;
    }
    while (k * 2 < n)
        k *= 2;
    ref_mth(h, k, l);
    ref_mth(h + k, n - k, r);
    hd_merkle_node_hash(&H, l, r, out);
}

static void test_merkle_rfc_roots(void **state)
{
    struct leaves l = rfc_leaves();
    (void)state;
    for (uint64_t n = 0; n <= 8; n++) {
        struct hd_merkle_stream s;
        uint8_t want[32], got[32];
        unhex(roots8[n], want);
        hd_merkle_stream_init(&s, &H);
        for (uint64_t i = 0; i < n; i++)
            hd_merkle_stream_add(&s, l.h[i]);
        hd_merkle_stream_root(&s, got);
        assert_memory_equal(got, want, 32);
        assert_int_equal(hd_merkle_range_root(&H, leaf_at, &l, 0, n, got), 0);
        assert_memory_equal(got, want, 32);
    }
    free(l.h);
}

static void test_merkle_rfc_proofs(void **state)
{
    struct leaves l = rfc_leaves();
    uint8_t proof[HD_MERKLE_MAX_PROOF][HD_MERKLE_HASH_LEN], want[3][32];
    size_t n;
    (void)state;
    /* PATH(0, D[8]) */
    assert_int_equal(hd_merkle_inclusion_proof(&H, leaf_at, &l, 0, 8, proof, &n), 0);
    assert_int_equal(n, 3);
    unhex("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", want[0]);
    unhex("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", want[1]);
    unhex("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4", want[2]);
    assert_memory_equal(proof, want, sizeof want);
    /* PATH(5, D[8]) */
    assert_int_equal(hd_merkle_inclusion_proof(&H, leaf_at, &l, 5, 8, proof, &n), 0);
    assert_int_equal(n, 3);
    unhex("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", want[0]);
    unhex("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", want[1]);
    unhex("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7", want[2]);
    assert_memory_equal(proof, want, sizeof want);
    /* PROOF(6, D[8]) */
    assert_int_equal(hd_merkle_consistency_proof(&H, leaf_at, &l, 6, 8, proof, &n), 0);
    assert_int_equal(n, 3);
    unhex("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", want[0]);
    assert_memory_equal(proof, want, sizeof want);
    /* PROOF(2, D[5]) */
    assert_int_equal(hd_merkle_consistency_proof(&H, leaf_at, &l, 2, 5, proof, &n), 0);
    assert_int_equal(n, 2);
    unhex("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", want[0]);
    unhex("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", want[1]);
    assert_memory_equal(proof, want, 64);
    /* PROOF(1, D[8]) = PATH(0, D[8]) */
    assert_int_equal(hd_merkle_consistency_proof(&H, leaf_at, &l, 1, 8, proof, &n), 0);
    assert_int_equal(n, 3);
    unhex("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", want[0]);
    assert_memory_equal(proof[0], want[0], 32);
    free(l.h);
}

static struct leaves make_leaves(uint64_t n)
{
    struct leaves l = {calloc(n ? n : 1, HD_MERKLE_HASH_LEN), n, 0};
    for (uint64_t i = 0; i < n; i++) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "record %llu", (unsigned long long)i);
        hd_merkle_leaf_hash(&H, buf, (size_t)len, l.h[i]);
    }
    return l;
}

/* Every index of every tree of 1..40 leaves: the proof verifies; and it
 * fails for a changed leaf, a changed proof hash, a shortened or lengthened
 * proof, another index, an index past the end, another root. */
static void test_merkle_inclusion_all(void **state)
{
    (void)state;
    for (uint64_t size = 1; size <= 40; size++) {
        struct leaves l = make_leaves(size);
        uint8_t root[32], bad[32];
        ref_mth((const uint8_t(*)[32])l.h, size, root);
        for (uint64_t i = 0; i < size; i++) {
            uint8_t proof[HD_MERKLE_MAX_PROOF][HD_MERKLE_HASH_LEN];
            size_t n;
            assert_int_equal(hd_merkle_inclusion_proof(&H, leaf_at, &l, i, size, proof, &n), 0);
            assert_true(hd_merkle_verify_inclusion(&H, l.h[i], i, size, (const uint8_t(*)[32])proof,
                                                   n, root));
            memcpy(bad, l.h[i], 32);
            bad[0] ^= 1;
            assert_false(
                hd_merkle_verify_inclusion(&H, bad, i, size, (const uint8_t(*)[32])proof, n, root));
            for (size_t j = 0; j < n; j++) {
                proof[j][31] ^= 0x80;
                assert_false(hd_merkle_verify_inclusion(&H, l.h[i], i, size,
                                                        (const uint8_t(*)[32])proof, n, root));
                proof[j][31] ^= 0x80;
            }
            if (n > 0)
                assert_false(hd_merkle_verify_inclusion(&H, l.h[i], i, size,
                                                        (const uint8_t(*)[32])proof, n - 1, root));
            memcpy(proof[n], root, 32);
            assert_false(hd_merkle_verify_inclusion(&H, l.h[i], i, size,
                                                    (const uint8_t(*)[32])proof, n + 1, root));
            if (size > 1)
                assert_false(hd_merkle_verify_inclusion(&H, l.h[i], (i + 1) % size, size,
                                                        (const uint8_t(*)[32])proof, n, root));
            /* (A wrong size alone can verify: leaf 0 of 3 and of 4 leaves
             * has the same path shape. The signed checkpoint binds size and
             * root together, so that is no weakness.) */
            assert_false(hd_merkle_verify_inclusion(&H, l.h[i], size, size,
                                                    (const uint8_t(*)[32])proof, n, root));
            memcpy(bad, root, 32);
            bad[5] ^= 4;
            assert_false(hd_merkle_verify_inclusion(&H, l.h[i], i, size,
                                                    (const uint8_t(*)[32])proof, n, bad));
        }
        uint8_t proof[HD_MERKLE_MAX_PROOF][HD_MERKLE_HASH_LEN];
        size_t n;
        assert_int_equal(hd_merkle_inclusion_proof(&H, leaf_at, &l, size, size, proof, &n), -1);
        free(l.h);
    }
}

/* Every pair 0 <= m <= n <= 40: the proof verifies; it fails for a changed
 * proof hash, a changed old or new root, a missing proof, a wrong m, and
 * when the old tree had a different leaf. */
static void test_merkle_consistency_all(void **state)
{
    (void)state;
    struct leaves l = make_leaves(40);
    for (uint64_t n = 1; n <= 40; n++) {
        uint8_t new_root[32];
        ref_mth((const uint8_t(*)[32])l.h, n, new_root);
        for (uint64_t m = 0; m <= n; m++) {
            uint8_t old_root[32], bad[32];
            uint8_t proof[HD_MERKLE_MAX_PROOF][HD_MERKLE_HASH_LEN];
            size_t np;
            ref_mth((const uint8_t(*)[32])l.h, m, old_root);
            assert_int_equal(hd_merkle_consistency_proof(&H, leaf_at, &l, m, n, proof, &np), 0);
            if (m == 0 || m == n)
                assert_int_equal(np, 0);
            assert_true(hd_merkle_verify_consistency(&H, m, n, old_root, new_root,
                                                     (const uint8_t(*)[32])proof, np));
            if (m == 0)
                continue;
            for (size_t j = 0; j < np; j++) {
                proof[j][0] ^= 1;
                assert_false(hd_merkle_verify_consistency(&H, m, n, old_root, new_root,
                                                          (const uint8_t(*)[32])proof, np));
                proof[j][0] ^= 1;
            }
            memcpy(bad, old_root, 32);
            bad[9] ^= 2;
            assert_false(hd_merkle_verify_consistency(&H, m, n, bad, new_root,
                                                      (const uint8_t(*)[32])proof, np));
            memcpy(bad, new_root, 32);
            bad[9] ^= 2;
            assert_false(hd_merkle_verify_consistency(&H, m, n, old_root, bad,
                                                      (const uint8_t(*)[32])proof, np));
            if (m < n) {
                assert_false(hd_merkle_verify_consistency(&H, m, n, old_root, new_root,
                                                          (const uint8_t(*)[32])proof, 0));
                if (m > 1)
                    assert_false(hd_merkle_verify_consistency(&H, m - 1, n, old_root, new_root,
                                                              (const uint8_t(*)[32])proof, np));
                /* An old tree whose leaf k differed: its root cannot be
                 * shown consistent with this new tree. */
                for (uint64_t k = 0; k < m; k++) {
                    uint8_t saved[32], changed_root[32];
                    memcpy(saved, l.h[k], 32);
                    l.h[k][3] ^= 8;
                    ref_mth((const uint8_t(*)[32])l.h, m, changed_root);
                    memcpy(l.h[k], saved, 32);
                    assert_false(hd_merkle_verify_consistency(&H, m, n, changed_root, new_root,
                                                              (const uint8_t(*)[32])proof, np));
                }
            }
        }
    }
    uint8_t proof[HD_MERKLE_MAX_PROOF][HD_MERKLE_HASH_LEN];
    size_t np;
    assert_int_equal(hd_merkle_consistency_proof(&H, leaf_at, &l, 5, 4, proof, &np), -1);
    free(l.h);
}

/* The stream agrees with the recursive definition for every size up to
 * 300, and a range root agrees with a fresh tree of that range. */
static void test_merkle_stream_matches_definition(void **state)
{
    (void)state;
    struct leaves l = make_leaves(300);
    struct hd_merkle_stream s;
    hd_merkle_stream_init(&s, &H);
    for (uint64_t n = 0; n <= 300; n++) {
        uint8_t a[32], b[32];
        hd_merkle_stream_root(&s, a);
        ref_mth((const uint8_t(*)[32])l.h, n, b);
        assert_memory_equal(a, b, 32);
        assert_int_equal(s.size, n);
        assert_int_equal(s.depth, __builtin_popcountll(n));
        if (n < 300)
            hd_merkle_stream_add(&s, l.h[n]);
    }
    uint8_t a[32], b[32];
    assert_int_equal(hd_merkle_range_root(&H, leaf_at, &l, 17, 200, a), 0);
    ref_mth((const uint8_t(*)[32])(l.h + 17), 183, b);
    assert_memory_equal(a, b, 32);
    free(l.h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merkle_rfc_roots),
        cmocka_unit_test(test_merkle_rfc_proofs),
        cmocka_unit_test(test_merkle_inclusion_all),
        cmocka_unit_test(test_merkle_consistency_all),
        cmocka_unit_test(test_merkle_stream_matches_definition),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
