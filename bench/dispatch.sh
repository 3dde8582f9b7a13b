#!/usr/bin/env bash
# bench/dispatch.sh [N]: how fast `herald run` dispatches, with its LMDB
# bookkeeping, when the channel costs nothing.
#
# Plans N deliveries (default 1,000,000: N/2 people, each with an email
# address and a push token, on an email and a push channel), then runs them
# through the `null` module (accepts everything, no I/O) with concurrency
# 4096 (a channel's concurrency counts picked messages too, and the
# dispatcher keeps two batches of up to 1024 per channel on the move: the
# group commit, not the channel's window, should set the pace here), no rate
# limit, no waves and no send window. Every delivery is
# rendered, marked in flight, committed durably (fsync) and marked sent, as
# in production. Then again with delivery proofs on (a signed-record line
# per final state, pseudonyms under a key: docs/proofs.md), as the sample
# campaign runs. The same plan is then run through the `file` module
# (Maildir + JSON Lines outbox in $TMP). As a yardstick from the same run:
# `mdb_load` of N records of the same key and value sizes, i.e. bare LMDB
# sequential puts with a durable commit every 100 puts. A benchmark, not a
# test: it prints figures. See bench/README.md.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
if tiny; then N=2000; else N=${1:-${N:-1000000}}; fi

TARGET_DELIV_S=200000
PEOPLE=$(((N + 1) / 2))

TMP=$(mktemp -d "${TMPDIR:-/tmp}/herald-bench-dispatch.XXXXXX")
cleanup() { if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi; }
trap cleanup EXIT

need_time
need mdb_load lmdb-utils
build
echo
echo "== herald run benchmark, $(commas "$N") deliveries ($(commas "$PEOPLE") people x 2 channels)"
machine_notes
echo "tmp:     $TMP ($(df -h --output=source,fstype "$TMP" | tail -1 | tr -s ' '))"

# ---- the audience: generated people who are all reachable on both channels ----------
# (bench_people in bench/lib.sh: each kept row is exactly 2 deliveries)
bench_people "$PEOPLE" 1 both >"$TMP/audience.csv"
GOT=$(($(wc -l <"$TMP/audience.csv") - 1))
[ "$GOT" = "$PEOPLE" ] || {
    echo "bench: only $GOT clean people generated, wanted $PEOPLE" >&2
    exit 1
}

# ---- campaigns: the sample's locales and link, null or file channels ---------------------
# No waves, no send window, no rate limit, no canary: only herald's own cost.
export HERALD_LINK_SECRET=bench-secret-0123456789abcdef0123456789abcdef
export HERALD_PSEUDONYM_KEY=bench-pseudonym-key-0123456789abcdef0123456789
campaign() { # campaign FILE MODULE EMAIL_SETTINGS PUSH_SETTINGS [EXTRA]
    {
        bench_campaign_head bench-dispatch "$TMP/audience.csv"
        cat <<EOF
  email:
    type: email
    module: "$2"
    from: "Lumen Privacy <privacy@lumen.example>"
    concurrency: 4096
$3
  inapp:
    type: push
    module: "$2"
    concurrency: 4096
$4
${5:-}
EOF
    } >"$1"
}
# Proofs are on by default (issue 12); the baselines turn them off to
# measure herald's own cost.
noproofs='proofs:
  enabled: false
  reason: "benchmark baseline without proofs"'
campaign "$TMP/null.yaml" null "" "" "$noproofs"
campaign "$TMP/proofs.yaml" null "" "" "proofs:
  pseudonym_key_env: HERALD_PSEUDONYM_KEY"
campaign "$TMP/file.yaml" file "    settings:
      maildir: \"$TMP/out/maildir\"" "    settings:
      outbox: \"$TMP/out/inapp.jsonl\"" "$noproofs"
"$HERALD" validate "$TMP/null.yaml" >/dev/null
"$HERALD" validate "$TMP/file.yaml" >/dev/null

