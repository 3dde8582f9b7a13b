#!/usr/bin/env bash
# The canary: with half of all attempts failing (file module fail_every: 2)
# and a threshold of 20% over 20 attempts, a wave halts after its first
# in-flight window; the rest of it is not sent, the halt is durable (status,
# audit log, a re-run), the run exits, and `herald unpause --wave` lifts it.
source "$(dirname "$0")/lib.sh"
export HERALD_OPERATOR=e2e-operator

ops_audience "$WORK/audience.csv" 200:DE:de:Europe/Berlin 200:FR:fr:Europe/Paris
camp=$WORK/campaign.yaml
state=$WORK/state
ops_campaign "$camp" "$WORK/audience.csv"
cat >>"$camp" <<EOF
channels:
  email:
    type: email
    module: file
    from: "Lumen Privacy <privacy@lumen.example>"
    concurrency: 16
    settings:
      maildir: $WORK/maildir
      fail_every: 2
waves:
  - name: first
    countries: [DE]
  - name: second
    countries: [FR]
retry:
  max_attempts: 1
canary:
  failure_rate: 0.2
  window: 20
EOF
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$state"

q() { ops_q "$camp" "$state" "$1"; }
# wave name -> "pending sent failed" of its email deliveries
wave() {
  q "' '.join(str(w['channels']['email'][st]) for w in s['waves'] if w['wave'] == '$1'
              for st in ('pending', 'sent', 'failed'))"
}

# exit 4: a canary halt (docs/exit-codes.md)
expect_exit 4 timeout 60 "$HERALD" run "$camp" --state-dir "$state"
grep -q 'wave "first" halted: canary' "$WORK/err" || fail "no halt logged: $(cat "$WORK/err")"
grep -q 'only paused or halted work remains' "$WORK/err" || fail "no word on halted work: $(cat "$WORK/err")"
grep -q 'run stopped' "$WORK/err" || fail "run summary: $(tail -1 "$WORK/err")"
read -r pending sent failed <<<"$(wave first)"
echo "wave first: pending $pending, sent $sent, failed $failed"
# More than 20% of 20 is 5 failures; a halt stops the wave within its
# in-flight window (concurrency 16, so at most two batches).
[ "$failed" -ge 5 ] && [ $((sent + failed)) -le 32 ] && [ $((pending + sent + failed)) -eq 200 ] ||
  fail "wave first was not stopped by its canary: pending $pending, sent $sent, failed $failed"
pass "the canary halted wave first after $((sent + failed)) attempts; $pending left unsent, the run exited"

expect_exit 0 "$HERALD" status "$camp" --state-dir "$state"
grep -q '^HALTED: wave first: canary: ' "$WORK/out" || fail "status does not show the halt: $(cat "$WORK/out")"
[ "$(q "'first' in s['control']['halted']")" = True ] || fail "control: $(q 's["control"]')"
mdb_dump -p -s audit "$state" | grep '"action":"halt"' | grep '"by":"canary"' | grep -q '"wave":"first"' ||
  fail "halt not audited"
pass "the halt shows in status and the audit log"

# Durable: a re-run sends nothing of the halted wave.
before=$(wave first)
# exit 4: a canary halt (docs/exit-codes.md)
expect_exit 4 timeout 60 "$HERALD" run "$camp" --state-dir "$state"
[ "$(wave first)" = "$before" ] || fail "a re-run sent to the halted wave: $before -> $(wave first)"
[ "$(q "'first' in s['control']['halted']")" = True ] || fail "the re-run lifted the halt"
pass "the halt survives a re-run"

expect_exit 0 "$HERALD" unpause "$camp" --state-dir "$state" --wave first --reason "relay fixed"
grep -q 'unpaused first' "$WORK/out" || fail "unpause said: $(cat "$WORK/out")"
[ "$(q "'first' in s['control'].get('halted', {})")" = False ] || fail "halt not lifted: $(q 's["control"]')"
expect_exit 0 "$HERALD" status "$camp" --state-dir "$state"
! grep -q '^HALTED: wave first' "$WORK/out" || fail "status still shows the halt"
mdb_dump -p -s audit "$state" | grep '"action":"unpause"' | grep '"wave":"first"' |
  grep -q '"by":"e2e-operator"' || fail "unpause not audited"
# The next run sends to the wave again (and, failing as much, halts it again).
# exit 4: a canary halt (docs/exit-codes.md)
expect_exit 4 timeout 60 "$HERALD" run "$camp" --state-dir "$state"
read -r pending2 sent2 failed2 <<<"$(wave first)"
echo "wave first after unpause and a run: pending $pending2, sent $sent2, failed $failed2"
[ "$sent2" -gt "$sent" ] && [ "$pending2" -lt "$pending" ] || fail "the unpaused wave did not resume"
pass "unpause --wave first lifts the halt: the next run resumes the wave"
