#!/usr/bin/env bash
# Forgiving input, strict output (issue 15 item 5), through the real binary:
# a ';'-separated audience holding every case the issue lists plans every
# person ELIGIBLE with the right language, zone and address, and `herald
# plan` (table and --json) counts each normalisation by kind.
source "$(dirname "$0")/lib.sh"

# ---- the audience: one row per case ----
# A spreadsheet's export: ';' between fields, a padded email, country and
# date, an unknown language, nb/nn for Norwegian, a zone in the wrong case
# and one that does not exist, a lower-case country, a language in capitals;
# " f8" and "f8" are one id once trimmed (both duplicate_id, neither told).
printf '%s\n' \
  'id;email;country;language;birth_date;time_zone;name' \
  ' f1 ; jan@Example.DE ; DE;de; 1990-01-01;;Jan' \
  'f2;f2@example.de;DE;xx;1980-01-01;;' \
  'f3;f3@example.se;SE;nb;1980-01-01;;' \
  'f4;f4@example.no;NO;nn;1980-01-01;;' \
  'f5;f5@example.de;DE;de;1980-01-01;europe/berlin;' \
  'f6;f6@example.de;DE;de;1980-01-01;Mars/Olympus_Mons;' \
  'f7;Kim@Example.FR;fr;FR;1980-01-01;;' \
  'f8;a@example.de;DE;de;1980-01-01;;' \
  ' f8;b@example.de;DE;de;1980-01-01;;' >"$WORK/audience.csv"

mk_campaign() { # FILE AUDIENCE [extra audience: lines]
  ops_campaign "$1" "$2" forgiving-e2e
  if [ -n "${3:-}" ]; then
    awk -v extra="$3" '{ print } /^  minimum_age: 18$/ { print extra }' "$1" >"$1.tmp" && mv "$1.tmp" "$1"
  fi
  cat >>"$1" <<EOT
channels:
  email:
    type: email
    module: file
    from: "Privacy <privacy@example.org>"
    settings:
      maildir: $WORK/out-mail
EOT
}
mk_campaign "$WORK/c.yaml" "$WORK/audience.csv"

expect_exit 0 "$HERALD" plan "$WORK/c.yaml" --state-dir "$WORK/state" --json
cp "$WORK/out" "$WORK/plan.json"
python3 - "$WORK/plan.json" <<'PY' || fail "plan --json: $(cat "$WORK/plan.json")"
import json, sys
s = json.load(open(sys.argv[1]))
r = s["report"]
assert r["rows"] == 9 and r["eligible"] == 7, (r["rows"], r["eligible"])
assert s["exclusions"]["invalid_row"] == 0, s["exclusions"]
assert s["exclusions"]["duplicate_id"] == 2, s["exclusions"]
got = {(sh["country"], sh["language"]): sh["eligible"] for sh in s["shards"]}
# f1 f2 f5 f6 -> DE de; f3 (nb, in Sweden) -> SE no; f4 -> NO no; f7 -> FR fr
assert got == {("DE", "de"): 4, ("SE", "no"): 1, ("NO", "no"): 1, ("FR", "fr"): 1}, got
n = r["normalised"]
want = {"trimmed": 2, "case_folded": 2, "language_canonicalised": 1,
        "macrolanguage_mapped": 2, "unknown_language_fell_back": 1,
        "time_zone_case_matched": 1, "optional_field_fell_back": 1,
        "delimiter_detected": 1}
assert n == want, n
fields = {(f["kind"], f["field"]): f["count"] for f in r["normalised_fields"]}
for k, v in {("trimmed", "id"): 2, ("trimmed", "email"): 1, ("trimmed", "country"): 1,
             ("trimmed", "birth_date"): 1, ("case_folded", "email"): 2,
             ("case_folded", "country"): 1, ("delimiter_detected", "file"): 1}.items():
    assert fields.get(k) == v, (k, fields)
assert r["delimiter"] == ";", r["delimiter"]
PY
pass "every case eligible in the right shard; plan --json counts each normalisation"

# The table says the same.
expect_exit 0 "$HERALD" plan "$WORK/c.yaml" --state-dir "$WORK/state"
grep -q 'up to date' "$WORK/err" || fail "second plan not up to date: $(cat "$WORK/err")"
grep -q '^normalised input (rows, by kind):' "$WORK/out" || fail "no normalised block: $(cat "$WORK/out")"
for line in 'trimmed *2  (id 2, email 1, country 1, birth_date 1)' \
  'case_folded *2  (email 2, country 1)' \
  'language_canonicalised *1  (language 1)' \
  'macrolanguage_mapped *2  (language 2)' \
  'unknown_language_fell_back *1  (language 1)' \
  'time_zone_case_matched *1  (time_zone 1)' \
  'optional_field_fell_back *1  (time_zone 1)' \
  'delimiter_detected *1  (file 1)' \
  'CSV separator: ;' \
  'rows 9 = eligible 7 + excluded 2'; do
  grep -q "^ *$line\$" "$WORK/out" || fail "table lacks \"$line\": $(cat "$WORK/out")"
done
pass "the plan table counts the normalisations"

