/* proof_record.c - recording: the pseudonyms (HMAC-SHA256 under the
 * pseudonym key, and loading that key), and the recorder, which appends a
 * record to the store's proofs database in the transaction of each final
 * delivery state and of the plan's exclusions, keeping the seq/prev chain.
 * A delivery record is written in two steps to take the hashing off the
 * store's writer thread: hd_proofs_prepare (render threads) makes the
 * person's and the channel's fields, hd_proofs_delivery_pre (the writer)
 * adds the outcome, seq and prev. The line is byte for byte the one
 * hd_proof_format (proof_format.c) writes for the same fields.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "herald/audience.h"
#include "herald/files.h"
#include "herald/hash.h"
#include "herald/mime.h"
#include "herald/render.h"
#include "proof_internal.h"

/* ---- pseudonyms: HMAC-SHA256 (herald/hash.h) ------------------------------------------------- */

/* HMAC over label (with its NUL) || a || [0 || b]. */
static void hmac_raw(const struct hd_hmac *k, const char *label, const char *a, size_t na,
                     const char *b, size_t nb, uint8_t mac[HD_SHA256_LEN])
{
    static const uint8_t zero = 0;
    struct hd_sha256 w;
    hd_hmac_begin(k, &w);
    hd_sha256_update(&w, label, strlen(label) + 1);
    hd_sha256_update(&w, a, na);
    if (b != NULL) {
        hd_sha256_update(&w, &zero, 1);
        hd_sha256_update(&w, b, nb);
    }
    hd_hmac_end(k, &w, mac);
}

static void hmac_hex(const struct hd_hmac *k, const char *label, const char *a, size_t na,
                     const char *b, size_t nb, char out[65])
{
    uint8_t mac[HD_SHA256_LEN];
    hmac_raw(k, label, a, na, b, nb, mac);
    hd_hex(mac, HD_SHA256_LEN, out);
}

static const char person_label[] = "herald-person-v1";
static const char address_label[] = "herald-address-v1";
static const char link_label[] = "herald-link-v1";

static void pseudonym(const struct hd_pseudonym_key *k, const char *label, const char *a, size_t na,
                      const char *b, size_t nb, char out[65])
{
    struct hd_hmac h;
    hd_hmac_init(&h, k->bytes, k->len);
    hmac_hex(&h, label, a, na, b, nb, out);
    hd_hmac_wipe(&h);
}

void hd_proof_person_key(const struct hd_pseudonym_key *k, const char *id, size_t len, char out[65])
{
    pseudonym(k, person_label, id, len, NULL, 0, out);
}

void hd_proof_address_key(const struct hd_pseudonym_key *k, const char *type, const char *addr,
                          size_t len, char out[65])
{
    pseudonym(k, address_label, type, strlen(type), addr, len, out);
}

void hd_proof_link_hmac(const struct hd_pseudonym_key *k, const char *url, size_t len, char out[65])
{
    pseudonym(k, link_label, url, len, NULL, 0, out);
}

/* ---- the pseudonym key ----------------------------------------------------------------------- */

int hd_pseudonym_key_load(struct hd_pseudonym_key *k, const char *env, const char *file,
                          const char *key_id, struct hd_err *err)
{
    unsigned char buf[HD_PSEUDONYM_KEY_MAX + 2];
    const char *v = env ? getenv(env) : NULL;
    size_t len;
    OPENSSL_cleanse(k, sizeof *k);
    if (v != NULL && *v != '\0') {
        len = strlen(v);
        if (len < HD_PSEUDONYM_KEY_MIN || len > HD_PSEUDONYM_KEY_MAX) {
            hd_err_set(err, HD_EX_CONFIG,
                       "pseudonym key in environment variable %s must be %d to %d bytes long", env,
                       HD_PSEUDONYM_KEY_MIN, HD_PSEUDONYM_KEY_MAX);
            return -1;
        }
        memcpy(k->bytes, v, len);
    } else if (file != NULL) {
        /* Whoever reads the pseudonym key can re-identify every record. A
         * lone final "\r" has always been dropped too (HD_KEY_FILE_LONE_CR):
         * keeping it now would change every pseudonym made with the key. */
        long n = hd_key_file_read(file, "pseudonym key file", buf, HD_PSEUDONYM_KEY_MAX,
                                  HD_KEY_FILE_LONE_CR, err);
        if (n < 0) {
            if (env)
                hd_err_prefix(err, "environment variable %s is not set, and", env);
            return -1;
        }
        len = (size_t)n;
        if (len < HD_PSEUDONYM_KEY_MIN) {
            OPENSSL_cleanse(buf, sizeof buf);
            hd_err_set(err, HD_EX_CONFIG, "pseudonym key file %s must hold %d to %d bytes", file,
                       HD_PSEUDONYM_KEY_MIN, HD_PSEUDONYM_KEY_MAX);
            return -1;
        }
        memcpy(k->bytes, buf, len);
        OPENSSL_cleanse(buf, sizeof buf);
    } else {
        hd_err_set(err, HD_EX_CONFIG,
                   "no pseudonym key for proofs: environment variable %s is not set and no "
                   "pseudonym_key_file is configured",
                   env ? env : "(none)");
        return -1;
    }
    k->len = len;
    if (key_id) {
        snprintf(k->id, sizeof k->id, "%.32s", key_id);
    } else {
        static const char label[] = "herald-key-id-v1";
        uint8_t h[HD_SHA256_LEN];
        char hex[65];
        struct hd_sha256 ctx;
        hd_sha256_init(&ctx);
        hd_sha256_update(&ctx, label, sizeof label);
        hd_sha256_update(&ctx, k->bytes, k->len);
        hd_sha256_final(&ctx, h);
        hd_hex(h, 6, hex);
        snprintf(k->id, sizeof k->id, "k-%.12s", hex);
    }
    return 0;
}

