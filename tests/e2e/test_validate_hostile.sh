#!/usr/bin/env bash
# Campaign text that rendering would refuse, bytes a terminal would act on,
# and positions inside quoted and folded scalars (issue 10, findings 5 and
# 11), through the real binary.
#   - validate (and plan) refuse a subject with a CR, a TAB or an ESC, and a
#     vars value with a line break that a subject uses, each at file:line:col;
#   - a render failure at run time is logged and counted as failed;
#   - bad UTF-8 and control bytes are reported where they are, not at 1:1;
#   - template errors in quoted multi-line and folded scalars point at the
#     exact place;
#   - terminal escapes from YAML values and CSV headers are printed escaped;
#   - a "\0" escape is refused in values and keys, where it is.
source "$(dirname "$0")/lib.sh"

# fresh: a copy of the sample campaign in $WORK/c with its own locales, so
# each case edits its own files.
fresh() {
  rm -rf "$WORK/c" "$WORK/locales"
  mkdir -p "$WORK/c/ai-training-notice" "$WORK/locales"
  cp "$SRC/campaigns/ai-training-notice.yaml" "$WORK/c/c.yaml"
  cp "$SRC"/campaigns/ai-training-notice/{audience.csv,objections.txt} "$WORK/c/ai-training-notice/"
  cp -r "$SRC/locales/ai-training-notice" "$WORK/locales/"
}
C=$WORK/c/c.yaml
EN=$WORK/locales/ai-training-notice/en.yaml
ENP=$WORK/c/../locales/ai-training-notice/en.yaml # as messages name it
# at FILE NEEDLE: "line:col" of NEEDLE's first occurrence (ASCII lines).
# (awk -v would turn the backslashes of YAML escapes into control bytes)
at() { A=$2 LC_ALL=C awk 'index($0, ENVIRON["A"]) { print NR ":" index($0, ENVIRON["A"]); exit }' "$1"; }
# edit FILE PYTHON-REGEX REPLACEMENT: one substitution (multi-line), or fail.
edit() {
  python3 - "$@" <<'PY' || fail "edit $1: $2 not found"
import re, sys
path, pattern, repl = sys.argv[1:4]
text = open(path, encoding="utf-8", errors="surrogateescape").read()
new, n = re.subn(pattern, lambda m: repl, text, count=1, flags=re.M)
if n != 1:
    sys.exit(1)
open(path, "w", encoding="utf-8", errors="surrogateescape").write(new)
PY
}
# refused WHAT FILE:LINE:COL MESSAGE: validate exits 65 and says exactly that.
refused() {
  expect_exit 65 "$HERALD" validate "$C"
  grep -qF -- "$2: $3" "$WORK/err" || fail "$1: expected \"$2: $3\" in: $(cat "$WORK/err")"
  if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$WORK/err"; then
    fail "$1: a control byte was printed raw: $(cat -v "$WORK/err")"
  fi
  pass "$1"
}

# ---- finding 5: what render refuses, validate refuses ------------------------

fresh
edit "$EN" '^  subject: .*$' '  subject: "How {{company}} will\r use your information"'
refused "subject with a CR" "$ENP:$(at "$EN" 'will\r'| awk -F: '{ print $1 ":" $2 + 4 }')" \
  'email.subject has a line break here, which a mail header cannot hold'
expect_exit 65 "$HERALD" plan "$C" --state-dir "$WORK/state"
[ ! -e "$WORK/state" ] || fail "plan made a state dir for a campaign whose subject cannot be sent"
pass "plan refuses it too"

fresh
edit "$EN" '^  subject: .*$' $'  subject: "How {{company}}\twill use your information"'
refused "subject with a TAB" "$ENP:$(at "$EN" $'\twill')" \
  'email.subject has a control character here, which a mail header cannot hold'

fresh
edit "$EN" '^    subject: .*$' '    subject: "We\e[2J received your objection"'
refused "variant subject with an ESC" "$ENP:$(at "$EN" 'We\e' | awk -F: '{ print $1 ":" $2 + 2 }')" \
  'variant.email.subject has a control character here, which a mail header cannot hold'

fresh
edit "$C" '^  company: Lumen$' '  company: "Lumen\nPrivacy"'
refused "a vars value with a line break, used in subjects" \
  "$C:$(at "$C" 'Lumen\n' | awk -F: '{ print $1 ":" $2 + 5 }')" \
  'vars.company has a line break here, but it is used in email.subject ('
[ "$(grep -c 'vars.company' "$WORK/err")" = 1 ] || fail "vars.company reported more than once: $(cat "$WORK/err")"
pass "reported once, not once per locale"

