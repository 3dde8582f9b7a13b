/* channels/smtp/smtp_dkim.c - the smtp module's `dkim:` settings and the
 * signing of each message just before libesmtp sends it (dkim.c signs).
 *
 *   dkim:
 *     domain: lumen.example           # d=
 *     selector: herald                # s= for a single key
 *     rsa_selector: herald-rsa        # s= per key, when both are given
 *     ed25519_selector: herald-ed25519
 *     rsa_key_file: keys/dkim-rsa.pem          # PEM, RSA >= 2048 bits, mode 0600
 *     ed25519_key_file: keys/dkim-ed25519.pem  # PEM (PKCS #8), mode 0600
 *
 * With both keys a message carries two signatures, ed25519-sha256 first
 * (RFC 8463 dual signing): verifiers that know Ed25519 use it, the others
 * the RSA one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "dkim.h"
#include "herald/files.h"
#include "smtp_dkim.h"

struct dkim_key {
    enum dkim_alg alg;
    EVP_PKEY *pkey;
    char selector[64];
};

struct dkim_signer {
    char domain[254];
    struct dkim_key keys[2]; /* ed25519 first */
    size_t nkeys;
};

void dkim_free(struct dkim_signer *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->nkeys; i++)
        EVP_PKEY_free(d->keys[i].pkey);
    free(d);
}

static bool name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

static const struct hd_ynode *get_str(const struct hd_ynode *map, const char *key, const char **out,
                                      struct hd_err *err, bool *bad)
{
    const struct hd_ynode *n = hd_ymap_get(map, key);
    *out = NULL;
    if (n && hd_settings_str(n, key, out, err) != 0)
        *bad = true;
    return n;
}

