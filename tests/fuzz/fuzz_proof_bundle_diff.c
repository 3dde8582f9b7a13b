/* fuzz_proof_bundle_diff - differential libFuzzer target: Herald's bundle
 * verifier (hd_proofs_verify, as `herald proofs verify`) against the
 * independent one (tests/e2e/proof_verify.py). The two must give the same
 * verdict on every bundle (issue 10, finding 7); abort() when they do not.
 *
 * The input is records.jsonl (a newline is added when it ends without
 * one). Everything else is made to fit it, as a signer holding the key
 * would, so that mutations reach the record checks instead of failing at
 * the signature: each "prev" is relinked to the line before, summary.json is
 * what Herald counts (or "{}" when Herald refuses a record), records.csv
 * (for inputs of odd length) what Herald writes, manifest.json, and a
 * checkpoint signed with a fixed test key (a seed of 32 bytes 0x42, name
 * "fuzz-proofs"; never a real key).
 *
 * proof_verify.py runs once, in its --serve mode (posix_spawn, pipes), found
 * through $HERALD_SOURCE_DIR (default: the source tree this was compiled
 * from, HERALD_SOURCE_DIR_DEFAULT); python3 from $PATH (Debian's, with the
 * `cryptography` package). The bundle lives in one temporary directory,
 * rewritten for every input and removed at exit.
 *
 * Seeds: tests/fuzz/corpus/proof_bundle_diff/. Build: tests/fuzz/README-proofs.md.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../../core/proofs/proof_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern char **environ;

#ifndef HERALD_SOURCE_DIR_DEFAULT
#define HERALD_SOURCE_DIR_DEFAULT "."
#endif
#define KEY_NAME "fuzz-proofs"

static char dir[256];
static uint8_t seed[32], raw[32];
static FILE *py_in, *py_out;
static pid_t py_pid;

static void cleanup(void)
{
    static const char *const names[] = {"records.jsonl", "records.csv", "summary.json",
                                        "manifest.json", "checkpoint",  "signer.vkey",
                                        "key.vkey"};
    char path[512];
    if (py_in)
        fclose(py_in); /* the server ends at EOF */
    if (py_pid > 0)
        waitpid(py_pid, NULL, 0);
    for (size_t i = 0; dir[0] && i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    if (dir[0])
        rmdir(dir);
}

static void die(const char *what)
{
    fprintf(stderr, "fuzz_proof_bundle_diff: %s: %s\n", what, strerror(errno));
    abort();
}

static void put(const char *name, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
        die(path);
}

