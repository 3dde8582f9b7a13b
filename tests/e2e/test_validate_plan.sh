#!/usr/bin/env bash
# validate + plan + link on the sample campaign, through the real binary.
source "$(dirname "$0")/lib.sh"
campaign=$SRC/campaigns/ai-training-notice.yaml

expect_exit 0 "$HERALD" validate "$campaign"
grep -q 'is valid' "$WORK/out" || fail "validate did not say valid"
pass "sample campaign validates"

# plan records where it made the store beside the campaign file
# (docs/state-store.md): plan a copy, never the file in the source tree.
mkdir -p "$WORK/s"
cp "$campaign" "$WORK/s/"
ln -s "$SRC/campaigns/ai-training-notice" "$WORK/s/ai-training-notice"
ln -s "$SRC/locales" "$WORK/locales"
sample=$WORK/s/ai-training-notice.yaml

expect_exit 0 "$HERALD" plan "$sample" --state-dir "$WORK/state" --json
python3 - "$WORK/out" <<'PY' || fail "plan summary does not add up"
import json, sys
s = json.load(open(sys.argv[1]))
rows = s["report"]["rows"]
eligible = sum(sh["eligible"] + sh["variant"] for sh in s["shards"])
excluded = sum(s["exclusions"].values())
assert rows > 0 and rows == eligible + excluded, (rows, eligible, excluded)
for reason in ("out_of_region", "minor", "invalid_row"):
    assert s["exclusions"][reason] > 0, reason
langs = {sh["language"] for sh in s["shards"]}
assert len(langs) >= 20, langs
print("rows", rows, "eligible", eligible, "excluded", excluded, "languages", len(langs))
PY
[ "$(stat -c %a "$WORK/state")" = 700 ] || fail "state dir is not 0700"
pass "plan adds up: rows = eligible + excluded"

before=$(cd "$WORK/state" && sha256sum data.mdb)
expect_exit 0 "$HERALD" plan "$sample" --state-dir "$WORK/state"
grep -q 'up to date' "$WORK/err" || fail "second plan did not report up to date"
[ "$before" = "$(cd "$WORK/state" && sha256sum data.mdb)" ] || fail "second plan changed the store"
pass "re-running plan on the same inputs changes nothing"

# A changed audience is refused, then accepted with --replan.
mkdir -p "$WORK/c/ai-training-notice"
cp "$campaign" "$WORK/c/"
cp "$SRC"/campaigns/ai-training-notice/{audience.csv,objections.txt} "$WORK/c/ai-training-notice/"
head -n 50 "$SRC/campaigns/ai-training-notice/audience.csv" >"$WORK/c/ai-training-notice/audience.csv"
expect_exit 65 "$HERALD" plan "$WORK/c/ai-training-notice.yaml" --state-dir "$WORK/state"
grep -q 'the audience file' "$WORK/err" || fail "change not named: $(cat "$WORK/err")"
expect_exit 0 "$HERALD" plan "$WORK/c/ai-training-notice.yaml" --state-dir "$WORK/state" --replan
grep -q '^rows 49 = ' "$WORK/out" || fail "replan did not plan 49 rows: $(tail -1 "$WORK/out")"
pass "changed audience refused, --replan rebuilds"

# Objection links: made, verified, tampered.
url=$("$HERALD" link make --campaign "$campaign" --person "u-42/ü")
expect_exit 0 "$HERALD" link verify --campaign "$campaign" "$url"
grep -qx 'valid u-42/ü' "$WORK/out" || fail "verify output: $(cat "$WORK/out")"
expect_exit 1 "$HERALD" link verify --campaign "$campaign" "${url/p=u-42/p=u-43}"
grep -qx invalid "$WORK/out" || fail "tampered link not invalid"
expect_exit 0 env HERALD_CAMPAIGN="$campaign" "$HERALD" link verify "$url"
pass "objection links verify, tampered ones do not"

# A broken campaign: every error reported with file:line:col, exit 65.
sed -e 's/^reference_date: .*/reference_date: 2025-02-30/' -e 's/^  minimum_age: 18/  minimum_aeg: 18/' \
  "$campaign" >"$WORK/c/bad.yaml"
expect_exit 65 "$HERALD" validate "$WORK/c/bad.yaml"
grep -q "bad.yaml:[0-9]*:17: bad date \"2025-02-30\"" "$WORK/err" || fail "no located date error: $(cat "$WORK/err")"
grep -q 'unknown key "minimum_aeg" in audience (did you mean "minimum_age"?)' "$WORK/err" || fail "no did-you-mean"
pass "broken campaign: located errors, exit 65"

# Channel settings are checked by their modules, every channel in one run,
# before anything is planned: an SMTP relay port out of range and a typo in
# the file module's settings, each with file:line:col.
sed -e '/^  email:/,/^  inapp:/{s/module: file/module: smtp/;s|maildir: ../demo-out/maildir|relays: [smtp.example.com:70000]|}' \
  -e 's|^      outbox: |      outbx: |' "$campaign" >"$WORK/c/bad-smtp.yaml"
loc() { awk -v a="$1" 'index($0, a) { print NR ":" index($0, a); exit }' "$WORK/c/bad-smtp.yaml"; }
relay=$(loc smtp.example.com:70000)
outbx=$(loc outbx:)
[ -n "$relay" ] && [ -n "$outbx" ] || fail "bad-smtp.yaml was not made: $(grep -n 'relays\|outbx' "$WORK/c/bad-smtp.yaml")"
for cmd in validate "plan --state-dir $WORK/bad-state"; do
  # shellcheck disable=SC2086 # cmd is the command and its options
  expect_exit 65 "$HERALD" $cmd "$WORK/c/bad-smtp.yaml"
  grep -qF "$WORK/c/bad-smtp.yaml:$relay: a relay must be \"host:port\" (a host name or IPv4 address, port 1-65535), not \"smtp.example.com:70000\"" "$WORK/err" ||
    fail "$cmd: no located relay error: $(cat "$WORK/err")"
  grep -qF "$WORK/c/bad-smtp.yaml:$outbx: unknown setting \"outbx\" for channel \"inapp\" (module file; did you mean \"outbox\"?)" "$WORK/err" ||
    fail "$cmd: no located outbox error: $(cat "$WORK/err")"
done
[ ! -e "$WORK/bad-state" ] || fail "plan wrote a state dir for a campaign with bad channel settings"
[ ! -e "$WORK/demo-out" ] || fail "checking the file module's settings created its output"
pass "bad channel settings: every channel's error located, exit 65 from validate and plan"

expect_exit 64 "$HERALD" plan
expect_exit 66 "$HERALD" validate "$WORK/nope.yaml"
pass "usage and missing-file exit codes"
