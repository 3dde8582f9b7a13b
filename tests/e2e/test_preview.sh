#!/usr/bin/env bash
# herald preview renders with the renderer of herald run: for a person whose
# data are the preview's sample person, the bytes a real run hands the file
# module (the Maildir message, the outbox line) are the bytes preview prints
# and writes, byte for byte, once the date is the same. Also: the readable
# view, a locale's own vars, the language fallback warning, and bad options.
source "$(dirname "$0")/lib.sh"

# The sample person of herald preview, as a real row, and one other person.
cat >"$WORK/a.csv" <<'EOF'
id,email,push_token,country,language,birth_date,name
preview-person,preview@example.invalid,preview-device-token,FR,fr,1980-01-01,Alex Example
p2,p2@example.org,tok-2,DE,de,1980-01-01,Berta
EOF
camp=$WORK/c.yaml
ops_campaign "$camp" "$WORK/a.csv" preview-e2e
cat >>"$camp" <<EOF
channels:
  email:
    type: email
    module: file
    from: "Lumen Privacy <privacy@lumen.example>"
    settings:
      maildir: $WORK/maildir
  inapp:
    type: push
    module: file
    settings:
      outbox: $WORK/inapp.jsonl
proofs:
  enabled: false
  reason: "a test of rendering only"
EOF
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$WORK/st"
expect_exit 0 "$HERALD" run "$camp" --state-dir "$WORK/st" --ignore-send-window
sent=$(grep -rl "preview@example.invalid" "$WORK/maildir" | head -1)
[ -n "$sent" ] || fail "the run sent no email to the sample person"
date_s=$(python3 - "$sent" <<'PY'
import email.utils, sys
for line in open(sys.argv[1], "rb").read().decode().split("\r\n"):
    if line.startswith("Date: "):
        print(int(email.utils.parsedate_to_datetime(line[6:]).timestamp()))
        break
PY
)
[ -n "$date_s" ] || fail "no Date header in $sent"

expect_exit 0 "$HERALD" preview "$camp" --lang fr --country FR --date "$date_s" --out "$WORK/pv"
cmp "$WORK/pv/email.eml" "$sent" || fail "preview's email differs from the one the run sent"
# The outbox line holds the notice as its "payload" object; preview wrote the
# exact bytes, which are canonical JSON (herald/render.h).
grep -F '"token":"preview-device-token"' "$WORK/inapp.jsonl" | python3 -c '
import json, sys
line = json.loads(sys.stdin.readline())
sys.stdout.write(json.dumps(line["payload"], ensure_ascii=False, sort_keys=True, separators=(",", ":")))' \
  >"$WORK/sent.json"
cmp -s "$WORK/pv/inapp.json" "$WORK/sent.json" ||
  fail "preview's push notice differs from the sent one: $(cat "$WORK/pv/inapp.json") vs $(cat "$WORK/sent.json")"
sha=$(sha256sum "$sent" | cut -c1-64)
grep -q "^==> channel email (email), locale fr, $(stat -c %s "$sent") bytes, sha256 $sha\$" "$WORK/out" ||
  fail "the header line does not give the sent message's size and SHA-256: $(head -1 "$WORK/out")"
pass "preview = the run's bytes: email byte for byte (sha256 $sha), push notice field for field"

# The readable view: recipient, subject and text, the HTML part beside.
grep -q "^Subject: Comment Lumen utilisera vos informations pour l'IA$" "$WORK/out" ||
  fail "readable view lacks the decoded subject: $(head -5 "$WORK/out")"
grep -q "^Bonjour,$" "$WORK/out" || fail "readable view lacks the text part"
grep -q "Vous pouvez vous y opposer" "$WORK/pv/email.html" && fail "the HTML file holds the push text"
grep -q "<p>Bonjour,</p>" "$WORK/pv/email.html" || fail "no HTML part in $WORK/pv/email.html"
expect_exit 0 "$HERALD" preview "$camp" --lang fr --country FR --date "$date_s" --raw --channel email
tail -n +2 "$WORK/out" | head -c "$(stat -c %s "$sent")" | cmp -s - "$sent" ||
  fail "--raw does not print the exact message"
pass "readable view: decoded subject and text, HTML part in a file; --raw prints the exact bytes"

# A locale's own vars, and the language fallback warning.
mkdir -p "$WORK/loc"
cp "$SRC"/locales/ai-training-notice/*.yaml "$WORK/loc/"
sed -i 's|^language: "fr"$|language: "fr"\nvars:\n  company: Lumen France|' "$WORK/loc/fr.yaml"
grep -q "Lumen France" "$WORK/loc/fr.yaml" || fail "could not add vars to fr.yaml"
sed "s|  dir: $SRC/locales/ai-training-notice|  dir: $WORK/loc|" "$camp" >"$WORK/c2.yaml"
expect_exit 0 "$HERALD" preview "$WORK/c2.yaml" --lang fr --channel email
grep -q "^Subject: Comment Lumen France utilisera" "$WORK/out" || fail "fr's own company: $(sed -n 3p "$WORK/out")"
expect_exit 0 "$HERALD" preview "$WORK/c2.yaml" --lang de --channel email
grep -q "^Subject: .*Lumen " "$WORK/out" && grep -q "Lumen France" "$WORK/out" &&
  fail "de got fr's value of company"
expect_exit 0 "$HERALD" preview "$camp" --lang qaa --country DE --channel inapp
grep -q "no qaa locale: a person asking for qaa in DE gets de" "$WORK/err" ||
  fail "no fallback warning: $(cat "$WORK/err")"
# As the plan reads an audience: nb (a macrolanguage member) reaches the
# campaign's no locale, also for a person living in Sweden.
expect_exit 0 "$HERALD" preview "$camp" --lang nb --country SE --channel inapp
grep -q '^==> channel inapp (push), locale no,' "$WORK/out" || fail "nb in SE: $(head -1 "$WORK/out")"
pass "a locale's own vars reach its language only; a fallback is said; nb reaches no as in the plan"

expect_exit 64 "$HERALD" preview "$camp"
expect_exit 64 "$HERALD" preview "$camp" --lang fr --channel nosuch
expect_exit 64 "$HERALD" preview "$camp" --lang fr --date yesterday
pass "bad options: exit 64"