# ---- plans: one store per campaign (a plan is bound to its campaign's bytes) ------------
plan_one() { # plan_one NAME
    forget_plans
    timed "$TMP/plan-$1" "$HERALD" plan "$TMP/$1.yaml" --state-dir "$TMP/state-$1" --json
    PLAN_NS=$T_NS
    PLANNED=$(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(sum(c.get("pending", 0) for sh in s["shards"] for c in sh["channels"].values()))' "$TMP/plan-$1.out")
    PLAN_MDB=$(stat -c %s "$TMP/state-$1/data.mdb")
}
plan_one file
plan_one proofs
plan_one null
echo
echo "plan: $(commas "$PLANNED") deliveries planned in $(secs "$PLAN_NS") s" \
    "($(commas "$(rate "$PEOPLE" "$PLAN_NS")") rows/s), $(awk -v b="$PLAN_MDB" 'BEGIN { printf "%.0f MB", b / 1e6 }') data.mdb"
[ "$PLANNED" = "$N" ] || echo "bench: note: $PLANNED deliveries planned, not $N; rates use $PLANNED"

# run_one NAME: herald run of that campaign on its plan.
run_one() {
    local name=$1
    rm -rf "$TMP/out"
    sync
    timed "$TMP/run-$name" "$HERALD" run "$TMP/$name.yaml" --state-dir "$TMP/state-$name"
    RUN_NS=$T_NS RUN_RSS_KB=$T_RSS_KB RUN_ANON_KB=$T_ANON_KB
    RUN_SENT=$(sed -n 's/.*run complete: \([0-9]*\) sent.*/\1/p' "$TMP/run-$name.err")
    RUN_USER=$(awk -F': ' '/User time/ { print $2 }' "$TMP/run-$name.time")
    RUN_SYS=$(awk -F': ' '/System time/ { print $2 }' "$TMP/run-$name.time")
    RUN_CPU=$(awk -F': ' '/Percent of CPU/ { print $2 }' "$TMP/run-$name.time")
    RUN_MDB=$(stat -c %s "$TMP/state-$name/data.mdb")
    [ "$RUN_SENT" = "$PLANNED" ] || {
        echo "bench: $name run sent ${RUN_SENT:-?} of $PLANNED:" >&2
        tail -3 "$TMP/run-$name.err" >&2
        exit 1
    }
}

# ---- the yardstick: bare LMDB, mdb_load of N records -----------------------------------------
# Keys as herald's delivery keys (u16 shard . u64 row . u8 channel, sorted),
# values of 83 bytes (a sent delivery record with the null module's event,
# as mdb_dump shows it in a run's store).
# mdb_load puts in file order and commits (durably) every 100 records.
LC_ALL=C awk -v n="$N" -v people="$PEOPLE" 'BEGIN {
    print "VERSION=3\nformat=bytevalue\ntype=btree\nmapsize=1099511627776\nmaxreaders=126\nHEADER=END"
    v = " "; for (i = 0; i < 83; i++) v = v "5a"
    for (i = 0; i < n; i++) {
        row = int(i / 2) + 1; shard = int(row * 113 / (people + 1))
        printf " %04x%016x%02x\n%s\n", shard, row, i % 2, v
    }
    print "DATA=END" }' >"$TMP/yardstick.dump"
yardstick() {
    rm -rf "$TMP/ydb"
    mkdir "$TMP/ydb"
    sync
    local t0 t1
    t0=$(now_ns)
    mdb_load -f "$TMP/yardstick.dump" "$TMP/ydb"
    t1=$(now_ns)
    Y_NS=$((t1 - t0))
}

# ---- the runs: yardstick, null, yardstick, file --------------------------------------------
# The file run goes last: the GB it writes are still being written back (and
# a virtual disk may throttle after a burst) when it ends, which would slow
# a yardstick run after it.
yardstick
Y1=$Y_NS
run_one null
NULL_NS=$RUN_NS NULL_RSS=$RUN_RSS_KB NULL_ANON=$RUN_ANON_KB NULL_USER=$RUN_USER NULL_SYS=$RUN_SYS
NULL_CPU=$RUN_CPU NULL_MDB=$RUN_MDB
yardstick
Y2=$Y_NS
Y_RATE=$(rate "$N" $(((Y1 + Y2) / 2)))
run_one proofs
PROOFS_NS=$RUN_NS PROOFS_USER=$RUN_USER PROOFS_SYS=$RUN_SYS PROOFS_CPU=$RUN_CPU
run_one file
FILE_NS=$RUN_NS FILE_RSS=$RUN_RSS_KB FILE_ANON=$RUN_ANON_KB FILE_USER=$RUN_USER FILE_SYS=$RUN_SYS
FILE_CPU=$RUN_CPU
FILE_MAILS=$(find "$TMP/out/maildir/new" -type f | wc -l)
FILE_LINES=$(wc -l <"$TMP/out/inapp.jsonl")
FILE_BYTES=$(du -sb "$TMP/out" | cut -f1)

