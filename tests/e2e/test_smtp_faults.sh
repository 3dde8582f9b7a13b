#!/usr/bin/env bash
# The smtp module against misbehaving servers (tests/e2e/smtp_server.py),
# each time the whole sample campaign, fast retries: greylisting (450, then
# accepted), permanent rejections (550 at RCPT, 554 after DATA), 421 in the
# middle of every session, the connection dropped during DATA, a server that
# stops answering (timeouts). Each ends with every email delivery sent or
# failed for a 5xx, nothing pending or in flight, every sent one captured
# exactly once (none lost, none double-counted) and its record matching the
# server's reply (smtp_e2e.py check).
source "$(dirname "$0")/lib.sh"
PY=${HERALD_PYTHON:-/usr/bin/python3}
"$PY" -c 'import aiosmtpd, yaml' 2>/dev/null || fail "$PY lacks aiosmtpd or yaml (python3-aiosmtpd, python3-yaml)"
# scenario NAME SETTINGS SERVER_OPTIONS... : runs the sample campaign against a
# server with those faults; leaves counts in SENT FAILED LEFT, paths in CAMP, ST.
scenario() {
  local name=$1 settings=$2; shift 2
  smtp_start "$name" "$@"
  CAMP=$WORK/$name.yaml ST=$WORK/$name/state
  "$PY" "$SRC/tests/e2e/smtp_e2e.py" campaign "$CAMP" --src "$SRC" --work "$WORK/$name" \
    --fast-retry --no-canary --max-attempts "${MAX_ATTEMPTS:-30}" --concurrency "${CONCURRENCY:-64}" \
    --settings "{relays: [\"127.0.0.1:$PORT\"], starttls: off, $settings}"
  expect_exit 0 "$HERALD" plan "$CAMP" --state-dir "$ST"
  local t0=$SECONDS
  expect_exit 0 "$HERALD" run "$CAMP" --state-dir "$ST" --ignore-send-window
  cp "$WORK/err" "$WORK/$name/run.err"
  grep -q 'run complete' "$WORK/err" || fail "$name: run did not complete: $(tail -3 "$WORK/err")"
  read -r SENT FAILED LEFT <<<"$(email_counts "$CAMP" "$ST")"
  echo "$name: sent $SENT, failed $FAILED, left $LEFT in $((SECONDS - t0)) s; $(tail -1 "$WORK/err" | sed 's/^herald: //')"
  [ "$LEFT" = 0 ] || fail "$name: $LEFT email deliveries not final"
}
check() { # check NAME [smtp_e2e.py check options]
  local name=$1; shift
  "$PY" "$SRC/tests/e2e/smtp_e2e.py" check --state-dir "$ST" --campaign "$CAMP" \
    --maildir "$WORK/$name/maildir" --log "$WORK/$name/log.jsonl" "$@" ||
    fail "$name: captured messages and records do not agree"
}
events() { # events NAME EVENT: how many times the server logged EVENT
  grep -c "\"ev\": \"$2\"" "$WORK/$1/log.jsonl" || true
}

# The plan's email deliveries, for the scenarios that must send them all.
scenario greylist "pool_size: 4, messages_per_session: 25" --greylist
planned=$SENT
[ "$FAILED" = 0 ] || fail "greylist: $FAILED failed"
[ "$(events greylist greylisted)" = "$planned" ] || fail "greylist: $(events greylist greylisted) greylisted of $planned"
check greylist --expect-sent "$planned" --min-attempts 2
pass "greylisting: every one of $planned deferred with 450 once, then accepted on a retry"

scenario reject "pool_size: 4" --reject-rcpt-mod 10 --reject-data-mod 10
[ "$FAILED" -gt 0 ] && [ $((SENT + FAILED)) = "$planned" ] || fail "reject: sent $SENT + failed $FAILED != $planned"
rcpt550=$(grep -c '"code": 550' "$WORK/reject/log.jsonl" || true)
data554=$(grep -c '"code": 554' "$WORK/reject/log.jsonl" || true)
[ "$rcpt550" -gt 0 ] && [ "$data554" -gt 0 ] && [ $((rcpt550 + data554)) = "$FAILED" ] ||
  fail "reject: $rcpt550 refused at RCPT + $data554 after DATA, but $FAILED failed"
