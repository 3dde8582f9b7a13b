#!/usr/bin/env bash
# `herald run` exit codes tell how the run ended (docs/exit-codes.md, "Run
# outcomes"): 0 everything planned is final and nothing failed, 2 failed
# deliveries, 3 only paused (or held) work left, 4 a canary halt, 5 stopped by
# SIGTERM/SIGINT. With --log-format json every line the run writes to stderr
# is a JSON object, the summary included. (3 for held work:
# test_ops_inflight_hold.sh.)
source "$(dirname "$0")/lib.sh"
E2E_SEVERAL_STORES=1 # one campaign id, a store per scenario, on purpose (lib.sh)
export HERALD_OPERATOR=e2e-operator

ops_audience "$WORK/audience.csv" 100:DE:de:Europe/Berlin 100:FR:fr:Europe/Paris
# mk NAME SETTINGS_LINES TAIL_LINES [CHANNEL_LINES]: plans $WORK/NAME.yaml
# (file module, state $WORK/st-NAME).
mk() {
  local camp=$WORK/$1.yaml
  ops_campaign "$camp" "$WORK/audience.csv"
  cat >>"$camp" <<EOF
channels:
  email:
    type: email
    module: file
    from: "Lumen Privacy <privacy@lumen.example>"
    concurrency: 16
${4:-}
    settings:
      maildir: $WORK/maildir-$1
$2
$3
EOF
  expect_exit 0 "$HERALD" plan "$camp" --state-dir "$WORK/st-$1"
}
run() { expect_exit "$1" timeout 60 "$HERALD" run "$WORK/$2.yaml" --state-dir "$WORK/st-$2" "${@:3}"; }
# json_lines FILE: every line is a JSON object with a level and a message.
json_lines() {
  python3 - "$1" <<'PY' || fail "$1 is not JSON lines: $(head -c 2000 "$1")"
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
assert lines, "no log at all"
for i, line in enumerate(lines, 1):
    try:
        o = json.loads(line)
    except ValueError:
        sys.exit(f"line {i} is not JSON: {line[:300]!r}")
    if not isinstance(o, dict) or not {"level", "message"} <= o.keys():
        sys.exit(f"line {i} has no level or message: {line[:300]!r}")
PY
}
# summary FILE: the JSON summary line's outcome and exit_code
summary() {
  python3 -c '
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if "outcome" in json.loads(l)]
print(s[-1]["outcome"], s[-1]["exit_code"])' "$1"
}

mk ok "" ""
run 0 ok --log-format json
json_lines "$WORK/err"
[ "$(summary "$WORK/err")" = "complete 0" ] || fail "summary: $(tail -1 "$WORK/err")"
grep -q '"message":"run complete: 200 sent, 0 failed' "$WORK/err" || fail "summary: $(tail -1 "$WORK/err")"
run 0 ok
grep -q '^herald: run complete: 0 sent, 0 failed' "$WORK/err" || fail "re-run: $(tail -1 "$WORK/err")"
pass "everything sent: exit 0, JSON on every line of the log"

mk failures "      fail_every: 2" "retry:
  max_attempts: 1"
run 2 failures --log-format json
json_lines "$WORK/err"
[ "$(summary "$WORK/err")" = "failures 2" ] || fail "summary: $(tail -1 "$WORK/err")"
grep -q 'run complete: 100 sent, 100 failed' "$WORK/err" || fail "summary: $(tail -1 "$WORK/err")"
# The code tells the campaign's state: a re-run that sends nothing still has
# 100 failed deliveries to account for.
run 2 failures
grep -q '^herald: run complete: 0 sent, 0 failed' "$WORK/err" || fail "re-run: $(tail -1 "$WORK/err")"
grep -q '100 failed deliveries' "$WORK/err" || fail "re-run does not name the failures: $(tail -1 "$WORK/err")"
pass "failed deliveries: exit 2, also on a re-run"

mk paused "" ""
expect_exit 0 "$HERALD" pause "$WORK/paused.yaml" --state-dir "$WORK/st-paused" --country FR --reason test
run 3 paused --log-format json
json_lines "$WORK/err"
[ "$(summary "$WORK/err")" = "paused 3" ] || fail "summary: $(tail -1 "$WORK/err")"
grep -q 'only paused or halted work remains' "$WORK/err" || fail "no word on paused work: $(cat "$WORK/err")"
grep -q 'run stopped: 100 sent, 0 failed' "$WORK/err" || fail "summary: $(tail -1 "$WORK/err")"
expect_exit 0 "$HERALD" unpause "$WORK/paused.yaml" --state-dir "$WORK/st-paused" --country FR --reason test
run 0 paused
grep -q 'run complete: 100 sent, 0 failed' "$WORK/err" || fail "after unpause: $(tail -1 "$WORK/err")"
pass "only paused work left: exit 3; after unpause the run completes with 0"

mk canary "      fail_every: 2" "waves:
  - name: first
    countries: [DE]
  - name: second
    countries: [FR]
retry:
  max_attempts: 1
canary:
  failure_rate: 0.2
  window: 20"
run 4 canary --log-format json
json_lines "$WORK/err"
[ "$(summary "$WORK/err")" = "canary_halt 4" ] || fail "summary: $(tail -1 "$WORK/err")"
grep -q 'wave \\"first\\" halted: canary' "$WORK/err" || fail "no halt logged: $(cat "$WORK/err")"
run 4 canary
pass "a canary halt: exit 4, also on a re-run while the halt holds"

mk slow "" "" "    rate: 20/s"
for sig in TERM INT; do
  ops_bg "$WORK/slow-$sig.log" "$HERALD" run "$WORK/slow.yaml" --state-dir "$WORK/st-slow" --log-format json
  pid=$!
  ops_wait 30 '[ "$(ops_q "$WORK/slow.yaml" "$WORK/st-slow" "n(None,\"email\",\"sent\")")" -ge 5 ]'
  kill -"$sig" "$pid"
  got=0
  wait "$pid" || got=$?
  [ "$got" -eq 5 ] || fail "SIG$sig: exit $got: $(tail -3 "$WORK/slow-$sig.log")"
  json_lines "$WORK/slow-$sig.log"
  [ "$(summary "$WORK/slow-$sig.log")" = "stopped 5" ] || fail "summary: $(tail -1 "$WORK/slow-$sig.log")"
done
pass "stopped by SIGTERM or SIGINT: exit 5, JSON on every line"
