#!/usr/bin/env bash
# bench/plan.sh [ROWS]: how fast `herald plan` turns an audience into a plan.
#
# Generates a ROWS-row synthetic audience (default 10,000,000), plans the
# sample campaign over it and prints rows/s, peak RSS and the size of the
# LMDB store, next to the raw read rates of the same file (cat, wc -l,
# sha256sum) measured in the same run, so the figure can be judged on a
# shared, noisy machine. Then plans again on the same inputs, which must be
# a no-op ("up to date"). A benchmark, not a test: it prints figures, and
# fails only when a command fails. See bench/README.md.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
if tiny; then ROWS=2000; else ROWS=${1:-${ROWS:-10000000}}; fi

TARGET_ROWS_S=250000
TARGET_RSS_MB=100

TMP=$(mktemp -d "${TMPDIR:-/tmp}/herald-bench-plan.XXXXXX")
cleanup() { if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi; }
trap cleanup EXIT

need_time
build
echo
echo "== herald plan benchmark, $(commas "$ROWS") rows"
machine_notes
echo "tmp:     $TMP ($(df -h --output=source,fstype "$TMP" | tail -1 | tr -s ' '))"

# ---- the audience ---------------------------------------------------------------
timed "$TMP/gen" "$HERALD" generate --rows "$ROWS" --seed 1 --out "$TMP/audience.csv" \
    --objections "$TMP/objections.txt"
GEN_NS=$T_NS
BYTES=$(stat -c %s "$TMP/audience.csv")
echo
echo "generate: $(secs "$GEN_NS") s, $(commas "$(rate "$ROWS" "$GEN_NS")") rows/s," \
    "$(awk -v b="$BYTES" 'BEGIN { printf "%.0f MB", b / 1e6 }') CSV" \
    "($(div "$BYTES" "$ROWS") B/row), peak RSS $((T_RSS_KB / 1024)) MB"
sed 's/^/  /' "$TMP/gen.err"

# ---- the campaign: the sample, pointed at the generated files ------------------------
# Only paths change (and the secret comes from the environment); waves,
# windows, channels and the objection action stay as in the sample.
CAMPAIGN=$TMP/campaign.yaml
sed -e "s|^\([[:space:]]*source:\).*|\1 \"$TMP/audience.csv\"|" \
    -e "s|^\([[:space:]]*file:\).*|\1 \"$TMP/objections.txt\"|" \
    -e "s|^\([[:space:]]*dir:\).*|\1 \"$ROOT/locales/ai-training-notice\"|" \
    -e "/^[[:space:]]*secret_file:/d" \
    -e "s|^\([[:space:]]*maildir:\).*|\1 \"$TMP/out/maildir\"|" \
    -e "s|^\([[:space:]]*outbox:\).*|\1 \"$TMP/out/inapp.jsonl\"|" \
    "$ROOT/campaigns/ai-training-notice.yaml" >"$CAMPAIGN"
for want in "$TMP/audience.csv" "$TMP/objections.txt" "$ROOT/locales/ai-training-notice"; do
    grep -qF "\"$want\"" "$CAMPAIGN" || {
        echo "bench: could not point the campaign at $want" >&2
        exit 1
    }
done
# The sample keeps delivery proofs: plan records each exclusion under a
# pseudonym key, from the environment here (the sample's key file is not
# copied).
export HERALD_LINK_SECRET=bench-secret-0123456789abcdef0123456789abcdef
export HERALD_PSEUDONYM_KEY=bench-pseudonym-key-0123456789abcdef0123456789
"$HERALD" validate "$CAMPAIGN" >/dev/null

# ---- reference: raw read rates of the same file, warm page cache -----------------------
# The file was just written, so it is in the page cache, as it is for the
# plan. sha256sum is the honest floor: the plan hashes the audience file too.
refs() {
    REF_CAT_NS=$(wall_ns cat "$TMP/audience.csv")
    REF_WC_NS=$(wall_ns wc -l "$TMP/audience.csv")
    REF_SHA_NS=$(wall_ns sha256sum "$TMP/audience.csv")
}
cat "$TMP/audience.csv" >/dev/null # warm-up
refs
B_CAT=$REF_CAT_NS B_WC=$REF_WC_NS B_SHA=$REF_SHA_NS

# ---- herald plan ----------------------------------------------------------------------
STATE=$TMP/state
timed "$TMP/plan" "$HERALD" plan "$CAMPAIGN" --state-dir "$STATE"
PLAN_NS=$T_NS PLAN_RSS_KB=$T_RSS_KB PLAN_ANON_KB=$T_ANON_KB
refs
A_CAT=$REF_CAT_NS A_WC=$REF_WC_NS A_SHA=$REF_SHA_NS

# The second plan on the same inputs: must be "up to date".
timed "$TMP/plan2" "$HERALD" plan "$CAMPAIGN" --state-dir "$STATE"
PLAN2_NS=$T_NS PLAN2_RSS_KB=$T_RSS_KB
grep -q "up to date" "$TMP/plan2.err" || {
    echo "bench: the second plan on the same inputs was not a no-op:" >&2
    tail -n 5 "$TMP/plan2.err" >&2
    exit 1
}

# ---- reference: the disk floor for writing a store of that size --------------------------
# The plan writes every page of data.mdb through the page cache and syncs at
# the end; dd writes as many bytes sequentially and syncs once. On this VM,
# writes of several GB run at the disk's pace, not memory's.
MDB_BYTES=$(stat -c %s "$STATE/data.mdb")
DD_MB=$(((MDB_BYTES + 1048575) / 1048576))
DD_NS=$(wall_ns dd if=/dev/zero of="$TMP/dd-floor" bs=1M count="$DD_MB" conv=fdatasync status=none)
rm -f "$TMP/dd-floor"

