/* proof_export.c - hd_proofs_export: the bundle. In one read transaction
 * of the state store, the proofs are read in seq order (the store source of
 * proof_pipeline.c, defined here: it also writes records.jsonl), checked
 * and counted (proof_check.c), optionally written as records.csv; then
 * summary.json, VERIFY.md (how to check it all without Herald),
 * signer.vkey, manifest.json over them, and the signed checkpoint over
 * the manifest and the Merkle root (proof_sign.c). Every file is written
 * aside and renamed into place.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "herald/files.h"
#include "herald/hash.h"
#include "proof_internal.h"

static const char verify_md[] =
    "# How to check this proof bundle\n"
    "\n"
    "This directory is a delivery-proof bundle of the campaign `%s`, exported by\n"
    "Herald (format `" HD_PROOF_FORMAT "`). Everything here can be checked without\n"
    "Herald, with a few lines of any language that has SHA-256 and Ed25519.\n"
    "\n"
    "| file | what it is |\n"
    "|---|---|\n"
    "| `records.jsonl` | the proof records, one canonical JSON object per line, in `seq` order |\n"
    "| `records.csv` | (when present) the same records as CSV, for spreadsheets |\n"
    "| `summary.json` | counts per country, language, channel, state and event; exclusions by "
    "reason |\n"
    "| `manifest.json` | record count, campaign snapshot hash, export time, tool, Merkle root, "
    "SHA-256 of the other files |\n"
    "| `checkpoint` | the signed root: a C2SP signed note (tlog-checkpoint) |\n"
    "| `signer.vkey` | the signing key as a C2SP verifier key (check it against the key you "
    "were given) |\n"
    "\n"
    "## 1. The signature\n"
    "\n"
    "`checkpoint` is a C2SP signed note: the note text (every line up to the blank\n"
    "line, each with its newline), a blank line, and signature lines\n"
    "`— <key name> <base64>`. The base64 decodes to 68 bytes: a 4-byte key hash,\n"
    "SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[0:4], then the\n"
    "64-byte Ed25519 signature of the note text. The note text is:\n"
    "\n"
    "    %s                 (origin)\n"
    "    <number of records>  (tree size)\n"
    "    <base64 Merkle root>\n"
    "    herald-manifest sha256:<hex SHA-256 of manifest.json>\n"
    "\n"
    "Check the signature with the public key compliance published (not only the\n"
    "`signer.vkey` in this directory, which anyone could replace). With Herald:\n"
    "`herald proofs verify <this directory> --pubkey <their key>`.\n"
    "\n"
    "## 2. The manifest and the other files\n"
    "\n"
    "SHA-256 of `manifest.json` must equal the hex on the `herald-manifest` line.\n"
    "`manifest.json` lists the SHA-256 of `summary.json`, `VERIFY.md`, `signer.vkey`\n"
    "and `records.csv` (when present): `sha256sum` each and compare.\n"
    "\n"
    "## 3. The Merkle root over the records\n"
    "\n"
    "RFC 9162 (Certificate Transparency 2.0), section 2.1.1, with SHA-256. The\n"
    "leaves are the lines of `records.jsonl`, as bytes, without their newline:\n"
    "\n"
    "    leaf hash  = SHA-256(0x00 || line bytes)\n"
    "    node hash  = SHA-256(0x01 || left || right)\n"
    "    MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of 2 < n\n"
    "    MTH({})    = SHA-256(\"\")\n"
    "\n"
    "In Python:\n"
    "\n"
    "```python\n"
    "import base64, hashlib\n"
    "def mth(h):\n"
    "    if len(h) == 1: return h[0]\n"
    "    k = 1\n"
    "    while k * 2 < len(h): k *= 2\n"
    "    return hashlib.sha256(b'\\x01' + mth(h[:k]) + mth(h[k:])).digest()\n"
    "lines = open('records.jsonl', 'rb').read().split(b'\\n')[:-1]\n"
    "leaves = [hashlib.sha256(b'\\x00' + l).digest() for l in lines]\n"
    "root = mth(leaves) if leaves else hashlib.sha256(b'').digest()\n"
    "print(len(lines), base64.b64encode(root).decode())  # = lines 2 and 3 of checkpoint\n"
    "```\n"
    "\n"
    "## 4. Each record\n"
    "\n"
    "Every line is canonical JSON: `json.dumps(obj, sort_keys=True,\n"
    "separators=(',', ':'))` in Python gives back the same bytes. `seq` counts\n"
    "from 0 in line order; `prev` is the leaf hash (hex) of the line before, so a\n"
    "changed line is found by the next line's `prev`. `summary.json` is what the\n"
    "records count up to. Herald's docs/proofs.md describes every field and what\n"
    "it proves, and what it does not: `smtp.accepted` means the mail relay took\n"
    "the message, not that it reached a mailbox.\n"
    "\n"
    "## 5. One person\n"
    "\n"
    "People and addresses appear only as HMAC-SHA256 under a pseudonym key that\n"
    "this bundle does not contain (`person_key`, `address_key`, `key_id`). The\n"
    "company can run `herald proofs prove` for one person: it outputs that\n"
    "person's records with RFC 9162 inclusion proofs against this checkpoint.\n";

static int write_atomic(const char *dir, const char *name, const void *data, size_t len,
                        struct hd_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return hd_out_write(path, data, len, 0644, true, err);
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    uint8_t h[HD_SHA256_LEN];
    hd_sha256(data, len, h);
    hd_hex(h, HD_SHA256_LEN, out);
}

static uint64_t not_final(MDB_txn *txn, const struct hd_store *s)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t n = 0;
    if (mdb_cursor_open(txn, s->counters, &cur) != 0)
        return 0;
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        const uint8_t *kb = k.mv_data;
        uint64_t c;
        if (k.mv_size != 4 || v.mv_size != 8 || kb[2] >= HD_MAX_CHANNELS)
            continue;
        if (kb[3] == HD_DS_PENDING || kb[3] == HD_DS_INFLIGHT || kb[3] == HD_DS_RETRY ||
            kb[3] == HD_DS_HELD) {
            memcpy(&c, v.mv_data, 8);
            n += c;
        }
    }
    mdb_cursor_close(cur);
    return n;
}

/* -- the store source: the proofs database in key order, in the caller's
 * read transaction (MDB_NOTLS lets the producer thread use it) -- */