static void setup(void)
{
    const char *src = getenv("HERALD_SOURCE_DIR");
    char script[1024], vkey[512];
    int to_py[2], from_py[2];
    posix_spawn_file_actions_t fa;
    snprintf(dir, sizeof dir, "%s/herald-fuzz-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(dir) == NULL)
        die("mkdtemp");
    atexit(cleanup);
    memset(seed, 0x42, sizeof seed);
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    size_t rawlen = 32;
    if (pk == NULL || !EVP_PKEY_get_raw_public_key(pk, raw, &rawlen))
        die("Ed25519 test key");
    EVP_PKEY_free(pk);
    hdp_vkey_line(KEY_NAME, raw, vkey, sizeof vkey);
    put("key.vkey", vkey, strlen(vkey)); /* --pubkey, outside the bundle's files */
    put("signer.vkey", vkey, strlen(vkey));

    snprintf(script, sizeof script, "%s/tests/e2e/proof_verify.py",
             src && *src ? src : HERALD_SOURCE_DIR_DEFAULT);
    if (access(script, R_OK) != 0)
        die(script);
    if (pipe(to_py) != 0 || pipe(from_py) != 0)
        die("pipe");
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to_py[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from_py[1], 1);
    posix_spawn_file_actions_addclose(&fa, to_py[1]);
    posix_spawn_file_actions_addclose(&fa, from_py[0]);
    char *argv[] = {"python3", script, "--serve", NULL};
    int rc = posix_spawnp(&py_pid, "python3", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        errno = rc;
        die("posix_spawnp python3");
    }
    close(to_py[0]);
    close(from_py[1]);
    fcntl(to_py[1], F_SETFD, FD_CLOEXEC);
    fcntl(from_py[0], F_SETFD, FD_CLOEXEC);
    py_in = fdopen(to_py[1], "w");
    py_out = fdopen(from_py[0], "r");
    if (py_in == NULL || py_out == NULL)
        die("fdopen");
}

static void sha_hex(const void *p, size_t n, char hex[65])
{
    uint8_t d[32];
    hd_sha256(p, n, d);
    hd_hex(d, 32, hex);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (dir[0] == '\0')
        setup();
    if (size > (1u << 20))
        return 0;
    bool csv = size % 2 == 1;
    /* records.jsonl: the input, newline-terminated, prev relinked */
    char *recs = malloc(size + 1);
    if (recs == NULL)
        abort();
    memcpy(recs, data, size);
    size_t n = size;
    if (n == 0 || recs[n - 1] != '\n')
        recs[n++] = '\n';
    struct hd_merkle_hasher mh;
    struct hd_merkle_stream ms;
    if (hd_merkle_hasher_init(&mh) != 0)
        abort();
    hd_merkle_stream_init(&ms, &mh);
    struct hd_err err = {0};
    struct hdp_rcheck c;
    hdp_rcheck_init(&c, "records.jsonl", &err);
    c.csv = csv;
    struct hd_buf csvb = HD_BUF_INIT;
    hd_buf_puts(&csvb, hd_proof_csv_header);
    bool ok = true;
    uint64_t count = 0;
    char prev_hex[65] = "";
    for (char *p = recs; p < recs + n;) {
        char *nl = memchr(p, '\n', (size_t)(recs + n - p));
        size_t len = (size_t)(nl - p);
        char *pv = memmem(p, len, "\"prev\":\"", 8);
        if (count > 0 && pv && (size_t)(p + len - (pv + 8)) >= 64)
            memcpy(pv + 8, prev_hex, 64);
        uint8_t leaf[32];
        hd_merkle_leaf_hash(&mh, p, len, leaf);
        hd_merkle_stream_add(&ms, leaf);
        hd_hex(leaf, 32, prev_hex);
        if (ok && hdp_rcheck_line(&c, count, p, len, leaf) != 0)
            ok = false;
        if (ok && csv)
            hd_buf_append(&csvb, c.csv_line.data, c.csv_line.len);
        count++;
        p = nl + 1;
    }
    uint8_t root[32];
    hd_merkle_stream_root(&ms, root);
    if (ok && hdp_rcheck_finish(&c) != 0)
        ok = false;
    char *summary = ok ? hdp_summary_text(&c.sum, c.count ? c.campaign : "fuzz") : NULL;
    const char *camp = ok && c.count ? c.campaign : "fuzz";
    char snap[65];
    snprintf(snap, sizeof snap, "%s", ok && c.count ? c.snapshot : "");
    put("records.jsonl", recs, n);
    put("summary.json", summary ? summary : "{}\n", summary ? strlen(summary) : 3);
    char path[512];
    snprintf(path, sizeof path, "%s/records.csv", dir);
    if (csv)
        put("records.csv", csvb.data, csvb.len);
    else
        unlink(path);

    /* manifest.json and the checkpoint */
    char h_sum[65], h_vkey[65], h_csv[65], root_hex[65], root_b64[64], origin[200];
    struct hd_buf b = HD_BUF_INIT;
    if (summary)
        sha_hex(summary, strlen(summary), h_sum);
    else
        sha_hex("{}\n", 3, h_sum);
    char vkey[512];
    hdp_vkey_line(KEY_NAME, raw, vkey, sizeof vkey);
    sha_hex(vkey, strlen(vkey), h_vkey);
    sha_hex(csvb.data, csvb.len, h_csv);
    hd_hex(root, 32, root_hex);
    hd_proof_base64(root, 32, root_b64);
    snprintf(origin, sizeof origin, "herald.%s", camp);
    json_t *files = json_pack("{s:s, s:s}", "summary.json", h_sum, "signer.vkey", h_vkey);
    if (csv)
        json_object_set_new(files, "records.csv", json_string(h_csv));
    json_t *m =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:o}", "format", HD_PROOF_FORMAT,
                  "campaign", camp, "snapshot_sha256", snap, "records", (json_int_t)count,
                  "tree_size", (json_int_t)count, "root_sha256", root_hex, "root_base64", root_b64,
                  "checkpoint_origin", origin, "files", files);
    char *man = m ? json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    if (man == NULL)
        abort();
    put("manifest.json", man, strlen(man));
    uint8_t mh256[32];
    hd_sha256(man, strlen(man), mh256);
    char mhex[65], text[512];
    hd_hex(mh256, 32, mhex);
    int tl = snprintf(text, sizeof text, "%s\n%llu\n%s\nherald-manifest sha256:%s\n", origin,
                      (unsigned long long)count, root_b64, mhex);
    hd_buf_reset(&b);
    if (hd_note_sign_seed(seed, KEY_NAME, text, (size_t)tl, &b, &err) != 0)
        abort();
    put("checkpoint", b.data, b.len);

    /* the two verdicts */
    struct hd_proof_verify_result res;
    snprintf(path, sizeof path, "%s/key.vkey", dir);
    memset(&err, 0, sizeof err);
    int h_rc = hd_proofs_verify(dir, path, &res, &err);
    if (h_rc != 0 && err.code != HD_EX_FAIL) {
        fprintf(stderr, "herald: not a verdict (exit %d): %s\n", err.code, err.msg);
        abort();
    }
    char answer[4096];
    fprintf(py_in, "%s\t%s\n", dir, path);
    fflush(py_in);
    if (fgets(answer, sizeof answer, py_out) == NULL)
        die("proof_verify.py --serve ended");
    if (strncmp(answer, "crash", 5) == 0) {
        fprintf(stderr, "proof_verify.py: %s", answer);
        abort();
    }
    int p_rc = answer[0] == '0' ? 0 : 1;
    if ((h_rc == 0) != (p_rc == 0)) {
        fprintf(stderr, "verdicts differ:\n  herald: %s\n  python: %s", h_rc ? err.msg : "valid",
                answer);
        abort();
    }
    free(man);
    json_decref(m);
    hd_buf_release(&b);
    hd_buf_release(&csvb);
    free(summary);
    hdp_rcheck_free(&c);
    hd_merkle_hasher_free(&mh);
    free(recs);
    return 0;
}
