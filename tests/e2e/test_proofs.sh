#!/usr/bin/env bash
# Delivery proofs end to end: plan + run a small campaign (file module) in all
# 26 languages with exclusions, a fallback, a variant and injected failures;
# export a signed bundle; verify it (herald and an independent Python
# verifier); every kind of tampering fails naming what is wrong; inclusion
# proofs verify and fail when altered; `proofs show` re-renders every
# language's message byte for byte.
source "$(dirname "$0")/lib.sh"
export HERALD_PSEUDONYM_KEY=e2e-pseudonym-key-0123456789abcdef
pyv() { python3 "$SRC/tests/e2e/proof_verify.py" "$@"; }

# ---- the campaign: one adult per locale, plus the awkward cases ----
python3 - "$WORK" <<'PY'
import sys
work = sys.argv[1]
langs = {"bg": "BG", "cs": "CZ", "da": "DK", "de": "DE", "el": "GR", "en": "IE", "es": "ES",
         "et": "EE", "fi": "FI", "fr": "FR", "ga": "IE", "hr": "HR", "hu": "HU", "is": "IS",
         "it": "IT", "lt": "LT", "lv": "LV", "mt": "MT", "nl": "NL", "no": "NO", "pl": "PL",
         "pt": "PT", "ro": "RO", "sk": "SK", "sl": "SI", "sv": "SE"}
rows = []
for i, (lang, cc) in enumerate(sorted(langs.items())):
    for k in range(2):
        pid = f"{lang}-{k}"
        rows.append(f"{pid},{pid}@example.org,tok-{pid},{cc},{lang},1980-01-0{k + 1},,Name {pid}")
rows += [
    'at-fallback,at@example.org,tok-at,AT,pt-BR,1970-05-05,Europe/Vienna,Zoë "Q" Müller',
    "objector,obj@example.org,tok-obj,DE,de,1970-05-05,Europe/Berlin,Has Objected",
    "minor,minor@example.org,tok-minor,DE,de,2015-01-01,Europe/Berlin,Kid",
    "yank,yank@example.org,tok-yank,US,en,1970-01-01,America/New_York,Yank",
    "de-0,dup@example.org,tok-dup,DE,de,1970-01-01,Europe/Berlin,Duplicate",
    "broken,broken@example.org,tok-b,DE,de,not-a-date,Europe/Berlin,Broken",
    "mailonly,mailonly@example.org,,FR,fr,1970-01-01,Europe/Paris,Mail Only",
    "\u00fc/ 1&2=?,special@example.org,tok-special,DE,de,1970-01-01,Europe/Berlin,Special Id",
]
with open(f"{work}/audience.csv", "w") as f:
    f.write("id,email,push_token,country,language,birth_date,time_zone,name\n")
    f.write("\n".join(rows) + "\n")
with open(f"{work}/objections.txt", "w") as f:
    f.write("objector\n")
PY
camp=$WORK/campaign.yaml
state=$WORK/state
cat >"$camp" <<EOF
id: proofs-e2e
reference_date: 2025-06-26
vars:
  company: Lumen
audience:
  source: $WORK/audience.csv
  format: csv
  regions: [EU, EEA, UK]
  minimum_age: 18
  objections:
    file: $WORK/objections.txt
    action: variant
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
    from: "Lumen Privacy <privacy@lumen.example>"
    settings:
      maildir: $WORK/delivered/maildir
  inapp:
    type: push
    module: file
    settings:
      outbox: $WORK/delivered/inapp.jsonl
      permanent_every: 9
retry:
  max_attempts: 1
proofs:
  pseudonym_key_env: HERALD_PSEUDONYM_KEY
  key_id: pk-e2e
EOF

# ---- a missing pseudonym key is a configuration error, named, at plan and run ----
HERALD_PSEUDONYM_KEY= expect_exit 78 "$HERALD" plan "$camp" --state-dir "$state"
grep -q 'HERALD_PSEUDONYM_KEY' "$WORK/err" || fail "message does not name the variable: $(cat "$WORK/err")"
[ ! -e "$state" ] || fail "plan created the store before finding the key missing"
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$state"
HERALD_PSEUDONYM_KEY=short expect_exit 78 "$HERALD" run "$camp" --state-dir "$state"
# exit 2: the run finished with failed deliveries (permanent_every: 9, by design here)
expect_exit 2 "$HERALD" run "$camp" --state-dir "$state" --ignore-send-window
pass "a missing or bad pseudonym key stops plan and run with exit 78"