struct lmdb_src {
    MDB_cursor *cur;
    bool started;
    int fd; /* records.jsonl: written on the producer's thread */
    const char *path;
    uint64_t written, flushed; /* bytes written; bytes handed to writeback */
};

static int lmdb_write(struct hdp_pipeline *p, struct hdp_batch *b)
{
    struct lmdb_src *l = p->src;
    for (size_t off = 0; off < b->len;) {
        ssize_t n = write(l->fd, b->buf + off, b->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            hd_err_set(&p->err, HD_EX_IOERR, "cannot write %s: %s", l->path, strerror(errno));
            return -1;
        }
        off += (size_t)n;
    }
    l->written += b->len;
    hdp_writeback(l->fd, l->written, &l->flushed);
    return 0;
}

static int lmdb_fill(struct hdp_pipeline *p, struct hdp_batch *b)
{
    struct lmdb_src *l = p->src;
    MDB_val k, v;
    while (b->len < HDP_BATCH_BYTES) {
        int rc = mdb_cursor_get(l->cur, &k, &v, l->started ? MDB_NEXT : MDB_FIRST);
        l->started = true;
        if (rc == MDB_NOTFOUND) {
            b->last = true;
            break;
        }
        if (rc != 0)
            return hd_store_fail(&p->err, rc, "reading the proofs");
        uint64_t seq = b->first + b->n;
        if (k.mv_size != 8 || hd_get_u64(k.mv_data) != seq) {
            hd_err_set(&p->err, HD_EX_SOFTWARE,
                       "the state store's proofs have a gap before seq %" PRIu64, seq);
            return -1;
        }
        if (hdp_batch_reserve(b, b->len + v.mv_size + 1, b->n + 1) != 0) {
            hd_err_set(&p->err, HD_EX_SOFTWARE, "out of memory");
            return -1;
        }
        b->off[b->n++] = b->len;
        memcpy(b->buf + b->len, v.mv_data, v.mv_size);
        b->len += v.mv_size;
        b->buf[b->len++] = '\n';
    }
    if (hdp_batch_reserve(b, 0, b->n) != 0) {
        hd_err_set(&p->err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    b->off[b->n] = b->len;
    return 0;
}

static void key_name_for(const struct hd_proof_export_opts *o, char *out, size_t cap)
{
    size_t n = strlen(o->key_path);
    snprintf(out, cap, "%s", o->key_name ? o->key_name : HD_PROOF_KEY_NAME_DEFAULT);
    if (o->key_name || n < 4 || strcmp(o->key_path + n - 4, ".key") != 0)
        return;
    char path[4200];
    struct hd_buf b = HD_BUF_INIT;
    struct hd_err e = {0};
    snprintf(path, sizeof path, "%.*s.vkey", (int)(n - 4), o->key_path);
    if (access(path, R_OK) == 0 && hd_input_read(path, HD_IN_BUNDLE, "public key", &b, &e) == 0) {
        size_t k = strcspn(b.data, "+\n");
        if (b.data[k] == '+' && k < cap) {
            memcpy(out, b.data, k);
            out[k] = '\0';
        }
    }
    hd_buf_release(&b);
}

static json_t *hashing_notes(void)
{
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s}", "leaf",
        "SHA-256(0x00 || record line bytes, without the newline)", "node",
        "SHA-256(0x01 || left || right)", "tree",
        "RFC 9162 section 2.1.1 Merkle Tree Hash over the lines of records.jsonl", "checkpoint",
        "C2SP tlog-checkpoint in a C2SP signed note, Ed25519; extension line "
        "'herald-manifest sha256:<hex of manifest.json>'",
        "pseudonyms", "HMAC-SHA256 under the pseudonym key named by key_id (not in this bundle)");
}

