#!/usr/bin/env bash
# http-push against a misbehaving service (tests/e2e/push_server.py fault
# modes): 429 with Retry-After (the whole channel pauses, then completes), a
# 503 burst, 500s, 409s, stalled requests (timeouts), dropped connections,
# 410 for some tokens (permanent, token_invalid) and 422 for others
# (permanent, logged loudly). Nothing is lost: every notice ends sent or
# failed for a reason, counters add up, nothing stays in flight. Then a
# Retry-After given as an HTTP date; then answers that are no proper answer:
# a slow trickle, an endless (oversized) body, a body that is not JSON, and
# bytes that are not HTTP.
source "$(dirname "$0")/lib.sh"
E2E_SEVERAL_STORES=1 # one campaign id, a store per scenario, on purpose (lib.sh)

# tokens of the sample audience that the server refuses
audience=$SRC/campaigns/ai-training-notice/audience.csv
gone=Qz mismatch=Zq

# ---- 1. every fault at once ---------------------------------------------------------------
push_server_start "$WORK/s1" --throttle 12:1 --unavailable 200-215:1 --error-every 23 \
  --conflict-every 41 --stall 400-402:15 --drop 500-503 --gone "$gone" --mismatch "$mismatch"
camp=$WORK/campaign.yaml
python3 "$SRC/tests/e2e/push_campaign.py" "$SRC" "$camp" --maildir "$WORK/maildir" \
  --concurrency 32 --retry "max_attempts: 10, initial_backoff: 1s, max_backoff: 2s" \
  --canary-rate none --settings "url: http://127.0.0.1:$PORT/v1/notices
max_in_flight: 8
timeout: 2s
connect_timeout: 1s"
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$WORK/st1"
# exit 2: the run finished with failed deliveries (410 and 422, by design here)
expect_exit 2 timeout 180 "$HERALD" run "$camp" --state-dir "$WORK/st1" --ignore-send-window
grep -q "run complete" "$WORK/err" || fail "run: $(tail -3 "$WORK/err")"
cp "$WORK/err" "$WORK/run1.err"

python3 "$SRC/tests/e2e/push_check.py" run --state-dir "$WORK/st1" --log "$WORK/s1/requests.jsonl" \
  --gone "$gone" --mismatch "$mismatch" --expect-status throttle=12 --expect-status unavailable=16 \
  --expect-status error=10 --expect-status conflict=10 --expect-status stall=3 \
  --expect-status drop=4 --expect-status gone=1 --expect-status mismatch=1 ||
  fail "push_check"
total=$(ops_q "$camp" "$WORK/st1" 's["channels"]["inapp"]["total"]')
read -r sent failed left < <(ops_q "$camp" "$WORK/st1" \
  '" ".join(str(x) for x in (s["channels"]["inapp"]["sent"], s["channels"]["inapp"]["failed"], sum(s["channels"]["inapp"][k] for k in ("pending", "inflight", "retry", "held"))))')
[ "$left" -eq 0 ] && [ $((sent + failed)) -eq "$total" ] ||
  fail "counters: sent $sent + failed $failed != total $total, $left left"
[ "$(grep -c '"fault":"gone"' "$WORK/s1/requests.jsonl")" -gt 0 ] || fail "no 410 was answered"
pass "faults: $total notices, $sent sent + $failed failed (410 and 422 only), nothing pending or in flight"

grep -q "channel inapp: the service answered HTTP 429 with Retry-After: pausing new requests for 1.0 s" \
  "$WORK/run1.err" || fail "no back-pressure line: $(grep -m3 inapp "$WORK/run1.err")"
python3 "$SRC/tests/e2e/push_check.py" pause --log "$WORK/s1/requests.jsonl" --status 429 \
  --window 0.8 --max-in-flight 8 || fail "the channel did not pause after a 429"
python3 "$SRC/tests/e2e/push_check.py" pause --log "$WORK/s1/requests.jsonl" --status 503 \
  --window 0.8 --max-in-flight 8 || fail "the channel did not pause after a 503"
pass "429 and 503 with Retry-After paused the whole channel, then it completed"

grep -q "channel inapp: HTTP 422 for idempotency key [0-9a-f]\{32\} (person .*): the service already holds this key with a different body" \
  "$WORK/run1.err" || fail "422 not logged loudly"
python3 - "$WORK/s1/requests.jsonl" <<'PY' || fail "faulted requests were not retried with the same key"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
ok = {r["idempotency_key"] for r in reqs
      if r["status"] in (200, 201) or r.get("fault") in ("gone", "mismatch")}
