#!/usr/bin/env bash
# Repeated exports: a bundle exported while a run is going is a consistent
# snapshot; a later bundle's tree extends an earlier one, which an RFC 9162
# consistency proof shows (herald and the independent Python verifier); and
# when an earlier record changed between exports (a rewritten store, signed
# by the real key) the proof fails although each bundle verifies on its own.
source "$(dirname "$0")/lib.sh"
export HERALD_PSEUDONYM_KEY=e2e-pseudonym-key-0123456789abcdef
pyv() { python3 "$SRC/tests/e2e/proof_verify.py" "$@"; }

ops_audience "$WORK/audience.csv" 150:DE:de:Europe/Berlin 40:FR:fr:Europe/Paris 10:US:en:America/New_York
camp=$WORK/campaign.yaml
state=$WORK/state
ops_campaign "$camp" "$WORK/audience.csv"
cat >>"$camp" <<EOF
channels:
  email:
    type: email
    module: file
    from: "Lumen Privacy <privacy@lumen.example>"
    rate: 60/s
    concurrency: 4
    settings:
      maildir: $WORK/maildir
proofs:
  pseudonym_key_file: pseudonym.key
EOF
# the key from a file this time (mode 0600 required)
unset HERALD_PSEUDONYM_KEY
printf 'file-pseudonym-key-0123456789abcdef\n' >"$WORK/pseudonym.key"
chmod 644 "$WORK/pseudonym.key"
expect_exit 78 "$HERALD" plan "$camp" --state-dir "$state"
grep -q "chmod 600" "$WORK/err" || fail "mode message: $(cat "$WORK/err")"
chmod 600 "$WORK/pseudonym.key"
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$state"
expect_exit 0 "$HERALD" keys generate --out "$WORK/k"
key=$WORK/k.key pub=$WORK/k.pub

# ---- exports while the run goes on: consistent snapshots ----
expect_exit 0 "$HERALD" pause "$camp" --state-dir "$state" --country FR --reason "held back"
ops_bg "$WORK/run.log" "$HERALD" run "$camp" --state-dir "$state" --ignore-send-window
run=$!
ops_wait 20 '[ "$(ops_q "$camp" "$state" "n(\"DE\",\"email\",\"sent\")")" -ge 30 ]'
expect_exit 0 "$HERALD" proofs export "$camp" --state-dir "$state" --out "$WORK/b1" --key "$key"
sleep 0.5
expect_exit 0 "$HERALD" proofs export "$camp" --state-dir "$state" --out "$WORK/b2" --key "$key"
kill -0 "$run" 2>/dev/null || fail "the run ended before the exports; slow it down"
grep -q '"complete": false' "$WORK/b1/manifest.json" || fail "b1 does not say dispatch is still going"
timeout 60 tail --pid="$run" -f /dev/null || fail "the run did not finish"
for b in b1 b2; do
  expect_exit 0 "$HERALD" proofs verify "$WORK/$b" --pubkey "$pub"
  expect_exit 0 pyv "$WORK/$b" --pubkey "$pub"
done
n1=$(wc -l <"$WORK/b1/records.jsonl") n2=$(wc -l <"$WORK/b2/records.jsonl")
[ "$n1" -gt 10 ] && [ "$n2" -gt "$n1" ] || fail "exports during the run: $n1 then $n2 records"
expect_exit 0 "$HERALD" proofs consistency "$WORK/b1" "$WORK/b2" --pubkey "$pub" --out "$WORK/c12.json"
pass "exports during a run ($n1, then $n2 records) verify, and the second extends the first"

# ---- partial, then complete ----
expect_exit 0 "$HERALD" proofs export "$camp" --state-dir "$state" --out "$WORK/old" --key "$key"
old_n=$(wc -l <"$WORK/old/records.jsonl")
[ "$old_n" -eq 160 ] || fail "partial export: $old_n records, expected 10 exclusions + 150 DE"
expect_exit 0 "$HERALD" unpause "$camp" --state-dir "$state" --country FR
expect_exit 0 "$HERALD" run "$camp" --state-dir "$state" --ignore-send-window
expect_exit 0 "$HERALD" proofs export "$camp" --state-dir "$state" --out "$WORK/new" --key "$key"
[ "$(wc -l <"$WORK/new/records.jsonl")" -eq 200 ] || fail "full export: $(wc -l <"$WORK/new/records.jsonl")"
grep -q '"complete": true' "$WORK/new/manifest.json" || fail "new does not say dispatch is complete"
cmp -s <(head -n "$old_n" "$WORK/new/records.jsonl") "$WORK/old/records.jsonl" ||
  fail "the new export does not start with the old records"
