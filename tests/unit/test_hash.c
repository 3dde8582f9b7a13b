/* Unit tests for SHA-256, HMAC-SHA256 and the file hash (core/base/hash.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "hd_test.h"
#include "herald/hash.h"

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static void assert_digest(const uint8_t md[HD_SHA256_LEN], const char *expected)
{
    char got[2 * HD_SHA256_LEN + 1];
    hex(md, HD_SHA256_LEN, got);
    assert_string_equal(got, expected);
}

/* A fixed pseudo-random sequence (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static void fill_random(uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(rng() >> 56);
}

/* ---- SHA-256: FIPS 180-2 appendix B ---------------------------------------------------------- */

static void test_sha256_fips_vectors(void **state)
{
    static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    uint8_t md[HD_SHA256_LEN];
    (void)state;
    hd_sha256("abc", 3, md);
    assert_digest(md, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(strlen(two_blocks), 56); /* the 448-bit message */
    hd_sha256(two_blocks, 56, md);
    assert_digest(md, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    hd_sha256(NULL, 0, md);
    assert_digest(md, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_sha256_million_a_in_odd_chunks(void **state)
{
    static const size_t chunks[] = {1, 3, 7, 13, 63, 64, 65, 127, 1000, 4099};
    uint8_t a[4099], md[HD_SHA256_LEN];
    struct hd_sha256 h;
    size_t done = 0, k = 0;
    (void)state;
    memset(a, 'a', sizeof a);
    hd_sha256_init(&h);
    while (done < 1000000) {
        size_t n = chunks[k++ % (sizeof chunks / sizeof chunks[0])];
        if (n > 1000000 - done)
            n = 1000000 - done;
        hd_sha256_update(&h, a, n);
        done += n;
    }
    hd_sha256_final(&h, md);
    assert_digest(md, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Every length around the block and padding boundaries, whole and split,
 * against OpenSSL's EVP. */
static void test_sha256_matches_evp(void **state)
{
    uint8_t msg[300], md[HD_SHA256_LEN], want[HD_SHA256_LEN];
    (void)state;
    fill_random(msg, sizeof msg);
    for (size_t len = 0; len <= sizeof msg; len++) {
        struct hd_sha256 h;
        size_t cut = len ? (size_t)(rng() % len) : 0;
        assert_true(EVP_Digest(msg, len, want, NULL, EVP_sha256(), NULL));
        hd_sha256(msg, len, md);
        assert_memory_equal(md, want, HD_SHA256_LEN);
        hd_sha256_init(&h);
        hd_sha256_update(&h, msg, cut);
        hd_sha256_update(&h, msg + cut, len - cut);
        hd_sha256_final(&h, md);
        assert_memory_equal(md, want, HD_SHA256_LEN);
    }
}

/* A state is a plain value: a copy continues independently. */
static void test_sha256_state_copies(void **state)
{
    struct hd_sha256 a, b;
    uint8_t m1[HD_SHA256_LEN], m2[HD_SHA256_LEN], want[HD_SHA256_LEN];
    (void)state;
    hd_sha256_init(&a);
    hd_sha256_update(&a, "ab", 2);
    b = a;
    hd_sha256_update(&a, "c", 1);
    hd_sha256_update(&b, "cd", 2);
    hd_sha256_final(&a, m1);
    hd_sha256_final(&b, m2);
    assert_digest(m1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hd_sha256("abcd", 4, want);
    assert_memory_equal(m2, want, HD_SHA256_LEN);
}

/* ---- HMAC-SHA256: RFC 4231 ------------------------------------------------------------------- */

static void mac_of(const void *key, size_t klen, const void *msg, size_t mlen,
                   uint8_t out[HD_SHA256_LEN])
{
    struct hd_hmac k;
    struct hd_sha256 w;
    hd_hmac_init(&k, key, klen);
    hd_hmac_begin(&k, &w);
    hd_sha256_update(&w, msg, mlen);
    hd_hmac_end(&k, &w, out);
    hd_hmac_wipe(&k);
}

static void test_hmac_rfc4231(void **state)
{
    uint8_t key[131], data[50], md[HD_SHA256_LEN];
    static const char six[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    static const char seven[] =
        "This is a test using a larger than block-size key and a larger than block-size "
        "data. The key needs to be hashed before being used by the HMAC algorithm.";
    (void)state;

    /* 1 */
    memset(key, 0x0b, 20);
    mac_of(key, 20, "Hi There", 8, md);
    assert_digest(md, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* 2: a key shorter than the output */
    mac_of("Jefe", 4, "what do ya want for nothing?", 28, md);
    assert_digest(md, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* 3 */
    memset(key, 0xaa, 20);
    memset(data, 0xdd, 50);
    mac_of(key, 20, data, 50, md);
    assert_digest(md, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    /* 4 */
    for (int i = 0; i < 25; i++)
        key[i] = (uint8_t)(i + 1);
    memset(data, 0xcd, 50);
    mac_of(key, 25, data, 50, md);
    assert_digest(md, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    /* 6: a key longer than the block size, hashed first */
    memset(key, 0xaa, 131);
    mac_of(key, 131, six, strlen(six), md);
    assert_digest(md, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    /* 7: long key and message longer than a block */
    mac_of(key, 131, seven, strlen(seven), md);
    assert_digest(md, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

/* One key, many MACs: begin/end never change the key, and end wipes the
 * work state so a stale one is not mistaken for a fresh one. */
static void test_hmac_key_reused(void **state)
{
    static const struct hd_sha256 zero;
    struct hd_hmac k, copy;
    struct hd_sha256 w;
    uint8_t first[HD_SHA256_LEN], md[HD_SHA256_LEN], other[HD_SHA256_LEN];
    (void)state;
    hd_hmac_init(&k, "Jefe", 4);
    copy = k;
    for (int i = 0; i < 1000; i++) {
        hd_hmac_begin(&k, &w);
        hd_sha256_update(&w, "what do ya want ", 16);
        hd_sha256_update(&w, "for nothing?", 12);
        hd_hmac_end(&k, &w, i == 0 ? first : md);
        assert_memory_equal(&w, &zero, sizeof w);
        if (i > 0)
            assert_memory_equal(md, first, HD_SHA256_LEN);
        if (i % 100 == 50) {
            /* an unrelated MAC in between */
            hd_hmac_begin(&k, &w);
            hd_sha256_update(&w, "x", 1);
            hd_hmac_end(&k, &w, other);
            assert_memory_not_equal(other, first, HD_SHA256_LEN);
        }
    }
    assert_digest(first, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert_memory_equal(&k, &copy, sizeof k);
    hd_hmac_wipe(&k);
    assert_memory_equal(&k.inner, &zero, sizeof zero);
    assert_memory_equal(&k.outer, &zero, sizeof zero);
}

/* Random keys and messages of many lengths against OpenSSL's HMAC(). */
static void test_hmac_matches_openssl(void **state)
{
    static const size_t key_lens[] = {0,  1,  16, 20,  31,  32,  33,  55,  56,
                                      63, 64, 65, 100, 127, 128, 129, 200, 256};
    uint8_t key[256], msg[400], md[HD_SHA256_LEN], want[HD_SHA256_LEN];
    unsigned wlen = 0;
    (void)state;
    for (size_t ki = 0; ki < sizeof key_lens / sizeof key_lens[0]; ki++) {
        struct hd_hmac k;
        size_t klen = key_lens[ki];
        fill_random(key, sizeof key);
        hd_hmac_init(&k, key, klen);
        for (size_t mlen = 0; mlen <= sizeof msg; mlen += 1 + (size_t)(rng() % 7)) {
            struct hd_sha256 w;
            size_t cut = mlen ? (size_t)(rng() % mlen) : 0;
            fill_random(msg, mlen);
            assert_non_null(HMAC(EVP_sha256(), key, (int)klen, msg, mlen, want, &wlen));
            assert_int_equal(wlen, HD_SHA256_LEN);
            hd_hmac_begin(&k, &w);
            hd_sha256_update(&w, msg, cut);
            hd_sha256_update(&w, msg + cut, mlen - cut);
            hd_hmac_end(&k, &w, md);
            assert_memory_equal(md, want, HD_SHA256_LEN);
        }
        hd_hmac_wipe(&k);
    }
}

/* ---- the SHA-256 of a file ------------------------------------------------------------------ */

/* Sizes around the 64 KiB read and the 64-byte block, and a few MiB. */
static void test_sha256_file_matches_bytes(void **state)
{
    static const size_t sizes[] = {0, 1, 63, 64, 65, 65535, 65536, 65537, 200000, 3 << 20};
    const char *dir = hd_test_tmpdir();
    uint8_t *data = malloc(3 << 20), md[HD_SHA256_LEN];
    char want[2 * HD_SHA256_LEN + 1], hex[2 * HD_SHA256_LEN + 1];
    struct hd_err err = {0};
    (void)state;
    assert_non_null(data);
    fill_random(data, 3 << 20);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *path = hd_test_write(dir, "f", (const char *)data, sizes[i]);
        uint64_t size = 12345;
        hd_sha256(data, sizes[i], md);
        hd_hex(md, HD_SHA256_LEN, want);
        assert_int_equal(hd_sha256_file(path, hex, &size, &err), 0);
        assert_string_equal(hex, want);
        assert_int_equal(size, sizes[i]);
        /* size is optional */
        memset(hex, 0, sizeof hex);
        assert_int_equal(hd_sha256_file(path, hex, NULL, &err), 0);
        assert_string_equal(hex, want);
        free(path);
    }
    assert_int_equal(err.code, 0);
    free(data);
    hd_test_rmtree(dir);
}

static void test_sha256_file_empty_and_fd(void **state)
{
    const char *dir = hd_test_tmpdir();
    char *path = hd_test_write(dir, "f", "xxabc", 5);
    char hex[2 * HD_SHA256_LEN + 1];
    uint64_t size = 1;
    struct hd_err err = {0};
    int fd;
    (void)state;
    /* from the descriptor's offset to the end; the descriptor stays open */
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(lseek(fd, 2, SEEK_SET), 2);
    assert_int_equal(hd_sha256_fd(fd, path, hex, &size, &err), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(size, 3);
    /* at the end now: the empty string */
    assert_int_equal(hd_sha256_fd(fd, path, hex, &size, &err), 0);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(size, 0);
    assert_int_equal(close(fd), 0);
    free(path);
    hd_test_rmtree(dir);
}

static void test_sha256_file_errors(void **state)
{
    const char *dir = hd_test_tmpdir();
    char path[1024], want[1200], hex[2 * HD_SHA256_LEN + 1] = "untouched";
    uint64_t size = 7;
    struct hd_err err = {0};
    (void)state;
    /* missing: HD_EX_NOINPUT, named */
    snprintf(path, sizeof path, "%s/missing.csv", dir);
    assert_int_equal(hd_sha256_file(path, hex, &size, &err), -1);
    assert_int_equal(err.code, HD_EX_NOINPUT);
    snprintf(want, sizeof want, "cannot open file %s: No such file or directory", path);
    assert_string_equal(err.msg, want);
    /* another open failure (a symbolic link to itself): an input that
     * cannot be read is HD_EX_NOINPUT too (docs/exit-codes.md) */
    err = (struct hd_err){0};
    snprintf(path, sizeof path, "%s/loop", dir);
    assert_int_equal(symlink(path, path), 0);
    assert_int_equal(hd_sha256_file(path, hex, &size, &err), -1);
    assert_int_equal(err.code, HD_EX_NOINPUT);
    assert_non_null(strstr(err.msg, "cannot open file "));
    /* a directory is no input (hd_input_open): HD_EX_NOINPUT, named */
    err = (struct hd_err){0};
    assert_int_equal(hd_sha256_file(dir, hex, &size, &err), -1);
    assert_int_equal(err.code, HD_EX_NOINPUT);
    snprintf(want, sizeof want, "file %s is a directory, not a regular file", dir);
    assert_non_null(strstr(err.msg, want));
    assert_string_equal(hex, "untouched");
    assert_int_equal(size, 7);
    hd_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_fips_vectors),
        cmocka_unit_test(test_sha256_million_a_in_odd_chunks),
        cmocka_unit_test(test_sha256_matches_evp),
        cmocka_unit_test(test_sha256_state_copies),
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_hmac_key_reused),
        cmocka_unit_test(test_hmac_matches_openssl),
        cmocka_unit_test(test_sha256_file_matches_bytes),
        cmocka_unit_test(test_sha256_file_empty_and_fd),
        cmocka_unit_test(test_sha256_file_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
