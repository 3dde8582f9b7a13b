#!/usr/bin/env bash
# 100,000 people through plan and one `herald run` into the file module (email
# Maildir + push outbox), then: status shows every planned delivery sent, and
# tests/e2e/verify_outputs.py --exact checks every message independently
# (exactly one per expected person and channel, language, objection link,
# deterministic ids, bytes = the recorded SHA-256).
source "$(dirname "$0")/lib.sh"
ROWS=${HERALD_E2E_ROWS:-$(e2e_scaled 100000)}
t0=$SECONDS

"$HERALD" generate --rows "$ROWS" --seed 20250626 --out "$WORK/audience.csv" \
  --objections "$WORK/objections.txt" 2>"$WORK/gen.err" || fail "generate: $(cat "$WORK/gen.err")"
# The sample's rates would make this a 45 s wait: no limit here.
dispatch_campaign "$WORK/c.yaml" "$WORK/audience.csv" "$WORK/objections.txt" "$WORK/delivered" \
  email_rate=none push_rate=none
expect_exit 0 "$HERALD" validate "$WORK/c.yaml"

expect_exit 0 "$HERALD" plan "$WORK/c.yaml" --state-dir "$WORK/state" --json
cp "$WORK/out" "$WORK/plan.json"
planned=$(dispatch_planned "$WORK/plan.json")
echo "planned: $planned"
pass "generated and planned $ROWS rows ($((SECONDS - t0)) s)"

t1=$SECONDS
expect_exit 0 "$HERALD" run "$WORK/c.yaml" --state-dir "$WORK/state" --ignore-send-window
tail -n 1 "$WORK/err"
grep -q '^herald: run complete: .* 0 failed, 0 retries scheduled, .* 0 re-sent after a crash' \
  "$WORK/err" || fail "run did not complete cleanly: $(tail -n 1 "$WORK/err")"
grep -q 'ignoring the campaign.s send window' "$WORK/err" || fail "--ignore-send-window not logged"
pass "herald run complete ($((SECONDS - t1)) s)"

dispatch_all_sent "$WORK/c.yaml" "$WORK/state" "$planned"
pass "status --json: every planned delivery sent, nothing pending, in flight or retrying"

"$HERALD" status "$WORK/c.yaml" --state-dir "$WORK/state" --uncertain >"$WORK/uncertain.txt" \
  2>/dev/null || fail "status --uncertain failed"
[ ! -s "$WORK/uncertain.txt" ] || fail "uncertain deliveries after a clean run"

t2=$SECONDS
dispatch_verify "$WORK/state" "$WORK/delivered" --exact --uncertain "$WORK/uncertain.txt" ||
  fail "verify_outputs.py found problems"
pass "every message verified independently, exactly once ($((SECONDS - t2)) s)"

# A second run has nothing to do and sends nothing.
before=$(ls "$WORK/delivered/maildir/new" | wc -l)
expect_exit 0 "$HERALD" run "$WORK/c.yaml" --state-dir "$WORK/state" --ignore-send-window
grep -q '^herald: run complete: 0 sent' "$WORK/err" || fail "re-run sent: $(tail -n 1 "$WORK/err")"
[ "$before" = "$(ls "$WORK/delivered/maildir/new" | wc -l)" ] || fail "re-run added messages"
pass "re-running a complete campaign sends nothing (total $((SECONDS - t0)) s)"
