#!/usr/bin/env bash
# `herald status --uncertain` right after a kill -9: the deliveries the dead
# run left in flight are listed (and counted, text and --json) as uncertain at
# once; while a dispatcher is alive (it holds run.lock) its in-flight ones are
# "in flight", not uncertain. The resumed run completes and the list is then
# exactly the recovered ones, flagged uncertain (as the crash tests expect).
source "$(dirname "$0")/lib.sh"

ops_audience "$WORK/audience.csv" 300:DE:de:Europe/Berlin
camp=$WORK/campaign.yaml
state=$WORK/state
ops_campaign "$camp" "$WORK/audience.csv"
# delay_ms: each batch of up to 16 sits in flight for 300 ms.
cat >>"$camp" <<EOF
channels:
  email:
    type: email
    module: file
    from: "Lumen Privacy <privacy@lumen.example>"
    concurrency: 16
    settings:
      maildir: $WORK/maildir
      delay_ms: 300
EOF
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$state"
q() { ops_q "$camp" "$state" "$1"; }
unc() { "$HERALD" status "$camp" --state-dir "$state" --uncertain "$@"; }

inflight=0
for try in 1 2 3 4 5; do
  ops_bg "$WORK/run$try.log" "$HERALD" run "$camp" --state-dir "$state"
  run=$!
  ops_wait 30 '[ "$(q "n(None,\"email\",\"sent\")")" -ge $((try * 32)) ] && [ "$(q "n(None,\"email\",\"inflight\")")" -gt 0 ]'
  # Alive: in flight, not uncertain.
  unc >"$WORK/live.txt" 2>"$WORK/live.err" || fail "status --uncertain: $(cat "$WORK/live.err")"
  [ "$(q 's["uncertain_inflight"]')" = 0 ] || fail "live run: --json counts $(q 's["uncertain_inflight"]') uncertain"
  kill -0 "$run" 2>/dev/null || fail "the run ended during the check"
  [ ! -s "$WORK/live.txt" ] && grep -q '^herald: 0 uncertain deliveries' "$WORK/live.err" ||
    fail "a live run's in-flight deliveries listed as uncertain: $(cat "$WORK/live.txt" "$WORK/live.err")"
  kill -9 "$run"
  wait "$run" 2>/dev/null || true
  inflight=$(q 'n(None,"email","inflight")')
  echo "try $try: killed with $inflight in flight"
  [ "$inflight" -eq 0 ] || break
done
[ "$inflight" -gt 0 ] || fail "5 kills never found a delivery in flight"
pass "while the run was alive, its in-flight deliveries were not uncertain"

expect_exit 0 "$HERALD" status "$camp" --state-dir "$state" --uncertain
[ "$(grep -c $'\temail\tinflight\tattempts=' "$WORK/out")" -eq "$inflight" ] ||
  fail "--uncertain after kill -9: $(cat "$WORK/out" "$WORK/err")"
[ "$(wc -l <"$WORK/out")" -eq "$inflight" ] || fail "--uncertain lists more: $(cat "$WORK/out")"
grep -q "^herald: $inflight uncertain deliveries" "$WORK/err" || fail "count: $(cat "$WORK/err")"
cut -f1 "$WORK/out" | sort >"$WORK/dead.ids"
expect_exit 0 "$HERALD" status "$camp" --state-dir "$state" --uncertain --json
python3 - "$WORK/out" "$inflight" <<'PY' || fail "--uncertain --json: $(cat "$WORK/out")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == int(sys.argv[2]), len(rows)
assert all(r["state"] == "inflight" and r["channel"] == "email" for r in rows), rows
PY
[ "$(q 's["uncertain_inflight"]')" = "$inflight" ] || fail "status --json uncertain: $(q 's.get("uncertain_inflight")')"
expect_exit 0 "$HERALD" status "$camp" --state-dir "$state"
grep -q "^UNCERTAIN: $inflight deliveries were in flight when the last run ended" "$WORK/out" ||
  fail "status text: $(cat "$WORK/out")"
pass "right after kill -9: --uncertain (text, --json) and status list the $inflight in flight"

expect_exit 0 timeout 120 "$HERALD" run "$camp" --state-dir "$state"
grep -q "run complete: .* $inflight re-sent after a crash (uncertain)" "$WORK/err" ||
  fail "resumed run: $(tail -1 "$WORK/err")"
dispatch_all_sent "$camp" "$state" "email=300"
expect_exit 0 "$HERALD" status "$camp" --state-dir "$state" --uncertain
[ "$(grep -c $'\temail\tsent\tattempts=' "$WORK/out")" -eq "$inflight" ] || fail "after the run: $(cat "$WORK/out")"
cut -f1 "$WORK/out" | sort | cmp -s - "$WORK/dead.ids" || fail "the uncertain list changed: $(cat "$WORK/out")"
[ "$(q 's["uncertain_inflight"]')" = 0 ] || fail "status --json still counts in-flight uncertain"
pass "the resumed run re-sent them; --uncertain lists the same $inflight, now sent"