# What each person got, as dispatch will use it: the run writes one message
# per person; the addresses are the normalised ones (local part as written),
# the zones the IANA names, and the texts in the right language.
expect_exit 0 "$HERALD" run "$WORK/c.yaml" --state-dir "$WORK/state"
python3 - "$WORK/out-mail" "$SRC/locales/ai-training-notice" <<'PY' || fail "sent messages"
import email, email.policy, os, sys, yaml
root, locales = sys.argv[1], sys.argv[2]
subjects = {}
for tag in ("de", "no", "fr", "sv"):
    subjects[tag] = yaml.safe_load(open(os.path.join(locales, tag + ".yaml")))["email"]["subject"]
to = {}
for dirpath, _, files in os.walk(root):
    for f in files:
        m = email.message_from_binary_file(open(os.path.join(dirpath, f), "rb"), policy=email.policy.default)
        to[m["To"].addresses[0].addr_spec] = str(m["Subject"])
want = {"jan@example.de": "de", "f2@example.de": "de", "f3@example.se": "no",
        "f4@example.no": "no", "f5@example.de": "de", "f6@example.de": "de",
        "Kim@example.fr": "fr"}
assert set(to) == set(want), sorted(to)
for addr, tag in want.items():
    # subjects are templates; compare their fixed start
    head = subjects[tag].split("{{")[0].strip()
    assert to[addr].startswith(head), (addr, to[addr], head)
    assert not to[addr].startswith(subjects["sv"].split("{{")[0].strip()) or tag == "sv"
PY
pass "each person was sent the notice at the normalised address in the right language"

# Reverse macrolanguage: "no" reaches nb when the campaign has nb and no no.
mkdir -p "$WORK/nb-locales"
for f in "$SRC"/locales/ai-training-notice/*.yaml; do
  case $(basename "$f") in
  no.yaml) sed 's/^language: "no"$/language: nb/' "$f" >"$WORK/nb-locales/nb.yaml" ;;
  *) cp "$f" "$WORK/nb-locales/" ;;
  esac
done
printf 'id\tcountry\tlanguage\temail\tbirth_date\nn1\tNO\tno\tn1@example.no\t1980-01-01\n' >"$WORK/tab.tsv"
mk_campaign "$WORK/nb.yaml" "$WORK/tab.tsv" "  delimiter: tab"
sed -i "s|dir: $SRC/locales/ai-training-notice|dir: $WORK/nb-locales|; s/^id: forgiving-e2e/id: forgiving-nb/" "$WORK/nb.yaml"
expect_exit 0 "$HERALD" plan "$WORK/nb.yaml" --state-dir "$WORK/state-nb" --json
python3 - "$WORK/out" <<'PY' || fail "reverse mapping: $(cat "$WORK/out")"
import json, sys
s = json.load(open(sys.argv[1]))
assert [(sh["country"], sh["language"], sh["eligible"]) for sh in s["shards"]] == [("NO", "nb", 1)], s["shards"]
assert s["report"]["normalised"]["macrolanguage_mapped"] == 1
assert s["report"]["normalised"]["delimiter_detected"] == 0
assert s["report"]["delimiter"] == "\t"
PY
pass "no -> nb with an nb locale and no no locale; audience.delimiter: tab"

# A separator that detection does not choose: the error names what the
# header holds and says to set audience.delimiter; setting it plans.
tr ';' '|' <"$WORK/audience.csv" >"$WORK/pipe.csv"
mk_campaign "$WORK/pipe.yaml" "$WORK/pipe.csv"
sed -i 's/^id: forgiving-e2e/id: forgiving-pipe/' "$WORK/pipe.yaml"
expect_exit 65 "$HERALD" plan "$WORK/pipe.yaml" --state-dir "$WORK/state-pipe"
grep -q 'header has no column "id"' "$WORK/err" || fail "pipe error: $(cat "$WORK/err")"
grep -q 'holds "|": if the file is separated by "|", set audience.delimiter' "$WORK/err" ||
  fail "the error does not name the separator: $(cat "$WORK/err")"
mk_campaign "$WORK/pipe.yaml" "$WORK/pipe.csv" '  delimiter: "|"'
sed -i 's/^id: forgiving-e2e/id: forgiving-pipe/' "$WORK/pipe.yaml"
expect_exit 0 "$HERALD" plan "$WORK/pipe.yaml" --state-dir "$WORK/state-pipe" --json
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["report"]; assert r["eligible"] == 7 and r["delimiter"] == "|", r' "$WORK/out" ||
  fail "pipe plan: $(cat "$WORK/out")"
pass "an unrecognised separator is named in the error; audience.delimiter fixes it"

# audience.delimiter is validated.
mk_campaign "$WORK/bad.yaml" "$WORK/audience.csv" '  delimiter: "::"'
expect_exit 65 "$HERALD" validate "$WORK/bad.yaml"
grep -qF 'audience.delimiter must be ",", ";", "|" or tab, not "::"' "$WORK/err" ||
  fail "bad delimiter not refused: $(cat "$WORK/err")"
pass "a bad audience.delimiter is refused by validate"