grep -q 'retries scheduled' "$WORK/reject/run.err"
check reject --expect-rejected
pass "5xx is permanent: $rcpt550 refused at RCPT (550), $data554 after DATA (554), each tried once, the rest sent"

scenario close421 "pool_size: 4, messages_per_session: 12" --close-after 5
[ "$SENT" = "$planned" ] && [ "$FAILED" = 0 ] || fail "close421: sent $SENT failed $FAILED"
n421=$(events close421 421)
[ "$n421" -gt 10 ] || fail "close421: only $n421 sessions ended with 421"
check close421 --expect-sent "$planned"
pass "421 after 5 messages in each session ($n421 times): the rest of each session retried, all $planned sent once"

scenario drop "pool_size: 4, messages_per_session: 20" --drop-data-every 17
[ "$SENT" = "$planned" ] && [ "$FAILED" = 0 ] || fail "drop: sent $SENT failed $FAILED"
ndrop=$(events drop dropped)
[ "$ndrop" -gt 10 ] || fail "drop: only $ndrop connections dropped"
check drop --expect-sent "$planned"
pass "connection dropped during DATA $ndrop times: nothing lost, nothing captured twice"

scenario stall "pool_size: 8, messages_per_session: 20, command_timeout: 2s, data_timeout: 2s" \
  --stall-data-every 150 --stall-seconds 20
[ "$SENT" = "$planned" ] && [ "$FAILED" = 0 ] || fail "stall: sent $SENT failed $FAILED"
nstall=$(events stall stalled)
[ "$nstall" -ge 5 ] || fail "stall: only $nstall stalls"
check stall --expect-sent "$planned"
pass "a server that stops answering ($nstall times): timeouts, retried, all $planned sent once"


# Classification as recorded, with a single attempt (max_attempts 1), so each
# failure stays in the store: event, code and the reply without CR LF.
# records: the email records by state, event, code (a file first: grep -q must not cut the pipe)
records() {
  "$PY" "$SRC/tests/e2e/smtp_e2e.py" records --state-dir "$ST" --campaign "$CAMP" >"$WORK/records.txt"
  cat "$WORK/records.txt"
}
count() { records | awk -v s="$1" -v e="$2" -v c="$3" '$1 == s && $2 == e && $3 == c { n += $4 } END { print n + 0 }'; }
MAX_ATTEMPTS=1 scenario once421 "pool_size: 4, messages_per_session: 10" --close-after 3
records
accepted=$(count sent smtp.accepted 250) d421=$(count failed smtp.deferred 421)
lost=$(count failed smtp.connection_failed 0)
[ "$d421" = "$(events once421 421)" ] && [ "$lost" -gt 0 ] &&
  [ $((accepted + d421 + lost)) = "$planned" ] && [ "$accepted" = "$(events once421 accepted)" ] ||
  fail "once421: accepted $accepted + 421 $d421 + no reply $lost != $planned"
records >/dev/null; grep -q $'failed smtp.deferred 421 [0-9]*\t4.3.2 Too many messages in this session, closing$' "$WORK/records.txt" ||
  fail "once421: the 421 reply is not stored as sent (enhanced code, text, no CR LF)"
records >/dev/null; grep -q $'sent smtp.accepted 250 [0-9]*\t2.0.0 Ok: queued as HQ[0-9A-F]*$' "$WORK/records.txt" ||
  fail "once421: the 250 reply is not stored as sent"
pass "421 recorded once per session as smtp.deferred 421; the session's unsent messages as smtp.connection_failed"

MAX_ATTEMPTS=1 CONCURRENCY=1024 scenario oncestall "pool_size: 8, messages_per_session: 100, data_timeout: 1s" \
  --stall-data-every 1 --stall-seconds 10
records
timeouts=$(count failed smtp.timeout 0)
[ "$timeouts" = "$planned" ] || fail "oncestall: $timeouts timeouts of $planned"
records >/dev/null; grep -q $'stopped answering (timeout)' "$WORK/records.txt" || fail "oncestall: no timeout reason"
pass "a stalled server: every message failed as smtp.timeout (transient, here with max_attempts 1)"
