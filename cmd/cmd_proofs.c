/* herald proofs: export, verify and query delivery-proof bundles
 * (docs/proofs.md). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cmd.h"
#include "herald/files.h"
#include "herald/hash.h"
#include "herald/merkle.h"
#include "herald/plan.h"
#include "herald/proof.h"
#include "herald/render.h"
#include "herald/statedir.h"
#include "herald/store.h"
#include "herald/yaml.h"

#ifndef HERALD_VERSION
#define HERALD_VERSION "0.0.0"
#endif

static const char usage[] =
    "usage: herald proofs export CAMPAIGN.yaml --out DIR [--csv] [--state-dir D]\n"
    "                            [--key SIGNING.key] [--key-name NAME]\n"
    "       herald proofs verify BUNDLE [--pubkey FILE]\n"
    "       herald proofs prove BUNDLE --person ID (--pseudonym-key-env VAR |\n"
    "                           --pseudonym-key-file FILE) [--out PROOF.json]\n"
    "       herald proofs verify-inclusion PROOF.json --checkpoint BUNDLE/checkpoint\n"
    "                           [--pubkey FILE]\n"
    "       herald proofs show CAMPAIGN.yaml --person ID [--state-dir D] [--out DIR]\n"
    "       herald proofs consistency OLD_BUNDLE NEW_BUNDLE [--pubkey FILE]\n"
    "                           [--out PROOF.json]\n"
    "Delivery proofs: pseudonymous records of every final delivery state and\n"
    "every exclusion, exported as a bundle signed with Ed25519 over an RFC 9162\n"
    "Merkle root (a C2SP checkpoint). docs/proofs.md describes it all.\n"
    "  export            write the bundle of the campaign's state store (one\n"
    "                    consistent snapshot, also while a run goes on); the key\n"
    "                    defaults to $HERALD_SIGNING_KEY\n"
    "  verify            check signature, Merkle root, every record, the summary;\n"
    "                    exit 0 valid, 1 invalid (the message names the first bad\n"
    "                    record line or file)\n"
    "  prove             one person's records with their inclusion proofs\n"
    "  verify-inclusion  check such a proof against a signed checkpoint\n"
    "  show              re-render what the person was sent, from the campaign\n"
    "                    snapshot in the store, and check its SHA-256\n"
    "  consistency       prove (and check) that NEW's tree extends OLD's\n"
    "  --pubkey FILE     the signer's public key (PEM or C2SP vkey); without it\n"
    "                    the bundle's own signer.vkey is used, which shows the\n"
    "                    bundle is intact but not who signed it\n";

/* ---- export ------------------------------------------------------------------- */

