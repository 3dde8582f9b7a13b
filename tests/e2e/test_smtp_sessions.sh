#!/usr/bin/env bash
# Issue 10, finding 13: connection churn under a rate limit. At a rate far
# below what one session carries, the smtp module must keep its sessions
# open between the dispatcher's small hand-overs (up to idle_timeout)
# instead of one TCP connection + EHLO per hand-over: real receivers throttle
# or block senders that reconnect hundreds of times a second. The server
# counts connections (one "session" event each). Bound, not a timing: at
# most ceil(sent / messages_per_session) + pool_size sessions (each worker
# may end with one partly filled session).
source "$(dirname "$0")/lib.sh"
PY=${HERALD_PYTHON:-/usr/bin/python3}
"$PY" -c 'import aiosmtpd, yaml' 2>/dev/null || fail "$PY lacks aiosmtpd or yaml (python3-aiosmtpd, python3-yaml)"

head -n 301 "$SRC/campaigns/ai-training-notice/audience.csv" >"$WORK/audience.csv"
smtp_start s
camp=$WORK/campaign.yaml
per=40 pool=2
"$PY" "$SRC/tests/e2e/smtp_e2e.py" campaign "$camp" --src "$SRC" --work "$WORK/s" --no-canary \
  --audience "$WORK/audience.csv" --rate 100/s --concurrency 16 \
  --settings "{relays: [\"127.0.0.1:$PORT\"], starttls: off, pool_size: $pool, messages_per_session: $per}"
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$WORK/st"
expect_exit 0 timeout 120 "$HERALD" run "$camp" --state-dir "$WORK/st" --ignore-send-window
grep -q 'run complete' "$WORK/err" || fail "run did not complete: $(tail -3 "$WORK/err")"
read -r sent failed left <<<"$(email_counts "$camp" "$WORK/st")"
[ "$failed" = 0 ] && [ "$left" = 0 ] && [ "$sent" -gt 100 ] || fail "sent $sent, failed $failed, left $left"
sessions=$(grep -c '"ev": "session"' "$WORK/s/log.jsonl" || true)
bound=$(((sent + per - 1) / per + pool))
echo "sent $sent in $sessions sessions ($(awk -v s="$sent" -v n="$sessions" 'BEGIN { printf "%.1f", s / n }') per session; bound $bound)"
[ "$sessions" -le "$bound" ] || fail "$sessions sessions for $sent messages at 100/s (messages_per_session $per, pool $pool): at most $bound expected"
"$PY" "$SRC/tests/e2e/smtp_e2e.py" check --state-dir "$WORK/st" --campaign "$camp" \
  --maildir "$WORK/s/maildir" --log "$WORK/s/log.jsonl" --expect-sent "$sent" ||
  fail "captured messages and records do not agree"
pass "rate-limited: $sent messages in $sessions sessions (at most $bound), each captured once"
