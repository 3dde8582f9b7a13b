#!/usr/bin/env bash
# send_window in the person's local time: a window that opens at the next
# UTC minute defers everyone, releases the people in UTC when it opens, and
# keeps the people in Asia/Tokyo (9 h ahead, outside it) deferred to their
# own opening; the dispatcher waits for them until SIGTERM. `herald status`
# counts the deferred ones apart ("deferred", part of "pending") throughout.
source "$(dirname "$0")/lib.sh"

# At least 20 s before the window opens, so the deferral is seen first.
[ "$(date -u +%-S)" -lt 40 ] || sleep $((61 - $(date -u +%-S)))
open=$(( ($(date +%s) / 60 + 1) * 60 ))
start=$(date -u -d "@$open" +%H:%M)
end=$(date -u -d "@$((open + 180))" +%H:%M)
# Tokyo's next opening: its local start time, in UTC.
tokyo=$((open - 9 * 3600))
[ "$tokyo" -gt "$(date +%s)" ] || tokyo=$((tokyo + 86400))
echo "window $start-$end; opens at $open (UTC), in Tokyo at $tokyo"

ops_audience "$WORK/audience.csv" 30:IE:en:UTC 20:FR:fr:Asia/Tokyo
camp=$WORK/campaign.yaml
state=$WORK/state
ops_campaign "$camp" "$WORK/audience.csv"
cat >>"$camp" <<EOF
channels:
  email:
    type: email
    module: file
    from: "Lumen Privacy <privacy@lumen.example>"
    concurrency: 8
    settings:
      maildir: $WORK/maildir
send_window:
  start: "$start"
  end: "$end"
EOF
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$state"

q() { ops_q "$camp" "$state" "$1"; }
# The due queue as "due_ms count" lines (key: i64 due ms . delivery key).
due() {
  mdb_dump -s due "$state" | awk '/^HEADER=END/ {on = 1; next} on && /^ / {if (++i % 2) print substr($1, 1, 16)}' |
    while read -r hex; do echo $((16#$hex)); done | sort | uniq -c | awk '{print $2, $1}'
}

ops_bg "$WORK/run.log" "$HERALD" run "$camp" --state-dir "$state"
run=$!
ops_wait 15 '[ "$(due | awk "{n += \$2} END {print n + 0}")" -eq 50 ]'
[ "$(date +%s)" -lt "$open" ] || fail "the window opened before the check (slow machine?)"
[ "$(q 'n(None,"email","sent"), n(None,"email","pending")')" = "(0, 50)" ] ||
  fail "before the window: $(q 's["channels"]["email"]')"
[ "$(due)" = "$((open * 1000)) 30
$((tokyo * 1000)) 20" ] || fail "due queue: $(due)"
[ "$(ls "$WORK/maildir/new" | wc -l)" -eq 0 ] || fail "messages left before the window opened"
pass "before $start UTC nothing leaves: 30 deferred to $start UTC, 20 to Tokyo's $start"

# status: the deferred ones per shard, wave and channel; still pending too.
[ "$(q 'n("IE","email","deferred"), n("FR","email","deferred"), s["waves"][0]["channels"]["email"]["deferred"]')" = "(30, 20, 50)" ] ||
  fail "deferred per shard and wave: $(q 's["waves"]')"
[ "$(q '[s["channels"]["email"][k] for k in ("pending", "deferred", "total")]')" = "[50, 50, 50]" ] ||
  fail "deferred of the channel: $(q 's["channels"]["email"]')"
"$HERALD" status "$camp" --state-dir "$state" --shards >"$WORK/status.txt"
grep -Eq '^ALL +email +50 \(50 deferred\) +0 +0 ' "$WORK/status.txt" &&
  grep -Eq ' IE .* email +30 \(30 deferred\) +0 ' "$WORK/status.txt" ||
  fail "status text: $(cat "$WORK/status.txt")"
pass "status: pending 50 of which deferred 50 (IE 30, FR 20), in JSON and text"

# The minute turns: the UTC people go, soon after.
ops_wait $((open - $(date +%s) + 30)) '[ "$(q "n(\"IE\",\"email\",\"sent\")")" -eq 30 ]'
now=$(date +%s)
[ "$now" -ge "$open" ] || fail "sent before the window opened"
sleep 1
kill -0 "$run" 2>/dev/null || fail "the run exited while Tokyo's deferrals were due later: $(cat "$WORK/run.log")"
[ "$(q 'n("FR","email","sent"), n("FR","email","pending")')" = "(0, 20)" ] ||
  fail "Tokyo people: $(q '[sh for sh in s["shards"] if sh["country"] == "FR"]')"
[ "$(due)" = "$((tokyo * 1000)) 20" ] || fail "due queue after the opening: $(due)"
[ "$(ls "$WORK/maildir/new" | wc -l)" -eq 30 ] || fail "maildir does not hold the 30 UTC messages"
[ "$(q 'n("IE","email","deferred"), n("IE","email","pending"), n("FR","email","deferred"), s["channels"]["email"]["deferred"], s["channels"]["email"]["pending"]')" = "(0, 0, 20, 20, 20)" ] ||
  fail "deferred after the opening: $(q 's["channels"]["email"]')"
pass "at $start UTC the 30 UTC people were sent (deferred 0); Tokyo's 20 stay deferred (20)"

kill -TERM "$run"
got=0
timeout 30 tail --pid="$run" -f /dev/null || fail "SIGTERM did not stop the waiting run"
wait "$run" || got=$?
[ "$got" -eq 5 ] || fail "run exit $got, expected 5 (stopped by a signal): $(cat "$WORK/run.log")"
grep -q 'run stopped: 30 sent, 0 failed, 0 retries scheduled, 50 deferred by send windows' "$WORK/run.log" ||
  fail "run summary: $(tail -2 "$WORK/run.log")"
[ "$(q 'n(None,"email","sent"), n("FR","email","pending"), n(None,"email","deferred")')" = "(30, 20, 20)" ] ||
  fail "after the stop: $(q 's["channels"]["email"]')"
pass "the waiting run stops on SIGTERM: 30 sent, 50 deferred, Tokyo's still pending"
