#!/usr/bin/env bash
# herald retry --failed --channel --country: requeues exactly the failed
# deliveries of that channel and country, says how many, audits it, and a
# re-run of the unchanged campaign sends them (the file module's
# permanent_every fails every 10th message of a run, so some fail again).
source "$(dirname "$0")/lib.sh"
export HERALD_OPERATOR=e2e-operator

ops_audience "$WORK/audience.csv" 300:DE:de:Europe/Berlin 250:FR:fr:Europe/Paris \
  170:AT:de:Europe/Vienna
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
      permanent_every: 10
  inapp:
    type: push
    module: file
    concurrency: 16
    settings:
      outbox: $WORK/inapp.jsonl
      permanent_every: 10
EOF
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$state"
# exit 2: failed deliveries (docs/exit-codes.md)
expect_exit 2 "$HERALD" run "$camp" --state-dir "$state"
grep -q 'run complete: 1296 sent, 144 failed' "$WORK/err" || fail "first run: $(tail -1 "$WORK/err")"

# Every (country, channel, state) count, as JSON.
counts() {
  ops_q "$camp" "$state" '__import__("json").dumps({f"{c}/{ch}/{st}": n(c, ch, st)
    for c in ("DE", "FR", "AT") for ch in ("email", "inapp")
    for st in ("pending", "inflight", "sent", "retry", "failed", "held")}, sort_keys=True)'
}
counts >"$WORK/before.json"
read -r de_failed total_failed <<<"$(ops_q "$camp" "$state" 'n("DE","email","failed"), n(None,"email","failed")' | tr -d '(),')"
echo "email failed: DE $de_failed of $total_failed"
[ "$de_failed" -ge 10 ] && [ "$de_failed" -lt "$total_failed" ] || fail "unexpected failures: $de_failed of $total_failed"
pass "permanent_every: 10 fails a tenth of the email deliveries"

expect_exit 64 "$HERALD" retry "$camp" --state-dir "$state" --failed --channel email --country DE
grep -q 'reason' "$WORK/err" || fail "no word about --reason: $(cat "$WORK/err")"
expect_exit 64 "$HERALD" retry "$camp" --state-dir "$state" --failed --channel email --country DE --reason ""
cmp -s <(counts) "$WORK/before.json" || fail "a refused retry changed counts"
pass "retry without --reason exits 64 and changes nothing"

expect_exit 0 "$HERALD" retry "$camp" --state-dir "$state" --failed --channel email --country DE \
  --reason "relay fixed"
grep -qx "ops-e2e: requeued $de_failed failed deliveries" "$WORK/out" || fail "retry said: $(cat "$WORK/out")"
counts >"$WORK/after.json"
python3 - "$WORK/before.json" "$WORK/after.json" "$de_failed" <<'PY' || fail "retry touched the wrong deliveries"
import json, sys
before, after, n = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
want = dict(before)
want["DE/email/failed"] -= n
want["DE/email/retry"] += n
diff = {k: (before[k], after[k]) for k in before if after[k] != want[k]}
assert not diff, diff
PY
mdb_dump -p -s audit "$state" | grep '"action":"retry"' | grep '"by":"e2e-operator"' |
  grep '"reason":"relay fixed"' | grep -q "\"requeued\":$de_failed" || fail "retry not audited"
pass "retry --failed --channel email --country DE requeued exactly DE's $de_failed failed emails, audited"

# The same campaign runs again (no replan): the requeued ones go out; every
# 10th message of this run fails again, nothing else moves.
again=$((de_failed / 10))
# exit 2: failed deliveries (docs/exit-codes.md)
expect_exit 2 "$HERALD" run "$camp" --state-dir "$state"
grep -q "run complete: $((de_failed - again)) sent, $again failed" "$WORK/err" ||
  fail "re-run: $(tail -1 "$WORK/err")"
counts >"$WORK/final.json"
python3 - "$WORK/before.json" "$WORK/final.json" "$de_failed" "$again" <<'PY' || fail "re-run counts do not add up"
import json, sys
before, final = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
n, again = int(sys.argv[3]), int(sys.argv[4])
want = dict(before)
want["DE/email/sent"] += n - again
want["DE/email/failed"] = again
diff = {k: (want[k], final[k]) for k in before if final[k] != want[k]}
assert not diff, diff
PY
[ "$(ls "$WORK/maildir/new" | wc -l)" -eq "$(ops_q "$camp" "$state" 'n(None,"email","sent")')" ] ||
  fail "maildir and sent count differ"
pass "re-run sent $((de_failed - again)) of the requeued, $again failed again; nothing else changed"
