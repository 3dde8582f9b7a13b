/* hash.c - SHA-256 and HMAC-SHA256 on OpenSSL's low-level SHA-256 (see
 * herald/hash.h).
 *
 * SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, but
 * they run the same assembly (SHA-NI where the CPU has it) on a plain
 * SHA256_CTX: copying a state is a struct assignment, and there is no
 * algorithm fetch, provider dispatch or allocation. For the inputs Herald
 * hashes per message (tens of bytes) that overhead is most of the cost.
 * Measured with OpenSSL 3.0 (Debian 12) on an AMD EPYC with SHA-NI, gcc -O2,
 * 36-byte key (ns per operation):
 *
 *   HMAC-SHA256 of 60 bytes, pads absorbed once:
 *     EVP_MAC_CTX_new + EVP_MAC_init + update + final  ~800
 *     EVP_MD_CTX_copy_ex + update + final, twice        ~170
 *     SHA256_CTX struct copy + update + final, twice    ~137
 *   SHA-256 of 60 bytes:  SHA256() (EVP_Q_digest)  ~320, low level  ~88
 *   SHA-256 of 4 KB:      SHA256() (EVP_Q_digest) ~2370, EVP_Digest with a
 *                         fetched md ~2190, low level ~2110
 *
 * So the win is in the fixed cost per hash; bulk throughput is the same.
 * Hence OPENSSL_SUPPRESS_DEPRECATED, which must come before any OpenSSL
 * header. If a future OpenSSL drops these functions, this file is the only
 * one to change. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "herald/hash.h"
#include "herald/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdalign.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

_Static_assert(sizeof(SHA256_CTX) <= sizeof(((struct hd_sha256 *)0)->state),
               "struct hd_sha256 is too small for SHA256_CTX");
_Static_assert(alignof(SHA256_CTX) <= 8, "struct hd_sha256 is not aligned enough for SHA256_CTX");

static SHA256_CTX *ctx(struct hd_sha256 *h)
{
    return (SHA256_CTX *)(void *)h->state;
}

/* The low-level functions return 1 always (0 only for NULL arguments). */
void hd_sha256_init(struct hd_sha256 *h)
{
    SHA256_Init(ctx(h));
}

void hd_sha256_update(struct hd_sha256 *h, const void *data, size_t len)
{
    if (len > 0)
        SHA256_Update(ctx(h), data, len);
}

void hd_sha256_final(struct hd_sha256 *h, uint8_t out[HD_SHA256_LEN])
{
    SHA256_Final(out, ctx(h));
}

void hd_sha256(const void *data, size_t len, uint8_t out[HD_SHA256_LEN])
{
    struct hd_sha256 h;
    hd_sha256_init(&h);
    hd_sha256_update(&h, data, len);
    hd_sha256_final(&h, out);
}

void hd_hmac_init(struct hd_hmac *k, const void *key, size_t len)
{
    uint8_t block[SHA256_CBLOCK], pad[SHA256_CBLOCK];

    memset(block, 0, sizeof block);
    if (len > sizeof block)
        hd_sha256(key, len, block);
    else if (len > 0)
        memcpy(block, key, len);
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = block[i] ^ 0x36;
    hd_sha256_init(&k->inner);
    hd_sha256_update(&k->inner, pad, sizeof pad);
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = block[i] ^ 0x5c;
    hd_sha256_init(&k->outer);
    hd_sha256_update(&k->outer, pad, sizeof pad);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
}

void hd_hmac_begin(const struct hd_hmac *k, struct hd_sha256 *work)
{
    *work = k->inner;
}

void hd_hmac_end(const struct hd_hmac *k, struct hd_sha256 *work, uint8_t out[HD_SHA256_LEN])
{
    uint8_t ih[HD_SHA256_LEN];
    hd_sha256_final(work, ih);
    *work = k->outer;
    hd_sha256_update(work, ih, sizeof ih);
    hd_sha256_final(work, out);
    OPENSSL_cleanse(ih, sizeof ih);
    OPENSSL_cleanse(work, sizeof *work);
}

void hd_hmac_wipe(struct hd_hmac *k)
{
    OPENSSL_cleanse(k, sizeof *k);
}

void hd_hex(const void *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *b = bytes;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int hd_sha256_fd(int fd, const char *name, char hex[2 * HD_SHA256_LEN + 1], uint64_t *size,
                 struct hd_err *err)
{
    /* 64 KiB per read hashes as fast as bigger pieces (the hashing, not the
     * system calls, is the cost) and needs no allocation. */
    unsigned char buf[1 << 16];
    uint8_t md[HD_SHA256_LEN];
    struct hd_sha256 h;
    uint64_t total = 0;

    hd_sha256_init(&h);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            hd_err_set(err, HD_EX_IOERR, "%s: read error: %s", name, strerror(errno));
            return -1;
        }
        if (n == 0)
            break;
        hd_sha256_update(&h, buf, (size_t)n);
        total += (uint64_t)n;
    }
    hd_sha256_final(&h, md);
    hd_hex(md, HD_SHA256_LEN, hex);
    if (size != NULL)
        *size = total;
    return 0;
}

int hd_sha256_file(const char *path, char hex[2 * HD_SHA256_LEN + 1], uint64_t *size,
                   struct hd_err *err)
{
    /* Streamed, so no size limit (HD_IN_RECORDS); never blocks, regular
     * files only (herald/files.h). */
    int rc, fd = hd_input_open(path, HD_IN_RECORDS, "file", NULL, err);
    if (fd < 0)
        return -1;
    rc = hd_sha256_fd(fd, path, hex, size, err);
    close(fd);
    return rc;
}

uint64_t hd_fnv1a64(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