# ---- keys and export ----
expect_exit 0 "$HERALD" keys generate --out "$WORK/signing"
[ "$(stat -c %a "$WORK/signing.key")" = 600 ] || fail "private key mode $(stat -c %a "$WORK/signing.key")"
expect_exit 73 "$HERALD" keys generate --out "$WORK/signing"
expect_exit 0 "$HERALD" keys generate --out "$WORK/other" --name other-signer
chmod 644 "$WORK/other.key"
expect_exit 78 "$HERALD" proofs export "$camp" --state-dir "$state" --out "$WORK/x" --key "$WORK/other.key"
chmod 600 "$WORK/other.key"
bundle=$WORK/bundle
expect_exit 0 "$HERALD" proofs export "$camp" --state-dir "$state" --out "$bundle" --key "$WORK/signing.key" --csv
for f in records.jsonl records.csv summary.json manifest.json checkpoint VERIFY.md signer.vkey; do
  [ -s "$bundle/$f" ] || fail "bundle lacks $f"
done
n=$(wc -l <"$bundle/records.jsonl")
# 52 + fallback, objector, mailonly, special = 56 people, less de-0 (its id
# is on two rows, so both are duplicate_id and neither is told) = 55; 54
# with a push token: 109 deliveries; exclusions: minor, out_of_region,
# duplicate_id twice, invalid_row.
[ "$n" -eq 114 ] || fail "expected 114 records, got $n"
python3 - "$bundle" <<'PY' || fail "records do not say what was done"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1] + "/records.jsonl")]
assert [r["seq"] for r in recs] == list(range(len(recs)))
excl = sorted(r["reason"] for r in recs if r["kind"] == "exclusion")
assert excl == ["duplicate_id", "duplicate_id", "invalid_row", "minor", "out_of_region"], excl
assert all(r["kind"] == "exclusion" for r in recs[:5]), "exclusions come first (plan time)"
d = [r for r in recs if r["kind"] == "delivery"]
assert {r["event"] for r in d} == {"inbox.stored", "outbox.appended", "injected_failure"}, {r["event"] for r in d}
failed = [r for r in d if r["state"] == "failed"]
assert failed and all("accepted" not in r and r["event"] == "injected_failure" for r in failed)
sent = [r for r in d if r["state"] == "sent"]
assert all(r["accepted"] == r["last_change"] and len(r["sha256"]) == 64 for r in sent)
assert {r["language"] for r in d} >= {"bg", "de", "el", "ga", "is", "mt", "no", "pt"}
fb = [r for r in d if r["fallback"]]
assert fb and all(r["country"] == "AT" and r["language"] == "pt" for r in fb), fb
assert any(r["template"] == "de/variant" for r in d), "the objector's variant text"
assert all(("message_id" in r) == (r["channel"] == "email") for r in d)
assert all(r["message_id"].endswith("@lumen.example") for r in d if r["channel"] == "email")
assert all(r["key_id"] == "pk-e2e" for r in recs)
text = open(sys.argv[1] + "/records.jsonl").read()
# no raw identity, address or link anywhere
for raw in ("de-0", "example.org", "tok-", "privacy.example", "Müller", "Name "):
    assert raw not in text, raw
PY
# The pseudonyms, recomputed from the definitions in docs/proofs.md: person
# key, address keys, the HMAC of the URL `herald link make` gives, and the
# Message-ID of the delivered email with the recorded SHA-256.
for person in fr-1 'ü/ 1&2=?'; do
  url=$("$HERALD" link make --campaign "$camp" --person "$person") || fail "link make $person"
  python3 - "$bundle" "$person" "$url" "$WORK/delivered/maildir/new" <<'PY' || fail "pseudonyms of $person"
