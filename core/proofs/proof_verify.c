/* proof_verify.c - hd_proofs_verify: a bundle checked, in the order trust
 * flows: the checkpoint's signature (proof_sign.c), the manifest it signs,
 * the files the manifest lists, then every record (proof_pipeline.c reads
 * them, proof_check.c checks each one and the chain) against the signed
 * size and Merkle root, records.csv row by row, and summary.json against
 * what the records add up to. The first thing that fails is named: the
 * file, or the record line.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "herald/files.h"
#include "herald/hash.h"
#include "proof_internal.h"

static const char *const bundle_files[] = {"summary.json", "VERIFY.md", "signer.vkey",
                                           "records.csv", NULL};

/* SHA-256 of a bundle file (records.csv is as big as the records). One that
 * cannot be opened is a changed bundle (HD_EX_FAIL, named as in the
 * manifest); a read error is an I/O error. */
static int sha256_file(const char *path, char hex[65], struct hd_err *err)
{
    const char *name = strrchr(path, '/') + 1;
    /* records.csv is streamed (no limit); the others are small members. A
     * member that is a FIFO, a device or on procfs is refused, not read. */
    int rc,
        fd = hd_input_open(path, strcmp(name, "records.csv") == 0 ? HD_IN_RECORDS : HD_IN_BUNDLE,
                           name, NULL, err);
    if (fd < 0) {
        err->code = HD_EX_FAIL;
        return -1;
    }
    rc = hd_sha256_fd(fd, path, hex, NULL, err);
    close(fd);
    return rc;
}

static int fail(struct hd_err *err, const char *fmt, const char *a, const char *b)
{
    hd_err_set(err, HD_EX_FAIL, fmt, a, b);
    return -1;
}

/* The line number of the first difference between a and b. */
static unsigned first_diff_line(const char *a, size_t na, const char *b, size_t nb)
{
    unsigned line = 1;
    for (size_t i = 0; i < na && i < nb && a[i] == b[i]; i++)
        line += a[i] == '\n';
    return line;
}

int hd_proofs_verify(const char *bundle, const char *pubkey, struct hd_proof_verify_result *res,
                     struct hd_err *err)
{
    struct hd_proof_pubkey key;
    struct hd_checkpoint cp;
    struct hd_buf b = HD_BUF_INIT, man = HD_BUF_INIT;
    struct hdp_rcheck c;
    json_t *m = NULL;
    char path[4200], hex[65];
    char *summary = NULL;
    uint8_t h[32];
    int rc = -1;

