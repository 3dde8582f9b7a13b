#!/usr/bin/env bash
# http-push settings: a body_template filled with JSON-escaped values (every
# value comes back exactly: the notice rebuilt from the request hashes to the
# rendered bytes), PUT with a custom Content-Type; and bad settings refused
# by `herald validate` and `herald plan` (the module's check) with
# file:line:col, a missing secret by `herald run`, with the right exit code.
source "$(dirname "$0")/lib.sh"
E2E_SEVERAL_STORES=1 # one campaign id, a store per scenario, on purpose (lib.sh)

link_url=$(sed -n 's/^  url: "\(.*\)"$/\1/p' "$SRC/campaigns/ai-training-notice.yaml")
head -n 401 "$SRC/campaigns/ai-training-notice/audience.csv" >"$WORK/small.csv"

# ---- 1. body_template, method, headers --------------------------------------------------------
push_server_start "$WORK/s1"
camp=$WORK/campaign.yaml
python3 "$SRC/tests/e2e/push_campaign.py" "$SRC" "$camp" --maildir "$WORK/maildir" \
  --audience "$WORK/small.csv" --settings "url: http://127.0.0.1:$PORT/v1/notices
method: PUT
headers:
  Content-Type: application/vnd.lumen.notice+json
body_template: >-
  {\"person_id\": \"{{person_id}}\", \"token\": \"{{ token }}\", \"lang\": \"{{language}}\",
   \"notification\": {\"title\": \"{{title}}\", \"body\": \"{{body}}\", \"url\": \"{{objection_url}}\"},
   \"data\": {\"campaign\": \"{{campaign_id}}\", \"ref\": \"{{message_id}}\"}}"
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$WORK/st1"
expect_exit 0 timeout 60 "$HERALD" run "$camp" --state-dir "$WORK/st1" --ignore-send-window
grep -q "run complete: .* 0 failed" "$WORK/err" || fail "run: $(tail -3 "$WORK/err")"
python3 "$SRC/tests/e2e/push_check.py" run --state-dir "$WORK/st1" --log "$WORK/s1/requests.jsonl" \
  --template || fail "push_check (template)"
python3 - "$WORK/st1" "$WORK/s1/requests.jsonl" "$SRC/tests/e2e" "$link_url" <<'PY' || fail "template values"
import hashlib, json, os, sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[3])
import push_check, verify_outputs as vo
campaign, by = push_check.deliveries(sys.argv[1], "inapp")
ds = {k: d for x in by.values() for k, d in x.items()}
links = vo.Links(sys.argv[4], campaign, os.environb[b"HERALD_LINK_SECRET"])
n = 0
for line in open(sys.argv[2]):
    r = json.loads(line)
    b, key = r["body"], r["idempotency_key"]
    assert r["method"] == "PUT" and r["content_type"] == "application/vnd.lumen.notice+json", r
    assert b["data"]["ref"] == key, (b["data"], key)
    d = ds[key]
    # the notice as herald rendered it, rebuilt from the template's fields
    notice = {"body": b["notification"]["body"], "campaign_id": b["data"]["campaign"],
              "language": b["lang"], "objection_url": b["notification"]["url"],
              "person_id": b["person_id"], "title": b["notification"]["title"],
              "token": b["token"]}
    canon = json.dumps(notice, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canon.encode()).hexdigest() == d["sha256"], f"{key}: values changed"
    problems = []
    links.check(links.find(notice["objection_url"]), d["person"], key, problems)
    assert not problems, problems
    n += 1
print(f"{n} templated requests: every value JSON-escaped and intact, links valid")
PY
pass "body_template, PUT and a custom Content-Type"

