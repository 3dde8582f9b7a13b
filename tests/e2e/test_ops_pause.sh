#!/usr/bin/env bash
# herald pause / unpause --country on a running dispatcher: the paused
# country stops within a second while the others go on, the pause persists
# and is audited, and after unpause the same run completes.
source "$(dirname "$0")/lib.sh"
export HERALD_OPERATOR=e2e-operator

# 3000 people in DE (planned first: shard 0), 3000 in FR; 300/s: ~20 s.
ops_audience "$WORK/audience.csv" 3000:DE:de:Europe/Berlin 3000:FR:fr:Europe/Paris
camp=$WORK/campaign.yaml
state=$WORK/state
ops_campaign "$camp" "$WORK/audience.csv"
cat >>"$camp" <<EOF
channels:
  email:
    type: email
    module: file
    from: "Lumen Privacy <privacy@lumen.example>"
    rate: 300/s
    concurrency: 16
    settings:
      maildir: $WORK/maildir
EOF
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$state"

q() { ops_q "$camp" "$state" "$1"; }
ops_bg "$WORK/run.log" "$HERALD" run "$camp" --state-dir "$state" --wait-paused
run=$!

# Pause DE while it is being sent.
ops_wait 30 '[ "$(q "n(\"DE\",\"email\",\"sent\")")" -ge 300 ]'
expect_exit 0 "$HERALD" pause "$camp" --state-dir "$state" --country DE --reason "regulator"
grep -q 'paused DE' "$WORK/out" || fail "pause output: $(cat "$WORK/out")"
sleep 1
read -r de1 fr1 <<<"$(q 'n("DE","email","sent"), n("FR","email","sent")' | tr -d '(),')"
sleep 2
read -r de2 fr2 <<<"$(q 'n("DE","email","sent"), n("FR","email","sent")' | tr -d '(),')"
echo "after pause: +1 s DE=$de1 FR=$fr1, +3 s DE=$de2 FR=$fr2"
kill -0 "$run" 2>/dev/null || fail "the run ended while DE was paused: $(cat "$WORK/run.log")"
[ "$de1" -lt 3000 ] || fail "DE finished before the pause took effect"
[ "$de1" -eq "$de2" ] || fail "DE still sending while paused: $de1 -> $de2"
# 2 s at 300/s is 600; a third of it is plenty to show FR goes on.
[ $((fr2 - fr1)) -ge 200 ] || fail "FR did not keep sending: $fr1 -> $fr2"
[ "$(q 'n("DE","email","pending") + n("DE","email","inflight")')" -eq $((3000 - de2)) ] ||
  fail "DE's unsent deliveries are not pending"
pass "a paused country stops within a second, the others go on"

# The pause is persistent state, shown by status, with who and why in the audit log.
expect_exit 0 "$HERALD" status "$camp" --state-dir "$state"
grep -qx 'PAUSED: country DE' "$WORK/out" || fail "status does not show the pause: $(cat "$WORK/out")"
[ "$(q 's["control"]["countries"]')" = "['DE']" ] || fail "control: $(q 's["control"]')"
mdb_dump -p -s audit "$state" >"$WORK/audit" || fail "cannot dump the audit log"
grep '"action":"pause"' "$WORK/audit" | grep '"country":"DE"' | grep '"by":"e2e-operator"' |
  grep -q '"reason":"regulator"' || fail "pause not audited: $(cat "$WORK/audit")"
pass "the pause shows in status and the audit log says who and why"

expect_exit 0 "$HERALD" unpause "$camp" --state-dir "$state" --country DE
ops_wait 30 '[ "$(q "n(\"DE\",\"email\",\"sent\")")" -gt "$de2" ]'
got=0
timeout 60 tail --pid="$run" -f /dev/null || fail "the run did not finish after unpause"
wait "$run" || got=$?
[ "$got" -eq 0 ] || fail "run exit $got: $(cat "$WORK/run.log")"
grep -q 'run complete: 6000 sent, 0 failed' "$WORK/run.log" || fail "run summary: $(tail -3 "$WORK/run.log")"
[ "$(q 'n(None,"email","sent"), n("DE","email","sent"), n(None,"email","pending")')" = "(6000, 3000, 0)" ] ||
  fail "not everything sent: $(q 's["channels"]')"
[ "$(ls "$WORK/maildir/new" | wc -l)" -eq 6000 ] || fail "maildir does not hold 6000 messages"
[ "$(q 's["control"]["countries"]')" = "[]" ] || fail "unpause left control: $(q 's["control"]')"
grep -q '"action":"unpause"' <(mdb_dump -p -s audit "$state") || fail "unpause not audited"
pass "after unpause the same run completes: all 6000 sent"