    memset(res, 0, sizeof *res);
    hdp_rcheck_init(&c, "records.jsonl", err);
    /* 1. the signature */
    if (pubkey) {
        if (hd_proof_pubkey_load(pubkey, &key, err) != 0)
            goto out;
    } else {
        snprintf(path, sizeof path, "%s/signer.vkey", bundle);
        if (hd_proof_pubkey_load(path, &key, err) != 0) {
            err->code = HD_EX_FAIL;
            hd_err_prefix(err, "signer.vkey");
            goto out;
        }
        res->own_key = true;
    }
    snprintf(path, sizeof path, "%s/checkpoint", bundle);
    if (hd_input_read(path, HD_IN_BUNDLE, "checkpoint", &b, err) != 0) {
        /* A missing, oversized or otherwise unreadable-as-a-checkpoint
         * member is a bad bundle (exit 1, docs/proofs.md); only an I/O
         * error means it could not be checked. */
        if (err->code != HD_EX_IOERR)
            err->code = HD_EX_FAIL;
        goto out;
    }
    if (hd_checkpoint_verify(b.data, b.len, &key, &cp, err) != 0)
        goto out;
    snprintf(res->signer, sizeof res->signer, "%s", cp.signer);
    if (!cp.has_manifest) {
        fail(err, "checkpoint: no \"herald-manifest\" line: not a herald proof bundle%s%s", "", "");
        goto out;
    }
    /* 2. the manifest, bound by the signature */
    snprintf(path, sizeof path, "%s/manifest.json", bundle);
    if (hd_input_read(path, HD_IN_BUNDLE, "manifest.json", &man, err) != 0) {
        err->code = HD_EX_FAIL;
        goto out;
    }
    hd_sha256(man.data, man.len, h);
    if (memcmp(h, cp.manifest_sha256, 32) != 0) {
        fail(err,
             "manifest.json: changed after signing (its SHA-256 is not the one the "
             "checkpoint signs)%s%s",
             "", "");
        goto out;
    }
    m = json_loadb(man.data, man.len, 0, NULL);
    json_t *files = json_object_get(m, "files");
    const char *fmt = json_string_value(json_object_get(m, "format"));
    hd_hex(cp.root, 32, hex);
    if (m == NULL || fmt == NULL || strcmp(fmt, HD_PROOF_FORMAT) != 0 || !json_is_object(files)) {
        fail(err, "manifest.json: not a %s manifest%s", HD_PROOF_FORMAT, "");
        goto out;
    }
    if (!json_is_integer(json_object_get(m, "tree_size")) ||
        !json_is_integer(json_object_get(m, "records")) ||
        (uint64_t)json_integer_value(json_object_get(m, "tree_size")) != cp.size ||
        (uint64_t)json_integer_value(json_object_get(m, "records")) != cp.size ||
        !json_is_string(json_object_get(m, "root_sha256")) ||
        strcmp(json_string_value(json_object_get(m, "root_sha256")), hex) != 0 ||
        !json_is_string(json_object_get(m, "checkpoint_origin")) ||
        strcmp(json_string_value(json_object_get(m, "checkpoint_origin")), cp.origin) != 0) {
        fail(err, "manifest.json: its tree size, root or origin differs from the checkpoint%s%s",
             "", "");
        goto out;
    }
    /* 3. the files it lists */
    const char *fname;
    json_t *fh;
    json_object_foreach(files, fname, fh)
    {
        bool known = false;
        for (int i = 0; bundle_files[i]; i++)
            known = known || strcmp(fname, bundle_files[i]) == 0;
        if (!known || !json_is_string(fh)) {
            fail(err, "manifest.json: lists an unknown file \"%s\"%s", fname, "");
            goto out;
        }
        snprintf(path, sizeof path, "%s/%s", bundle, fname);
        if (sha256_file(path, hex, err) != 0)
            goto out;
        if (strcmp(hex, json_string_value(fh)) != 0) {
            fail(err,
                 "%s: changed after export (its SHA-256 is not the one in the signed "
                 "manifest)%s",
                 fname, "");
            goto out;
        }
    }
    snprintf(path, sizeof path, "%s/records.csv", bundle);
    if (json_object_get(files, "records.csv") == NULL && access(path, F_OK) == 0) {
        fail(err, "records.csv: not part of this export (the signed manifest does not list it)%s%s",
             "", "");
        goto out;
    }
    /* 4. every record, the chain, the root */
    if (json_object_get(files, "records.csv")) {
        const char *head = hd_proof_csv_header;
        c.csv = true;
        int fd = hd_input_open(path, HD_IN_RECORDS, "records.csv", NULL, err);
        c.csv_in = fd < 0 ? NULL : fdopen(fd, "rb");
        if (c.csv_in == NULL && fd >= 0)
            close(fd);
        if (c.csv_in)
            setvbuf(c.csv_in, NULL, _IOFBF, 1 << 20);
        while (c.csv_in && *head && fgetc(c.csv_in) == (unsigned char)*head)
            head++;
        if (c.csv_in == NULL || *head) {
            fail(err, "records.csv: not the header this format writes%s%s", "", "");
            goto out;
        }
    }
    snprintf(path, sizeof path, "%s/records.jsonl", bundle);
    uint8_t root[32];
    if (hdp_each_record(path, hdp_rcheck_line, &c, root, err) != 0) {
        if (err->code == 0)
            hd_err_set(err, HD_EX_FAIL, "records.jsonl: cannot be read");
        if (err->msg[0] == '/' || strncmp(err->msg, bundle, strlen(bundle)) == 0) {
            /* name the file as the bundle does */
            char msg[HD_ERR_MSG_MAX];
            const char *rest = strstr(err->msg, "records.jsonl");
            snprintf(msg, sizeof msg, "%s", rest ? rest : err->msg);
            hd_err_set(err, err->code, "%s", msg);
        }
        goto out;
    }
    if (hdp_rcheck_finish(&c) != 0)
        goto out;
    if (c.count != cp.size) {
        hd_err_set(err, HD_EX_FAIL,
                   "records.jsonl: holds %" PRIu64 " records, the checkpoint signs %" PRIu64
                   ": records were %s at the end",
                   c.count, cp.size, c.count < cp.size ? "removed" : "added");
        goto out;
    }
    if (memcmp(root, cp.root, 32) != 0) {
        /* Each record's hash is in the next record's prev, and those all
         * held: only the last record is left to have changed. */
        hd_err_set(err, HD_EX_FAIL,
                   "records.jsonl line %" PRIu64 ": this record was changed (the Merkle root of "
                   "the records is not the signed one)",
                   c.count);
        goto out;
    }
    if (c.csv_in && fgetc(c.csv_in) != EOF) {
        fail(err, "records.csv: has rows after the last record%s%s", "", "");
        goto out;
    }
    const char *mc = json_string_value(json_object_get(m, "campaign"));
    const char *ms = json_string_value(json_object_get(m, "snapshot_sha256"));
    if (mc == NULL || ms == NULL ||
        (c.count > 0 && (strcmp(mc, c.campaign) != 0 || strcmp(ms, c.snapshot) != 0))) {
        fail(err, "manifest.json: campaign or snapshot differs from the records%s%s", "", "");
        goto out;
    }
    /* 5. the summary says what the records say */
    summary = hdp_summary_text(&c.sum, c.count ? c.campaign : mc);
    snprintf(path, sizeof path, "%s/summary.json", bundle);
    if (summary == NULL || hd_input_read(path, HD_IN_BUNDLE, "summary.json", &b, err) != 0) {
        if (err->code != HD_EX_IOERR) /* missing or oversized: a bad bundle */
            hd_err_set(err, HD_EX_FAIL, "summary.json: cannot be read (missing or too large)");
        goto out;
    }
    if (b.len != strlen(summary) || memcmp(b.data, summary, b.len) != 0) {
        hd_err_set(err, HD_EX_FAIL,
                   "summary.json: does not match the records (first difference on line %u)",
                   first_diff_line(b.data, b.len, summary, strlen(summary)));
        goto out;
    }
    res->records = c.count;
    memcpy(res->root, cp.root, 32);
    rc = 0;
out:
    if (c.csv_in)
        fclose(c.csv_in);
    hdp_rcheck_free(&c);
    json_decref(m);
    free(summary);
    hd_buf_release(&b);
    hd_buf_release(&man);
    return rc;
}
