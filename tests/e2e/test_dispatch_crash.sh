#!/usr/bin/env bash
# Crash safety of `herald run`: SIGKILL it again and again at random moments,
# re-run until a run completes, then check that every planned delivery is
# sent exactly as status says, that every message is right
# (tests/e2e/verify_outputs.py), and that every extra copy a kill caused is
# one `herald status --uncertain` lists. No timing assertions: the kill delays
# only decide where the runs die, never whether the test passes.
#
# The file module's delay_ms (a sleep before each batch of at most 64, the
# channel concurrency) makes the work last at least
# (deliveries / 64) * DELAY_MS, about 20 s here on any machine: twice the
# longest the KILLS kills (at most 400 ms each) can take, so every kill lands
# in a running dispatch. A kill during the sleep leaves a batch in flight
# unsent; a kill during the writes leaves part of it delivered but not
# recorded, so its re-send is an extra copy.
source "$(dirname "$0")/lib.sh"
ROWS=${HERALD_E2E_ROWS:-20000}
KILLS=${HERALD_E2E_KILLS:-25}
FAIL_EVERY=${HERALD_E2E_FAIL_EVERY:-}
DELAY_MS=40
RANDOM=4242 # reproducible kill delays
t0=$SECONDS


"$HERALD" generate --rows "$ROWS" --seed 7 --out "$WORK/audience.csv" \
  --objections "$WORK/objections.txt" 2>"$WORK/gen.err" || fail "generate: $(cat "$WORK/gen.err")"
faults=()
[ -z "$FAIL_EVERY" ] || faults=(fail_every="$FAIL_EVERY" backoff=1s max_attempts=50)
dispatch_campaign "$WORK/c.yaml" "$WORK/audience.csv" "$WORK/objections.txt" "$WORK/delivered" \
  email_rate=none push_rate=none concurrency=64 delay_ms=$DELAY_MS "${faults[@]}"
expect_exit 0 "$HERALD" plan "$WORK/c.yaml" --state-dir "$WORK/state" --json
cp "$WORK/out" "$WORK/plan.json"
planned=$(dispatch_planned "$WORK/plan.json")
echo "planned: $planned"
# The bound above, checked (HERALD_E2E_ROWS / _KILLS may change it).
total=$(( $(echo "$planned" | tr ' ' '\n' | sed 's/.*=//' | paste -sd+) ))
[ $((total / 64 * DELAY_MS)) -ge $((KILLS * 400 * 2)) ] ||
  fail "$total deliveries last too short a time for $KILLS kills: raise ROWS or DELAY_MS"

run=("$HERALD" run "$WORK/c.yaml" --state-dir "$WORK/state" --ignore-send-window)

kills=0 runs=0 recovered_runs=0
while [ "$kills" -lt "$KILLS" ]; do
  runs=$((runs + 1))
  delay=$((30 + RANDOM % 371)) # ms
  echo "=== run $runs, SIGKILL after $delay ms" >>"$WORK/runs.log"
  "${run[@]}" >>"$WORK/runs.log" 2>&1 & # $! is herald itself, not a subshell
  pid=$!
  BG_KILL9_PIDS=("$pid") # killed by lib.sh if the test stops here
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  kill -KILL "$pid" 2>/dev/null || true
  rc=0
  { wait "$pid"; } 2>/dev/null || rc=$? # (no "Killed" notice from bash)
  BG_KILL9_PIDS=()
  case $rc in
    137) kills=$((kills + 1)) ;;
    0) fail "run $runs finished before its kill: only $kills of $KILLS kills landed" ;;
    *) tail -n 5 "$WORK/runs.log" >&2; fail "run $runs exited $rc" ;;
  esac
done
pass "$kills runs killed with SIGKILL after 30-400 ms ($((SECONDS - t0)) s)"

# Re-run until one completes (the first should; a bound keeps a bug from
# looping forever).
for i in 1 2 3; do
  runs=$((runs + 1))
  echo "=== run $runs, to completion" >>"$WORK/runs.log"
  rc=0
  "${run[@]}" >>"$WORK/runs.log" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || { tail -n 5 "$WORK/runs.log" >&2; fail "run $runs exited $rc"; }
  last=$(grep '^herald: run ' "$WORK/runs.log" | tail -n 1)
  case $last in
    "herald: run complete: "*) break ;;
    *) [ "$i" -lt 3 ] || fail "no run completed: $last" ;;
  esac
done
echo "$last"
if [ -n "$FAIL_EVERY" ]; then
  retried=$(echo "$last" | sed -n 's/.* \([0-9]*\) retries scheduled.*/\1/p')
  [ "${retried:-0}" -ge 1 ] || fail "fail_every=$FAIL_EVERY, but the last run scheduled no retry: $last"
fi
recovered_runs=$(grep -c 'deliveries were in flight when the last run stopped' "$WORK/runs.log" || true)
echo "runs: $runs; runs that found deliveries left in flight: $recovered_runs"
[ "$recovered_runs" -ge 1 ] || fail "no kill ever left a delivery in flight: the test tested nothing"
pass "re-run completes after $kills kills ($((SECONDS - t0)) s)"

dispatch_all_sent "$WORK/c.yaml" "$WORK/state" "$planned"
pass "status --json: every planned delivery sent, nothing pending, in flight or retrying"

"$HERALD" status "$WORK/c.yaml" --state-dir "$WORK/state" --uncertain >"$WORK/uncertain.txt" \
  2>"$WORK/uncertain.err" || fail "status --uncertain failed"
uncertain=$(wc -l <"$WORK/uncertain.txt")
grep -q "^herald: $uncertain uncertain deliveries" "$WORK/uncertain.err" ||
  fail "status --uncertain count: $(cat "$WORK/uncertain.err")"
[ "$uncertain" -ge 1 ] || fail "kills left deliveries in flight, but none is uncertain"

dispatch_verify "$WORK/state" "$WORK/delivered" --uncertain "$WORK/uncertain.txt" \
  >"$WORK/verify.out" || { cat "$WORK/verify.out"; fail "verify_outputs.py found problems"; }
cat "$WORK/verify.out"
extra=$(sed -n 's/.* extra_copies=\([0-9]*\) .*/\1/p' "$WORK/verify.out")
echo "after $kills kills: $extra extra copies, $uncertain uncertain deliveries"
# A kill can only catch what is in flight: at most 64 + 64 (the concurrency).
[ "$uncertain" -le $((kills * 128)) ] || fail "$uncertain uncertain: more than the in-flight windows"
[ "$extra" -le $((kills * 128)) ] || fail "$extra extra copies: more than the in-flight windows"
pass "every delivery made at least once, every extra copy is listed as uncertain ($((SECONDS - t0)) s)"
