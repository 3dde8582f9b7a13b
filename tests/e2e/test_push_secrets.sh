#!/usr/bin/env bash
# Issue 10, finding 6: a push service that echoes the request's
# Authorization header (in an error body, in the id it gives) must not get
# the bearer token into the store, the signed proof bundle or the log: the
# module redacts every credential it knows from what it reports. The
# server here echoes it in 400 bodies (kept for the operator) and in every
# accepted notice's id; after the run, neither the store (strings over
# data.mdb) nor an exported bundle nor the log holds the token.
# (Bearer auth over plain http:// needs auth.allow_insecure: true:
# test_push_settings.sh checks the refusal.)
source "$(dirname "$0")/lib.sh"

export PUSH_TOKEN='e2e-bearer/Tok+en=5f3a9c27d1b84e06'
audience=$SRC/campaigns/ai-training-notice/audience.csv
head -n 151 "$audience" >"$WORK/small.csv"
push_server_start "$WORK/s1" --bearer-env PUSH_TOKEN --echo-auth Qz
camp=$WORK/campaign.yaml
python3 "$SRC/tests/e2e/push_campaign.py" "$SRC" "$camp" --maildir "$WORK/maildir" \
  --audience "$WORK/small.csv" --canary-rate none --retry "max_attempts: 1" \
  --settings "url: http://127.0.0.1:$PORT/v1/notices
auth:
  bearer_env: PUSH_TOKEN
  allow_insecure: true
max_in_flight: 4"
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$WORK/st"
# exit 2: the run finished with failed deliveries (the echo_auth 400s, by design here)
expect_exit 2 timeout 60 "$HERALD" run "$camp" --state-dir "$WORK/st" --ignore-send-window
cp "$WORK/err" "$WORK/run.err"
grep -q "run complete" "$WORK/run.err" || fail "run: $(tail -3 "$WORK/run.err")"
echoed=$(grep -c '"fault":"echo_auth"' "$WORK/s1/requests.jsonl" || true)
accepted=$(grep -c '"status":201' "$WORK/s1/requests.jsonl" || true)
[ "$echoed" -gt 0 ] && [ "$accepted" -gt 0 ] || fail "the server echoed nothing ($echoed 400s, $accepted accepted)"

# what the store and the proofs hold instead
"$HERALD" status "$camp" --state-dir "$WORK/st" --json >"$WORK/status.json"
expect_exit 0 "$HERALD" keys generate --out "$WORK/signing"
expect_exit 0 "$HERALD" proofs export "$camp" --state-dir "$WORK/st" --out "$WORK/bundle" \
  --key "$WORK/signing.key" --csv

leaks=0
tok_b64=$(printf '%s' "$PUSH_TOKEN" | base64 -w0)
for needle in "$PUSH_TOKEN" "${PUSH_TOKEN:0:12}" "5f3a9c27d1b84e06" "$tok_b64"; do
  for f in "$WORK/st/data.mdb" "$WORK/run.err" "$WORK/out" "$WORK/status.json"; do
    strings -n 6 "$f" >"$WORK/strings.txt" # (grep -q on a pipe would cut it: pipefail)
    if grep -qF -- "$needle" "$WORK/strings.txt"; then echo "LEAK: $f holds $needle" >&2; leaks=$((leaks + 1)); fi
  done
  if grep -rqF -- "$needle" "$WORK/bundle"; then echo "LEAK: the bundle holds $needle" >&2; leaks=$((leaks + 1)); fi
done
[ "$leaks" = 0 ] || fail "the bearer token leaked into $leaks places"
grep -rqF '[redacted]' "$WORK/bundle" || fail "no redacted reply in the bundle: the test saw no echo"
pass "an echoed bearer token: redacted from the store, the proof bundle and the log ($echoed refusals, $accepted accepted ids echoed)"
