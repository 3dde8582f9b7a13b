#!/usr/bin/env bash
# Proof bundles that a hostile or careless party made, checked by both
# verifiers: `herald proofs verify` and the independent tests/e2e/proof_verify.py
# must give the same answer on every bundle (issue 10, findings 7 and 12):
# records re-signed with the real key after an edit that only a lax parser
# takes (a backslash before a NUL byte, lone surrogates, numbers of other
# forms, duplicate keys, ...), and an oversized checkpoint, which is a bad
# bundle (exit 1), not an internal error (70).
source "$(dirname "$0")/lib.sh"
PY=${HERALD_PYTHON:-/usr/bin/python3}
pyv() { "$PY" "$SRC/tests/e2e/proof_verify.py" "$@"; }
"$PY" - "$WORK" <<'PY'
import sys
work = sys.argv[1]
rows = [f"p-{i:02d},p{i:02d}@example.org,tok-{i:02d},{cc},{lang},1980-01-01,,N {i}"
        for i, (cc, lang) in enumerate([("DE", "de"), ("FR", "fr"), ("SE", "sv"), ("AT", "pt-BR")] * 2)]
rows.append("kid,kid@example.org,tok-kid,DE,de,2015-01-01,,Kid")
open(f"{work}/audience.csv", "w").write(
    "id,email,push_token,country,language,birth_date,time_zone,name\n" + "\n".join(rows) + "\n")
PY
camp=$WORK/campaign.yaml
cat >"$camp" <<EOF
id: proofs-hostile
reference_date: 2025-06-26
vars:
  company: Lumen
audience:
  source: $WORK/audience.csv
  format: csv
  regions: [EU]
  minimum_age: 18
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
      maildir: $WORK/maildir
  inapp:
    type: push
    module: file
    settings:
      outbox: $WORK/inapp.jsonl
      permanent_every: 5
retry:
  max_attempts: 1
proofs:
  pseudonym_key_env: HERALD_PSEUDONYM_KEY
  key_id: pk-hostile
EOF
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$WORK/state"
expect_exit 0 "$HERALD" run "$camp" --state-dir "$WORK/state" --ignore-send-window
expect_exit 0 "$HERALD" keys generate --out "$WORK/signing"
bundle=$WORK/bundle
expect_exit 0 "$HERALD" proofs export "$camp" --state-dir "$WORK/state" --out "$bundle" --key "$WORK/signing.key"
expect_exit 0 "$HERALD" proofs verify "$bundle" --pubkey "$WORK/signing.pub"
expect_exit 0 pyv "$bundle" --pubkey "$WORK/signing.pub"

# ---- an oversized checkpoint is a bad bundle (1), not an internal error (70) ----
big=$WORK/big
cp -r "$bundle" "$big"
truncate -s 1100M "$big/checkpoint" # sparse: more than any buffer takes
expect_exit 1 "$HERALD" proofs verify "$big" --pubkey "$WORK/signing.pub"
grep -q "^invalid: checkpoint" "$WORK/out" || fail "oversized checkpoint: $(cat "$WORK/out" "$WORK/err")"
expect_exit 0 "$HERALD" proofs prove "$bundle" --person p-00 --pseudonym-key-env HERALD_PSEUDONYM_KEY --out "$WORK/p00.json"
expect_exit 1 "$HERALD" proofs verify-inclusion "$WORK/p00.json" --checkpoint "$big/checkpoint" --pubkey "$WORK/signing.pub"
expect_exit 1 "$HERALD" proofs consistency "$bundle" "$big" --pubkey "$WORK/signing.pub"
grep -q "checkpoint" "$WORK/out" "$WORK/err" || fail "consistency does not name the checkpoint: $(cat "$WORK/out" "$WORK/err")"
pass "an oversized checkpoint: verify, verify-inclusion and consistency exit 1 (bad bundle)"
