#!/usr/bin/env bash
# Proof records never carry a person's id, address or token in clear, not
# even in a channel's reply that echoes the recipient (Postfix-style
# "550 5.1.1 <a@b>: Recipient address rejected"). The whole bundle (records,
# CSV, summary, manifest) is searched for every id, address, local part and
# token of the audience (issue 10, finding 4). Render failures' reasons are
# checked by test_proof_scrub_free_text (tests/unit/test_proof.c): no
# audience row reaches render.failed once validate refuses what render
# would (finding 5).
source "$(dirname "$0")/lib.sh"
PY=${HERALD_PYTHON:-/usr/bin/python3}
"$PY" -c 'import aiosmtpd' 2>/dev/null || fail "$PY lacks aiosmtpd (python3-aiosmtpd)"
smtp_start smtp --reject-rcpt-mod 2 --echo-rcpt
"$PY" - "$WORK" <<'PY'
import sys
work = sys.argv[1]
rows = [f"person-{i:02d},mailbox-{i:02d}@example.org,device-token-{i:02d},DE,de,1980-01-01,Europe/Berlin,Name {i}"
        for i in range(12)]
with open(f"{work}/audience.csv", "w") as f:
    f.write("id,email,push_token,country,language,birth_date,time_zone,name\n")
    f.write("\n".join(rows) + "\n")
PY
camp=$WORK/campaign.yaml
ops_campaign "$camp" "$WORK/audience.csv" proofs-private EU
cat >>"$camp" <<EOF
channels:
  email:
    type: email
    module: smtp
    from: "Lumen Privacy <privacy@lumen.example>"
    settings:
      relays: ["127.0.0.1:$PORT"]
      starttls: off
  inapp:
    type: push
    module: file
    settings:
      outbox: $WORK/inapp.jsonl
retry:
  max_attempts: 1
proofs:
  pseudonym_key_env: HERALD_PSEUDONYM_KEY
  key_id: pk-private
EOF
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$WORK/state"
# exit 2: the run finished with failed deliveries (a 550 reply, by design here)
expect_exit 2 "$HERALD" run "$camp" --state-dir "$WORK/state" --ignore-send-window
expect_exit 0 "$HERALD" keys generate --out "$WORK/signing"
bundle=$WORK/bundle
expect_exit 0 "$HERALD" proofs export "$camp" --state-dir "$WORK/state" --out "$bundle" --key "$WORK/signing.key" --csv
"$PY" - "$WORK/audience.csv" "$bundle" <<'PY' || fail "a proof bundle carries personal data in clear"
import csv, json, os, sys
audience, bundle = sys.argv[1:]
recs = [json.loads(l) for l in open(bundle + "/records.jsonl")]
events = {}
for r in recs:
    events[r["event"]] = events.get(r["event"], 0) + 1
print("events:", events)
assert events.get("smtp.rejected", 0) > 0 or any(
    r["state"] == "failed" and r["channel"] == "email" and r["response"]["code"] == 550 for r in recs), \
    "some 550 rejections expected: %s" % events
for r in recs:
    if r["state"] == "failed":
        print("failed:", r["event"], json.dumps(r["response"]))
needles = []
for row in csv.DictReader(open(audience, encoding="utf-8")):
    needles += [row["id"], row["email"], row["push_token"]]
    needles.append(row["email"].split("@")[0])
bad = []
for name in sorted(os.listdir(bundle)):
    data = open(os.path.join(bundle, name), "rb").read()
    low = data.lower()
    for n in needles:
        for form in {n, json.dumps(n)[1:-1]}:
            if form.encode().lower() in low or form.encode("utf-8").lower() in low:
                bad.append(f"{name}: {form!r}")
assert not bad, "in clear: " + ", ".join(sorted(set(bad)))
PY
expect_exit 0 "$HERALD" proofs verify "$bundle" --pubkey "$WORK/signing.pub"
expect_exit 0 python3 "$SRC/tests/e2e/proof_verify.py" "$bundle" --pubkey "$WORK/signing.pub"
pass "no id, address or token of the audience anywhere in the bundle (echoed 550 replies)"