# ---- finding 5: a render failure at run time is logged and counted -------------
# Validation now refuses everything rendering refuses, so the failure is made:
# plan accepts an internationalised address, then run sees libidn2 refuse it
# (a preloaded shim), as a changed libidn2 could.
shim=${HERALD_BUILD_DIR:?}/tests/idn2_fail_shim.so
[ -f "$shim" ] || fail "no $shim (built with the tests)"
cat >"$WORK/audience.csv" <<'CSV'
id,email,push_token,country,language,birth_date,time_zone,name
p1,p1@example.org,,DE,de,1980-01-01,Europe/Berlin,Person One
p2,p2@bücher.example,,DE,de,1980-01-01,Europe/Berlin,Person Two
CSV
: >"$WORK/objections.txt"
dispatch_campaign "$WORK/run.yaml" "$WORK/audience.csv" "$WORK/objections.txt" "$WORK/delivered"
expect_exit 0 "$HERALD" plan "$WORK/run.yaml" --state-dir "$WORK/rstate"
asan=$(ldd "$HERALD" | awk '/libasan/ { print $3 }')
HERALD_TEST_IDN2_FAIL=bücher LD_PRELOAD="${asan:+$asan:}$shim" \
  "$HERALD" run "$WORK/run.yaml" --state-dir "$WORK/rstate" --ignore-send-window \
  >"$WORK/run.out" 2>"$WORK/run.err" || true
grep -q 'render.failed on channel email: .*bad internationalised domain' "$WORK/run.err" ||
  fail "no log line for the render failure: $(cat "$WORK/run.err")"
failed=$(ops_q "$WORK/run.yaml" "$WORK/rstate" 'n(None, "email", "failed")')
sent=$(ops_q "$WORK/run.yaml" "$WORK/rstate" 'n(None, "email", "sent")')
[ "$failed" = 1 ] && [ "$sent" = 1 ] || fail "status: email failed=$failed sent=$sent, expected 1 and 1"
pass "a render failure at run time is logged and counted as failed"

# ---- finding 11: positions of bad bytes -----------------------------------------

fresh
edit "$C" '^id: .*$' $'id: ai-training-notice-2025\ndescription2: "x\x1b[31my"'
line=$(grep -n '^description2' "$C" | cut -d: -f1)
expect_exit 65 "$HERALD" validate "$C"
grep -qF "$C:$line:17: YAML syntax error: control characters are not allowed (byte 0x1b)" "$WORK/err" ||
  fail "raw ESC not located: $(cat -v "$WORK/err")"
pass "a raw control byte is reported at its line:col"

fresh
printf 'language: "en"\nemail:\n  subject: "caf\xe9"\n' >"$EN"
refused "bad UTF-8 in a locale" "$ENP:3:17" "YAML syntax error: invalid trailing UTF-8 octet (byte"

# ---- finding 11: template errors inside quoted multi-line and folded scalars ----

fresh
edit "$EN" '^  text: \|\n(    .*\n|\n)*' $'  text: "Dear caf\\u00e9 reader, \\t\n    see {{objection_url}} and {{ bogus }}"\n'
refused "template error in a multi-line double-quoted scalar" "$ENP:$(at "$EN" 'bogus')" \
  'unknown template variable "bogus"'
fresh
edit "$EN" '^  html: \|\n(    .*\n|\n)*' $'  html: >\n    <p>{{objection_url}}</p>\n\n    <p>\n    {{ company }} and {{ bogus2 }}</p>\n'
refused "template error in a folded scalar" "$ENP:$(at "$EN" 'bogus2')" \
  'unknown template variable "bogus2"'
fresh
edit "$EN" '^  subject: .*$' "  subject: 'It''s {{company}}''s {{ bad-name }}'"
refused "template error in a single-quoted scalar" "$ENP:$(at "$EN" 'bad-name' | awk -F: '{ print $1 ":" $2 + 3 }')" \
  'bad character in variable name'

# ---- finding 11: terminal escapes are printed escaped ---------------------------

fresh
edit "$C" '^id: .*$' 'id: "x\e]0;owned\ay\e[2J"'
refused "an ESC sequence in a YAML value" "$C:$(at "$C" 'id: "x' | awk -F: '{ print $1 ":" $2 + 4 }')" \
  'bad campaign id "x\x1b]0;owned\x07y\x1b[2J"'

fresh
csv=$WORK/c/ai-training-notice/audience.csv
{ printf 'i\033[31md,email,push_token,country,language,birth_date,time_zone,name\n'; tail -n +2 "$csv"; } >"$csv.new"
mv "$csv.new" "$csv"
expect_exit 65 "$HERALD" plan "$C" --state-dir "$WORK/hstate"
grep -qF 'i\x1b[31md' "$WORK/err" || fail "CSV header not escaped: $(cat -v "$WORK/err")"
LC_ALL=C grep -q $'\x1b' "$WORK/err" && fail "raw ESC from a CSV header printed: $(cat -v "$WORK/err")"
pass "an ESC sequence in a CSV header is printed escaped"

# ---- finding 11: "\0" keeps its place --------------------------------------------

fresh
edit "$C" '^id: .*$' 'id: "ai-training-notice-2025\0evil"'
refused "a NUL in a value" "$C:$(at "$C" '\0evil')" 'id must not hold a NUL character (\0)'
fresh
edit "$C" '^reference_date: .*$' '"reference_date\0x": 2025-06-26'
refused "a NUL in a key" "$C:$(at "$C" '\0x')" 'a key must not hold a NUL character (\0)'

# ---- duplicate wave names, now found by sorting (bench/validate.sh, waves) -----
fresh
edit "$C" '^  - name: ireland-uk$' '  - name: nordics'
line=$(grep -n '^  - name: nordics$' "$C" | tail -1 | cut -d: -f1)
refused "a duplicate wave name, at the later one" "$C:$line:11" 'duplicate wave name "nordics"'