static EVP_PKEY *load_key(const struct hd_channel_view *view, const struct hd_ynode *n,
                          const char *path, bool rsa, struct hd_err *err)
{
    char full[4096];
    struct stat st;
    if (path[0] == '/' || view->campaign_dir == NULL)
        snprintf(full, sizeof full, "%s", path);
    else
        snprintf(full, sizeof full, "%s/%s", view->campaign_dir, path);
    /* The one input opener (herald/files.h): never blocks on a FIFO, a
     * regular file of at most 64 KiB, not on procfs. */
    struct hd_err oe = {0};
    int fd = hd_input_open(full, HD_IN_KEY, "DKIM key", &st, &oe);
    if (fd < 0) {
        hd_err_at(err, HD_EX_CONFIG, n->file, n->line, n->col, "%s", oe.msg);
        return NULL;
    }
    if (st.st_mode & 077) {
        close(fd);
        hd_err_at(err, HD_EX_CONFIG, n->file, n->line, n->col,
                  "DKIM key %s must be a regular file readable by its owner only (chmod 600)",
                  full);
        return NULL;
    }
    FILE *f = fdopen(fd, "r");
    if (f == NULL)
        close(fd);
    EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    int e = errno;
    if (f)
        fclose(f);
    if (k == NULL) {
        ERR_clear_error();
        hd_err_at(err, HD_EX_CONFIG, n->file, n->line, n->col, "cannot read DKIM key %s: %s", full,
                  f ? "not a PEM private key (or encrypted)" : strerror(e));
        return NULL;
    }
    int id = EVP_PKEY_get_base_id(k);
    if (rsa && (id != EVP_PKEY_RSA || EVP_PKEY_get_bits(k) < 2048)) {
        hd_err_at(err, HD_EX_CONFIG, n->file, n->line, n->col,
                  "DKIM key %s is not an RSA key of at least 2048 bits (RFC 8301)", full);
        EVP_PKEY_free(k);
        return NULL;
    }
    if (!rsa && id != EVP_PKEY_ED25519) {
        hd_err_at(err, HD_EX_CONFIG, n->file, n->line, n->col, "DKIM key %s is not an Ed25519 key",
                  full);
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

/* The dkim: mapping, checked; the key files are named, not read. */
struct dkim_names {
    const char *domain;
    const char *ed_sel, *rsa_sel;   /* for the keys given */
    const char *ed_file, *rsa_file; /* NULL when not given */
    const struct hd_ynode *n_ed, *n_rsa;
};

static int dkim_parse(const struct hd_ynode *map, struct dkim_names *out, struct hd_err *err)
{
    static const char *const known[] = {
        "domain",           "selector", "rsa_selector", "ed25519_selector", "rsa_key_file",
        "ed25519_key_file", NULL};
    const char *domain = NULL, *sel = NULL, *rsa_sel = NULL, *ed_sel = NULL, *rsa_file = NULL,
               *ed_file = NULL;
    const struct hd_ynode *n_domain = NULL, *n_sel = NULL, *n_rsa_sel = NULL, *n_ed_sel = NULL,
                          *n_rsa = NULL, *n_ed = NULL;
    bool bad = false;

    if (map->kind != HD_YMAP) {
        hd_err_at(err, HD_EX_DATAERR, map->file, map->line, map->col,
                  "setting \"dkim\" must be a mapping (domain, selector, rsa_key_file, "
                  "ed25519_key_file)");
        return -1;
    }
    const char *sug;
    const struct hd_ynode *unknown = hd_settings_unknown(map, known, &sug);
    if (unknown) {
        hd_err_at(err, HD_EX_DATAERR, unknown->file, unknown->line, unknown->col,
                  "unknown dkim setting \"%s\"%s%s%s", unknown->str, sug ? " (did you mean \"" : "",
                  sug ? sug : "", sug ? "\"?)" : "");
        return -1;
    }
    n_domain = get_str(map, "domain", &domain, err, &bad);
    if (!bad)
        n_sel = get_str(map, "selector", &sel, err, &bad);
    if (!bad)
        n_rsa_sel = get_str(map, "rsa_selector", &rsa_sel, err, &bad);
    if (!bad)
        n_ed_sel = get_str(map, "ed25519_selector", &ed_sel, err, &bad);
    if (!bad)
        n_rsa = get_str(map, "rsa_key_file", &rsa_file, err, &bad);
    if (!bad)
        n_ed = get_str(map, "ed25519_key_file", &ed_file, err, &bad);
    if (bad)
        return -1;
    if (domain == NULL || !name_ok(domain, 253)) {
        const struct hd_ynode *at = n_domain ? n_domain : map;
        hd_err_at(err, HD_EX_DATAERR, at->file, at->line, at->col,
                  "dkim needs \"domain\": the signing domain (d=), e.g. domain: lumen.example");
        return -1;
    }
    if (rsa_file == NULL && ed_file == NULL) {
        hd_err_at(err, HD_EX_DATAERR, map->file, map->line, map->col,
                  "dkim needs rsa_key_file, ed25519_key_file or both");
        return -1;
    }
    if (rsa_file && !rsa_sel)
        rsa_sel = sel, n_rsa_sel = n_sel;
    if (ed_file && !ed_sel)
        ed_sel = sel, n_ed_sel = n_sel;
    if ((rsa_file && rsa_sel == NULL) || (ed_file && ed_sel == NULL)) {
        hd_err_at(err, HD_EX_DATAERR, map->file, map->line, map->col,
                  "dkim needs a selector (s=) for each key: selector, or rsa_selector and "
                  "ed25519_selector");
        return -1;
    }
    if (rsa_file && ed_file && strcmp(rsa_sel, ed_sel) == 0) {
        const struct hd_ynode *at = n_ed_sel ? n_ed_sel : map;
        hd_err_at(err, HD_EX_DATAERR, at->file, at->line, at->col,
                  "the RSA and the Ed25519 key need different selectors (one DNS record each): "
                  "set rsa_selector and ed25519_selector");
        return -1;
    }
    const struct hd_ynode *sel_nodes[2] = {n_ed_sel, n_rsa_sel};
    const char *sels[2] = {ed_sel, rsa_sel};
    for (size_t i = 0; i < 2; i++)
        if (sels[i] && !name_ok(sels[i], 63)) {
            const struct hd_ynode *at = sel_nodes[i] ? sel_nodes[i] : map;
            hd_err_at(err, HD_EX_DATAERR, at->file, at->line, at->col,
                      "bad DKIM selector \"%s\" (letters, digits, - _ .)", sels[i]);
            return -1;
        }

    out->domain = domain;
    out->ed_sel = ed_sel;
    out->rsa_sel = rsa_sel;
    out->ed_file = ed_file;
    out->rsa_file = rsa_file;
    out->n_ed = n_ed;
    out->n_rsa = n_rsa;
    return 0;
}

int dkim_check(const struct hd_ynode *map, char *domain, size_t size, struct hd_err *err)
{
    struct dkim_names names;
    if (dkim_parse(map, &names, err) != 0)
        return -1;
    snprintf(domain, size, "%s", names.domain);
    return 0;
}

struct dkim_signer *dkim_load(const struct hd_channel_view *view, const struct hd_ynode *map,
                              struct hd_err *err)
{
    struct dkim_names nm;
    if (dkim_parse(map, &nm, err) != 0)
        return NULL;
    struct dkim_signer *d = calloc(1, sizeof *d);
    if (d == NULL)
        abort();
    snprintf(d->domain, sizeof d->domain, "%s", nm.domain);
    if (nm.ed_file) {
        struct dkim_key *k = &d->keys[d->nkeys];
        if ((k->pkey = load_key(view, nm.n_ed, nm.ed_file, false, err)) == NULL)
            goto fail;
        k->alg = DKIM_ED25519_SHA256;
        snprintf(k->selector, sizeof k->selector, "%s", nm.ed_sel);
        d->nkeys++;
    }
    if (nm.rsa_file) {
        struct dkim_key *k = &d->keys[d->nkeys];
        if ((k->pkey = load_key(view, nm.n_rsa, nm.rsa_file, true, err)) == NULL)
            goto fail;
        k->alg = DKIM_RSA_SHA256;
        snprintf(k->selector, sizeof k->selector, "%s", nm.rsa_sel);
        d->nkeys++;
    }
    return d;
fail:
    dkim_free(d);
    return NULL;
}

const char *dkim_domain(const struct dkim_signer *d)
{
    return d->domain;
}

uint8_t *dkim_sign(const struct dkim_signer *d, const uint8_t *msg, size_t len, size_t *out_len,
                   const char **why)
{
    char *h[2] = {NULL, NULL};
    size_t hl[2] = {0, 0}, total = len;
    long long now = (long long)time(NULL);
    uint8_t *out = NULL;
    for (size_t i = 0; i < d->nkeys; i++) {
        struct dkim_params p = {.alg = d->keys[i].alg,
                                .key = d->keys[i].pkey,
                                .domain = d->domain,
                                .selector = d->keys[i].selector,
                                .t = now};
        if ((h[i] = dkim_signature(&p, msg, len, why)) == NULL)
            goto out;
        hl[i] = strlen(h[i]);
        total += hl[i];
    }
    if ((out = malloc(total)) == NULL) {
        *why = "out of memory";
        goto out;
    }
    size_t o = 0;
    for (size_t i = 0; i < d->nkeys; i++) {
        memcpy(out + o, h[i], hl[i]);
        o += hl[i];
    }
    memcpy(out + o, msg, len);
    *out_len = total;
out:
    free(h[0]);
    free(h[1]);
    return out;
}
