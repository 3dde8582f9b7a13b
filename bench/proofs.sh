#!/usr/bin/env bash
# bench/proofs.sh [N]: how fast `herald proofs export` and `herald proofs
# verify` go over N proof records (default 10,000,000), and in how much
# memory.
#
# The records are synthesized straight into an LMDB state store by a small
# C tool built here against libherald_core (the same hd_proof_format, the
# same prev-hash chain, the same key layout as a real run writes): planning
# and dispatching 10 million deliveries first would take far longer than
# what is measured, and is benchmarked by bench/plan.sh and
# bench/dispatch.sh. The mix is realistic: 3% exclusions, email and push,
# 26 languages, 2% failures, SMTP-like replies, ~700 bytes a record.
#
# Then: export (to a bundle: records.jsonl, summary, manifest, signed
# checkpoint), verify (signature, every record's form, the prev chain, the
# Merkle root, the summary) of the bundle read from disk and again from the
# page cache, with a dd read of the same file as the yardstick for the disk,
# and export --csv + verify for comparison.
# Prints records/s and peak RSS (GNU time; it counts the LMDB pages the
# export touched, which are shared page cache) and the peak anonymous
# memory (heap). A benchmark, not a test: it prints figures. KEEP_TMP=1
# keeps the store and bundles.
set -euo pipefail

N=${1:-${N:-10000000}}
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

TARGET_RECORDS_S=500000

TMP=$(mktemp -d "${TMPDIR:-/tmp}/herald-bench-proofs.XXXXXX")
cleanup() { if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi; }
trap cleanup EXIT

need_time
build
echo
echo "== herald proofs benchmark, $(commas "$N") records"
machine_notes
echo "tmp:     $TMP ($(df -h --output=source,fstype "$TMP" | tail -1 | tr -s ' '))"
need=$((N * 2300 / 1000000))
avail=$(df -m --output=avail "$TMP" | tail -1)
[ "$avail" -gt "$need" ] || { echo "bench: needs about $need MB in $TMP, $avail MB free" >&2; exit 1; }

