#!/usr/bin/env bash
# bench/proofs.sh [N]: how fast `herald proofs export` and `herald proofs
# verify` go over N proof records (default 10,000,000), and in how much
# memory.
#
# The records are synthesized straight into an LMDB state store by a small
# C tool, bench/proofs_synth.c, built by CMake with the rest of the tree
# against libherald_core (the same hd_proof_format, the
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

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
if tiny; then N=2000; else N=${1:-${N:-10000000}}; fi

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

# ---- the synthesizer: bench/proofs_synth.c, a CMake target of this build ------------------
SYNTH=$BUILD/bench/herald-bench-proofs-synth
[ -x "$SYNTH" ] || { echo "bench: $SYNTH is missing: build the tree (cmake --build $BUILD)" >&2; exit 1; }
timed "$TMP/synth" "$SYNTH" "$TMP/state" "$N"
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
        "(target $(commas "$TARGET_RECORDS_S")), $(cpu_us "$N") us CPU/record, peak RSS $((T_RSS_KB / 1024)) MB," \
        "peak anonymous $((T_ANON_KB / 1024)) MB"
}

# Cold-ish page cache for the first export: the store was just written, so
# most of it is cached anyway; the figure is for a warm store.
timed "$TMP/export" "$HERALD" proofs export "$TMP/campaign.yaml" --state-dir "$TMP/state" \
    --out "$TMP/bundle" --key "$TMP/signing.key"
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
report "verify (cold)"
timed "$TMP/verify2" "$HERALD" proofs verify "$TMP/bundle" --pubkey "$TMP/signing.pub"
report "verify (again)"
rm -rf "$TMP/bundle"

timed "$TMP/export-csv" "$HERALD" proofs export "$TMP/campaign.yaml" --state-dir "$TMP/state" \
    --out "$TMP/bundle-csv" --key "$TMP/signing.key" --csv
report "export --csv "
drop_cache "$TMP/bundle-csv/records.jsonl"
drop_cache "$TMP/bundle-csv/records.csv"
timed "$TMP/verify-csv" "$HERALD" proofs verify "$TMP/bundle-csv" --pubkey "$TMP/signing.pub"
report "verify (csv) "
rm -rf "$TMP/bundle-csv"