import hashlib, hmac, json, os, sys
bundle, person, url, maildir = sys.argv[1:]
key = os.environ["HERALD_PSEUDONYM_KEY"].encode()
h = lambda data: hmac.new(key, data, hashlib.sha256).hexdigest()
pk = h(b"herald-person-v1\0" + person.encode())
recs = [r for r in map(json.loads, open(bundle + "/records.jsonl")) if r.get("person_key") == pk]
assert sorted(r["channel"] for r in recs) == ["email", "inapp"], recs
mails = {}
for f in os.listdir(maildir):
    b = open(os.path.join(maildir, f), "rb").read()
    mails[hashlib.sha256(b).hexdigest()] = b
for r in recs:
    assert r["link_hmac"] == h(b"herald-link-v1\0" + url.encode()), "link_hmac"
    if r["channel"] == "email":
        addr = "special@example.org" if person != "fr-1" else "fr-1@example.org"
        assert r["address_key"] == h(b"herald-address-v1\0email\0" + addr.encode()), "address_key"
        mail = mails[r["sha256"]]
        assert ("\r\nMessage-ID: <%s>\r\n" % r["message_id"]).encode() in mail, "Message-ID"
    else:
        tok = "tok-special" if person != "fr-1" else "tok-fr-1"
        assert r["address_key"] == h(b"herald-address-v1\0push\0" + tok.encode()), "push key"
PY
done
pass "export: 114 canonical records (5 exclusions first), no identities, links or addresses in clear; pseudonyms, link HMAC and Message-ID match their definitions"

# ---- verify ----
expect_exit 0 "$HERALD" proofs verify "$bundle" --pubkey "$WORK/signing.pub"
grep -q "^valid: 114 records" "$WORK/out" || fail "verify output: $(cat "$WORK/out")"
expect_exit 0 "$HERALD" proofs verify "$bundle" --pubkey "$WORK/signing.vkey"
expect_exit 0 "$HERALD" proofs verify "$bundle"
grep -q "bundle's own signer.vkey" "$WORK/err" || fail "no warning without --pubkey"
expect_exit 1 "$HERALD" proofs verify "$bundle" --pubkey "$WORK/other.pub"
grep -q "no signature by the given key" "$WORK/out" || fail "wrong key: $(cat "$WORK/out")"
expect_exit 0 pyv "$bundle" --pubkey "$WORK/signing.pub"
expect_exit 0 pyv "$bundle" --pubkey "$WORK/signing.vkey"
pass "verify passes (herald, and the independent Python verifier with hashlib + cryptography)"

# ---- tampering: each case on a fresh copy; verify fails and names it ----
tamper() { # tamper NAME EXPECTED_MESSAGE_REGEX PYTHON_MUST_FAIL(0/1) SHELL-CODE(in $t)
  local name=$1 want=$2 py=$3 code=$4
  t=$WORK/t-$name
  rm -rf "$t" && cp -r "${from:-$bundle}" "$t"
  (cd "$t" && eval "$code")
  expect_exit 1 "$HERALD" proofs verify "$t" --pubkey "$WORK/signing.pub"
  grep -Eq "$want" "$WORK/out" || fail "$name: expected /$want/, got: $(cat "$WORK/out")"
  echo "  $name -> herald: $(cat "$WORK/out")"
  if [ "$py" = 1 ]; then
    expect_exit 1 pyv "$t" --pubkey "$WORK/signing.pub"
    echo "  $(printf '%*s' ${#name} '')    python: $(cat "$WORK/out")"
  fi
}
# a byte of a value (still well-formed JSON): the next record's prev names it
flip_hex() { # flip_hex LINE FIELD: another hex digit at the start of FIELD's value
  python3 - "$1" "$2" <<'PY'
import sys
n, field = int(sys.argv[1]), sys.argv[2]
lines = open("records.jsonl", "rb").read().split(b"\n")
l = lines[n - 1]
i = l.index(b'"%s":"' % field.encode()) + len(field) + 4
l = l[:i] + (b"1" if l[i:i + 1] != b"1" else b"2") + l[i + 1:]
lines[n - 1] = l
open("records.jsonl", "wb").write(b"\n".join(lines))
PY
}
tamper flip-value 'records.jsonl line 10: this record was changed' 1 'flip_hex 10 sha256'
tamper flip-prev 'records.jsonl line 11: this record was changed' 1 'flip_hex 11 prev'
# a byte that breaks the form
tamper flip-form 'records.jsonl line 7: ' 1 'sed -i "7s/,\"kind\"/;\"kind\"/" records.jsonl'
# the last record: only the signed root catches it
tamper flip-last "records.jsonl line $n: this record was changed" 1 \
  "sed -i '${n}s/\"attempts\":1/\"attempts\":2/' records.jsonl"