# ---- 2. bad settings ---------------------------------------------------------------------------
export PUSH_TOKEN=settings-test-token
# bad CODE ANCHOR MESSAGE SETTINGS [SKIP]: validate and plan (a bad
# setting) or run (a missing secret, 78: validate and plan only warn) must
# exit CODE with "FILE:LINE:COL: MESSAGE", LINE:COL where ANCHOR (the first
# line of the campaign that has it) starts, plus SKIP columns.
i=0
bad() {
  local code=$1 anchor=$2 msg=$3 settings=$4 skip=${5:-0} c loc cmd
  i=$((i + 1))
  c=$WORK/bad$i.yaml
  python3 "$SRC/tests/e2e/push_campaign.py" "$SRC" "$c" --maildir "$WORK/maildir" \
    --audience "$WORK/small.csv" --settings "$settings"
  loc=$(awk -v a="$anchor" -v k="$skip" 'index($0, a) { print NR ":" index($0, a) + k; exit }' "$c")
  [ -n "$loc" ] || fail "bad settings $i: anchor $anchor not in $c"
  if [ "$code" -eq 78 ]; then
    expect_exit 0 "$HERALD" validate "$c"
    grep -qF "$c:$loc: warning: " "$WORK/err" || fail "bad settings $i: no warning at $loc: $(cat "$WORK/err")"
    expect_exit 0 "$HERALD" plan "$c" --state-dir "$WORK/bst$i"
    expect_exit "$code" "$HERALD" run "$c" --state-dir "$WORK/bst$i" --ignore-send-window
    grep -qF "$c:$loc: $msg" "$WORK/err" || fail "bad settings $i: want \"$c:$loc: $msg\", got: $(cat "$WORK/err")"
    return
  fi
  for cmd in validate "plan --state-dir $WORK/bst$i"; do
    # shellcheck disable=SC2086 # cmd is the command and its options
    expect_exit "$code" "$HERALD" $cmd "$c"
    grep -qF "$c:$loc: $msg" "$WORK/err" || fail "bad settings $i ($cmd): want \"$c:$loc: $msg\", got: $(cat "$WORK/err")"
  done
  [ ! -e "$WORK/bst$i" ] || fail "bad settings $i: plan wrote a state dir"
}
bad 65 max_in_fligth 'unknown setting "max_in_fligth" for channel "inapp" (module http-push; did you mean "max_in_flight"?)' \
  "url: http://127.0.0.1:1/x
max_in_fligth: 8"
bad 65 ftp: 'setting "url" must be an http:// or https:// URL' "url: ftp://127.0.0.1/x"
bad 65 'http_version: 2' 'http_version 2 over cleartext http:// needs libcurl 8.0 or later' \
  "http_version: 2
url: http://127.0.0.1:1/x" 14
bad 65 'http_version: "3"' 'setting "http_version" must be 1.1 or 2, not "3"' "url: https://127.0.0.1:1/x
http_version: \"3\"" 14
bad 65 '{{titel}}' 'body_template: unknown variable "titel"' "url: http://127.0.0.1:1/x
body_template: '{\"t\": \"{{titel}}\"}'"
bad 65 'body_template:' 'body_template is not valid JSON once filled in' "url: http://127.0.0.1:1/x
body_template: '{\"t\": {{title}}}'" 15
bad 78 NO_SUCH_TOKEN 'auth.bearer_env: environment variable NO_SUCH_TOKEN is not set' \
  "url: http://127.0.0.1:1/x
auth:
  bearer_env: NO_SUCH_TOKEN
  allow_insecure: true"
# credentials over plain http:// only with an explicit setting (issue 10, finding 6)
bad 65 'bearer_env: PUSH_TOKEN' 'auth: credentials would be sent in clear text to an http:// url' \
  "url: http://127.0.0.1:1/x
auth:
  bearer_env: PUSH_TOKEN"
bad 65 'header: X-Api-Key' 'auth: credentials would be sent in clear text to an http:// url' \
  "url: http://127.0.0.1:1/x
auth:
  header: X-Api-Key
  value_env: PUSH_TOKEN"
bad 65 'allow_insecure: yes please' 'setting "auth.allow_insecure" must be true or false' \
  "url: http://127.0.0.1:1/x
auth:
  bearer_env: PUSH_TOKEN
  allow_insecure: yes please" 16
bad 65 'Authorization:' 'header "Authorization" is set by herald from the environment' \
  "url: http://127.0.0.1:1/x
headers:
  Authorization: Bearer abc"
bad 65 'url: http://127.0.0.1:1/b' 'batch needs max_items: N' "url: http://127.0.0.1:1/x
batch:
  url: http://127.0.0.1:1/b"
bad 65 'max_itmes' 'unknown setting "max_itmes" in batch (did you mean "max_items"?)' \
  "url: http://127.0.0.1:1/x
batch:
  max_itmes: 10"
bad 65 'timeout: 5x' 'setting "timeout" must be a duration' "url: http://127.0.0.1:1/x
timeout: 5x" 9
bad 65 'max_in_flight: 0' 'setting "max_in_flight" must be at least 1' "url: http://127.0.0.1:1/x
max_in_flight: 0" 15
# a missing url: located at the settings mapping
bad 65 'max_in_flight: 4' 'missing required setting "url" for channel "inapp"' "max_in_flight: 4"
pass "bad settings: $i refused with file:line:col (65 by validate and plan for data, 78 by run for a missing secret)"
