/* proof_sign.c - signatures: Ed25519 signing keys (made, loaded, and
 * published as C2SP verifier keys), C2SP signed notes (signed and
 * checked), and the bundle's checkpoint, a C2SP tlog-checkpoint note over
 * the record count, the Merkle root and the manifest's SHA-256, made here
 * for export and read back here for verify. OpenSSL does the Ed25519.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "herald/files.h"
#include "herald/hash.h"
#include "proof_internal.h"

/* ---- signing keys ---------------------------------------------------------------------------- */

bool hdp_key_name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 100)
        return false;
    for (; *n; n++)
        if (*n <= ' ' || *n > '~' || *n == '+')
            return false;
    return true;
}

void hd_proof_key_hash(const char *name, const uint8_t raw[32], uint8_t out[4])
{
    uint8_t h[HD_SHA256_LEN];
    struct hd_sha256 ctx;
    hd_sha256_init(&ctx);
    hd_sha256_update(&ctx, name, strlen(name));
    hd_sha256_update(&ctx, "\n\x01", 2);
    hd_sha256_update(&ctx, raw, 32);
    hd_sha256_final(&ctx, h);
    memcpy(out, h, 4);
}

void hdp_vkey_line(const char *name, const uint8_t raw[32], char *out, size_t cap)
{
    uint8_t kh[4], typed[33];
    char hex[9], b64[64];
    hd_proof_key_hash(name, raw, kh);
    hd_hex(kh, 4, hex);
    typed[0] = 1;
    memcpy(typed + 1, raw, 32);
    hd_proof_base64(typed, 33, b64);
    snprintf(out, cap, "%s+%s+%s\n", name, hex, b64);
}

static int pem_of(EVP_PKEY *pk, bool private_key, struct hd_buf *out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p;
    long n;
    int ok = bio && (private_key ? PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL)
                                 : PEM_write_bio_PUBKEY(bio, pk));
    if (ok && (n = BIO_get_mem_data(bio, &p)) > 0)
        ok = hd_buf_append(out, p, (size_t)n) == 0;
    else
        ok = 0;
    BIO_free(bio);
    return ok ? 0 : -1;
}

int hd_proof_keygen(const char *prefix, const char *name, bool force, struct hd_err *err)
{
    EVP_PKEY *pk = NULL;
    struct hd_buf priv = HD_BUF_INIT, pub = HD_BUF_INIT;
    uint8_t raw[32];
    size_t rawlen = sizeof raw;
    char path[4200], vkey[512];
    int rc = -1;

    if (!hdp_key_name_ok(name)) {
        hd_err_set(err, HD_EX_USAGE,
                   "bad key name \"%s\": 1-100 printable ASCII characters, no space and no '+'",
                   name);
        return -1;
    }
    pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (pk == NULL || !EVP_PKEY_get_raw_public_key(pk, raw, &rawlen) || rawlen != 32 ||
        pem_of(pk, true, &priv) != 0 || pem_of(pk, false, &pub) != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "cannot make an Ed25519 key (OpenSSL)");
        goto out;
    }
    hdp_vkey_line(name, raw, vkey, sizeof vkey);
    snprintf(path, sizeof path, "%s.key", prefix);
    if (hdp_write_new(path, priv.data, priv.len, 0600, force, err) != 0)
        goto out;
    snprintf(path, sizeof path, "%s.pub", prefix);
    if (hdp_write_new(path, pub.data, pub.len, 0644, force, err) != 0)
        goto out;
    snprintf(path, sizeof path, "%s.vkey", prefix);
    if (hdp_write_new(path, vkey, strlen(vkey), 0644, force, err) != 0)
        goto out;
    rc = 0;
out:
    OPENSSL_cleanse(priv.data, priv.len);
    hd_buf_release(&priv);
    hd_buf_release(&pub);
    EVP_PKEY_free(pk);
    return rc;
}