int hd_proofs_export(struct hd_store *s, const struct hd_proof_export_opts *o,
                     struct hd_proof_export_result *res, struct hd_err *err)
{
    EVP_PKEY *pk = NULL;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    FILE *out = NULL;
    struct hdp_rcheck c;
    struct hd_buf b = HD_BUF_INIT, meta = HD_BUF_INIT, note = HD_BUF_INIT;
    char name[128], path[4200], tmp_records[4200] = "", tmp_csv[4200] = "";
    char *summary = NULL, *manifest = NULL, verify_text[sizeof verify_md + 512];
    char campaign[HD_ID_MAX + 1] = "", snapshot[65] = "", root_hex[65], root_b64[64];
    char vkey[512], ts[25];
    uint8_t raw[32];
    size_t rawlen = 32;
    bool found;
    int rc = -1;

    memset(res, 0, sizeof *res);
    hdp_rcheck_init(&c, "state store proof", err);
    if ((pk = hdp_load_signing_key(o->key_path, err)) == NULL)
        goto out;
    key_name_for(o, name, sizeof name);
    if (!hdp_key_name_ok(name)) {
        hd_err_set(err, HD_EX_USAGE, "bad key name \"%s\"", name);
        goto out;
    }
    if (!EVP_PKEY_get_raw_public_key(pk, raw, &rawlen)) {
        hd_err_set(err, HD_EX_SOFTWARE, "cannot read the public half of the signing key");
        goto out;
    }
    hdp_vkey_line(name, raw, vkey, sizeof vkey);
    if (hd_mkdirs(o->out_dir, 0755, "output directory", err) != 0)
        goto out;
    /* Each file is written to a new temporary file (O_EXCL) and renamed into
     * place: a link planted in the bundle directory is replaced, never
     * written through. */
    int tfd;
    snprintf(path, sizeof path, "%s/records.jsonl", o->out_dir);
    if ((tfd = hd_out_tmp_open(path, 0644, tmp_records, sizeof tmp_records, err)) < 0)
        goto out;
    if ((out = fdopen(tfd, "wb")) == NULL) {
        hd_err_set(err, HD_EX_CANTCREAT, "cannot create %s: %s", tmp_records, strerror(errno));
        close(tfd);
        goto out;
    }
    setvbuf(out, NULL, _IOFBF, 1 << 20);
    if (o->csv) {
        c.csv = true;
        c.csv_md = EVP_MD_CTX_new();
        snprintf(path, sizeof path, "%s/records.csv", o->out_dir);
        if ((tfd = hd_out_tmp_open(path, 0644, tmp_csv, sizeof tmp_csv, err)) < 0)
            goto out;
        if ((c.csv_out = fdopen(tfd, "wb")) == NULL)
            close(tfd);
        if (c.csv_out == NULL || c.csv_md == NULL ||
            !EVP_DigestInit_ex(c.csv_md, EVP_sha256(), NULL)) {
            hd_err_set(err, HD_EX_CANTCREAT, "cannot create %s: %s", tmp_csv, strerror(errno));
            goto out;
        }
        setvbuf(c.csv_out, NULL, _IOFBF, 1 << 20);
        fputs(hd_proof_csv_header, c.csv_out);
        EVP_DigestUpdate(c.csv_md, hd_proof_csv_header, strlen(hd_proof_csv_header));
    }