# ---- figures -------------------------------------------------------------------------------
NULL_RATE=$(rate "$PLANNED" "$NULL_NS")
FILE_RATE=$(rate "$PLANNED" "$FILE_NS")
PROOFS_RATE=$(rate "$PLANNED" "$PROOFS_NS")
ok() { if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; then echo "met"; else echo "NOT met"; fi; }
echo
printf '%-36s %18s   %s\n' "measure" "value" "note"
printf '%-36s %18s   %s\n' "herald run, null module" "$(secs "$NULL_NS") s" \
    "user ${NULL_USER}s + sys ${NULL_SYS}s, CPU $NULL_CPU"
printf '%-36s %18s   %s\n' "  CPU per delivery" \
    "$(awk -v u="$NULL_USER" -v s="$NULL_SYS" -v n="$PLANNED" 'BEGIN { printf "%.2f us", (u + s) * 1e6 / n }')" \
    "user + sys; less sensitive to other tenants than wall time"
printf '%-36s %18s   %s\n' "  rate" "$(commas "$NULL_RATE") deliv/s" \
    "target >= $(commas $TARGET_DELIV_S): $(ok "$NULL_RATE" "$TARGET_DELIV_S")"
printf '%-36s %18s   %s\n' "  peak RSS" "$((NULL_RSS / 1024)) MB" \
    "heap (peak RssAnon, sampled) $((NULL_ANON / 1024)) MB; the rest is LMDB map pages"
printf '%-36s %18s   %s\n' "  data.mdb after the run" \
    "$(awk -v b="$NULL_MDB" 'BEGIN { printf "%.0f MB", b / 1e6 }')" \
    "after the plan: $(awk -v b="$PLAN_MDB" 'BEGIN { printf "%.0f MB", b / 1e6 }')"
printf '%-36s %18s   %s\n' "herald run, null module + proofs" "$(secs "$PROOFS_NS") s" \
    "user ${PROOFS_USER}s + sys ${PROOFS_SYS}s, CPU $PROOFS_CPU"
printf '%-36s %18s   %s\n' "  CPU per delivery" \
    "$(awk -v u="$PROOFS_USER" -v s="$PROOFS_SYS" -v n="$PLANNED" 'BEGIN { printf "%.2f us", (u + s) * 1e6 / n }')" ""
printf '%-36s %18s   %s\n' "  rate" "$(commas "$PROOFS_RATE") deliv/s" \
    "the null run's target, for reference: $(ok "$PROOFS_RATE" "$TARGET_DELIV_S")"
printf '%-36s %18s   %s\n' "herald run, file module" "$(secs "$FILE_NS") s" \
    "user ${FILE_USER}s + sys ${FILE_SYS}s, CPU $FILE_CPU"
printf '%-36s %18s   %s\n' "  CPU per delivery" \
    "$(awk -v u="$FILE_USER" -v s="$FILE_SYS" -v n="$PLANNED" 'BEGIN { printf "%.2f us", (u + s) * 1e6 / n }')" ""
printf '%-36s %18s   %s\n' "  rate" "$(commas "$FILE_RATE") deliv/s" \
    "$(commas "$FILE_MAILS") mails in maildir/new + $(commas "$FILE_LINES") outbox lines, $(awk -v b="$FILE_BYTES" 'BEGIN { printf "%.0f MB", b / 1e6 }')"
printf '%-36s %18s   %s\n' "  peak RSS" "$((FILE_RSS / 1024)) MB" \
    "heap (peak RssAnon, sampled) $((FILE_ANON / 1024)) MB"
echo
echo "yardstick, same run (just before and just after the null run; rate from the mean time):"
printf '%-36s %18s   %s\n' "mdb_load, $(commas "$N") records" "$(commas "$Y_RATE") puts/s" \
    "bare LMDB: sorted keys, durable commit every 100 puts; before $(secs "$Y1") s, after $(secs "$Y2") s"
printf '%-36s %18s   %s\n' "null run / mdb_load" "$(div "$NULL_RATE" "$Y_RATE")" \
    "herald does 2 puts per delivery (in flight, then sent) + renders + reads"
printf '%-36s %18s   %s\n' "proofs run / mdb_load" "$(div "$PROOFS_RATE" "$Y_RATE")" \
    "+ a proof record per delivery"
printf '%-36s %18s   %s\n' "file run / mdb_load" "$(div "$FILE_RATE" "$Y_RATE")" ""
printf '%-36s %18s   %s\n' "file run / null run" "$(div "$FILE_RATE" "$NULL_RATE")" \
    "what writing the messages to files costs"