EVP_PKEY *hdp_load_signing_key(const char *path, struct hd_err *err)
{
    struct stat st;
    EVP_PKEY *pk;
    /* The one input opener (herald/files.h): never blocks on a FIFO, a
     * regular file of at most 64 KiB, not on procfs. A missing key file
     * stays HD_EX_NOINPUT as before; everything else is HD_EX_CONFIG. */
    int fd = hd_input_open(path, HD_IN_KEY, "signing key", &st, err);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "r");
    if (f == NULL) {
        if (fd >= 0) {
            hd_err_set(err, HD_EX_CONFIG, "cannot read signing key %s: %s", path, strerror(errno));
            close(fd);
        } else if (access(path, F_OK) != 0 && errno == ENOENT) {
            err->code = HD_EX_NOINPUT;
        }
        return NULL;
    }
    if ((st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH))) {
        hd_err_set(err, HD_EX_CONFIG,
                   "signing key %s is accessible by group or others (mode %04o); run: chmod 600 %s",
                   path, (unsigned)(st.st_mode & 07777), path);
        fclose(f);
        return NULL;
    }
    pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (pk == NULL || EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(pk);
        hd_err_set(err, HD_EX_CONFIG,
                   "%s is not an Ed25519 private key in PEM (make one with `herald keys generate`)",
                   path);
        return NULL;
    }
    return pk;
}

static int parse_vkey(const char *s, size_t n, struct hd_proof_pubkey *k)
{
    const char *p1, *p2;
    uint8_t kh[4], want[4], typed[40];
    size_t tl;
    /* An empty file has no buffer at all: nothing to search (memchr and
     * memcpy take no NULL pointer, even for 0 bytes). */
    if (s == NULL || n == 0)
        return -1;
    p1 = memchr(s, '+', n);
    if (p1 == NULL || (size_t)(p1 - s) >= sizeof k->name ||
        (p2 = memchr(p1 + 1, '+', n - (size_t)(p1 + 1 - s))) == NULL || p2 - p1 != 9)
        return -1;
    memcpy(k->name, s, (size_t)(p1 - s));
    k->name[p1 - s] = '\0';
    if (!hdp_key_name_ok(k->name) || hd_proof_unhex(p1 + 1, 8, kh) != 0 ||
        hd_proof_unbase64(p2 + 1, n - (size_t)(p2 + 1 - s), typed, sizeof typed, &tl) != 0 ||
        tl != 33 || typed[0] != 1)
        return -1;
    memcpy(k->raw, typed + 1, 32);
    hd_proof_key_hash(k->name, k->raw, want);
    return memcmp(kh, want, 4) == 0 ? 0 : -1;
}