/* ---- recording ------------------------------------------------------------------------------- */

struct hd_proofs {
    const struct hd_campaign *c;
    const struct hd_link_secret *link;
    struct hd_pseudonym_key key;
    struct hd_hmac hm; /* the pseudonym key; only read after open (hd_proofs_prepare) */
    uint32_t tag;      /* in every struct hd_proof_pre this recorder makes */
    char snapshot[65];
    char domain[HD_MAX_CHANNELS][256]; /* email channels: the From domain (ASCII) */
    /* The recorder's own parts of a delivery record in canonical JSON,
     * ",\"key\":value" runs ending at frag_end: campaign; key_id and kind;
     * snapshot (hd_proofs_delivery_pre puts them in place). */
    struct hd_buf frag;
    size_t frag_end[3];
    /* The last record appended (its bytes stay in line): when it is still
     * the last one in the store, its leaf hash is the next record's prev. */
    bool tip_ok;
    uint64_t tip_seq;
    uint8_t tip_leaf[HD_SHA256_LEN];
    struct hd_buf line, url, id;
    struct hd_buf scrub[3], tmp; /* event, provider_id, response, scrubbed */
    struct hd_linker *linker;    /* the objection URL, as hd_link_build makes it */
};

_Static_assert(sizeof(struct hd_proof_pre) == 1024, "struct hd_proof_pre is 1024 bytes");

/* ---- fragments: record fields in canonical JSON, each ",\"key\":value" ----------------------- */

/* A bounded writer into a fixed buffer; ok turns false when something does
 * not fit (and nothing more is written). */
struct fw {
    char *p, *end;
    bool ok;
};

static void fw_raw(struct fw *w, const char *s, size_t n)
{
    if (!w->ok || (size_t)(w->end - w->p) < n) {
        w->ok = false;
        return;
    }
    memcpy(w->p, s, n);
    w->p += n;
}

#define FW_LIT(w, lit) fw_raw(w, lit, sizeof lit - 1)

/* A string with escapes (rare): escaped aside, then copied if it fits. */
static void fw_escaped(struct fw *w, const char *s, size_t n)
{
    char tmp[6 * HD_PROOF_PRE_TEXT + 2];
    if (n > HD_PROOF_PRE_TEXT) {
        w->ok = false;
        return;
    }
    char *e = hdp_json_str(tmp, s, n);
    fw_raw(w, tmp, (size_t)(e - tmp));
}

/* key: ",\"name\":" */
static void fw_str(struct fw *w, const char *key, const char *s, size_t n)
{
    fw_raw(w, key, strlen(key));
    if (!w->ok)
        return;
    if (!hdp_json_plain(s, n)) {
        fw_escaped(w, s, n);
    } else if ((size_t)(w->end - w->p) >= n + 2) {
        *w->p++ = '"';
        memcpy(w->p, s, n);
        w->p += n;
        *w->p++ = '"';
    } else {
        w->ok = false;
    }
}

/* key: ",\"name\":\"" */
static void fw_hex(struct fw *w, const char *key, const char hex[65])
{
    fw_raw(w, key, strlen(key));
    fw_raw(w, hex, 64);
    FW_LIT(w, "\"");
}

