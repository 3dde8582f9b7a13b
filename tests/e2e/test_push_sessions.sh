#!/usr/bin/env bash
# Issue 10, finding 13, for http-push: under a rate limit far below what the
# connections carry, the HTTP/1.1 pool keeps its keep-alive connections
# open between the dispatcher's small hand-overs instead of reconnecting.
# The server numbers its TCP connections; at most max_in_flight of them
# may carry the whole run (a bound, not a timing).
source "$(dirname "$0")/lib.sh"

head -n 301 "$SRC/campaigns/ai-training-notice/audience.csv" >"$WORK/audience.csv"
push_server_start "$WORK/s1"
camp=$WORK/campaign.yaml
python3 "$SRC/tests/e2e/push_campaign.py" "$SRC" "$camp" --maildir "$WORK/maildir" \
  --audience "$WORK/audience.csv" --rate 100/s --concurrency 16 --canary-rate none \
  --settings "url: http://127.0.0.1:$PORT/v1/notices
max_in_flight: 4"
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$WORK/st"
expect_exit 0 timeout 120 "$HERALD" run "$camp" --state-dir "$WORK/st" --ignore-send-window
grep -q "run complete: .* 0 failed" "$WORK/err" || fail "run: $(tail -3 "$WORK/err")"
read -r reqs conns < <(python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
print(len(recs), len({r["conn"] for r in recs}))' "$WORK/s1/requests.jsonl")
echo "$reqs requests over $conns connections"
[ "$reqs" -gt 100 ] || fail "only $reqs requests"
[ "$conns" -le 4 ] || fail "$conns connections for $reqs requests at 100/s with max_in_flight 4"
pass "rate-limited push: $reqs requests over $conns keep-alive connections (at most 4)"