int hd_proof_pubkey_load(const char *path, struct hd_proof_pubkey *k, struct hd_err *err)
{
    struct hd_buf b = HD_BUF_INIT;
    int rc = -1;
    memset(k, 0, sizeof *k);
    if (hd_input_read(path, HD_IN_BUNDLE, "file", &b, err) != 0) {
        hd_err_prefix(err, "public key");
        return -1;
    }
    if (b.len > 10 && memcmp(b.data, "-----BEGIN", 10) == 0) {
        BIO *bio = BIO_new_mem_buf(b.data, (int)b.len);
        EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
        size_t len = 32;
        if (pk && EVP_PKEY_get_id(pk) == EVP_PKEY_ED25519 &&
            EVP_PKEY_get_raw_public_key(pk, k->raw, &len) && len == 32)
            rc = 0;
        EVP_PKEY_free(pk);
        BIO_free(bio);
    } else {
        size_t n = b.len;
        while (n && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r' || b.data[n - 1] == ' '))
            n--;
        rc = parse_vkey(b.data, n, k);
    }
    if (rc != 0)
        hd_err_set(err, HD_EX_DATAERR,
                   "%s is neither an Ed25519 public key in PEM nor a C2SP verifier key "
                   "(name+hash+base64)",
                   path);
    hd_buf_release(&b);
    return rc;
}

/* ---- checkpoints (C2SP tlog-checkpoint in a C2SP signed note) -------------------------------- */

static const char em_dash[] = "\xe2\x80\x94 ";
static const char manifest_ext[] = "herald-manifest sha256:";

static int sign_note(EVP_PKEY *pk, const char *name, const char *text, size_t len,
                     struct hd_buf *out, struct hd_err *err)
{
    uint8_t sig[4 + 64], raw[32];
    size_t siglen = 64, rawlen = 32;
    char b64[128];
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m && EVP_DigestSignInit(m, NULL, NULL, NULL, pk) == 1 &&
             EVP_DigestSign(m, sig + 4, &siglen, (const unsigned char *)text, len) == 1 &&
             siglen == 64 && EVP_PKEY_get_raw_public_key(pk, raw, &rawlen) && rawlen == 32;
    EVP_MD_CTX_free(m);
    if (!ok) {
        hd_err_set(err, HD_EX_SOFTWARE, "Ed25519 signing failed (OpenSSL)");
        return -1;
    }
    hd_proof_key_hash(name, raw, sig);
    hd_proof_base64(sig, sizeof sig, b64);
    if (hd_buf_append(out, text, len) || hd_buf_putc(out, '\n') || hd_buf_puts(out, em_dash) ||
        hd_buf_printf(out, "%s %s\n", name, b64)) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    return 0;
}

static bool ed25519_ok(const uint8_t raw[32], const uint8_t sig[64], const char *msg, size_t len)
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    bool ok = pk && m && EVP_DigestVerifyInit(m, NULL, NULL, NULL, pk) == 1 &&
              EVP_DigestVerify(m, sig, 64, (const unsigned char *)msg, len) == 1;
    EVP_MD_CTX_free(m);
    EVP_PKEY_free(pk);
    return ok;
}

int hd_note_verify(const char *text, size_t len, const struct hd_proof_pubkey *key,
                   size_t *text_len, char signer[128], struct hd_err *err)
{
    const char *end, *body_end = NULL, *p, *nl;
    if (text == NULL || len == 0) { /* an empty file: no buffer to walk */
        hd_err_set(err, HD_EX_FAIL, "not a signed note (text, a blank line, signature lines)");
        return -1;
    }
    end = text + len;
    for (p = text; p + 1 < end; p++)
        if (p[0] == '\n' && p[1] == '\n') {
            body_end = p + 1;
            break;
        }
    if (body_end == NULL || len == 0 || end[-1] != '\n' || memchr(text, '\0', len) ||
        memchr(text, '\r', len)) {
        hd_err_set(err, HD_EX_FAIL, "not a signed note (text, a blank line, signature lines)");
        return -1;
    }
    /* The signatures: "— <name> <base64(key hash || signature)>" per line. */
    bool matched = false;
    char names[256] = "";
    for (p = body_end + 1; p < end; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)(nl - p), dl = strlen(em_dash);
        const char *sp;
        char name[128];
        uint8_t sig[80], kh[4];
        size_t siglen;
        if (n < dl || memcmp(p, em_dash, dl) != 0 || (sp = memchr(p + dl, ' ', n - dl)) == NULL ||
            (size_t)(sp - p - (ptrdiff_t)dl) >= sizeof name) {
            hd_err_set(err, HD_EX_FAIL, "a malformed signature line");
            return -1;
        }
        memcpy(name, p + dl, (size_t)(sp - p) - dl);
        name[(size_t)(sp - p) - dl] = '\0';
        if (strlen(names) + strlen(name) + 3 < sizeof names)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                     names[0] ? ", " : "", name);
        if (hd_proof_unbase64(sp + 1, (size_t)(nl - sp - 1), sig, sizeof sig, &siglen) != 0 ||
            siglen < 5) {
            hd_err_set(err, HD_EX_FAIL, "a signature line with bad base64");
            return -1;
        }
        if (key->name[0] && strcmp(key->name, name) != 0)
            continue;
        hd_proof_key_hash(name, key->raw, kh);
        if (siglen != 68 || memcmp(kh, sig, 4) != 0)
            continue;
        matched = true;
        if (ed25519_ok(key->raw, sig + 4, text, (size_t)(body_end - text))) {
            snprintf(signer, 128, "%s", name);
            *text_len = (size_t)(body_end - text);
            return 0;
        }
    }
    if (matched)
        hd_err_set(err, HD_EX_FAIL,
                   "the signature does not verify with the given key: the text or its signature "
                   "was changed");
    else
        hd_err_set(err, HD_EX_FAIL, "no signature by the given key (signed by: %s)",
                   names[0] ? names : "nobody");
    return -1;
}

