#!/usr/bin/env bash
# Issue 10 finding 1 through the real binary: a quoted CSV cell over 1 MiB
# holding line breaks must stay one invalid row. It used to be cut at the
# next line break, so a line hidden in one person's free-text cell became a
# row that claimed another person's id with an attacker's address, and that
# person's notice (with their personal objection link) went to the attacker.
source "$(dirname "$0")/lib.sh"

# input_campaign FILE AUDIENCE : a one-channel campaign writing mail files
# into $WORK/out-mail with the file module.
input_campaign() {
  cat >"$1" <<EOT
id: input-e2e
reference_date: 2025-06-26
vars:
  company: Lumen
audience:
  source: $2
  format: csv
  regions: [EU]
objection_link:
  url: "https://privacy.example/object?p={{person}}&t={{token}}"
  secret_env: HERALD_LINK_SECRET
locales:
  dir: $SRC/locales/ai-training-notice
  default: en
channels:
  email:
    type: email
    module: file
    from: "Privacy <privacy@example.org>"
    settings:
      maildir: $WORK/out-mail
EOT
}

python3 - "$WORK/a.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("id,email,country,language,name\n")
    # Alice's free-text name cell: 1.1 MiB, then a line that looks like Bob's row.
    f.write('alice,alice@example.org,DE,en,"' + "x" * (1024 * 1024 + 100000) +
            '\nbob,attacker@evil.example,DE,en,Mallory\nrest of the cell"\n')
    f.write("bob,bob@example.org,DE,en,Bob\n")
PY
input_campaign "$WORK/c.yaml" "$WORK/a.csv"

expect_exit 0 "$HERALD" plan "$WORK/c.yaml" --state-dir "$WORK/state" --json
python3 - "$WORK/out" <<'PY' || fail "the 2-row file was not read as 2 rows: $(cat "$WORK/out")"
import json, sys
s = json.load(open(sys.argv[1]))
r = s["report"]
assert r["rows"] == 2, r
assert r["eligible"] == 1 and s["exclusions"]["invalid_row"] == 1, (r, s["exclusions"])
assert any("longer than 1 MiB" in c["reason"] for c in r["invalid_rows"]), r["invalid_rows"]
PY
pass "a 1.1 MiB quoted cell with line breaks is one invalid row"

expect_exit 0 "$HERALD" run "$WORK/c.yaml" --state-dir "$WORK/state" --ignore-send-window
sent=$(grep -rl . "$WORK/out-mail" | wc -l)
[ "$sent" -eq 1 ] || fail "expected 1 message, found $sent"
! grep -rqi "evil.example" "$WORK/out-mail" || fail "a message went to the attacker's address"
grep -rq "bob@example.org" "$WORK/out-mail" || fail "bob's message is not addressed to bob"
pass "the attacker's address gets nothing; bob gets his own notice"

# Two valid rows with one id (whichever came first): neither is told, both
# are reported as duplicate_id with the other's line.
printf 'id,email,country,language,name\ncarol,mallory@evil.example,DE,en,Carol\ndave,dave@example.org,DE,en,Dave\ncarol,carol@example.org,DE,en,Carol\n' >"$WORK/d.csv"
input_campaign "$WORK/d.yaml" "$WORK/d.csv"
sed -i "s|maildir: $WORK/out-mail|maildir: $WORK/out-dup|" "$WORK/d.yaml"
forget_stores "$WORK" # the same campaign id planned into another store on purpose
expect_exit 0 "$HERALD" plan "$WORK/d.yaml" --state-dir "$WORK/state-d" --json
python3 - "$WORK/out" <<'PY' || fail "a duplicated id was not excluded on both rows: $(cat "$WORK/out")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["report"]["rows"] == 3 and s["report"]["eligible"] == 1, s["report"]
assert s["exclusions"]["duplicate_id"] == 2, s["exclusions"]
PY
expect_exit 0 "$HERALD" run "$WORK/d.yaml" --state-dir "$WORK/state-d" --ignore-send-window
[ "$(grep -rl . "$WORK/out-dup" | wc -l)" -eq 1 ] || fail "expected only dave's message"
! grep -rqi "carol\|evil.example" "$WORK/out-dup" || fail "a message went to a row of the duplicated id"
pass "an id on two rows: both are duplicate_id, neither gets the notice"