/* The fragments of a delivery record that come from the recorder alone. */
static int proofs_frags(struct hd_proofs *p)
{
    const char *key_id = p->key.id;
    size_t n = strlen(p->c->id) + strlen(key_id) + 64;
    char *o;
    if (hd_buf_reserve(&p->frag, 6 * n + 128) != 0)
        return -1;
    o = p->frag.data;
    memcpy(o, ",\"campaign\":", 12);
    o = hdp_json_str(o + 12, p->c->id, strlen(p->c->id));
    p->frag_end[0] = (size_t)(o - p->frag.data);
    memcpy(o, ",\"key_id\":", 10);
    o = hdp_json_str(o + 10, key_id, strlen(key_id));
    memcpy(o, ",\"kind\":\"delivery\"", 18);
    o += 18;
    p->frag_end[1] = (size_t)(o - p->frag.data);
    memcpy(o, ",\"snapshot\":", 12);
    o = hdp_json_str(o + 12, p->snapshot, 64);
    p->frag_end[2] = (size_t)(o - p->frag.data);
    p->frag.len = p->frag_end[2];
    p->frag.data[p->frag.len] = '\0';
    return 0;
}

int hd_proofs_open(struct hd_proofs **out, const struct hd_campaign *c,
                   const struct hd_link_secret *link, struct hd_err *err)
{
    struct hd_proofs *p;
    *out = NULL;
    if (!c->proofs)
        return 0;
    p = calloc(1, sizeof *p);
    if (p == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    p->c = c;
    p->link = link;
    if (hd_pseudonym_key_load(&p->key, c->pseudonym_key_env, c->pseudonym_key_file, c->proof_key_id,
                              err) != 0) {
        hd_err_prefix(err,
                      "campaign \"%s\" keeps delivery proofs (unless proofs.enabled: false; "
                      "`herald validate` says how to make the key)",
                      c->id);
        free(p);
        return -1;
    }
    hd_hmac_init(&p->hm, p->key.bytes, p->key.len);
    hd_hex(c->snapshot_sha256, 32, p->snapshot);
    if (proofs_frags(p) != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        hd_proofs_close(p);
        return -1;
    }
    /* A struct hd_proof_pre is bound to the key and the campaign. */
    uint8_t mac[HD_SHA256_LEN];
    hmac_raw(&p->hm, "herald-proof-pre-v1", c->id, strlen(c->id), NULL, 0, mac);
    p->tag = (uint32_t)mac[0] << 24 | (uint32_t)mac[1] << 16 | (uint32_t)mac[2] << 8 | mac[3];
    if (p->tag == 0)
        p->tag = 1;
    /* Without a secret or with a template the linker refuses, every
     * delivery record fails (hd_link_build refuses it too), as before. */
    if (link != NULL)
        p->linker = hd_linker_new(link, c->link_url, c->id, NULL);
    for (size_t ch = 0; ch < c->nchannels; ch++) {
        char from[320];
        struct hd_err e = {0};
        if (c->channels[ch].type != HD_CHANNEL_EMAIL || c->channels[ch].from_addr == NULL)
            continue;
        /* as the renderer makes it; a From it refuses fails every render */
        if (hd_mime_ascii_address(c->channels[ch].from_addr, from, sizeof from, &e) == 0)
            snprintf(p->domain[ch], sizeof p->domain[ch], "%s", strrchr(from, '@') + 1);
    }
    *out = p;
    return 0;
}

void hd_proofs_close(struct hd_proofs *p)
{
    if (p == NULL)
        return;
    hd_hmac_wipe(&p->hm);
    hd_linker_free(p->linker);
    hd_buf_release(&p->frag);
    hd_buf_release(&p->line);
    hd_buf_release(&p->url);
    hd_buf_release(&p->id);
    for (size_t i = 0; i < 3; i++)
        hd_buf_release(&p->scrub[i]);
    hd_buf_release(&p->tmp);
    OPENSSL_cleanse(&p->key, sizeof p->key);
    free(p);
}

/* RFC 9162 leaf hash: SHA-256(0x00 || line). */
static void leaf_hash(const void *line, size_t len, uint8_t out[HD_SHA256_LEN])
{
    static const uint8_t zero = 0;
    struct hd_sha256 h;
    hd_sha256_init(&h);
    hd_sha256_update(&h, &zero, 1);
    hd_sha256_update(&h, line, len);
    hd_sha256_final(&h, out);
}

/* The next record's seq and prev (*has_prev false for seq 0), from the last
 * record of the proofs, on an open cursor *cur. Its leaf hash is the one
 * kept from the last append when the record is byte for byte that one (any
 * abort, or another writer, shows as different bytes or another seq). */
static int chain_next(struct hd_proofs *p, MDB_txn *txn, const struct hd_store *s, MDB_cursor **cur,
                      uint64_t *seq, uint8_t prev[HD_SHA256_LEN], bool *has_prev,
                      struct hd_err *err)
{
    MDB_val k, v;
    bool tip = p->tip_ok;
    int rc = mdb_cursor_open(txn, s->proofs, cur);
    p->tip_ok = false; /* line is about to change */
    if (rc != 0)
        return hd_store_fail(err, rc, "opening the proofs");
    rc = mdb_cursor_get(*cur, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size == 8) {
        *seq = hd_get_u64(k.mv_data) + 1;
        if (tip && p->tip_seq + 1 == *seq && v.mv_size == p->line.len &&
            memcmp(v.mv_data, p->line.data, v.mv_size) == 0)
            memcpy(prev, p->tip_leaf, HD_SHA256_LEN);
        else
            leaf_hash(v.mv_data, v.mv_size, prev);
        *has_prev = true;
        return 0;
    }
    if (rc == MDB_NOTFOUND) {
        *seq = 0;
        *has_prev = false;
        return 0;
    }
    mdb_cursor_close(*cur);
    *cur = NULL;
    if (rc == 0)
        hd_err_set(err, HD_EX_SOFTWARE, "damaged proofs database (a key of %zu bytes)", k.mv_size);
    return rc ? hd_store_fail(err, rc, "reading the proofs") : -1;
}

/* Appends line as record seq on cur (from chain_next), closes cur, and keeps
 * the record's leaf hash for the next one. */
static int chain_put(struct hd_proofs *p, MDB_cursor *cur, uint64_t seq, struct hd_err *err)
{
    uint8_t key[8];
    MDB_val k = {8, key}, v = {p->line.len, p->line.data};
    hd_key_u64(key, seq);
    int rc = mdb_cursor_put(cur, &k, &v, MDB_APPEND);
    mdb_cursor_close(cur);
    if (rc != 0)
        return hd_store_fail(err, rc, "writing a proof record");
    leaf_hash(p->line.data, p->line.len, p->tip_leaf);
    p->tip_seq = seq;
    p->tip_ok = true;
    return 0;
}

/* Appends f as the next record: seq and prev come from the last record. */
static int append(struct hd_proofs *p, MDB_txn *txn, const struct hd_store *s,
                  struct hd_proof_fields *f, struct hd_err *err)
{
    MDB_cursor *cur;
    uint8_t prev[HD_SHA256_LEN];
    bool has_prev;
    if (chain_next(p, txn, s, &cur, &f->seq, prev, &has_prev, err) != 0)
        return -1;
    f->prev = has_prev ? prev : NULL;
    hd_buf_reset(&p->line);
    if (hd_proof_format(f, &p->line) != 0) {
        mdb_cursor_close(cur);
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    return chain_put(p, cur, f->seq, err);
}

/* ---- free text: no identifiers in clear ------------------------------------------------------ */

/* Free text reaches a record from outside Herald's control: a module's
 * event, the service's id and reply (a relay that says "550 5.1.1
 * <a@example.org>: Recipient address rejected", a push service that echoes
 * the token), a render failure's reason (which quotes the person's id and
 * values). Records are pseudonymous (docs/proofs.md): the person's
 * identifiers are found by hash (struct hd_proof_pre has no strings) and
 * replaced, and so is any word that looks like an address. */

static unsigned char fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* FNV-1a over the ASCII-folded bytes. */
static uint32_t fold_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ fold((unsigned char)s[i])) * 16777619u;
    return h;
}

