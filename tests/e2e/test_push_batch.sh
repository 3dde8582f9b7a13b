#!/usr/bin/env bash
# http-push batch mode: many notices per request to a service that answers
# per item (tests/e2e/push_server.py --batch-path: results in reverse order,
# 410 for some tokens), each result mapped back to its person by the item's
# idempotency key; then all-or-nothing batches (no results_field).
source "$(dirname "$0")/lib.sh"
E2E_SEVERAL_STORES=1 # one campaign id, a store per scenario, on purpose (lib.sh)

link_url=$(sed -n 's/^  url: "\(.*\)"$/\1/p' "$SRC/campaigns/ai-training-notice.yaml")
gone=Qz

# ---- 1. per-item results ------------------------------------------------------------------
push_server_start "$WORK/s1" --batch-path /v1/batch --gone "$gone"
camp=$WORK/campaign.yaml
python3 "$SRC/tests/e2e/push_campaign.py" "$SRC" "$camp" --maildir "$WORK/maildir" \
  --concurrency 256 --settings "url: http://127.0.0.1:$PORT/v1/notices
max_in_flight: 4
batch:
  max_items: 50
  url: http://127.0.0.1:$PORT/v1/batch
  results_field: results"
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$WORK/st1"
# exit 2: the run finished with failed deliveries (410 items, by design here)
expect_exit 2 timeout 120 "$HERALD" run "$camp" --state-dir "$WORK/st1" --ignore-send-window
grep -q "run complete" "$WORK/err" || fail "run: $(tail -3 "$WORK/err")"
grep -q "batch mode: up to 50 notices per request, results per item" "$WORK/err" ||
  fail "no batch line: $(grep inapp "$WORK/err")"
python3 "$SRC/tests/e2e/push_check.py" run --state-dir "$WORK/st1" --log "$WORK/s1/requests.jsonl" \
  --batch --gone "$gone" || fail "push_check (batch)"
total=$(ops_q "$camp" "$WORK/st1" 's["channels"]["inapp"]["total"]')
python3 - "$WORK/s1/requests.jsonl" "$total" <<'PY' || fail "batches"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
total = int(sys.argv[2])
items = sum(len(r["body"]["items"]) for r in reqs)
assert items == total, (items, total)
assert all(r["path"] == "/v1/batch" for r in reqs)
assert all(1 <= len(r["body"]["items"]) <= 50 for r in reqs)
assert len(reqs) <= total // 10, f"{len(reqs)} requests for {total} notices: batches too small"
keys = [r["idempotency_key"] for r in reqs]
assert len(set(keys)) == len(keys), "two batches with the same key"
print(f"{total} notices in {len(reqs)} batch requests (largest {max(len(r['body']['items']) for r in reqs)})")
PY
pass "batch mode: $total notices, per-item results (reverse order) mapped back by key, 410 items token_invalid"

# ---- 2. all or nothing ----------------------------------------------------------------------
head -n 301 "$SRC/campaigns/ai-training-notice/audience.csv" >"$WORK/small.csv"
push_server_start "$WORK/s2" --batch-path /v1/batch
python3 "$SRC/tests/e2e/push_campaign.py" "$SRC" "$WORK/all.yaml" --maildir "$WORK/maildir2" \
  --audience "$WORK/small.csv" --concurrency 64 --settings "url: http://127.0.0.1:$PORT/v1/batch
max_in_flight: 2
batch:
  max_items: 20"
expect_exit 0 "$HERALD" plan "$WORK/all.yaml" --state-dir "$WORK/st2"
expect_exit 0 timeout 60 "$HERALD" run "$WORK/all.yaml" --state-dir "$WORK/st2" --ignore-send-window
grep -q "run complete: .* 0 failed" "$WORK/err" || fail "run: $(tail -3 "$WORK/err")"
grep -q "results all or nothing" "$WORK/err" || fail "no all-or-nothing line"
python3 "$SRC/tests/e2e/push_check.py" run --state-dir "$WORK/st2" --log "$WORK/s2/requests.jsonl" \
  --batch --no-provider-ids || fail "push_check (all or nothing)"
python3 "$SRC/tests/e2e/verify_outputs.py" --state-dir "$WORK/st2" \
  --channel "email:email:$WORK/maildir2" --channel "inapp:push:$WORK/s2/accepted.jsonl" \
  --link-template "$link_url" --exact || fail "verify_outputs (batch)"
pass "all-or-nothing batches: a 2xx accepts every item"