# ---- figures ----------------------------------------------------------------------------
MDB_ALLOC=$(($(stat -c %b "$STATE/data.mdb") * $(stat -c %B "$STATE/data.mdb")))
PLAN_RATE=$(rate "$ROWS" "$PLAN_NS")
USER_S=$(awk -F': ' '/User time/ { print $2 }' "$TMP/plan.time")
SYS_S=$(awk -F': ' '/System time/ { print $2 }' "$TMP/plan.time")
CPU_PCT=$(awk -F': ' '/Percent of CPU/ { print $2 }' "$TMP/plan.time")
mean() { echo $((($1 + $2) / 2)); }
R_CAT=$(rate "$ROWS" "$(mean "$B_CAT" "$A_CAT")")
R_WC=$(rate "$ROWS" "$(mean "$B_WC" "$A_WC")")
R_SHA=$(rate "$ROWS" "$(mean "$B_SHA" "$A_SHA")")
mbs() { awk -v b="$BYTES" -v ns="$1" 'BEGIN { printf "%.0f MB/s", b * 1e3 / ns }'; }
ok() { if awk -v a="$1" -v b="$2" -v op="$3" 'BEGIN { exit !(op == ">=" ? a >= b : a < b) }'; then echo "met"; else echo "NOT met"; fi; }

echo
echo "plan output (herald plan, first lines of the summary):"
sed -n '1,3p' "$TMP/plan.out" | sed 's/^/  /'
grep -A8 '^exclusions by reason' "$TMP/plan.out" | sed 's/^/  /' || true
echo
printf '%-34s %14s   %s\n' "measure" "value" "note"
printf '%-34s %14s   %s\n' "herald plan wall time" "$(secs "$PLAN_NS") s" \
    "user ${USER_S}s + sys ${SYS_S}s, CPU $CPU_PCT"
printf '%-34s %14s   %s\n' "herald plan CPU per row" \
    "$(awk -v u="$USER_S" -v s="$SYS_S" -v n="$ROWS" 'BEGIN { printf "%.2f us", (u + s) * 1e6 / n }')" \
    "user + sys; less sensitive to other tenants than wall time"
printf '%-34s %14s   %s\n' "herald plan rate" "$(commas "$PLAN_RATE") rows/s" \
    "target >= $(commas $TARGET_ROWS_S): $(ok "$PLAN_RATE" "$TARGET_ROWS_S" ">=")"
printf '%-34s %14s   %s\n' "herald plan peak RSS" "$((PLAN_RSS_KB / 1024)) MB" \
    "target < $TARGET_RSS_MB MB: $(ok "$((PLAN_RSS_KB / 1024))" "$TARGET_RSS_MB" "<") (GNU time: heap + touched LMDB map pages)"
printf '%-34s %14s   %s\n' "  of which heap (peak RssAnon)" "$((PLAN_ANON_KB / 1024)) MB" \
    "sampled every 0.1 s; the rest is page cache of data.mdb mapped by LMDB: $(ok "$((PLAN_ANON_KB / 1024))" "$TARGET_RSS_MB" "<")"
printf '%-34s %14s   %s\n' "data.mdb size" \
    "$(awk -v b="$MDB_BYTES" 'BEGIN { printf "%.0f MB", b / 1e6 }')" \
    "$(div "$MDB_BYTES" "$ROWS") B/row (allocated $(awk -v b="$MDB_ALLOC" 'BEGIN { printf "%.0f MB", b / 1e6 }'))"
printf '%-34s %14s   %s\n' "second plan (same inputs)" "$(secs "$PLAN2_NS") s" \
    "up to date (checked), peak RSS $((PLAN2_RSS_KB / 1024)) MB"
echo
echo "reference, same file, same run (mean of before and after the plan):"
printf '%-34s %14s   %s\n' "cat > /dev/null" "$(commas "$R_CAT") rows/s" \
    "$(mbs "$(mean "$B_CAT" "$A_CAT")"); plan/cat = $(div "$PLAN_RATE" "$R_CAT")"
printf '%-34s %14s   %s\n' "wc -l" "$(commas "$R_WC") rows/s" \
    "$(mbs "$(mean "$B_WC" "$A_WC")"); plan/wc = $(div "$PLAN_RATE" "$R_WC")"
printf '%-34s %14s   %s\n' "sha256sum (coreutils)" "$(commas "$R_SHA") rows/s" \
    "$(mbs "$(mean "$B_SHA" "$A_SHA")"); plan/sha256sum = $(div "$PLAN_RATE" "$R_SHA")"
printf '%-34s %14s   %s\n' "second plan time / sha256sum time" "$(div "$PLAN2_NS" "$(mean "$B_SHA" "$A_SHA")")" \
    "(the no-op plan hashes the audience to compare fingerprints)"
printf '%-34s %14s   %s\n' "dd of data.mdb's size, fdatasync" \
    "$(awk -v b="$DD_MB" -v ns="$DD_NS" 'BEGIN { printf "%.0f MB/s", b * 1048576 * 1e3 / ns }')" \
    "$(secs "$DD_NS") s = $(commas "$(rate "$ROWS" "$DD_NS")") rows/s at $(div "$MDB_BYTES" "$ROWS") B/row; plan/dd = $(div "$PLAN_RATE" "$(rate "$ROWS" "$DD_NS")")"
echo
echo "before/after the plan, seconds: cat $(secs "$B_CAT")/$(secs "$A_CAT")," \
    "wc -l $(secs "$B_WC")/$(secs "$A_WC"), sha256sum $(secs "$B_SHA")/$(secs "$A_SHA")"