int hd_note_sign_seed(const uint8_t seed[32], const char *name, const char *text, size_t len,
                      struct hd_buf *out, struct hd_err *err)
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    int rc;
    if (pk == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "cannot make an Ed25519 key (OpenSSL)");
        return -1;
    }
    rc = sign_note(pk, name, text, len, out, err);
    EVP_PKEY_free(pk);
    return rc;
}

int hdp_checkpoint_sign(EVP_PKEY *pk, const char *name, const char *origin, uint64_t size,
                        const uint8_t root[32], const uint8_t manifest_sha256[32],
                        struct hd_buf *out, struct hd_err *err)
{
    char text[1024], root_b64[64], manifest_hex[65];
    hd_proof_base64(root, 32, root_b64);
    hd_hex(manifest_sha256, 32, manifest_hex);
    int tl = snprintf(text, sizeof text, "%s\n%" PRIu64 "\n%s\n%s%s\n", origin, size, root_b64,
                      manifest_ext, manifest_hex);
    return sign_note(pk, name, text, (size_t)tl, out, err);
}

int hd_checkpoint_verify(const char *text, size_t len, const struct hd_proof_pubkey *key,
                         struct hd_checkpoint *cp, struct hd_err *err)
{
    const char *p, *nl, *body_end;
    size_t body;
    int line = 0;
    memset(cp, 0, sizeof *cp);
    if (len > HD_CHECKPOINT_MAX) {
        hd_err_set(err, HD_EX_FAIL, "checkpoint: larger than %u bytes, so not a checkpoint",
                   HD_CHECKPOINT_MAX);
        return -1;
    }
    if (hd_note_verify(text, len, key, &body, cp->signer, err) != 0) {
        hd_err_prefix(err, "checkpoint");
        return -1;
    }
    body_end = text + body;
    for (p = text; p < body_end; p = nl + 1, line++) {
        nl = memchr(p, '\n', (size_t)(body_end - p));
        size_t n = (size_t)(nl - p);
        if (line == 0) {
            if (n == 0 || n >= sizeof cp->origin)
                goto bad_line;
            memcpy(cp->origin, p, n);
        } else if (line == 1) {
            uint64_t v = 0;
            if (n == 0 || n > 19 || (p[0] == '0' && n > 1))
                goto bad_line;
            for (size_t i = 0; i < n; i++) {
                if (p[i] < '0' || p[i] > '9')
                    goto bad_line;
                v = v * 10 + (uint64_t)(p[i] - '0');
            }
            cp->size = v;
        } else if (line == 2) {
            size_t got;
            if (hd_proof_unbase64(p, n, cp->root, 32, &got) != 0 || got != 32)
                goto bad_line;
        } else if (n == 0) {
            goto bad_line;
        } else if (n == strlen(manifest_ext) + 64 &&
                   memcmp(p, manifest_ext, strlen(manifest_ext)) == 0) {
            if (hd_proof_unhex(p + strlen(manifest_ext), 64, cp->manifest_sha256) != 0)
                goto bad_line;
            cp->has_manifest = true;
        }
    }
    if (line < 3) {
        hd_err_set(err, HD_EX_FAIL, "checkpoint: needs an origin, a tree size and a root hash");
        return -1;
    }
    return 0;
bad_line:
    hd_err_set(err, HD_EX_FAIL, "checkpoint: line %d is malformed", line + 1);
    return -1;
}