static bool alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

static void pii_set(struct hd_proof_pre *pre, int k, const char *s, size_t n)
{
    if (s == NULL || n == 0 || n > UINT16_MAX) {
        pre->pii_len[k] = 0;
        pre->pii_first[k] = 0;
        pre->pii_hash[k] = 0;
        return;
    }
    pre->pii_len[k] = (uint16_t)n;
    pre->pii_first[k] = fold((unsigned char)s[0]);
    pre->pii_hash[k] = fold_hash(s, n);
}

static const char *const pii_mark[HD_PROOF_PII] = {"[id]", "[address]", "[address]", "[token]"};

/* Word delimiters for the address rule: space, controls and the
 * punctuation around addresses in replies and JSON. */
static bool delim(unsigned char c)
{
    return c <= ' ' || c == 0x7F || strchr("<>\"'(),;:[]{}=&?", c) != NULL;
}

/* out = s[0..n) with the person's identifiers, words holding an '@' and
 * (quotes) quoted excerpts replaced. 0, or -1 (no memory). */
static int scrub_text(const struct hd_proof_pre *pre, const char *s, size_t n, bool quotes,
                      struct hd_buf *tmp, struct hd_buf *out)
{
    hd_buf_reset(tmp);
    hd_buf_reset(out);
    if (n == 0)
        return 0;
    /* 1. the person's identifiers, between non-alphanumerics */
    for (size_t i = 0; i < n;) {
        int hit = -1;
        if (i == 0 || !alnum((unsigned char)s[i - 1])) {
            for (int k = 0; k < HD_PROOF_PII && hit < 0; k++) {
                size_t len = pre->pii_len[k];
                if (len && len <= n - i && fold((unsigned char)s[i]) == pre->pii_first[k] &&
                    (i + len == n || !alnum((unsigned char)s[i + len])) &&
                    fold_hash(s + i, len) == pre->pii_hash[k])
                    hit = k;
            }
        }
        if (hit >= 0) {
            if (hd_buf_puts(tmp, pii_mark[hit]) != 0)
                return -1;
            i += pre->pii_len[hit];
        } else if (hd_buf_putc(tmp, s[i++]) != 0) {
            return -1;
        }
    }
    /* 2. any word with an '@'; 3. (quotes) any "..." excerpt */
    const char *t = tmp->data;
    size_t m = tmp->len;
    for (size_t i = 0; i < m;) {
        if (quotes && t[i] == '"') {
            const char *q = memchr(t + i + 1, '"', m - i - 1);
            if (q != NULL) {
                if (hd_buf_puts(out, "\"[value]\"") != 0)
                    return -1;
                i = (size_t)(q - t) + 1;
                continue;
            }
        }
        if (delim((unsigned char)t[i])) {
            if (hd_buf_putc(out, t[i++]) != 0)
                return -1;
            continue;
        }
        size_t j = i;
        while (j < m && !delim((unsigned char)t[j]))
            j++;
        if (memchr(t + i, '@', j - i) != NULL ? hd_buf_puts(out, "[address]")
                                              : hd_buf_append(out, t + i, j - i))
            return -1;
        i = j;
    }
    return 0;
}

