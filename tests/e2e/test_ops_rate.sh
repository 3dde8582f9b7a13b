#!/usr/bin/env bash
# A channel's `rate` holds: over 10 s of a running dispatch, the sent count
# grows by 200/s within 5%. A check of the limiter, not a benchmark: the file
# module is far faster than 200/s on any machine (the sanitizer build, which
# may not be on a loaded one, checks 200/s scaled by HERALD_E2E_SCALE).
source "$(dirname "$0")/lib.sh"
RATE=$(e2e_scaled 200)

ops_audience "$WORK/audience.csv" 2500:DE:de:Europe/Berlin 2500:NL:nl:Europe/Amsterdam
camp=$WORK/campaign.yaml
state=$WORK/state
ops_campaign "$camp" "$WORK/audience.csv"
cat >>"$camp" <<EOF
channels:
  email:
    type: email
    module: file
    from: "Lumen Privacy <privacy@lumen.example>"
    rate: $RATE/s
    concurrency: 64
    settings:
      maildir: $WORK/maildir
EOF
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$state"

# "t0 t1 sent": the sent count read by a status call between t0 and t1.
sample() {
  local t0 t1
  t0=$(date +%s.%N)
  "$HERALD" status "$camp" --state-dir "$state" --json >"$WORK/sample.json"
  t1=$(date +%s.%N)
  echo "$t0 $t1 $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["channels"]["email"]["sent"])' "$WORK/sample.json")"
}
ops_bg "$WORK/run.log" "$HERALD" run "$camp" --state-dir "$state"
run=$!
ops_wait 30 '[ "$(ops_q "$camp" "$state" "n(None,\"email\",\"sent\")")" -ge "$RATE" ]'
read -r a0 a1 sa <<<"$(sample)"
sleep 10
read -r b0 b1 sb <<<"$(sample)"
kill -0 "$run" 2>/dev/null || fail "the run ended before the second sample: $(cat "$WORK/run.log")"
python3 - "$a0" "$a1" "$sa" "$b0" "$b1" "$sb" "$RATE" <<'PY' || fail "the rate limit does not hold"
import sys
a0, a1, sa, b0, b1, sb, rate = map(float, sys.argv[1:])
# The slowest and fastest readings the two samples allow.
lo, hi = (sb - sa) / (b1 - a0), (sb - sa) / (b0 - a1)
mid = (sb - sa) / ((b0 + b1) / 2 - (a0 + a1) / 2)
print(f"sent {sb - sa:.0f} in {(b0 + b1) / 2 - (a0 + a1) / 2:.2f} s: {mid:.1f}/s "
      f"(between {lo:.1f} and {hi:.1f})")
assert 0.95 * rate <= mid <= 1.05 * rate, mid
PY
pass "rate $RATE/s holds within 5% over 10 s"

# The running dispatcher reports its rate too.
rate=$(ops_q "$camp" "$state" 's["running"] and s["channels"]["email"]["rate"]')
python3 -c "import sys; r, w = map(float, sys.argv[1:]); assert 0.75 * w <= r <= 1.25 * w, r" \
  "$rate" "$RATE" ||
  fail "status reports rate $rate while running"
pass "status --json reports the running rate ($rate/s)"

kill -TERM "$run"
got=0
wait "$run" || got=$?
[ "$got" -eq 5 ] || fail "SIGTERM: exit $got, expected 5 (stopped by a signal)"
grep -q 'run stopped' "$WORK/run.log" || fail "no stop summary: $(tail -2 "$WORK/run.log")"
pass "SIGTERM stops the run cleanly"