# ---- the synthesizer ---------------------------------------------------------------------
cat >"$TMP/synth.c" <<'C'
/* synth STATE_DIR N: N proof records into a fresh store, as runs write them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    hd_proof_hex(b, 32, out);
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
    uint64_t n = strtoull(argv[2], NULL, 10), seed = 42;
    uint8_t prev[32], sha[32];
    char snap[65], pk[65], ak[65], lk[65], mid[80], resp[80], tmpl[24], ev[40];
    int64_t t = 1750924800000;
    (void)argc;
    if (hd_store_open(&s, argv[1], HD_STORE_CREATE | HD_STORE_BULK, &err) != 0 ||
        hd_merkle_hasher_init(&h) != 0) {
        fprintf(stderr, "synth: %s\n", err.msg);
        return 1;
    }
    hex64(&seed, snap);
    if (hd_store_begin(s, true, &txn, &err) || hd_store_meta_put(txn, s, "campaign_id", "bench-proofs", 12, &err) ||
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
            snprintf(resp, sizeof resp, "%s", push ? (failed ? "Unregistered" : "OK")
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
C
# shellcheck disable=SC2046 # pkg-config prints several flags
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I"$ROOT/core/include" \
    -I"$ROOT/channels/include" "$TMP/synth.c" -o "$TMP/synth" "$BUILD/core/libherald_core.a" \
    $(pkg-config --libs lmdb libcrypto jansson yaml-0.1 libidn2) -lcsv -lm -lpthread

timed "$TMP/synth" "$TMP/synth" "$TMP/state" "$N"
[ "$T_RC" = 0 ] || { cat "$TMP/synth.err" >&2; exit 1; }
echo
echo "synthesize: $(secs "$T_NS") s, $(commas "$(rate "$N" "$T_NS")") records/s into LMDB," \
    "store $(du -sm "$TMP/state" | cut -f1) MB"

# ---- a campaign for the command line (it names the store's campaign id) -------------------
cat >"$TMP/campaign.yaml" <<EOF
id: bench-proofs
reference_date: 2025-06-26
vars:
  company: Lumen
audience:
  source: audience.csv
  format: csv
  regions: [EU, EEA, UK]
objection_link:
  url: "https://privacy.example/object?p={{person}}&t={{token}}"
  secret_env: HERALD_LINK_SECRET
locales:
  dir: "$ROOT/locales/ai-training-notice"
  default: en
channels:
  email:
    type: email
    module: "null"
    from: "Lumen Privacy <privacy@lumen.example>"
proofs:
  pseudonym_key_env: HERALD_PSEUDONYM_KEY
  key_id: pk-bench
EOF
"$HERALD" keys generate --out "$TMP/signing" >/dev/null

report() { # report WHAT
    echo "$1: $(secs "$T_NS") s, $(commas "$(rate "$N" "$T_NS")") records/s" \
        "(target $(commas "$TARGET_RECORDS_S")), peak RSS $((T_RSS_KB / 1024)) MB," \
        "peak anonymous $((T_ANON_KB / 1024)) MB"
}

# Cold-ish page cache for the first export: the store was just written, so
# most of it is cached anyway; the figure is for a warm store.
timed "$TMP/export" "$HERALD" proofs export "$TMP/campaign.yaml" --state-dir "$TMP/state" \
    --out "$TMP/bundle" --key "$TMP/signing.key"
[ "$T_RC" = 0 ] || { cat "$TMP/export.err" >&2; exit 1; }
echo
report "export       "
echo "               bundle $(du -sm "$TMP/bundle" | cut -f1) MB;" \
    "records.jsonl $(($(stat -c %s "$TMP/bundle/records.jsonl") / N)) B/record"

# Verify reads a bundle that is not in the page cache (export drops what it
# wrote from the cache; a regulator verifies on another machine): the disk's
# read speed bounds it, so measure that too, on the same file.
drop_cache() { python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$1"; }
drop_cache "$TMP/bundle/records.jsonl"
timed "$TMP/dd" dd if="$TMP/bundle/records.jsonl" of=/dev/null bs=4M
echo "yardstick:     dd read of records.jsonl, not cached: $(secs "$T_NS") s" \
    "($(commas "$(rate "$N" "$T_NS")") records/s)"
drop_cache "$TMP/bundle/records.jsonl"
timed "$TMP/verify" "$HERALD" proofs verify "$TMP/bundle" --pubkey "$TMP/signing.pub"
[ "$T_RC" = 0 ] || { cat "$TMP/verify.out" "$TMP/verify.err" >&2; exit 1; }
report "verify (cold)"
timed "$TMP/verify2" "$HERALD" proofs verify "$TMP/bundle" --pubkey "$TMP/signing.pub"
[ "$T_RC" = 0 ] || { cat "$TMP/verify2.out" "$TMP/verify2.err" >&2; exit 1; }
report "verify (again)"
rm -rf "$TMP/bundle"

timed "$TMP/export-csv" "$HERALD" proofs export "$TMP/campaign.yaml" --state-dir "$TMP/state" \
    --out "$TMP/bundle-csv" --key "$TMP/signing.key" --csv
[ "$T_RC" = 0 ] || { cat "$TMP/export-csv.err" >&2; exit 1; }
report "export --csv "
drop_cache "$TMP/bundle-csv/records.jsonl"
drop_cache "$TMP/bundle-csv/records.csv"
timed "$TMP/verify-csv" "$HERALD" proofs verify "$TMP/bundle-csv" --pubkey "$TMP/signing.pub"
[ "$T_RC" = 0 ] || { cat "$TMP/verify-csv.out" "$TMP/verify-csv.err" >&2; exit 1; }
report "verify (csv) "
rm -rf "$TMP/bundle-csv"
