#!/usr/bin/env bash
# A run killed with SIGKILL leaves deliveries in flight; `run --inflight=hold`
# parks them as held (flagged uncertain) instead of re-sending them, `status`
# and `status --uncertain` show them, `retry --held` requeues them and a final
# run completes: every person got the notice, at least once.
source "$(dirname "$0")/lib.sh"

ops_audience "$WORK/audience.csv" 300:DE:de:Europe/Berlin
camp=$WORK/campaign.yaml
state=$WORK/state
ops_campaign "$camp" "$WORK/audience.csv"
# delay_ms: each batch of up to 16 sits in flight for 300 ms before it is
# written, so a kill almost always finds some in flight.
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

inflight=0
for try in 1 2 3 4 5; do
  ops_bg "$WORK/run$try.log" "$HERALD" run "$camp" --state-dir "$state"
  run=$!
  ops_wait 30 '[ "$(q "n(None,\"email\",\"sent\")")" -ge $((try * 32)) ]'
  sleep 0.$((RANDOM % 3 + 1))
  kill -9 "$run"
  wait "$run" 2>/dev/null || true
  inflight=$(q 'n(None,"email","inflight")')
  echo "try $try: killed with $inflight in flight"
  [ "$inflight" -eq 0 ] || break
done
[ "$inflight" -gt 0 ] || fail "5 kills never found a delivery in flight"
sent=$(q 'n(None,"email","sent")')
[ "$sent" -lt 300 ] || fail "the run finished before the kill"
pass "SIGKILL mid-run left $inflight deliveries in flight ($sent sent)"

# exit 3: held work is left for review (docs/exit-codes.md)
expect_exit 3 timeout 120 "$HERALD" run "$camp" --state-dir "$state" --inflight=hold
grep -q "$inflight deliveries were in flight when the last run stopped: held for review" "$WORK/err" ||
  fail "no word on held deliveries: $(cat "$WORK/err")"
grep -q "run complete: $((300 - sent - inflight)) sent, 0 failed, .* $inflight held" "$WORK/err" ||
  fail "run summary: $(tail -1 "$WORK/err")"
[ "$(q 'n(None,"email","held"), n(None,"email","inflight"), n(None,"email","sent"), n(None,"email","pending")')" = \
  "($inflight, 0, $((300 - inflight)), 0)" ] || fail "status after the hold run: $(q 's["channels"]["email"]')"
expect_exit 0 "$HERALD" status "$camp" --state-dir "$state"
grep -Eq "^ALL +email +0 +0 +$((300 - inflight)) +0 +0 +$inflight +300 " "$WORK/out" ||
  fail "status table: $(cat "$WORK/out")"
pass "--inflight=hold parked the $inflight, sent the rest"

expect_exit 0 "$HERALD" status "$camp" --state-dir "$state" --uncertain
[ "$(grep -c $'\temail\theld\tattempts=1$' "$WORK/out")" -eq "$inflight" ] ||
  fail "--uncertain: $(cat "$WORK/out")"
[ "$(wc -l <"$WORK/out")" -eq "$inflight" ] || fail "--uncertain lists more than the held"
grep -q "^herald: $inflight uncertain deliveries" "$WORK/err" || fail "--uncertain count: $(cat "$WORK/err")"
cut -f1 "$WORK/out" | sort >"$WORK/held.ids"
pass "status --uncertain lists the $inflight held deliveries"

expect_exit 64 "$HERALD" retry "$camp" --state-dir "$state" --held
expect_exit 0 "$HERALD" retry "$camp" --state-dir "$state" --held --reason "checked the relay log: not delivered"
grep -qx "ops-e2e: requeued $inflight held deliveries" "$WORK/out" || fail "retry said: $(cat "$WORK/out")"
[ "$(q 'n(None,"email","held"), n(None,"email","retry")')" = "(0, $inflight)" ] ||
  fail "after retry --held: $(q 's["channels"]["email"]')"
pass "retry --held requeued them"

expect_exit 0 timeout 120 "$HERALD" run "$camp" --state-dir "$state"
grep -q "run complete: $inflight sent, 0 failed" "$WORK/err" || fail "final run: $(tail -1 "$WORK/err")"
[ "$(q 'n(None,"email","sent"), s["channels"]["email"]["total"]')" = "(300, 300)" ] ||
  fail "final status: $(q 's["channels"]["email"]')"
# Every person's message is in the maildir (a message the killed run wrote
# just before dying is there twice, as at-least-once delivery allows).
keys=$(ls "$WORK/maildir/new" | sed 's/^[0-9]*\.\([0-9a-f]*\)_.*/\1/' | sort -u | wc -l)
files=$(ls "$WORK/maildir/new" | wc -l)
[ "$keys" -eq 300 ] && [ "$files" -le $((300 + inflight)) ] || fail "maildir: $keys messages in $files files"
expect_exit 0 "$HERALD" status "$camp" --state-dir "$state" --uncertain
[ "$(cut -f1 "$WORK/out" | sort)" = "$(cat "$WORK/held.ids")" ] && ! grep -qv $'\tsent\t' "$WORK/out" ||
  fail "--uncertain after the final run: $(cat "$WORK/out")"
pass "the final run sent them: 300 of 300, still flagged uncertain ($files files for 300 messages)"