static int cmd_export(int argc, char **argv)
{
    const char *path = NULL, *state_dir = NULL;
    struct hd_proof_export_opts o;
    struct hd_proof_export_result res;
    struct hd_err err = {0};
    struct hd_store *s = NULL;
    struct hd_campaign *c;
    char dir[4096], hex[65];
    int code;

    memset(&o, 0, sizeof o);
    o.key_path = getenv("HERALD_SIGNING_KEY");
    for (int i = 2; i < argc; i++) {
        const char *v;
        if (hd_cli_opt(argc, argv, &i, "--out", &v) && v)
            o.out_dir = v;
        else if (hd_cli_opt(argc, argv, &i, "--state-dir", &v) && v)
            state_dir = v;
        else if (hd_cli_opt(argc, argv, &i, "--key", &v) && v)
            o.key_path = v;
        else if (hd_cli_opt(argc, argv, &i, "--key-name", &v) && v)
            o.key_name = v;
        else if (strcmp(argv[i], "--csv") == 0)
            o.csv = true;
        else if (argv[i][0] != '-' && path == NULL)
            path = argv[i];
        else
            return hd_cli_fail(HD_EX_USAGE, "proofs export: bad argument \"%s\"\n%s", argv[i],
                               usage);
    }
    if (path == NULL || o.out_dir == NULL)
        return hd_cli_fail(HD_EX_USAGE, "proofs export: CAMPAIGN.yaml and --out DIR are needed");
    if (o.key_path == NULL || *o.key_path == '\0')
        return hd_cli_fail(HD_EX_USAGE,
                           "proofs export: which signing key? pass --key FILE or set "
                           "HERALD_SIGNING_KEY (make one with `herald keys generate`)");
    if ((c = hd_cli_load_campaign(path, &code)) == NULL)
        return code;
    if (!c->proofs)
        fprintf(stderr,
                "herald: warning: campaign \"%s\" has proofs turned off (proofs.enabled: "
                "false), so it keeps no proof records (docs/proofs.md)\n",
                c->id);
    if (state_dir == NULL) { /* a copy cut to dir's size would be another path */
        if (hd_state_dir_resolve(c, dir, sizeof dir, &err) != 0) {
            code = hd_cli_fail(err.code, "proofs export: %s", err.msg);
            goto out;
        }
        state_dir = dir;
    }
    o.tool = "herald " HERALD_VERSION;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (hd_store_open(&s, state_dir, HD_STORE_RDONLY, &err) != 0 ||
        hd_proofs_export(s, &o, &res, &err) != 0) {
        code = hd_cli_fail(err.code ? err.code : HD_EX_SOFTWARE, "proofs export: %s", err.msg);
        goto out;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    hd_hex(res.root, 32, hex);
    printf("exported %" PRIu64 " records to %s\norigin %s\nroot   %s\n", res.records, o.out_dir,
           res.origin, hex);
    fprintf(stderr, "herald: proofs export: %" PRIu64 " records in %.2f s (%.0f records/s)\n",
            res.records, secs, secs > 0 ? (double)res.records / secs : 0.0);
    code = HD_EX_OK;
out:
    hd_store_close(s);
    hd_campaign_free(c);
    return code;
}

/* ---- verify ------------------------------------------------------------------------- */

static int cmd_verify(int argc, char **argv)
{
    const char *bundle = NULL, *pubkey = NULL;
    struct hd_proof_verify_result res;
    struct hd_err err = {0};
    char hex[65];
    for (int i = 2; i < argc; i++) {
        const char *v;
        if (hd_cli_opt(argc, argv, &i, "--pubkey", &v) && v)
            pubkey = v;
        else if (argv[i][0] != '-' && bundle == NULL)
            bundle = argv[i];
        else
            return hd_cli_fail(HD_EX_USAGE, "proofs verify: bad argument \"%s\"\n%s", argv[i],
                               usage);
    }
    if (bundle == NULL)
        return hd_cli_fail(HD_EX_USAGE, "proofs verify: which bundle?");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (hd_proofs_verify(bundle, pubkey, &res, &err) != 0) {
        if (err.code == HD_EX_FAIL) {
            printf("invalid: %s\n", err.msg);
            return HD_EX_FAIL;
        }
        return hd_cli_fail(err.code ? err.code : HD_EX_SOFTWARE, "proofs verify: %s", err.msg);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    hd_hex(res.root, 32, hex);
    printf("valid: %" PRIu64 " records, Merkle root %s, signed by %s; every record and the "
           "summary check out\n",
           res.records, hex, res.signer);
    if (res.own_key)
        fprintf(stderr, "herald: warning: the signature was checked against the bundle's own "
                        "signer.vkey: this shows the bundle is intact, not who signed it; pass "
                        "--pubkey with the key compliance published\n");
    fprintf(stderr, "herald: proofs verify: %" PRIu64 " records in %.2f s (%.0f records/s)\n",
            res.records, secs, secs > 0 ? (double)res.records / secs : 0.0);
    return HD_EX_OK;
}

/* ---- leaf hashes of a bundle, for proofs ------------------------------------------------ */

struct match {
    uint64_t seq;
    char *line;
    size_t len;
};

/* One pass over records.jsonl: every leaf hash into a temporary file (32
 * bytes each, mapped afterwards), the root, and the lines that hold needle. */
struct leaves {
    FILE *tmp;
    const uint8_t *map;
    size_t map_len;
    uint64_t n;
    struct hd_merkle_hasher h;
    struct hd_merkle_stream ms;
    const char *needle;
    struct match *m;
    size_t nm;
    bool oom;
};

static bool contains(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (const char *p = hay; k <= n && (p = memchr(p, needle[0], n - k + 1 - (size_t)(p - hay)));
         p++)
        if (memcmp(p, needle, k) == 0)
            return true;
    return false;
}

static int collect(void *ctx, uint64_t index, const char *line, size_t len, const uint8_t leaf[32])
{
    struct leaves *l = ctx;
    if (fwrite(leaf, 32, 1, l->tmp) != 1)
        return -1;
    hd_merkle_stream_add(&l->ms, leaf);
    l->n = index + 1;
    if (l->needle && contains(line, len, l->needle)) {
        struct match *m = realloc(l->m, (l->nm + 1) * sizeof *m);
        if (m == NULL || (m[l->nm].line = strndup(line, len)) == NULL) {
            if (m)
                l->m = m;
            l->oom = true;
            return -1;
        }
        l->m = m;
        m[l->nm].seq = index;
        m[l->nm].len = len;
        l->nm++;
    }
    return 0;
}

static int leaf_at(void *ctx, uint64_t i, uint8_t out[32])
{
    const struct leaves *l = ctx;
    if (i >= l->n)
        return -1;
    memcpy(out, l->map + 32 * i, 32);
    return 0;
}

static void leaves_free(struct leaves *l)
{
    if (l->map && l->map != MAP_FAILED && l->map_len)
        munmap((void *)l->map, l->map_len);
    if (l->tmp)
        fclose(l->tmp);
    for (size_t i = 0; i < l->nm; i++)
        free(l->m[i].line);
    free(l->m);
    hd_merkle_hasher_free(&l->h);
}

/* Reads bundle/records.jsonl and checks it against the checkpoint cp. */
static int leaves_load(struct leaves *l, const char *bundle, const struct hd_checkpoint *cp,
                       struct hd_err *err)
{
    char path[4200];
    uint8_t root[32];
    if (hd_merkle_hasher_init(&l->h) != 0 || (l->tmp = tmpfile()) == NULL) {
        hd_err_set(err, HD_EX_IOERR, "cannot make a temporary file: %s", strerror(errno));
        return -1;
    }
    hd_merkle_stream_init(&l->ms, &l->h);
    snprintf(path, sizeof path, "%s/records.jsonl", bundle);
    if (hd_proofs_each_record(path, collect, l, err) != 0) {
        if (err->code == 0)
            hd_err_set(err, l->oom ? HD_EX_SOFTWARE : HD_EX_IOERR, "%s: cannot be read", path);
        return -1;
    }
    if (fflush(l->tmp) != 0) {
        hd_err_set(err, HD_EX_IOERR, "temporary file: %s", strerror(errno));
        return -1;
    }
    hd_merkle_stream_root(&l->ms, root);
    if (l->n != cp->size || memcmp(root, cp->root, 32) != 0) {
        hd_err_set(err, HD_EX_FAIL,
                   "%s does not match its checkpoint (%" PRIu64 " records, %" PRIu64
                   " signed): run `herald proofs verify` on it",
                   path, l->n, cp->size);
        return -1;
    }
    l->map_len = (size_t)l->n * 32;
    if (l->map_len) {
        l->map = mmap(NULL, l->map_len, PROT_READ, MAP_PRIVATE, fileno(l->tmp), 0);
        if (l->map == MAP_FAILED) {
            hd_err_set(err, HD_EX_IOERR, "cannot map the leaf hashes: %s", strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* The signer key: --pubkey, else the signer.vkey next to the checkpoint. */
static int load_key(const char *pubkey, const char *dir, struct hd_proof_pubkey *key, bool *own,
                    struct hd_err *err)
{
    char path[4200];
    *own = pubkey == NULL;
    if (pubkey)
        return hd_proof_pubkey_load(pubkey, key, err);
    snprintf(path, sizeof path, "%s/signer.vkey", dir);
    return hd_proof_pubkey_load(path, key, err);
}

static int read_checkpoint(const char *path, const struct hd_proof_pubkey *key,
                           struct hd_checkpoint *cp, struct hd_buf *text, struct hd_err *err)
{
    if (hd_input_read(path, HD_IN_BUNDLE, "checkpoint", text, err) != 0) {
        /* too large (or any other refusal but a missing file or an I/O
         * error): not a checkpoint, a proof that does not hold (exit 1) */
        if (err->code != HD_EX_NOINPUT && err->code != HD_EX_IOERR)
            err->code = HD_EX_FAIL;
        return -1;
    }
    if (hd_checkpoint_verify(text->data, text->len, key, cp, err) != 0) {
        hd_err_prefix(err, "%s", path);
        return -1;
    }
    return 0;
}

static json_t *hex_array(uint8_t (*h)[32], size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char hex[65];
        hd_hex(h[i], 32, hex);
        json_array_append_new(a, json_string(hex));
    }
    return a;
}

static int write_json(json_t *j, const char *out, struct hd_err *err)
{
    if (out) {
        /* a new file renamed into place: never through a link at out */
        char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        int rc = text ? hd_out_write(out, text, strlen(text), 0644, true, err) : -1;
        if (text == NULL)
            hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        free(text);
        return rc;
    }
    if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) != 0) {
        hd_err_set(err, HD_EX_CANTCREAT, "cannot write the proof");
        return -1;
    }
    putchar('\n');
    return 0;
}

static bool all_zero(const uint8_t *b)
{
    for (int i = 0; i < 32; i++)
        if (b[i])
            return false;
    return true;
}

static void warn_own_key(bool own)
{
    if (own)
        fprintf(stderr, "herald: warning: checked against the bundle's own signer.vkey, which "
                        "shows integrity, not who signed; pass --pubkey\n");
}

/* ---- prove ------------------------------------------------------------------------------ */

static int cmd_prove(int argc, char **argv)
{
    const char *bundle = NULL, *person = NULL, *key_env = NULL, *key_file = NULL, *out = NULL;
    struct hd_pseudonym_key pk;
    struct hd_proof_pubkey key;
    struct hd_checkpoint cp;
    struct hd_buf text = HD_BUF_INIT;
    struct leaves l;
    struct hd_err err = {0};
    char pkey[65], needle[100], path[4200], b64[64];
    bool own;
    int code = HD_EX_OK;

    for (int i = 2; i < argc; i++) {
        const char *v;
        if (hd_cli_opt(argc, argv, &i, "--person", &v) && v)
            person = v;
        else if (hd_cli_opt(argc, argv, &i, "--pseudonym-key-env", &v) && v)
            key_env = v;
        else if (hd_cli_opt(argc, argv, &i, "--pseudonym-key-file", &v) && v)
            key_file = v;
        else if (hd_cli_opt(argc, argv, &i, "--out", &v) && v)
            out = v;
        else if (argv[i][0] != '-' && bundle == NULL)
            bundle = argv[i];
        else
            return hd_cli_fail(HD_EX_USAGE, "proofs prove: bad argument \"%s\"\n%s", argv[i],
                               usage);
    }
    if (bundle == NULL || person == NULL || (key_env == NULL && key_file == NULL))
        return hd_cli_fail(HD_EX_USAGE, "proofs prove: BUNDLE, --person and a pseudonym key "
                                        "(--pseudonym-key-env or --pseudonym-key-file) are needed");
    if (hd_pseudonym_key_load(&pk, key_env, key_file, NULL, &err) != 0)
        return hd_cli_fail(err.code, "proofs prove: %s", err.msg);
    hd_proof_person_key(&pk, person, strlen(person), pkey);
    OPENSSL_cleanse(&pk, sizeof pk);
    snprintf(needle, sizeof needle, "\"person_key\":\"%s\"", pkey);
    memset(&l, 0, sizeof l);
    l.needle = needle;
    snprintf(path, sizeof path, "%s/checkpoint", bundle);
    if (load_key(NULL, bundle, &key, &own, &err) != 0 ||
        read_checkpoint(path, &key, &cp, &text, &err) != 0 || leaves_load(&l, bundle, &cp, &err))
        goto fail;
    if (l.nm == 0) {
        fprintf(stderr,
                "herald: proofs prove: no records of this person in %s (wrong id, or "
                "another pseudonym key?)\n",
                bundle);
        code = HD_EX_FAIL;
        goto out;
    }
    json_t *recs = json_array();
    for (size_t i = 0; i < l.nm; i++) {
        uint8_t proof[HD_MERKLE_MAX_PROOF][32], leaf[32];
        size_t n;
        char hex[65];
        if (hd_merkle_inclusion_proof(&l.h, leaf_at, &l, l.m[i].seq, l.n, proof, &n) != 0) {
            json_decref(recs);
            hd_err_set(&err, HD_EX_SOFTWARE, "cannot make the inclusion proof of seq %" PRIu64,
                       l.m[i].seq);
            goto fail;
        }
        leaf_at(&l, l.m[i].seq, leaf);
        hd_hex(leaf, 32, hex);
        json_array_append_new(recs,
                              json_pack("{s:I, s:s%, s:s, s:o}", "seq", (json_int_t)l.m[i].seq,
                                        "record", l.m[i].line, l.m[i].len, "leaf_hash", hex,
                                        "inclusion_path", hex_array(proof, n)));
    }
    hd_proof_base64(cp.root, 32, b64);
    json_t *j =
        json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:o}", "format", "herald-inclusion-proof/1",
                  "origin", cp.origin, "tree_size", (json_int_t)cp.size, "root", b64, "checkpoint",
                  text.data, "person_key", pkey, "records", recs);
    if (write_json(j, out, &err) != 0) {
        json_decref(j);
        goto fail;
    }
    json_decref(j);
    fprintf(stderr,
            "herald: proofs prove: %zu records of this person, with inclusion proofs in "
            "the tree of %" PRIu64 " records\n",
            l.nm, cp.size);
    goto out;
fail:
    code = hd_cli_fail(err.code ? err.code : HD_EX_SOFTWARE, "proofs prove: %s", err.msg);
out:
    leaves_free(&l);
    hd_buf_release(&text);
    return code;
}

/* ---- verify-inclusion -------------------------------------------------------------------- */

static int cmd_verify_inclusion(int argc, char **argv)
{
    const char *proof_path = NULL, *cp_path = NULL, *pubkey = NULL;
    struct hd_proof_pubkey key;
    struct hd_checkpoint cp;
    struct hd_buf text = HD_BUF_INIT;
    struct hd_merkle_hasher h;
    struct hd_err err = {0};
    json_t *j = NULL, *rec;
    json_error_t jerr;
    bool own;
    size_t i;
    int code = HD_EX_FAIL;

    for (int k = 2; k < argc; k++) {
        const char *v;
        if (hd_cli_opt(argc, argv, &k, "--checkpoint", &v) && v)
            cp_path = v;
        else if (hd_cli_opt(argc, argv, &k, "--pubkey", &v) && v)
            pubkey = v;
        else if (argv[k][0] != '-' && proof_path == NULL)
            proof_path = argv[k];
        else
            return hd_cli_fail(HD_EX_USAGE, "proofs verify-inclusion: bad argument \"%s\"\n%s",
                               argv[k], usage);
    }
    if (proof_path == NULL || cp_path == NULL)
        return hd_cli_fail(HD_EX_USAGE, "proofs verify-inclusion: PROOF.json and --checkpoint "
                                        "FILE are needed");
    char dir[4000];
    snprintf(dir, sizeof dir, "%s", cp_path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    if (hd_merkle_hasher_init(&h) != 0)
        return hd_cli_fail(HD_EX_SOFTWARE, "out of memory");
    if (load_key(pubkey, dir, &key, &own, &err) != 0) {
        code = hd_cli_fail(err.code, "proofs verify-inclusion: %s", err.msg);
        goto out;
    }
    if (read_checkpoint(cp_path, &key, &cp, &text, &err) != 0) {
        if (err.code != HD_EX_FAIL) {
            code = hd_cli_fail(err.code, "proofs verify-inclusion: %s", err.msg);
            goto out;
        }
        printf("invalid: %s\n", err.msg);
        goto out;
    }
    if ((j = json_load_file(proof_path, 0, &jerr)) == NULL) {
        code = hd_cli_fail(HD_EX_DATAERR, "proofs verify-inclusion: %s:%d: %s", proof_path,
                           jerr.line, jerr.text);
        goto out;
    }
    json_t *recs = json_object_get(j, "records");
    if (!json_is_array(recs) || json_array_size(recs) == 0) {
        printf("invalid: %s holds no records\n", proof_path);
        goto out;
    }
    if ((uint64_t)json_integer_value(json_object_get(j, "tree_size")) != cp.size) {
        printf("invalid: the proof is for a tree of %lld records, the checkpoint signs %" PRIu64
               "\n",
               (long long)json_integer_value(json_object_get(j, "tree_size")), cp.size);
        goto out;
    }
    json_array_foreach(recs, i, rec)
    {
        const char *line = json_string_value(json_object_get(rec, "record"));
        size_t len = json_string_length(json_object_get(rec, "record"));
        json_t *path = json_object_get(rec, "inclusion_path"), *ph;
        uint64_t seq = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
        uint8_t leaf[32], proof[HD_MERKLE_MAX_PROOF][32];
        struct hd_proof_rec r;
        char why[256];
        size_t k, n = json_array_size(path);
        if (line == NULL || !json_is_array(path) || n > HD_MERKLE_MAX_PROOF) {
            printf("invalid: record %zu of the proof is malformed\n", i + 1);
            goto out;
        }
        if (hd_proof_parse(line, len, &r, why, sizeof why) != 0 || r.seq != seq) {
            printf("invalid: record seq %" PRIu64 ": %s\n", seq,
                   r.seq != seq ? "its seq differs from the proof's" : why);
            goto out;
        }
        json_array_foreach(path, k, ph)
        {
            const char *hx = json_string_value(ph);
            if (hx == NULL || strlen(hx) != 64 || hd_proof_unhex(hx, 64, proof[k]) != 0) {
                printf("invalid: record seq %" PRIu64 ": a malformed path hash\n", seq);
                goto out;
            }
        }
        hd_merkle_leaf_hash(&h, line, len, leaf);
        if (!hd_merkle_verify_inclusion(&h, leaf, seq, cp.size, (const uint8_t(*)[32])proof, n,
                                        cp.root)) {
            printf("invalid: record seq %" PRIu64 " is not in the signed tree (the record or its "
                   "proof was changed)\n",
                   seq);
            goto out;
        }
    }
    printf("valid: %zu records are leaves of the tree of %" PRIu64 " records signed by %s (%s)\n",
           json_array_size(recs), cp.size, cp.signer, cp.origin);
    warn_own_key(own);
    code = HD_EX_OK;
out:
    json_decref(j);
    hd_buf_release(&text);
    hd_merkle_hasher_free(&h);
    return code;
}

/* ---- consistency ---------------------------------------------------------------------------- */

static int cmd_consistency(int argc, char **argv)
{
    const char *old_b = NULL, *new_b = NULL, *pubkey = NULL, *out = NULL;
    struct hd_proof_pubkey ko, kn;
    struct hd_checkpoint co, cn;
    struct hd_buf to = HD_BUF_INIT, tn = HD_BUF_INIT;
    struct leaves l;
    struct hd_err err = {0};
    char path[4200], b64o[64], b64n[64];
    uint8_t proof[HD_MERKLE_MAX_PROOF][32];
    size_t np;
    bool own;
    int code = HD_EX_FAIL;

    for (int i = 2; i < argc; i++) {
        const char *v;
        if (hd_cli_opt(argc, argv, &i, "--pubkey", &v) && v)
            pubkey = v;
        else if (hd_cli_opt(argc, argv, &i, "--out", &v) && v)
            out = v;
        else if (argv[i][0] != '-' && old_b == NULL)
            old_b = argv[i];
        else if (argv[i][0] != '-' && new_b == NULL)
            new_b = argv[i];
        else
            return hd_cli_fail(HD_EX_USAGE, "proofs consistency: bad argument \"%s\"\n%s", argv[i],
                               usage);
    }
    if (old_b == NULL || new_b == NULL)
        return hd_cli_fail(HD_EX_USAGE, "proofs consistency: OLD_BUNDLE and NEW_BUNDLE are needed");
    memset(&l, 0, sizeof l);
    if (load_key(pubkey, old_b, &ko, &own, &err) != 0 ||
        load_key(pubkey, new_b, &kn, &own, &err) != 0) {
        code = hd_cli_fail(err.code, "proofs consistency: %s", err.msg);
        goto out;
    }
    snprintf(path, sizeof path, "%s/checkpoint", old_b);
    if (read_checkpoint(path, &ko, &co, &to, &err) != 0)
        goto verdict;
    snprintf(path, sizeof path, "%s/checkpoint", new_b);
    if (read_checkpoint(path, &kn, &cn, &tn, &err) != 0)
        goto verdict;
    if (strcmp(co.origin, cn.origin) != 0) {
        hd_err_set(&err, HD_EX_FAIL, "the bundles are of different logs (%s, %s)", co.origin,
                   cn.origin);
        goto verdict;
    }
    if (co.size > cn.size) {
        hd_err_set(&err, HD_EX_FAIL,
                   "OLD has %" PRIu64 " records, NEW only %" PRIu64 ": NEW cannot extend OLD",
                   co.size, cn.size);
        goto verdict;
    }
    if (leaves_load(&l, new_b, &cn, &err) != 0)
        goto verdict;
    if (hd_merkle_consistency_proof(&l.h, leaf_at, &l, co.size, cn.size, proof, &np) != 0) {
        hd_err_set(&err, HD_EX_SOFTWARE, "cannot make the consistency proof");
        goto verdict;
    }
    hd_proof_base64(co.root, 32, b64o);
    hd_proof_base64(cn.root, 32, b64n);
    json_t *j = json_pack(
        "{s:s, s:{s:s, s:I, s:s}, s:{s:s, s:I, s:s}, s:o}", "format", "herald-consistency-proof/1",
        "old", "origin", co.origin, "tree_size", (json_int_t)co.size, "root", b64o, "new", "origin",
        cn.origin, "tree_size", (json_int_t)cn.size, "root", b64n, "proof", hex_array(proof, np));
    if (out && write_json(j, out, &err) != 0) {
        json_decref(j);
        code = hd_cli_fail(err.code, "proofs consistency: %s", err.msg);
        goto out;
    }
    json_decref(j);
    if (!hd_merkle_verify_consistency(&l.h, co.size, cn.size, co.root, cn.root,
                                      (const uint8_t(*)[32])proof, np)) {
        hd_err_set(&err, HD_EX_FAIL,
                   "NEW's tree does not extend OLD's: a record among the first %" PRIu64
                   " changed between the exports",
                   co.size);
        goto verdict;
    }
    printf("valid: the tree of %" PRIu64 " records extends the tree of %" PRIu64
           " records (%zu hashes of RFC 9162 consistency proof); no earlier record changed\n",
           cn.size, co.size, np);
    warn_own_key(own);
    code = HD_EX_OK;
    goto out;
verdict:
    if (err.code == HD_EX_FAIL)
        printf("invalid: %s\n", err.msg);
    else
        code = hd_cli_fail(err.code ? err.code : HD_EX_SOFTWARE, "proofs consistency: %s", err.msg);
out:
    leaves_free(&l);
    hd_buf_release(&to);
    hd_buf_release(&tn);
    return code;
}

/* ---- show ---------------------------------------------------------------------------------- */

/* The campaign as it was planned: the snapshot's files written to a
 * temporary directory, with locales.dir pointed at the locale files there
 * (the only path rendering reads), loaded like any campaign. */
struct snap {
    char dir[256];
    char **files;
    size_t nfiles;
    struct hd_buf campaign; /* the stored bytes */
    uint8_t sha256[32];     /* recomputed snapshot hash */
};

static void snap_cleanup(struct snap *sn)
{
    for (size_t i = 0; i < sn->nfiles; i++) {
        unlink(sn->files[i]);
        free(sn->files[i]);
    }
    free(sn->files);
    if (sn->dir[0]) {
        char p[300];
        snprintf(p, sizeof p, "%s/locales", sn->dir);
        rmdir(p);
        rmdir(sn->dir);
    }
    hd_buf_release(&sn->campaign);
}

static int snap_write(struct snap *sn, const char *path, const void *data, size_t len)
{
    /* a fresh directory of ours (mkdtemp); still, never through a link */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (fd >= 0 && f == NULL)
        close(fd);
    char **files = realloc(sn->files, (sn->nfiles + 1) * sizeof *files);
    if (files)
        sn->files = files;
    if (f == NULL || files == NULL || (sn->files[sn->nfiles] = strdup(path)) == NULL) {
        if (f)
            fclose(f);
        return -1;
    }
    sn->nfiles++;
    bool ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Byte range of the value of locales.dir in the campaign text. */
static int locales_dir_span(const char *text, size_t len, size_t *start, size_t *end,
                            struct hd_err *err)
{
    struct hd_ydoc *doc = hd_yaml_parse("snapshot campaign", text, len, err);
    const struct hd_ynode *n = doc ? hd_ymap_get(hd_ymap_get(doc->root, "locales"), "dir") : NULL;
    int rc = -1;
    if (n == NULL || n->kind != HD_YSCALAR || n->text_line != n->line) {
        if (doc)
            hd_err_set(err, HD_EX_DATAERR, "the snapshot's campaign has no one-line locales.dir");
        goto out;
    }
    size_t off = 0;
    for (unsigned long line = 1; line < n->text_line && off < len; off++)
        line += text[off] == '\n';
    off += n->text_col - 1;
    char q = off > 0 ? text[off - 1] : 0;
    size_t e = off;
    if (!n->quoted) {
        e = off + n->len;
        if (e > len || memcmp(text + off, n->str, n->len) != 0)
            goto bad;
    } else if (q == '"') {
        while (e < len && text[e] != '"' && text[e] != '\n')
            e += text[e] == '\\' ? 2 : 1;
    } else if (q == '\'') {
        while (e < len && text[e] != '\n' && !(text[e] == '\'' && text[e + 1] != '\''))
            e += text[e] == '\'' ? 2 : 1;
    } else {
        goto bad;
    }
    if (e >= len || (n->quoted && text[e] != q))
        goto bad;
    *start = off;
    *end = e;
    rc = 0;
    goto out;
bad:
    hd_err_set(err, HD_EX_DATAERR, "cannot find locales.dir in the snapshot's campaign text");
out:
    hd_yaml_free(doc);
    return rc;
}

static struct hd_campaign *snap_load(struct snap *sn, MDB_txn *txn, const struct hd_store *s,
                                     struct hd_err *err)
{
    MDB_cursor *cur;
    MDB_val k, v;
    char path[400];
    const char *tmp = getenv("TMPDIR");
    struct hd_buf text = HD_BUF_INIT;
    struct hd_campaign *c = NULL;
    int code;

    snprintf(sn->dir, sizeof sn->dir, "%s/herald-show-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(sn->dir) == NULL) {
        sn->dir[0] = '\0';
        hd_err_set(err, HD_EX_CANTCREAT, "cannot make a temporary directory: %s", strerror(errno));
        return NULL;
    }
    snprintf(path, sizeof path, "%s/locales", sn->dir);
    if (mkdir(path, 0700) != 0 || mdb_cursor_open(txn, s->snapshot, &cur) != 0) {
        hd_err_set(err, HD_EX_IOERR, "cannot write the snapshot: %s", strerror(errno));
        return NULL;
    }
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        const char *key = k.mv_data;
        if (k.mv_size == 8 && memcmp(key, "campaign", 8) == 0) {
            hd_buf_reset(&sn->campaign);
            hd_buf_append(&sn->campaign, v.mv_data, v.mv_size);
            continue;
        }
        if (k.mv_size <= 7 || k.mv_size > 200 || memcmp(key, "locale/", 7) != 0 ||
            memchr(key + 7, '/', k.mv_size - 7) || key[7] == '.')
            continue;
        snprintf(path, sizeof path, "%s/locales/%.*s", sn->dir, (int)k.mv_size - 7, key + 7);
        if (snap_write(sn, path, v.mv_data, v.mv_size) != 0) {
            mdb_cursor_close(cur);
            hd_err_set(err, HD_EX_IOERR, "cannot write %s: %s", path, strerror(errno));
            return NULL;
        }
    }
    mdb_cursor_close(cur);
    size_t a, b;
    if (sn->campaign.len == 0) {
        hd_err_set(err, HD_EX_DATAERR, "the state store holds no campaign snapshot");
        return NULL;
    }
    if (locales_dir_span(sn->campaign.data, sn->campaign.len, &a, &b, err) != 0)
        return NULL;
    snprintf(path, sizeof path, "%s/locales", sn->dir);
    if (hd_buf_append(&text, sn->campaign.data, a) || hd_buf_puts(&text, path) ||
        hd_buf_append(&text, sn->campaign.data + b, sn->campaign.len - b)) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        goto out;
    }
    snprintf(path, sizeof path, "%s/campaign.yaml", sn->dir);
    if (snap_write(sn, path, text.data, text.len) != 0) {
        hd_err_set(err, HD_EX_IOERR, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    if ((c = hd_cli_load_campaign(path, &code)) == NULL) {
        hd_err_set(err, code, "the campaign snapshot in the store does not load");
        goto out;
    }
    /* The snapshot hash of what the store holds (docs/state-store.md). */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char head[300];
    struct hd_buf lb = HD_BUF_INIT;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, "herald-snapshot-v1\n", 19);
    int hn = snprintf(head, sizeof head, "campaign\n%zu\n", sn->campaign.len);
    EVP_DigestUpdate(md, head, (size_t)hn);
    EVP_DigestUpdate(md, sn->campaign.data, sn->campaign.len);
    for (size_t i = 0; i < c->nlocales; i++) {
        if (hd_input_read(c->locales[i].file, HD_IN_YAML, "locale file", &lb, err) != 0)
            break;
        hn = snprintf(head, sizeof head, "%s\n%zu\n", c->locales[i].tag, lb.len);
        EVP_DigestUpdate(md, head, (size_t)hn);
        EVP_DigestUpdate(md, lb.data, lb.len);
    }
    EVP_DigestFinal_ex(md, sn->sha256, NULL);
    EVP_MD_CTX_free(md);
    hd_buf_release(&lb);
out:
    hd_buf_release(&text);
    return c;
}

struct precord {
    char channel[65], sha256[65], state[16];
    uint64_t seq;
};

static int cmd_show(int argc, char **argv)
{
    const char *path = NULL, *person = NULL, *state_dir = NULL, *out = NULL;
    struct hd_campaign *c = NULL, *cs = NULL;
    struct hd_store *s = NULL;
    struct hd_renderer *r = NULL;
    struct hd_link_secret secret;
    struct snap sn;
    struct hd_err err = {0};
    struct precord *pr = NULL;
    struct hd_rendered rd;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct hd_buf b = HD_BUF_INIT;
    char dir[4096], hex[65];
    size_t npr = 0;
    int code = HD_EX_FAIL, shown = 0, bad = 0;

    memset(&sn, 0, sizeof sn);
    memset(&rd, 0, sizeof rd);
    for (int i = 2; i < argc; i++) {
        const char *val;
        if (hd_cli_opt(argc, argv, &i, "--person", &val) && val)
            person = val;
        else if (hd_cli_opt(argc, argv, &i, "--state-dir", &val) && val)
            state_dir = val;
        else if (hd_cli_opt(argc, argv, &i, "--out", &val) && val)
            out = val;
        else if (argv[i][0] != '-' && path == NULL)
            path = argv[i];
        else
            return hd_cli_fail(HD_EX_USAGE, "proofs show: bad argument \"%s\"\n%s", argv[i], usage);
    }
    if (path == NULL || person == NULL)
        return hd_cli_fail(HD_EX_USAGE, "proofs show: CAMPAIGN.yaml and --person ID are needed");
    if ((c = hd_cli_load_campaign(path, &code)) == NULL)
        return code;
    if (hd_link_secret_load(&secret, c->link_secret_env, c->link_secret_file, &err) != 0)
        goto fail;
    if (state_dir == NULL) { /* a copy cut to dir's size would be another path */
        if (hd_state_dir_resolve(c, dir, sizeof dir, &err) != 0)
            goto fail;
        state_dir = dir;
    }
    if (hd_store_open(&s, state_dir, HD_STORE_RDONLY, &err) != 0 ||
        hd_store_begin(s, false, &txn, &err) != 0)
        goto fail;
    if ((cs = snap_load(&sn, txn, s, &err)) == NULL)
        goto fail;
    bool found;
    if (hd_store_meta_get(txn, s, "snapshot_sha256", &b, &found, &err) != 0)
        goto fail;
    hd_hex(sn.sha256, 32, hex);
    if (!found || b.len != 64 || memcmp(b.data, hex, 64) != 0) {
        hd_err_set(&err, HD_EX_DATAERR,
                   "the campaign snapshot in %s does not hash to its snapshot_sha256", state_dir);
        goto fail;
    }
    printf("campaign %s, snapshot %s (from the state store)\n", cs->id, hex);

    /* The person: the ids index gives (row, shard) for the id's hash. */
    uint8_t key[16], pkey[11];
    uint64_t hash = hd_person_hash(person, strlen(person));
    struct hd_person_rec p;
    bool have = false, excluded = false;
    hd_key_u64(key, hash);
    hd_key_u64(key + 8, 0);
    k.mv_size = 16;
    k.mv_data = key;
    if (mdb_cursor_open(txn, s->ids, &cur) != 0)
        goto fail;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         rc == 0 && k.mv_size == 16 && hd_get_u64(k.mv_data) == hash && !have;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t row = hd_get_u64((const uint8_t *)k.mv_data + 8);
        uint16_t shard = v.mv_size == 2 ? hd_get_u16(v.mv_data) : HD_SHARD_NONE;
        MDB_val pk, pv;
        if (shard == HD_SHARD_NONE) {
            struct hd_exclusion_rec x;
            uint8_t xk[8];
            hd_key_u64(xk, row);
            pk.mv_size = 8;
            pk.mv_data = xk;
            if (mdb_get(txn, s->exclusions, &pk, &pv) == 0 &&
                hd_exclusion_rec_decode(pv.mv_data, pv.mv_size, &x) == 0 &&
                x.id_len == strlen(person) && memcmp(x.id, person, x.id_len) == 0) {
                printf("row %" PRIu64 ": excluded at plan time (%s)\n", row,
                       hd_reason_names[x.reason]);
                excluded = true;
            }
            continue;
        }
        hd_key_person(pkey, shard, row);
        pk.mv_size = 10;
        pk.mv_data = pkey;
        if (mdb_get(txn, s->persons, &pk, &pv) == 0 &&
            hd_person_rec_decode(pv.mv_data, pv.mv_size, &p) == 0 && p.id_len == strlen(person) &&
            memcmp(p.id, person, p.id_len) == 0)
            have = true;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    if (!have) {
        code = excluded ? HD_EX_FAIL : HD_EX_NOINPUT;
        if (!excluded)
            fprintf(stderr, "herald: proofs show: no person \"%s\" in %s\n", person, state_dir);
        goto out;
    }
    printf("person %s: %.2s, language %s%s\n", person, p.country, p.language,
           p.variant ? " (variant text: had already objected)" : "");

    /* The person's proof records. */
    if (c->proofs) {
        struct hd_pseudonym_key psk;
        char pk_hex[65], needle[100];
        if (hd_pseudonym_key_load(&psk, c->pseudonym_key_env, c->pseudonym_key_file, NULL, &err) !=
            0)
            goto fail;
        hd_proof_person_key(&psk, person, strlen(person), pk_hex);
        OPENSSL_cleanse(&psk, sizeof psk);
        snprintf(needle, sizeof needle, "\"person_key\":\"%s\"", pk_hex);
        if (mdb_cursor_open(txn, s->proofs, &cur) != 0)
            goto fail;
        while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
            struct hd_proof_rec rec;
            char why[256];
            if (!contains(v.mv_data, v.mv_size, needle) ||
                hd_proof_parse(v.mv_data, v.mv_size, &rec, why, sizeof why) != 0 || rec.exclusion)
                continue;
            struct precord *n = realloc(pr, (npr + 1) * sizeof *pr);
            if (n == NULL)
                break;
            pr = n;
            memset(&pr[npr], 0, sizeof *pr);
            pr[npr].seq = rec.seq;
            snprintf(pr[npr].channel, 65, "%.*s", (int)rec.f[HD_PF_CHANNEL].n,
                     rec.f[HD_PF_CHANNEL].p);
            snprintf(pr[npr].state, 16, "%.*s", (int)rec.f[HD_PF_STATE].n, rec.f[HD_PF_STATE].p);
            if (rec.f[HD_PF_SHA256].p)
                snprintf(pr[npr].sha256, 65, "%.64s", rec.f[HD_PF_SHA256].p);
            npr++;
        }
        mdb_cursor_close(cur);
        cur = NULL;
    }

    if ((r = hd_renderer_new(cs, &secret)) == NULL) {
        hd_err_set(&err, HD_EX_SOFTWARE, "out of memory");
        goto fail;
    }
    if (out && mkdir(out, 0755) != 0 && errno != EEXIST) {
        hd_err_set(&err, HD_EX_CANTCREAT, "cannot create %s: %s", out, strerror(errno));
        goto fail;
    }
    for (uint8_t ch = 0; ch < cs->nchannels && ch < p.nchannels; ch++) {
        struct hd_delivery_rec d;
        uint8_t dk[11];
        const char *name = cs->channels[ch].name;
        hd_key_delivery(dk, hd_get_u16(pkey), p.row, ch);
        k.mv_size = 11;
        k.mv_data = dk;
        if (mdb_get(txn, s->deliveries, &k, &v) != 0 ||
            hd_delivery_rec_decode(v.mv_data, v.mv_size, &d) != 0)
            continue;
        if (d.first_attempt_ms == 0 || all_zero(d.sha256)) {
            printf("%s: %s, nothing sent yet\n", name, hd_dstate_names[d.state]);
            continue;
        }
        struct hd_err rerr = {0};
        char want[65], got[65], when[32];
        time_t t = (time_t)(d.first_attempt_ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        hd_hex(d.sha256, 32, want);
        if (hd_render(r, &p, ch, d.first_attempt_ms / 1000, &rd, &rerr) != 0) {
            printf("%s: cannot re-render: %s\n", name, rerr.msg);
            bad++;
            continue;
        }
        hd_hex(rd.sha256, 32, got);
        bool same = strcmp(got, want) == 0;
        printf("%s: %s, dated %s, %zu bytes, SHA-256 %s: %s the delivery record\n", name,
               hd_dstate_names[d.state], when, rd.bytes.len, got,
               same ? "matches" : "DIFFERS FROM");
        bad += !same;
        for (size_t i = 0; i < npr; i++) {
            if (strcmp(pr[i].channel, name) != 0)
                continue;
            bool m = strcmp(pr[i].sha256, got) == 0;
            printf("  proof record seq %" PRIu64 " (%s): SHA-256 %s\n", pr[i].seq, pr[i].state,
                   pr[i].sha256[0] == '\0' ? "none (nothing was sent)"
                   : m                     ? "matches"
                                           : "DIFFERS");
            bad += pr[i].sha256[0] && !m;
        }
        if (out) {
            char file[4200];
            snprintf(file, sizeof file, "%s/%s.%s", out, name,
                     cs->channels[ch].type == HD_CHANNEL_EMAIL ? "eml" : "json");
            /* a new file (0600: it is one person's message) renamed into place:
             * never through a link at file */
            if (hd_out_write(file, rd.bytes.data, rd.bytes.len, 0600, true, &err) != 0)
                goto fail;
            printf("  written to %s\n", file);
        } else {
            printf("----- %s message -----\n", name);
            fwrite(rd.bytes.data, 1, rd.bytes.len, stdout);
            printf("\n----- end -----\n");
        }
        shown++;
    }
    if (shown == 0)
        printf("no message of this person was sent yet\n");
    code = bad || shown == 0 ? HD_EX_FAIL : HD_EX_OK;
    goto out;
fail:
    code = hd_cli_fail(err.code ? err.code : HD_EX_IOERR, "proofs show: %s", err.msg);
out:
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    hd_buf_release(&rd.bytes);
    hd_buf_release(&b);
    hd_renderer_free(r);
    hd_campaign_free(cs);
    snap_cleanup(&sn);
    hd_store_close(s);
    hd_campaign_free(c);
    free(pr);
    OPENSSL_cleanse(&secret, sizeof secret);
    return code;
}

/* ---- the command ----------------------------------------------------------------------- */

int hd_cmd_proofs(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } actions[] = {
        {"export", cmd_export},
        {"verify", cmd_verify},
        {"prove", cmd_prove},
        {"verify-inclusion", cmd_verify_inclusion},
        {"consistency", cmd_consistency},
        {"show", cmd_show},
    };
    const char *action = argc > 1 ? argv[1] : NULL;
    if (action == NULL || strcmp(action, "--help") == 0) {
        fputs(usage, action ? stdout : stderr);
        return action ? HD_EX_OK : HD_EX_USAGE;
    }
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return HD_EX_OK;
        }
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        if (strcmp(action, actions[i].name) == 0)
            return actions[i].run(argc, argv);
    return hd_cli_fail(HD_EX_USAGE, "proofs: unknown action \"%s\"\n%s", action, usage);
}
