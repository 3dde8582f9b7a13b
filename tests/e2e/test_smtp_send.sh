#!/usr/bin/env bash
# The sample campaign through the smtp module to a real SMTP server on
# 127.0.0.1 (tests/e2e/smtp_server.py, on python3-aiosmtpd): one message per
# eligible person with an email address, byte for byte what herald rendered
# and recorded, parsed back with Python's email package (smtp_e2e.py check),
# and with verify_outputs.py when present. Then a re-run sends nothing, and
# relay failover: the first relay refuses connections, the second takes all.
source "$(dirname "$0")/lib.sh"
E2E_SEVERAL_STORES=1 # one campaign id, a store per scenario, on purpose (lib.sh)
PY=${HERALD_PYTHON:-/usr/bin/python3}
"$PY" -c 'import aiosmtpd, yaml' 2>/dev/null || fail "$PY lacks aiosmtpd or yaml (python3-aiosmtpd, python3-yaml)"

smtp_start plain
camp=$WORK/campaign.yaml
"$PY" "$SRC/tests/e2e/smtp_e2e.py" campaign "$camp" --src "$SRC" --work "$WORK" \
  --settings "{relays: [\"127.0.0.1:$PORT\"], starttls: off, pool_size: 4, messages_per_session: 40}"
expect_exit 0 "$HERALD" validate "$camp"
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$WORK/state" --json
planned=$("$PY" -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(sum(sh["channels"]["email"].get("pending", 0) for sh in s["shards"]))' "$WORK/out")
[ "$planned" -gt 1000 ] || fail "only $planned email deliveries planned"
expect_exit 0 "$HERALD" run "$camp" --state-dir "$WORK/state" --ignore-send-window
grep -q 'run complete' "$WORK/err" || fail "run did not complete: $(tail -3 "$WORK/err")"
grep -q 'SMTP via 127.0.0.1' "$WORK/err" || fail "no SMTP channel line in the log"
read -r sent failed left <<<"$(email_counts "$camp" "$WORK/state")"
[ "$sent" = "$planned" ] && [ "$failed" = 0 ] && [ "$left" = 0 ] ||
  fail "email: sent $sent failed $failed left $left of $planned"
[ "$(ls "$WORK/plain/maildir/new" | wc -l)" = "$planned" ] || fail "captured $(ls "$WORK/plain/maildir/new" | wc -l), planned $planned"
pass "sample campaign: $sent emails through SMTP, all accepted, none left"

"$PY" "$SRC/tests/e2e/smtp_e2e.py" check --state-dir "$WORK/state" --campaign "$camp" \
  --maildir "$WORK/plain/maildir" --log "$WORK/plain/log.jsonl" --src "$SRC" \
  --expect-sent "$planned" || fail "captured messages do not check out"
pass "every captured message parses, decodes, links verify, bytes match the record"

if [ -f "$SRC/tests/e2e/verify_outputs.py" ]; then
  url=$(sed -n 's/^  url: "\(.*\)"$/\1/p' "$camp")
  "$PY" "$SRC/tests/e2e/verify_outputs.py" --state-dir "$WORK/state" --exact \
    --channel "email:email:$WORK/plain/maildir" --channel "inapp:push:$WORK/inapp.jsonl" \
    --link-template "$url" || fail "verify_outputs.py found problems"
  pass "verify_outputs.py --exact agrees"
fi

# The server saw PIPELINING and sessions of up to 40 messages.
"$PY" - "$WORK/plain/log.jsonl" <<'PY' || fail "sessions do not look pooled"
import json, sys
from collections import Counter
per = Counter(e["session"] for e in map(json.loads, open(sys.argv[1])) if e["ev"] == "accepted")
assert max(per.values()) <= 40, max(per.values())
assert len(per) >= 4 and sum(per.values()) / len(per) > 5, (len(per), sum(per.values()))
print(f"{len(per)} sessions, {max(per.values())} messages at most, {sum(per.values()) / len(per):.1f} on average")
PY
pass "messages went out in pooled sessions of at most messages_per_session"

before=$(ls "$WORK/plain/maildir/new" | wc -l)
expect_exit 0 "$HERALD" run "$camp" --state-dir "$WORK/state" --ignore-send-window
[ "$(ls "$WORK/plain/maildir/new" | wc -l)" = "$before" ] || fail "a second run sent again"
pass "a second run sends nothing"

# Failover: a port nobody listens on first, then the real server.
smtp_start failover
dead=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
camp2=$WORK/failover.yaml
"$PY" "$SRC/tests/e2e/smtp_e2e.py" campaign "$camp2" --src "$SRC" --work "$WORK/failover" \
  --settings "{relays: [\"127.0.0.1:$dead\", \"127.0.0.1:$PORT\"], starttls: off, pool_size: 2}"
expect_exit 0 "$HERALD" plan "$camp2" --state-dir "$WORK/state2"
expect_exit 0 "$HERALD" run "$camp2" --state-dir "$WORK/state2" --ignore-send-window
grep -q "cannot connect to 127.0.0.1:$dead" "$WORK/err" || fail "no failover warning: $(grep -i smtp "$WORK/err" | head -3)"
read -r sent failed left <<<"$(email_counts "$camp2" "$WORK/state2")"
[ "$sent" = "$planned" ] && [ "$failed" = 0 ] && [ "$left" = 0 ] ||
  fail "failover: sent $sent failed $failed left $left of $planned"
"$PY" "$SRC/tests/e2e/smtp_e2e.py" check --state-dir "$WORK/state2" --campaign "$camp2" \
  --maildir "$WORK/failover/maildir" --log "$WORK/failover/log.jsonl" --expect-sent "$planned" ||
  fail "failover: captured messages do not check out"
pass "failover: the first relay refuses, the second takes every message"