for fault in ("throttle", "unavailable", "error", "conflict", "stall", "drop"):
    keys = {r["idempotency_key"] for r in reqs if r.get("fault") == fault}
    missing = keys - ok
    assert not missing, f"{fault}: {len(missing)} keys never accepted later"
    print(f"{fault}: {len(keys)} keys, all answered for good on a later attempt")
PY
pass "timeouts, dropped connections, 500, 409, 429, 503: retried with the same key until accepted"

# ---- 2. Retry-After as an HTTP date ---------------------------------------------------------
head -n 101 "$audience" >"$WORK/small.csv"
push_server_start "$WORK/s2" --throttle 4:2 --throttle-date
python3 "$SRC/tests/e2e/push_campaign.py" "$SRC" "$WORK/small.yaml" --maildir "$WORK/maildir2" \
  --audience "$WORK/small.csv" --retry "max_attempts: 4, initial_backoff: 1s, max_backoff: 2s" \
  --settings "url: http://127.0.0.1:$PORT/v1/notices
max_in_flight: 4"
expect_exit 0 "$HERALD" plan "$WORK/small.yaml" --state-dir "$WORK/st2"
expect_exit 0 timeout 60 "$HERALD" run "$WORK/small.yaml" --state-dir "$WORK/st2" --ignore-send-window
grep -q "run complete: .* 0 failed" "$WORK/err" || fail "run: $(tail -3 "$WORK/err")"
grep -q "HTTP 429 with Retry-After: pausing new requests for [23].0 s" "$WORK/err" ||
  fail "HTTP-date Retry-After not honoured: $(grep inapp "$WORK/err")"
python3 "$SRC/tests/e2e/push_check.py" pause --log "$WORK/s2/requests.jsonl" --status 429 \
  --window 1.5 --max-in-flight 4 || fail "no pause after a dated Retry-After"
python3 "$SRC/tests/e2e/push_check.py" run --state-dir "$WORK/st2" --log "$WORK/s2/requests.jsonl" ||
  fail "push_check (HTTP date)"
pass "Retry-After as an HTTP date paused the channel"

# ---- 3. answers that are no proper answer ----------------------------------------------------
# A 200 whose 200-byte body trickles in a byte per 100 ms (slower than the
# 2 s timeout): push.timeout, transient, retried. A 201 whose body never
# ends (10 GiB announced): a bounded read, the answer classified by its
# status (accepted, at once: no second request for that key). A 201 whose
# body is not JSON: accepted, without a provider id. Bytes that are not
# HTTP: push.connection_failed, transient, retried. Nothing lost.
push_server_start "$WORK/s3" --trickle 3-4:100 --oversize 10-12 --bad-json 20-21 --garbage 30-31
python3 "$SRC/tests/e2e/push_campaign.py" "$SRC" "$WORK/small3.yaml" --maildir "$WORK/maildir3" \
  --audience "$WORK/small.csv" --retry "max_attempts: 4, initial_backoff: 1s, max_backoff: 2s" \
  --canary-rate none --settings "url: http://127.0.0.1:$PORT/v1/notices
max_in_flight: 4
timeout: 2s"
expect_exit 0 "$HERALD" plan "$WORK/small3.yaml" --state-dir "$WORK/st3"
expect_exit 0 timeout 60 "$HERALD" run "$WORK/small3.yaml" --state-dir "$WORK/st3" --ignore-send-window
grep -q "run complete: .* 0 failed" "$WORK/err" || fail "run: $(tail -3 "$WORK/err")"
python3 "$SRC/tests/e2e/push_check.py" run --state-dir "$WORK/st3" --log "$WORK/s3/requests.jsonl" \
  --expect-status trickle=2 --expect-status oversize=3 --expect-status bad_json=2 \
  --expect-status garbage=2 || fail "push_check (bad answers)"
python3 - "$WORK/s3/requests.jsonl" <<'PY' || fail "bad answers"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
by_key = {}
for r in reqs:
    by_key.setdefault(r["idempotency_key"], []).append(r)
for fault, again in (("trickle", True), ("garbage", True), ("oversize", False), ("bad_json", False)):
    keys = {r["idempotency_key"] for r in reqs if r.get("fault") == fault}
    assert keys, f"no {fault} answer was given"
    for k in keys:
        later = [r for r in by_key[k] if r.get("fault") != fault]
        if again:
            assert any(r["status"] == 201 for r in later), f"{fault}: key {k} never accepted later"
        else:
            assert not later, f"{fault}: key {k} was sent again although the service accepted it"
print("trickle and garbage retried until accepted; oversized and non-JSON 201s accepted at once")
PY
pass "a slow trickle (timeout) and non-HTTP bytes retried; an endless body read to a bound and a non-JSON 201 accepted once"
