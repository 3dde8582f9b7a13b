/* bench/proofs_synth.c - herald-bench-proofs-synth STATE_DIR N: N proof
 * records into a fresh state store, as runs write them (the same
 * hd_proof_format, the same prev-hash chain, the same key layout), for
 * bench/proofs.sh. Planning and dispatching 10 million deliveries first would
 * take far longer than the export and verify it measures. Built by CMake
 * against libherald_core (bench/CMakeLists.txt), so a renamed or changed
 * helper breaks the build, not the benchmark. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herald/hash.h"
#include "herald/merkle.h"
#include "herald/proof.h"
#include "herald/store.h"

static uint64_t sm(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void hex64(uint64_t *s, char out[65])
{
    uint8_t b[32];
    for (int i = 0; i < 4; i++) {
        uint64_t v = sm(s);
        memcpy(b + 8 * i, &v, 8);
    }
    hd_hex(b, 32, out);
}

int main(int argc, char **argv)
{
    static const char *const langs[26][2] = {
        {"BG", "bg"}, {"CZ", "cs"}, {"DK", "da"}, {"DE", "de"}, {"GR", "el"}, {"IE", "en"},
        {"ES", "es"}, {"EE", "et"}, {"FI", "fi"}, {"FR", "fr"}, {"IE", "ga"}, {"HR", "hr"},
        {"HU", "hu"}, {"IS", "is"}, {"IT", "it"}, {"LT", "lt"}, {"LV", "lv"}, {"MT", "mt"},
        {"NL", "nl"}, {"NO", "no"}, {"PL", "pl"}, {"PT", "pt"}, {"RO", "ro"}, {"SK", "sk"},
        {"SI", "sl"}, {"SE", "sv"}};
    static const char *const reasons[4] = {"minor", "out_of_region", "no_channel", "duplicate_id"};
    struct hd_store *s;
    struct hd_err err = {0};
    struct hd_merkle_hasher h;
    struct hd_buf line = HD_BUF_INIT;
    MDB_txn *txn;
    uint64_t n, seed = 42;
    uint8_t prev[32], sha[32];
    char snap[65], pk[65], ak[65], lk[65], mid[80], resp[80], tmpl[24], ev[40];
    int64_t t = 1750924800000;
    if (argc != 3) {
        fprintf(stderr, "usage: herald-bench-proofs-synth STATE_DIR N\n");
        return 64;
    }
    n = strtoull(argv[2], NULL, 10);
    if (hd_store_open(&s, argv[1], HD_STORE_CREATE | HD_STORE_BULK, &err) != 0 ||
        hd_merkle_hasher_init(&h) != 0) {
        fprintf(stderr, "synth: %s\n", err.msg);
        return 1;
    }
    hex64(&seed, snap);
    if (hd_store_begin(s, true, &txn, &err) ||
        hd_store_meta_put(txn, s, "campaign_id", "bench-proofs", 12, &err) ||
        hd_store_meta_put(txn, s, "snapshot_sha256", snap, 64, &err) ||
        hd_store_meta_put(txn, s, "plan_state", "complete", 8, &err)) {
        fprintf(stderr, "synth: %s\n", err.msg);
        return 1;
    }
    for (uint64_t i = 0; i < n; i++) {
        struct hd_proof_fields f;
        uint64_t r = sm(&seed);
        const char *const *cl = langs[r % 26];
        memset(&f, 0, sizeof f);
        f.seq = i;
        f.prev = i ? prev : NULL;
        f.campaign = "bench-proofs";
        f.snapshot = snap;
        f.key_id = "pk-bench";
        hex64(&seed, pk);
        f.person_key = pk;
        f.country = cl[0];
        f.last_change_ms = t + (int64_t)(i / 50);
        if (i < n * 3 / 100) { /* plan time: the exclusions first */
            f.exclusion = true;
            f.reason = reasons[r % 4];
            snprintf(ev, sizeof ev, "excluded.%s", f.reason);
            f.event = ev;
        } else {
            bool push = (r >> 8) & 1, failed = (r >> 9) % 50 == 0;
            hex64(&seed, ak);
            hex64(&seed, lk);
            for (int k = 0; k < 4; k++) {
                uint64_t v = sm(&seed);
                memcpy(sha + 8 * k, &v, 8);
            }
            snprintf(mid, sizeof mid, "%016" PRIx64 "%016" PRIx64 "%s", sm(&seed), sm(&seed),
                     push ? "" : "@lumen.example");
            snprintf(tmpl, sizeof tmpl, "%s%s", cl[1], (r >> 16) % 20 == 0 ? "/variant" : "");
            f.address_key = ak;
            f.channel = push ? "inapp" : "email";
            f.language = cl[1];
            f.template_ = tmpl;
            f.link_hmac = lk;
            f.fallback = (r >> 24) % 25 == 0;
            f.sent = !failed;
            f.first_attempt_ms = f.last_change_ms - 900;
            f.attempts = 1;
            f.sha256 = sha;
            f.push = push;
            f.message_id = mid;
            f.event = failed ? (push ? "token_invalid" : "smtp.rejected")
                             : (push ? "push.accepted" : "smtp.accepted");
            f.code = push ? (failed ? 410 : 200) : (failed ? 550 : 250);
            snprintf(resp, sizeof resp, "%s",
                     push     ? (failed ? "Unregistered" : "OK")
                     : failed ? "5.1.1 <x>: Recipient address rejected"
                              : "2.0.0 Ok: queued as 4Q5sR10XYZz");
            f.response = resp;
            f.response_len = strlen(resp);
            snprintf(ev + 32, 8, "%x", (unsigned)(r & 0xffffff));
            f.provider_id = ev + 32;
            f.provider_id_len = strlen(ev + 32);
        }
        hd_buf_reset(&line);
        if (hd_proof_format(&f, &line) != 0)
            return 1;
        uint8_t key[8];
        hd_key_u64(key, i);
        MDB_val k = {8, key}, v = {line.len, line.data};
        int rc = mdb_put(txn, s->proofs, &k, &v, MDB_APPEND);
        if (rc != 0) {
            fprintf(stderr, "synth: %s\n", mdb_strerror(rc));
            return 1;
        }
        hd_merkle_leaf_hash(&h, line.data, line.len, prev);
        if ((i + 1) % 200000 == 0 &&
            (hd_store_commit(txn, &err) || hd_store_begin(s, true, &txn, &err))) {
            fprintf(stderr, "synth: %s\n", err.msg);
            return 1;
        }
    }
    if (hd_store_commit(txn, &err) != 0 || hd_store_sync(s, &err) != 0) {
        fprintf(stderr, "synth: %s\n", err.msg);
        return 1;
    }
    hd_store_close(s);
    hd_buf_release(&line);
    hd_merkle_hasher_free(&h);
    return 0;
}