# every single byte position of one record fails (a sweep over line 20)
python3 - "$bundle" "$WORK/sweep" <<'PY'
import os, shutil, sys
src, dst = sys.argv[1:]
lines = open(src + "/records.jsonl", "rb").read().split(b"\n")
os.makedirs(dst, exist_ok=True)
line = lines[19]
for i in range(0, len(line), max(1, len(line) // 40)):
    d = f"{dst}/{i}"
    shutil.copytree(src, d)
    b = bytearray(line)
    b[i] ^= 0x01
    mod = lines[:19] + [bytes(b)] + lines[20:]
    open(d + "/records.jsonl", "wb").write(b"\n".join(mod))
PY
for d in "$WORK"/sweep/*; do
  expect_exit 1 "$HERALD" proofs verify "$d" --pubkey "$WORK/signing.pub"
  grep -Eq 'records.jsonl line (20|21)' "$WORK/out" || fail "sweep $(basename "$d"): $(cat "$WORK/out")"
done
tamper delete 'records.jsonl line 30: holds seq 30, expected 29: a record was deleted' 1 'sed -i 30d records.jsonl'
tamper delete-last "holds $((n - 1)) records, the checkpoint signs $n: records were removed at the end" 1 \
  'sed -i \$d records.jsonl'
tamper reorder 'records.jsonl line 40: holds seq 40, expected 39' 1 \
  'awk "NR==40{a=\$0;next} NR==41{print;print a;next} {print}" records.jsonl >r && mv r records.jsonl'
tamper summary 'summary.json: changed after export' 1 \
  'sed -i "0,/\"records\": 1,/s//\"records\": 2,/" summary.json'
tamper csv 'records.csv: changed after export' 1 'sed -i "10s/,sent,/,failed,/" records.csv'
tamper manifest 'manifest.json: changed after signing' 1 'sed -i "s/\"complete\": true/\"complete\": false/" manifest.json'
tamper root 'checkpoint: the signature does not verify' 1 \
  'python3 -c "
import base64,sys
t=open(\"checkpoint\").read().split(\"\n\")
r=bytearray(base64.b64decode(t[2])); r[0]^=1; t[2]=base64.b64encode(bytes(r)).decode()
open(\"checkpoint\",\"w\").write(\"\n\".join(t))"'
# the signature of another checkpoint by the same key (a different export)
expect_exit 0 "$HERALD" proofs export "$camp" --state-dir "$state" --out "$WORK/bundle2" --key "$WORK/signing.key"
tamper swap-signature 'checkpoint: the signature does not verify' 1 \
  "head -n -1 checkpoint >c && tail -n 1 '$WORK/bundle2/checkpoint' >>c && mv c checkpoint"
# a signature by another key, with that key's vkey put in the bundle
expect_exit 0 "$HERALD" proofs export "$camp" --state-dir "$state" --out "$WORK/bundle3" --key "$WORK/other.key"
tamper other-signer 'no signature by the given key \(signed by: other-signer\)' 1 \
  "cp '$WORK/bundle3/checkpoint' '$WORK/bundle3/signer.vkey' ."
# without records.csv only the chain of prev hashes places a changed record
from=$WORK/bundle2
tamper nocsv-flip-value 'records.jsonl line 10: this record was changed' 1 'flip_hex 10 sha256'
tamper nocsv-flip-prev 'records.jsonl line 11: this record was changed' 1 'flip_hex 11 prev'
tamper nocsv-flip-last "records.jsonl line $n: this record was changed \\(the Merkle root" 1 \
  "sed -i '${n}s/\"attempts\":1/\"attempts\":2/' records.jsonl"
unset from
# a correctly signed bundle whose summary disagrees with its records (a
# faulty exporter): the summary is recounted from the records
python3 - "$WORK/bundle2" "$WORK/t-resigned" "$WORK/signing.key" <<'PY'
import base64, hashlib, json, shutil, sys
from cryptography.hazmat.primitives.serialization import (Encoding, PublicFormat,
                                                          load_pem_private_key)
src, dst, keyfile = sys.argv[1:]
shutil.copytree(src, dst)
s = open(dst + "/summary.json").read().replace('"records": 1,', '"records": 2,', 1)
open(dst + "/summary.json", "w").write(s)
m = json.load(open(dst + "/manifest.json"))
m["files"]["summary.json"] = hashlib.sha256(s.encode()).hexdigest()
mb = (json.dumps(m, indent=2, sort_keys=True) + "\n").encode()
open(dst + "/manifest.json", "wb").write(mb)
body = open(dst + "/checkpoint").read().split("\n\n")[0].split("\n")
body[3] = "herald-manifest sha256:" + hashlib.sha256(mb).hexdigest()
text = ("\n".join(body) + "\n").encode()
key = load_pem_private_key(open(keyfile, "rb").read(), None)
name = "herald-proofs"
raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)  # Debian 12's cryptography 38
kh = hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4]
sig = base64.b64encode(kh + key.sign(text)).decode()
open(dst + "/checkpoint", "w").write(text.decode() + "\n\u2014 " + name + " " + sig + "\n")
PY
# both verifiers recount it (issue 10, finding 7: they agree on every bundle)
expect_exit 1 pyv "$WORK/t-resigned" --pubkey "$WORK/signing.pub"
grep -q "summary.json: does not match the records" "$WORK/out" || fail "python, re-signed summary: $(cat "$WORK/out")"
expect_exit 1 "$HERALD" proofs verify "$WORK/t-resigned" --pubkey "$WORK/signing.pub"
grep -q "summary.json: does not match the records (first difference on line" "$WORK/out" ||
  fail "re-signed summary: $(cat "$WORK/out")"
echo "  resigned-summary -> herald: $(cat "$WORK/out")"
# a CSV slipped into a bundle exported without one
cp "$bundle/records.csv" "$WORK/bundle2/"
expect_exit 1 "$HERALD" proofs verify "$WORK/bundle2" --pubkey "$WORK/signing.pub"
grep -q "records.csv: not part of this export" "$WORK/out" || fail "stray csv: $(cat "$WORK/out")"
rm "$WORK/bundle2/records.csv"
pass "tampering: a changed value, form, last record, every byte of a record, a deletion, a reorder, the summary, the CSV, the manifest, the root, a swapped signature, another signer: all fail, naming the record line or file"

# ---- inclusion proofs for one person ----
expect_exit 0 "$HERALD" proofs prove "$bundle" --person fr-1 --pseudonym-key-env HERALD_PSEUDONYM_KEY --out "$WORK/fr1.json"
python3 - "$WORK/fr1.json" <<'PY' || fail "the proof does not hold fr-1's two deliveries"
import json, sys
p = json.load(open(sys.argv[1]))
recs = [json.loads(r["record"]) for r in p["records"]]
assert sorted(r["channel"] for r in recs) == ["email", "inapp"], recs
assert len({r["person_key"] for r in recs}) == 1
PY
expect_exit 0 "$HERALD" proofs verify-inclusion "$WORK/fr1.json" --checkpoint "$bundle/checkpoint" --pubkey "$WORK/signing.pub"
grep -q "^valid: 2 records" "$WORK/out" || fail "verify-inclusion: $(cat "$WORK/out")"
expect_exit 0 pyv --inclusion "$WORK/fr1.json" --checkpoint "$bundle/checkpoint" --pubkey "$WORK/signing.pub"
# the id on two rows (de-0): both rows are duplicate_id exclusions, 2 records
expect_exit 0 "$HERALD" proofs prove "$bundle" --person de-0 --pseudonym-key-env HERALD_PSEUDONYM_KEY --out "$WORK/de0.json"
grep -q '2 records of this person' "$WORK/err" || fail "de-0: $(cat "$WORK/err")"
# altered: the record, a path hash, the seq; another checkpoint
sed 's/outbox.appended/outbox.appendex/' "$WORK/fr1.json" >"$WORK/alt1.json"
expect_exit 1 "$HERALD" proofs verify-inclusion "$WORK/alt1.json" --checkpoint "$bundle/checkpoint" --pubkey "$WORK/signing.pub"
grep -q "is not in the signed tree" "$WORK/out" || fail "altered record: $(cat "$WORK/out")"
expect_exit 1 pyv --inclusion "$WORK/alt1.json" --checkpoint "$bundle/checkpoint" --pubkey "$WORK/signing.pub"
python3 - "$WORK/fr1.json" "$WORK/alt2.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
h = p["records"][0]["inclusion_path"][1]
p["records"][0]["inclusion_path"][1] = ("0" if h[0] != "0" else "1") + h[1:]
json.dump(p, open(sys.argv[2], "w"))
PY
expect_exit 1 "$HERALD" proofs verify-inclusion "$WORK/alt2.json" --checkpoint "$bundle/checkpoint" --pubkey "$WORK/signing.pub"
expect_exit 1 pyv --inclusion "$WORK/alt2.json" --checkpoint "$bundle/checkpoint" --pubkey "$WORK/signing.pub"
expect_exit 1 "$HERALD" proofs verify-inclusion "$WORK/fr1.json" --checkpoint "$WORK/t-root/checkpoint" --pubkey "$WORK/signing.pub"
expect_exit 1 "$HERALD" proofs prove "$bundle" --person nobody --pseudonym-key-env HERALD_PSEUDONYM_KEY
HERALD_OTHER_KEY=another-pseudonym-key-0123456789 expect_exit 1 "$HERALD" proofs prove "$bundle" --person fr-1 --pseudonym-key-env HERALD_OTHER_KEY
pass "inclusion proofs verify (herald and Python) and fail for an altered record, path or checkpoint"

# ---- show: re-render every language's message and match the recorded hash ----
langs=$(python3 -c '
import json,sys
seen = {}
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["kind"] == "delivery" and r["state"] == "sent":
        seen.setdefault(r["template"], r["person_key"])
print(" ".join(sorted(seen)))' "$bundle/records.jsonl")
(cd "$WORK/delivered/maildir/new" && sha256sum -- *) >"$WORK/delivered.sha256"
count=0
for tmpl in $langs; do
  case $tmpl in
    de/variant) person=objector ;;
    pt) person=pt-0 ;;
    de) person=de-1 ;; # de-0's id is on two rows: neither is told
    *) person=$tmpl-0 ;;
  esac
  expect_exit 0 "$HERALD" proofs show "$camp" --state-dir "$state" --person "$person" --out "$WORK/show-$person"
  grep -q "email: sent.*matches the delivery record" "$WORK/out" || fail "show $person: $(cat "$WORK/out")"
  grep -q "proof record seq [0-9]* (sent): SHA-256 matches" "$WORK/out" || fail "show $person proof: $(cat "$WORK/out")"
  # the re-rendered email is a delivered file, byte for byte
  h=$(sha256sum <"$WORK/show-$person/email.eml" | cut -d' ' -f1)
  grep -q "^$h " "$WORK/delivered.sha256" || fail "show $person: no delivered email has the re-rendered bytes"
  count=$((count + 1))
done
[ "$count" -ge 27 ] || fail "only $count templates shown"
# the fallback person (pt-BR asked, pt used) and an excluded person
expect_exit 0 "$HERALD" proofs show "$camp" --state-dir "$state" --person at-fallback --out "$WORK/show-at"
expect_exit 1 "$HERALD" proofs show "$camp" --state-dir "$state" --person minor
grep -q "excluded at plan time (minor)" "$WORK/out" || fail "show minor: $(cat "$WORK/out")"
expect_exit 66 "$HERALD" proofs show "$camp" --state-dir "$state" --person nobody
pass "show re-renders the exact message for all $count templates (26 languages + variant) and it matches the record"