    /* One read transaction: the records, the campaign and the counters all
     * from the same instant, while a run may go on writing. */
    if (hd_store_begin(s, false, &txn, err) != 0)
        goto out;
    if (hd_store_meta_get(txn, s, "campaign_id", &meta, &found, err) != 0)
        goto out;
    if (!found || meta.len > HD_ID_MAX) {
        hd_err_set(err, HD_EX_DATAERR, "%s holds no plan: run `herald plan` first", s->dir);
        goto out;
    }
    snprintf(campaign, sizeof campaign, "%s", meta.data);
    if (hd_store_meta_get(txn, s, "snapshot_sha256", &meta, &found, err) != 0)
        goto out;
    if (found && meta.len == 64)
        memcpy(snapshot, meta.data, 65);
    uint64_t pending = not_final(txn, s);
    int mrc = mdb_cursor_open(txn, s->proofs, &cur);
    if (mrc != 0) {
        hd_store_fail(err, mrc, "reading the proofs");
        goto out;
    }
    struct lmdb_src ls = {cur, false, fileno(out), tmp_records, 0, 0};
    struct hdp_pipeline pl;
    memset(&pl, 0, sizeof pl);
    pl.fill = lmdb_fill;
    pl.after = lmdb_write;
    pl.src = &ls;
    pl.tree = true;
    pl.early_pct = 50; /* the producer also writes: it hashes half the lines */
    if (hdp_pipeline_run(&pl, hdp_rcheck_line, &c, err) != 0) {
        if (err->code == HD_EX_FAIL)
            err->code = HD_EX_SOFTWARE; /* a bad record in the store is not a bad bundle */
        goto out;
    }
    uint64_t index = c.count;
    if (hdp_rcheck_finish(&c) != 0) {
        err->code = HD_EX_SOFTWARE;
        goto out;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    mdb_txn_abort(txn);
    txn = NULL;
    if (index > 0 && (strcmp(c.campaign, campaign) != 0 || strcmp(c.snapshot, snapshot) != 0)) {
        hd_err_set(err, HD_EX_SOFTWARE,
                   "the proofs are of campaign %s snapshot %.12s, the store of %s snapshot %.12s",
                   c.campaign, c.snapshot, campaign, snapshot);
        goto out;
    }
    /* No fsync of the big files: the store is the durable copy, and a
     * bundle cut short by a crash fails verification (export it again). */
    if (fflush(out) != 0 || fclose(out) != 0) {
        out = NULL;
        hd_err_set(err, HD_EX_IOERR, "cannot write %s: %s", tmp_records, strerror(errno));
        goto out;
    }
    out = NULL;

    uint8_t root[32];
    memcpy(root, pl.root, 32);
    hd_hex(root, 32, root_hex);
    hd_proof_base64(root, 32, root_b64);
    snprintf(res->origin, sizeof res->origin, "herald.%s", campaign);

    /* The small files, then the manifest over them, then the checkpoint
     * over the manifest and the root. */
    summary = hdp_summary_text(&c.sum, campaign);
    snprintf(verify_text, sizeof verify_text, verify_md, campaign, res->origin);
    char h_sum[65], h_ver[65], h_vkey[65], h_csv[65];
    if (summary == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        goto out;
    }
    sha256_hex(summary, strlen(summary), h_sum);
    sha256_hex(verify_text, strlen(verify_text), h_ver);
    sha256_hex(vkey, strlen(vkey), h_vkey);
    json_t *files = json_pack("{s:s, s:s, s:s}", "summary.json", h_sum, "VERIFY.md", h_ver,
                              "signer.vkey", h_vkey);
    if (o->csv) {
        uint8_t ch[32];
        if (fflush(c.csv_out) != 0 || fclose(c.csv_out) != 0) {
            c.csv_out = NULL;
            json_decref(files);
            hd_err_set(err, HD_EX_IOERR, "cannot write %s: %s", tmp_csv, strerror(errno));
            goto out;
        }
        c.csv_out = NULL;
        EVP_DigestFinal_ex(c.csv_md, ch, NULL);
        hd_hex(ch, 32, h_csv);
        json_object_set_new(files, "records.csv", json_string(h_csv));
    }
    json_t *key_ids = hdp_summary_key_ids(&c.sum);
    *hdp_put_ts(ts, hd_now_ms()) = '\0';
    json_t *m = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:{s:b, s:I}}",
        "format", HD_PROOF_FORMAT, "campaign", campaign, "snapshot_sha256", snapshot, "exported_at",
        ts, "tool", o->tool ? o->tool : "herald", "checkpoint_origin", res->origin, "records",
        (json_int_t)index, "tree_size", (json_int_t)index, "root_sha256", root_hex, "root_base64",
        root_b64, "signer", name, "pseudonym_key_ids", key_ids, "files", files, "hashing",
        hashing_notes(), "dispatch", "complete", pending == 0, "deliveries_not_final",
        (json_int_t)pending);
    manifest = m ? json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(m);
    if (manifest == NULL || hd_buf_printf(&b, "%s\n", manifest) != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        goto out;
    }
    uint8_t manifest_sha256[32];
    hd_sha256(b.data, b.len, manifest_sha256);
    if (hdp_checkpoint_sign(pk, name, res->origin, index, root, manifest_sha256, &note, err) != 0)
        goto out;

    snprintf(path, sizeof path, "%s/records.jsonl", o->out_dir);
    rc = hd_out_commit(tmp_records, path, true, err);
    tmp_records[0] = '\0';
    if (rc != 0)
        goto out;
    rc = -1;
    snprintf(path, sizeof path, "%s/records.csv", o->out_dir);
    if (o->csv) {
        rc = hd_out_commit(tmp_csv, path, true, err);
        tmp_csv[0] = '\0';
        if (rc != 0)
            goto out;
        rc = -1;
    } else if (unlink(path) != 0 && errno != ENOENT) {
        hd_err_set(err, HD_EX_CANTCREAT, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    if (write_atomic(o->out_dir, "summary.json", summary, strlen(summary), err) != 0 ||
        write_atomic(o->out_dir, "VERIFY.md", verify_text, strlen(verify_text), err) != 0 ||
        write_atomic(o->out_dir, "signer.vkey", vkey, strlen(vkey), err) != 0 ||
        write_atomic(o->out_dir, "manifest.json", b.data, b.len, err) != 0 ||
        write_atomic(o->out_dir, "checkpoint", note.data, note.len, err) != 0)
        goto out;
    res->records = index;
    memcpy(res->root, root, 32);
    rc = 0;
out:
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    if (out)
        fclose(out);
    if (c.csv_out)
        fclose(c.csv_out);
    if (tmp_records[0]) /* not renamed into place: the run failed */
        unlink(tmp_records);
    if (tmp_csv[0])
        unlink(tmp_csv);
    hdp_rcheck_free(&c);
    EVP_PKEY_free(pk);
    free(summary);
    free(manifest);
    hd_buf_release(&b);
    hd_buf_release(&meta);
    hd_buf_release(&note);
    return rc;
}
