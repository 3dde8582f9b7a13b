#!/usr/bin/env bash
# http-push end to end: the sample campaign's in-app notices go to a recording
# HTTP/1.1 server on 127.0.0.1 (tests/e2e/push_server.py) with bearer auth and
# Standard Webhooks signatures (the server refuses anything else), the emails
# to a Maildir. Checks one request per eligible person with a push token, the
# body in the person's language with a valid objection link, an idempotency
# key per person; then a run killed with SIGKILL mid-way and run again re-sends
# what was in flight with the same key and the same bytes.
source "$(dirname "$0")/lib.sh"
E2E_SEVERAL_STORES=1 # one campaign id, a store per scenario, on purpose (lib.sh)

link_url=$(sed -n 's/^  url: "\(.*\)"$/\1/p' "$SRC/campaigns/ai-training-notice.yaml")
[ -n "$link_url" ] || fail "no objection_link url in the sample campaign"

export PUSH_TOKEN=e2e-bearer-token-not-a-real-one
export PUSH_WEBHOOK_SECRET="whsec_$(printf 'e2e-webhook-secret-0123456789abcdef' | base64 -w0)"

# ---- 1. the sample campaign, every notice once ---------------------------------------
push_server_start "$WORK/s1" --bearer-env PUSH_TOKEN --webhook-secret-env PUSH_WEBHOOK_SECRET
camp=$WORK/campaign.yaml
python3 "$SRC/tests/e2e/push_campaign.py" "$SRC" "$camp" --maildir "$WORK/maildir" \
  --concurrency 64 --settings "url: http://127.0.0.1:$PORT/v1/notices
headers:
  X-Test: e2e
auth:
  bearer_env: PUSH_TOKEN
  allow_insecure: true
webhook_secret_env: PUSH_WEBHOOK_SECRET
max_in_flight: 16"
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$WORK/st1"
expect_exit 0 timeout 120 "$HERALD" run "$camp" --state-dir "$WORK/st1" --ignore-send-window
grep -q "run complete: .* 0 failed" "$WORK/err" || fail "run: $(tail -3 "$WORK/err")"
grep -q 'http-push POST http://127.0.0.1:[0-9]*/v1/notices over HTTP/1.1, up to 16 in flight' \
  "$WORK/err" || fail "no start-up line: $(cat "$WORK/err")"
if grep -q "$PUSH_TOKEN\|e2e-webhook-secret" "$WORK/err" "$WORK/out"; then fail "a secret was logged"; fi
total=$(ops_q "$camp" "$WORK/st1" 's["channels"]["inapp"]["total"]')
[ "$(ops_q "$camp" "$WORK/st1" 's["channels"]["inapp"]["sent"]')" = "$total" ] && [ "$total" -gt 1000 ] ||
  fail "status: $(ops_q "$camp" "$WORK/st1" 's["channels"]["inapp"]')"
[ "$(wc -l <"$WORK/s1/requests.jsonl")" -eq "$total" ] ||
  fail "$(wc -l <"$WORK/s1/requests.jsonl") requests for $total notices"
pass "sample campaign: $total push notices sent, one request each"

python3 "$SRC/tests/e2e/verify_outputs.py" --state-dir "$WORK/st1" \
  --channel "email:email:$WORK/maildir" --channel "inapp:push:$WORK/s1/accepted.jsonl" \
  --link-template "$link_url" --exact || fail "verify_outputs"
python3 "$SRC/tests/e2e/push_check.py" run --state-dir "$WORK/st1" --log "$WORK/s1/requests.jsonl" ||
  fail "push_check"
python3 - "$WORK/s1/requests.jsonl" <<'PY' || fail "request headers"
import json, re, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
keys = [r["idempotency_key"] for r in reqs]
assert len(set(keys)) == len(keys), "an idempotency key was used twice"
for r in reqs:
    assert re.fullmatch(r"[0-9a-f]{32}", r["idempotency_key"]), r["idempotency_key"]
    assert r["webhook_id"] == r["idempotency_key"], r
    assert r["content_type"] == "application/json" and r["expect"] is None, r
    assert r["auth"] and r["x_test"] == "e2e" and r["status"] == 201, r
    assert r["method"] == "POST" and r["path"] == "/v1/notices", r
print(f"{len(reqs)} requests: unique 32-hex keys, signed, authorised, no Expect")
PY
pass "bodies in each person's language with valid objection links; keys unique; provider ids kept"

# ---- 2. killed mid-run and run again: same keys, same bytes ----------------------------
# The first 200 answers take 300 ms each, so the run is slow at first and a
# kill finds requests in flight; the server still answers those (accepted),
# and the next run re-sends them: replays with the same key and body.
push_server_start "$WORK/s2" --slow 1-200:300
python3 "$SRC/tests/e2e/push_campaign.py" "$SRC" "$camp" --maildir "$WORK/maildir2" \
  --concurrency 16 --settings "url: http://127.0.0.1:$PORT/v1/notices
max_in_flight: 8"
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$WORK/st2"
"$HERALD" run "$camp" --state-dir "$WORK/st2" --ignore-send-window >"$WORK/run2a.log" 2>&1 &
run=$!
bg_track "$run"
for _ in $(seq 300); do
  [ "$(wc -l <"$WORK/s2/requests.jsonl" 2>/dev/null || echo 0)" -ge 40 ] && break
  sleep 0.05
done
kill -9 "$run"
{ wait "$run"; } 2>/dev/null || true
inflight=$(ops_q "$camp" "$WORK/st2" 's["channels"]["inapp"]["inflight"]')
[ "$inflight" -gt 0 ] || fail "the kill found nothing in flight"
sleep 0.5 # the server answers what the dead run had in flight
expect_exit 0 timeout 120 "$HERALD" run "$camp" --state-dir "$WORK/st2" --ignore-send-window
grep -q "run complete: .* 0 failed, .* $inflight re-sent after a crash" "$WORK/err" ||
  fail "rerun: $(tail -3 "$WORK/err")"
"$HERALD" status "$camp" --state-dir "$WORK/st2" --uncertain >"$WORK/uncertain.txt" 2>/dev/null
python3 "$SRC/tests/e2e/verify_outputs.py" --state-dir "$WORK/st2" \
  --channel "email:email:$WORK/maildir2" --channel "inapp:push:$WORK/s2/accepted.jsonl" \
  --link-template "$link_url" --uncertain "$WORK/uncertain.txt" || fail "verify_outputs after the kill"
python3 "$SRC/tests/e2e/push_check.py" run --state-dir "$WORK/st2" --log "$WORK/s2/requests.jsonl" ||
  fail "push_check after the kill"
replays=$(grep -c '"fault":"replay"' "$WORK/s2/requests.jsonl" || true)
[ "$replays" -gt 0 ] || fail "no request was re-sent after the kill"
grep -q '"status":422' "$WORK/s2/requests.jsonl" && fail "a re-send changed the body (422)"
pass "SIGKILL with $inflight in flight: the re-run re-sent them with the same key and bytes ($replays replays), nothing lost"