expect_exit 0 "$HERALD" proofs consistency "$WORK/old" "$WORK/new" --pubkey "$pub" --out "$WORK/c.json"
grep -q "^valid: the tree of 200 records extends the tree of 160 records" "$WORK/out" ||
  fail "consistency: $(cat "$WORK/out")"
expect_exit 0 pyv --consistency "$WORK/c.json" --old "$WORK/old/checkpoint" --new "$WORK/new/checkpoint" --pubkey "$pub"
expect_exit 0 "$HERALD" proofs consistency "$WORK/b1" "$WORK/new" --pubkey "$pub"
expect_exit 1 "$HERALD" proofs consistency "$WORK/new" "$WORK/old" --pubkey "$pub"
grep -q "NEW cannot extend OLD" "$WORK/out" || fail "reversed: $(cat "$WORK/out")"
# the proof itself altered: the Python verifier refuses it
python3 - "$WORK/c.json" "$WORK/c-bad.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
h = p["proof"][0]
p["proof"][0] = ("0" if h[0] != "0" else "1") + h[1:]
json.dump(p, open(sys.argv[2], "w"))
PY
expect_exit 1 pyv --consistency "$WORK/c-bad.json" --old "$WORK/old/checkpoint" --new "$WORK/new/checkpoint" --pubkey "$pub"
pass "partial (160) then complete (200): the consistency proof verifies (herald and Python)"

# ---- an earlier record changed between the exports ----
# Someone with write access to the store rewrites record 5 (sent -> a
# different provider id) and re-links every later prev hash, so the store
# looks whole; the real key signs the export.
cp -r "$state" "$WORK/forged-state"
mdb_dump -s proofs "$WORK/forged-state" >"$WORK/dump"
python3 - "$WORK/dump" "$WORK/dump2" <<'PY'
import hashlib, json, sys
lines = open(sys.argv[1]).read().split("\n")
start = lines.index("HEADER=END") + 1
head = [l for l in lines[:start] if not l.startswith("db_pagesize=")]
body = lines[start:lines.index("DATA=END")]
pairs = [(body[i], bytes.fromhex(body[i + 1].strip())) for i in range(0, len(body), 2)]
out = []
prev = None
for i, (k, v) in enumerate(pairs):
    r = json.loads(v)
    if i == 15:
        assert r["kind"] == "delivery", r
        r["response"]["provider_id"] = "forged"
    if prev is not None:
        r["prev"] = prev
    v = json.dumps(r, sort_keys=True, separators=(",", ":")).encode()
    prev = hashlib.sha256(b"\x00" + v).hexdigest()
    out += [k, " " + v.hex()]
open(sys.argv[2], "w").write("\n".join(head + out + ["DATA=END", ""]))
PY
mdb_load -s proofs -f "$WORK/dump2" "$WORK/forged-state" || fail "mdb_load"
expect_exit 0 "$HERALD" proofs export "$camp" --state-dir "$WORK/forged-state" --out "$WORK/forged" --key "$key"
expect_exit 0 "$HERALD" proofs verify "$WORK/forged" --pubkey "$pub"
expect_exit 1 "$HERALD" proofs consistency "$WORK/old" "$WORK/forged" --pubkey "$pub" --out "$WORK/cf.json"
grep -q "does not extend OLD's: a record among the first 160 changed" "$WORK/out" ||
  fail "forged: $(cat "$WORK/out")"
expect_exit 1 pyv --consistency "$WORK/cf.json" --old "$WORK/old/checkpoint" --new "$WORK/forged/checkpoint" --pubkey "$pub"
# and the same for a bundle edited on disk: it no longer matches its checkpoint
cp -r "$WORK/new" "$WORK/new-edited"
sed -i '20s/"country":"DE"/"country":"FR"/' "$WORK/new-edited/records.jsonl"
expect_exit 1 "$HERALD" proofs consistency "$WORK/old" "$WORK/new-edited" --pubkey "$pub"
grep -q "does not match its checkpoint" "$WORK/out" || fail "edited: $(cat "$WORK/out")"
pass "a changed earlier record breaks the consistency proof, even when each bundle verifies alone"