/* Events come from modules: keep them to the record's name alphabet.
 * Returns the length (1 to 64). */
static size_t clean_event(const char *ev, size_t n, char out[65])
{
    size_t o = 0;
    for (size_t i = 0; i < n && o < 64; i++) {
        char c = ev[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || c == '/';
        out[o++] = ok ? c : '_';
    }
    if (o == 0)
        memcpy(out, "unknown", (o = 7));
    out[o] = '\0';
    return o;
}

/* The fragments of struct hd_proof_pre, in record (key) order; the writer
 * puts the outcome's fields, seq and prev, and the recorder's fragments
 * between them (hd_proofs_delivery_pre):
 *   0 address_key      (absent without an address)
 *   1 channel, country (country absent when unknown)
 *   2 fallback
 *   3 idempotency_key  (push only)
 *   4 language
 *   5 link_hmac, message_id (email only), person_key
 *   6 template
 * Every fragment is a run of ",\"key\":value" (or empty). */
enum {
    PRE_ADDRESS,
    PRE_CHANNEL,
    PRE_FALLBACK,
    PRE_IDEMPOTENCY,
    PRE_LANGUAGE,
    PRE_LINK,
    PRE_TEMPLATE
};

int hd_proofs_prepare(const struct hd_proofs *p, const struct hd_person_rec *person, uint8_t ch,
                      const char *url, size_t url_len, const char *message_id,
                      struct hd_proof_pre *out, struct hd_err *err)
{
    const struct hd_campaign *c = p->c;
    struct fw w = {out->text, out->text + HD_PROOF_PRE_TEXT, true};
    char hex[65], country[3], tmpl[32];

    out->tag = 0;
    if (ch >= c->nchannels) {
        hd_err_set(err, HD_EX_SOFTWARE, "internal error: proof of an unknown channel %u", ch);
        return -1;
    }
    if (message_id == NULL || (url == NULL && url_len > 0)) {
        hd_err_set(err, HD_EX_SOFTWARE, "internal error: a proof without a %s",
                   message_id == NULL ? "message id" : "link");
        return -1;
    }
    const struct hd_channel_conf *cc = &c->channels[ch];
    bool push = cc->type == HD_CHANNEL_PUSH;
    const char *addr = push ? person->push_token : person->email;
    size_t addr_len = push ? person->push_token_len : person->email_len;
    size_t lang_len = strnlen(person->language, sizeof person->language);

    if (addr_len) {
        hmac_hex(&p->hm, address_label, push ? "push" : "email", push ? 4 : 5, addr, addr_len, hex);
        fw_hex(&w, ",\"address_key\":\"", hex);
    }
    out->end[PRE_ADDRESS] = (uint16_t)(w.p - out->text);
    fw_str(&w, ",\"channel\":", cc->name, strlen(cc->name));
    memcpy(country, person->country, 2);
    country[2] = '\0';
    if (country[0])
        fw_str(&w, ",\"country\":", country, strlen(country));
    out->end[PRE_CHANNEL] = (uint16_t)(w.p - out->text);
    if (person->lang_source != HD_LANG_EXACT)
        FW_LIT(&w, ",\"fallback\":true");
    else
        FW_LIT(&w, ",\"fallback\":false");
    out->end[PRE_FALLBACK] = (uint16_t)(w.p - out->text);
    if (push)
        fw_str(&w, ",\"idempotency_key\":", message_id, strlen(message_id));
    out->end[PRE_IDEMPOTENCY] = (uint16_t)(w.p - out->text);
    fw_str(&w, ",\"language\":", person->language, lang_len);
    out->end[PRE_LANGUAGE] = (uint16_t)(w.p - out->text);
    hmac_hex(&p->hm, link_label, url, url_len, NULL, 0, hex);
    fw_hex(&w, ",\"link_hmac\":\"", hex);
    if (!push)
        fw_str(&w, ",\"message_id\":", message_id, strlen(message_id));
    hmac_hex(&p->hm, person_label, person->id, person->id_len, NULL, 0, hex);
    fw_hex(&w, ",\"person_key\":\"", hex);
    out->end[PRE_LINK] = (uint16_t)(w.p - out->text);
    snprintf(tmpl, sizeof tmpl, "%.*s%s", (int)lang_len, person->language,
             person->variant ? "/variant" : "");
    fw_str(&w, ",\"template\":", tmpl, strlen(tmpl));
    out->end[PRE_TEMPLATE] = (uint16_t)(w.p - out->text);
    if (!w.ok) {
        hd_err_set(err, HD_EX_SOFTWARE,
                   "internal error: the message id of a proof record is too long (%zu bytes)",
                   strlen(message_id));
        return -1;
    }
    const char *at = person->email_len ? memchr(person->email, '@', person->email_len) : NULL;
    pii_set(out, 0, person->id, person->id_len);
    pii_set(out, 1, person->email, person->email_len);
    pii_set(out, 2, person->email, at ? (size_t)(at - person->email) : 0);
    pii_set(out, 3, person->push_token, person->push_token_len);
    out->ch = ch;
    out->reserved = 0;
    out->tag = p->tag;
    return 0;
}

static char *put_mem(char *o, const void *s, size_t n)
{
    memcpy(o, s, n);
    return o + n;
}

#define PUT_LIT(o, lit) put_mem(o, lit, sizeof lit - 1)

int hd_proofs_delivery_pre(struct hd_proofs *p, MDB_txn *txn, const struct hd_store *s,
                           const uint8_t key[11], const struct hd_delivery_rec *r,
                           const struct hd_proof_pre *pre, struct hd_err *err)
{
    MDB_cursor *cur;
    uint64_t seq;
    uint8_t prev[HD_SHA256_LEN];
    bool has_prev, sent = r->state == HD_DS_SENT;
    char event[65], ts[24];
    size_t pre_len = pre->end[PRE_TEMPLATE], at = 0;

    if (pre->tag != p->tag || pre->ch != key[10] || key[10] >= p->c->nchannels) {
        hd_err_set(err, HD_EX_SOFTWARE,
                   "internal error: the proof data of channel %u is not of this recorder and "
                   "channel %u",
                   pre->ch, key[10]);
        return -1;
    }
    for (size_t i = 0; i <= PRE_TEMPLATE; i++) {
        if (pre->end[i] < at || pre->end[i] > HD_PROOF_PRE_TEXT) {
            hd_err_set(err, HD_EX_SOFTWARE, "internal error: damaged proof data");
            return -1;
        }
        at = pre->end[i];
    }
    size_t ev_len = r->event ? r->event_len : 0;
    bool render_failed = ev_len == 13 && memcmp(r->event, "render.failed", 13) == 0;
    if (scrub_text(pre, r->event, ev_len, false, &p->tmp, &p->scrub[0]) != 0 ||
        scrub_text(pre, r->provider_id, r->provider_id ? r->provider_id_len : 0, false, &p->tmp,
                   &p->scrub[1]) != 0 ||
        scrub_text(pre, r->response, r->response ? r->response_len : 0, render_failed, &p->tmp,
                   &p->scrub[2]) != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    size_t event_len =
        clean_event(p->scrub[0].data ? p->scrub[0].data : "", p->scrub[0].len, event);
    const char *provider_id = p->scrub[1].data, *response = p->scrub[2].data;
    size_t pid_len = p->scrub[1].len, resp_len = p->scrub[2].len;
    if (chain_next(p, txn, s, &cur, &seq, prev, &has_prev, err) != 0)
        return -1;
    /* the fixed keys and values take far less than 1 KiB; strings grow up to
     * 6 times when escaped */
    hd_buf_reset(&p->line);
    if (hd_buf_reserve(&p->line, 1024 + pre_len + p->frag.len + 6 * (pid_len + resp_len)) != 0) {
        mdb_cursor_close(cur);
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }

    /* Keys in sorted order, as hd_proof_format writes a delivery; each part
     * starts with its comma, the first one becomes the '{'. */
    const char *pt = pre->text, *ft = p->frag.data;
    const uint16_t *pe = pre->end;
    char *o = p->line.data;
    hdp_put_ts(ts, r->last_change_ms);
    if (sent) {
        o = PUT_LIT(o, ",\"accepted\":\"");
        o = put_mem(o, ts, 24);
        *o++ = '"';
    }
    o = put_mem(o, pt, pe[PRE_ADDRESS]);
    o = PUT_LIT(o, ",\"attempts\":");
    o = hdp_put_uint(o, r->attempts);
    o = put_mem(o, ft, p->frag_end[0]);
    o = put_mem(o, pt + pe[PRE_ADDRESS], pe[PRE_CHANNEL] - pe[PRE_ADDRESS]);
    o = PUT_LIT(o, ",\"event\":\"");
    o = put_mem(o, event, event_len);
    *o++ = '"';
    o = put_mem(o, pt + pe[PRE_CHANNEL], pe[PRE_FALLBACK] - pe[PRE_CHANNEL]);
    if (r->first_attempt_ms > 0) {
        o = PUT_LIT(o, ",\"first_attempt\":\"");
        o = hdp_put_ts(o, r->first_attempt_ms);
        *o++ = '"';
    }
    o = put_mem(o, pt + pe[PRE_FALLBACK], pe[PRE_IDEMPOTENCY] - pe[PRE_FALLBACK]);
    o = put_mem(o, ft + p->frag_end[0], p->frag_end[1] - p->frag_end[0]);
    o = put_mem(o, pt + pe[PRE_IDEMPOTENCY], pe[PRE_LANGUAGE] - pe[PRE_IDEMPOTENCY]);
    o = PUT_LIT(o, ",\"last_change\":\"");
    o = put_mem(o, ts, 24);
    *o++ = '"';
    o = put_mem(o, pt + pe[PRE_LANGUAGE], pe[PRE_LINK] - pe[PRE_LANGUAGE]);
    if (has_prev) {
        o = PUT_LIT(o, ",\"prev\":\"");
        hd_hex(prev, 32, o); /* its NUL gives way to the quote */
        o += 64;
        *o++ = '"';
    }
    o = PUT_LIT(o, ",\"response\":{\"code\":");
    o = hdp_put_uint(o, r->code);
    if (pid_len) {
        o = PUT_LIT(o, ",\"provider_id\":");
        o = hdp_json_str(o, provider_id, pid_len);
    }
    if (resp_len) {
        o = PUT_LIT(o, ",\"text\":");
        o = hdp_json_str(o, response, resp_len);
    }
    *o++ = '}';
    o = PUT_LIT(o, ",\"seq\":");
    o = hdp_put_uint(o, seq);
    if (!hdp_all_zero(r->sha256, 32)) {
        o = PUT_LIT(o, ",\"sha256\":\"");
        hd_hex(r->sha256, 32, o); /* its NUL gives way to the quote */
        o += 64;
        *o++ = '"';
    }
    o = put_mem(o, ft + p->frag_end[1], p->frag_end[2] - p->frag_end[1]);
    o = sent ? PUT_LIT(o, ",\"state\":\"sent\"") : PUT_LIT(o, ",\"state\":\"failed\"");
    o = put_mem(o, pt + pe[PRE_LINK], pe[PRE_TEMPLATE] - pe[PRE_LINK]);
    o = (r->flags & HD_DF_UNCERTAIN) ? PUT_LIT(o, ",\"uncertain\":true")
                                     : PUT_LIT(o, ",\"uncertain\":false");
    *o++ = '}';
    p->line.data[0] = '{';
    p->line.len = (size_t)(o - p->line.data);
    p->line.data[p->line.len] = '\0';
    return chain_put(p, cur, seq, err);
}

int hd_proofs_delivery(struct hd_proofs *p, MDB_txn *txn, const struct hd_store *s,
                       const uint8_t key[11], const struct hd_delivery_rec *r, struct hd_err *err)
{
    const struct hd_campaign *c = p->c;
    uint8_t ch = key[10];
    MDB_val k = {10, (void *)key}, v;
    struct hd_person_rec person;
    struct hd_proof_pre pre;
    char msgkey[33], msgid[HD_MSGID_MAX];
    int rc;

    if (ch >= c->nchannels || p->link == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "internal error: proof of an unknown channel %u", ch);
        return -1;
    }
    if ((rc = mdb_get(txn, s->persons, &k, &v)) != 0)
        return hd_store_fail(err, rc, "reading a person for a proof");
    if (hd_person_rec_decode(v.mv_data, v.mv_size, &person) != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "damaged person record in the state store");
        return -1;
    }
    const struct hd_channel_conf *cc = &c->channels[ch];
    const char *id = person.id ? person.id : "";
    hd_buf_reset(&p->url);
    if (p->linker != NULL) {
        rc = hd_linker_build(p->linker, id, person.id_len, &p->url);
    } else {
        /* hd_link_build takes a C string */
        hd_buf_reset(&p->id);
        rc = hd_buf_append(&p->id, id, person.id_len) != 0
                 ? -1
                 : hd_link_build(p->link, c->link_url, c->id, p->id.data, &p->url);
    }
    if (rc != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    hd_render_message_key(c->id, person.id, person.id_len, cc->name, msgkey);
    if (cc->type == HD_CHANNEL_PUSH)
        snprintf(msgid, sizeof msgid, "%s", msgkey);
    else
        snprintf(msgid, sizeof msgid, "%s@%s", msgkey, p->domain[ch]);
    /* person points into the store: everything is copied out of it before
     * the record is written */
    if (hd_proofs_prepare(p, &person, ch, p->url.data, p->url.len, msgid, &pre, err) != 0)
        return -1;
    return hd_proofs_delivery_pre(p, txn, s, key, r, &pre, err);
}

int hd_proofs_exclusions(struct hd_proofs *p, const struct hd_store *s, MDB_txn **txn,
                         int (*renew)(void *ctx), void *ctx, struct hd_err *err)
{
    uint8_t start[8];
    int64_t now = hd_now_ms();
    uint64_t n = 0;
    struct hd_buf rec = HD_BUF_INIT;
    int result = -1;

    hd_key_u64(start, 0);
    for (;;) {
        MDB_cursor *cur;
        MDB_val k = {8, start}, v;
        bool more = false;
        int rc = mdb_cursor_open(*txn, s->exclusions, &cur);
        if (rc != 0) {
            hd_store_fail(err, rc, "reading exclusions");
            goto out;
        }
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            struct hd_exclusion_rec x;
            struct hd_proof_fields f;
            char person_key[65], country[3], event[80];
            /* a copy: the record is decoded from it while proofs are written */
            hd_buf_reset(&rec);
            if (k.mv_size != 8 || hd_buf_append(&rec, v.mv_data, v.mv_size) != 0 ||
                hd_exclusion_rec_decode(rec.data, rec.len, &x) != 0) {
                mdb_cursor_close(cur);
                hd_err_set(err, HD_EX_SOFTWARE, "damaged exclusion record in the state store");
                goto out;
            }
            memset(&f, 0, sizeof f);
            f.exclusion = true;
            f.campaign = p->c->id;
            f.snapshot = p->snapshot;
            f.key_id = p->key.id;
            if (x.id_len) {
                hmac_hex(&p->hm, person_label, x.id, x.id_len, NULL, 0, person_key);
                f.person_key = person_key;
            }
            if (x.country[0] >= 'A' && x.country[0] <= 'Z' && x.country[1] >= 'A' &&
                x.country[1] <= 'Z') {
                memcpy(country, x.country, 2);
                country[2] = '\0';
                f.country = country;
            }
            f.reason = hd_reason_names[x.reason];
            snprintf(event, sizeof event, "excluded.%s", f.reason);
            f.event = event;
            if (x.reason == HD_R_INVALID_ROW)
                f.field = x.field < HD_F_COUNT ? hd_field_names[x.field] : "row";
            f.last_change_ms = now;
            if (append(p, *txn, s, &f, err) != 0) {
                mdb_cursor_close(cur);
                goto out;
            }
            if (++n % 100000 == 0) {
                hd_key_u64(start, x.row + 1);
                more = true;
                break;
            }
        }
        mdb_cursor_close(cur);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            hd_store_fail(err, rc, "reading exclusions");
            goto out;
        }
        if (!more)
            break;
        if (renew(ctx) != 0)
            goto out;
    }
    result = 0;
out:
    hd_buf_release(&rec);
    return result;
}
