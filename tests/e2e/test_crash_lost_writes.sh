#!/usr/bin/env bash
# Lost writes, in the spirit of SQLite's crash tests: power losses simulated
# by tests/crash/store_shim.c (preloaded), which at the chosen instant
# puts back what the writes to data.mdb not yet synced overwrote, keeps the
# part of them the mode says reached the disk, and kills herald with SIGKILL.
#
# What Herald promises, and what this checks:
# 1. plan: a power loss at any of plan's syncs, on a file system that keeps
#    the order of writes (mode prefix: any prefix of the unsynced writes
#    survives), leaves a store that run refuses (65, "not complete") or a
#    complete plan; a plain `herald plan` then (re)builds it. plan commits
#    with MDB_NOSYNC between its syncs, and LMDB documents that as safe only
#    where the order of writes is kept: a power loss during plan on a file
#    system that reorders writes is not covered (nothing was sent from an
#    incomplete plan; remove the state directory and plan again).
# 2. run: every commit is durable (data synced, then the meta page written
#    with O_DSYNC) before anything it marks in flight is handed to a channel.
#    So a power loss at any instant (SIGUSR1 at a random point of the work:
#    the loss replaces the next sync of data.mdb), keeping none, a prefix or
#    any subset of the unsynced writes, loses nothing: after the
#    runs that follow, every (person, channel) is received at least once and
#    every extra copy is listed by `herald status --uncertain` (crash_check),
#    through the real servers of test_crash_sigkill.sh.
# The seed is printed first; HERALD_E2E_SEED=N replays the choices.
source "$(dirname "$0")/lib.sh"
ROWS=${HERALD_E2E_ROWS:-$(e2e_scaled 20000)}
LOSSES=${HERALD_E2E_KILLS:-20}
SEED=${HERALD_E2E_SEED:-$((($(date +%s%N) / 1000) % 32768))}
echo "seed $SEED (HERALD_E2E_SEED=$SEED replays these power losses)"
RANDOM=$SEED
SHIM=${HERALD_BUILD_DIR:?}/tests/store_shim.so
[ -f "$SHIM" ] || fail "no $SHIM: build the tests first"
t0=$SECONDS

"$HERALD" generate --rows "$ROWS" --seed 7 --out "$WORK/audience.csv" \
  --objections "$WORK/objections.txt" 2>"$WORK/gen.err" || fail "generate: $(cat "$WORK/gen.err")"
crash_sink_start "$WORK/sink"
smtp_port=$PORT
push_server_start "$WORK/push"
crash_campaign "$WORK/c.yaml" "$WORK/audience.csv" "$WORK/objections.txt" "$smtp_port" "$PORT" \
  email_rate=none push_rate=none concurrency=64
report=$WORK/powerloss.log
# ASan must otherwise be the first library; the shim only interposes libc.
lossy=(env LD_PRELOAD="$SHIM" HERALD_CRASH_REPORT="$report"
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")

# 1. plan: a power loss at its 1st, 2nd, ... sync until one plan completes.
n=0
while :; do
  n=$((n + 1))
  [ "$n" -le 20 ] || fail "plan still not complete after power losses at its first 19 syncs"
  rc=0
  { # (no "Killed" notice from bash)
    timeout 300 "${lossy[@]}" HERALD_CRASH_AT_SYNC=$n HERALD_CRASH_KEEP=prefix \
      HERALD_CRASH_SEED=$RANDOM "$HERALD" plan "$WORK/c.yaml" --state-dir "$WORK/state" >"$WORK/plan.out" 2>&1
  } 2>/dev/null || rc=$?
  [ "$rc" -eq 0 ] && break
  [ "$rc" -eq 137 ] || { cat "$WORK/plan.out" >&2; fail "plan with a power loss at sync $n: exit $rc"; }
  # What is left is never dispatched from: "not complete" (65), or no store
  # yet (66) when the loss came before the first sync.
  rc=0
  "$HERALD" run "$WORK/c.yaml" --state-dir "$WORK/state" --ignore-send-window \
    >"$WORK/out" 2>"$WORK/err" || rc=$?
  case $rc:$(cat "$WORK/err") in
    65:*"is not complete: run \`herald plan\` first"* | 66:*"run \`herald plan\` first"*) ;;
    *) fail "run after a power loss in plan at sync $n: exit $rc: $(cat "$WORK/err")" ;;
  esac
  echo "plan: power loss at sync $n: run exits $rc"
done
tail -n 1 "$report" | grep -q 'no power loss' || fail "the last plan did not run to its end"
pass "plan: a power loss at each of its $((n - 1)) syncs leaves a store run refuses ($((SECONDS - t0)) s)"
# ...and a plain plan rebuilds it (the last one above completed).
expect_exit 0 "$HERALD" plan "$WORK/c.yaml" --state-dir "$WORK/state" --json
cp "$WORK/out" "$WORK/plan.json"
planned=$(dispatch_planned "$WORK/plan.json")
echo "planned: $planned"

# 2. run: LOSSES power losses at random instants of the work.
trap '' USR1
losses_setup() {
  local modes=(none prefix subset)
  export HERALD_CRASH_KEEP=${modes[RANDOM % 3]} HERALD_CRASH_SEED=$RANDOM
}
run=("${lossy[@]}" "$HERALD" run "$WORK/c.yaml" --state-dir "$WORK/state" --ignore-send-window)
CRASH_SIGNAL=USR1 CRASH_HOOK=losses_setup \
  crash_kills "$LOSSES" "$WORK/runs.log" "$WORK/c.yaml" "$WORK/state" "${run[@]}"
unset HERALD_CRASH_KEEP HERALD_CRASH_SEED
lost=$(grep -c 'power loss at' "$report" || true)
[ "$lost" -eq "$((n - 1 + LOSSES))" ] || fail "$lost power losses in $report, expected $((n - 1 + LOSSES))"
grep 'power loss at' "$report" | tail -n "$LOSSES" |
  awk '{w += $(NF-7); s += $(NF-4); k += $(NF-1)} /kept 0 / {z++}
       END {printf "run: %d unsynced writes (%d sectors) lost or kept in part, %d sectors kept; %d losses kept none\n", w, s, k, z}'
pass "$LOSSES power losses during the runs ($((SECONDS - t0)) s)"

crash_finish "$WORK/runs.log" "$HERALD" run "$WORK/c.yaml" --state-dir "$WORK/state" \
  --ignore-send-window
pass "a run completes after $LOSSES power losses ($((SECONDS - t0)) s)"
crash_check "$WORK/c.yaml" "$WORK/state" "$planned" "$WORK/sink/sink.dump" \
  "$WORK/push/accepted.jsonl"
echo "after $LOSSES power losses: $EXTRA extra copies, $UNCERTAIN uncertain deliveries"
pass "nothing lost, every extra copy listed as uncertain ($((SECONDS - t0)) s)"
