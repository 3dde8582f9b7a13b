#!/usr/bin/env bash
# The demo: the sample AI-training notice campaign end to end on this machine.
# Installs what is missing, builds, validates the campaign and its 26 locales,
# plans the sample audience into demo-out/herald-state/ (beside the live
# campaign file: the store belongs to the campaign), dispatches it through the
# file module (emails into the Maildir demo-out/maildir, in-app notices into
# demo-out/inapp.jsonl), shows status, makes and verifies a personal
# objection link, and exports the signed delivery proofs and verifies them.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
herald=build/cmd/herald
campaign=campaigns/ai-training-notice.yaml

# The objection-link secret lives in a key file outside git (or in
# $HERALD_LINK_SECRET); the demo makes one on first use.
key=campaigns/ai-training-notice/link.key
if [ -z "${HERALD_LINK_SECRET:-}" ] && [ ! -s "$key" ]; then
  (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n' >"$key")
fi
# Likewise the pseudonym key of the delivery proofs (or $HERALD_PSEUDONYM_KEY).
pkey=campaigns/ai-training-notice/pseudonym.key
if [ -z "${HERALD_PSEUDONYM_KEY:-}" ] && [ ! -s "$pkey" ]; then
  (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n' >"$pkey")
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "herald validate $campaign"
$herald validate "$campaign"

step "local servers: an SMTP server and an in-app notification service on 127.0.0.1"
# A fresh demo each time: the previous run's state and outputs go (the store
# is in demo-out/herald-state/; ./herald-state/ is where demos before issue 12
# left it, and plan refuses a second store while that one exists).
rm -rf "herald-state/ai-training-notice-2025" demo-out
mkdir -p demo-out
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
/usr/bin/python3 tests/e2e/smtp_server.py --maildir demo-out/maildir --log demo-out/smtp.log \
  --port-file demo-out/smtp.port 2>demo-out/smtp.err &
pids+=($!)
/usr/bin/python3 tests/e2e/push_server.py --port-file demo-out/push.port --log demo-out/push.log \
  --accepted demo-out/inapp.jsonl 2>demo-out/push.err &
pids+=($!)
for f in smtp push; do
  for _ in $(seq 100); do [ -s "demo-out/$f.port" ] && break; sleep 0.1; done
  [ -s "demo-out/$f.port" ] || { echo "demo: the $f server did not start" >&2; cat "demo-out/$f.err" >&2; exit 69; }
done
echo "SMTP on 127.0.0.1:$(cat demo-out/smtp.port), in-app service on http://127.0.0.1:$(cat demo-out/push.port)/"

# The sample campaign's channels write files; the live copy sends the email
# channel through SMTP and the in-app channel through HTTP to those servers.
live=demo-out/ai-training-notice-live.yaml
python3 - "$campaign" "$live" "$(cat demo-out/smtp.port)" "$(cat demo-out/push.port)" <<'PY'
import os, re, sys
src, out, smtp, push = sys.argv[1:]
here = os.path.dirname(os.path.abspath(src))
text = open(src, encoding="utf-8").read()
# relative paths in the campaign resolve against its own directory
for key in ("source", "file", "dir", "secret_file", "pseudonym_key_file"):
    text = re.sub(r"(\n\s+%s: )(?![/\"])(\S+)" % key,
                  lambda m: m.group(1) + os.path.normpath(os.path.join(here, m.group(2))), text)
email = ("    module: smtp\n", "    settings:\n      relays: [127.0.0.1:%s]\n      starttls: off\n" % smtp)
inapp = ("    module: http-push\n",
         "    settings:\n      url: http://127.0.0.1:%s/v1/notices\n      max_in_flight: 32\n" % push)
blocks = text.split("\n  inapp:\n")
assert len(blocks) == 2, "sample campaign layout changed"
head, tail = blocks
head = head.replace("    module: file\n", email[0], 1)
head = re.sub(r"    settings:\n      maildir: [^\n]*\n?", email[1], head)
tail = tail.replace("    module: file\n", inapp[0], 1)
tail = re.sub(r"    settings:\n      outbox: [^\n]*\n", inapp[1], tail)
open(out, "w", encoding="utf-8").write(head + "\n  inapp:\n" + tail)
PY
campaign=$live

step "herald plan $campaign"
$herald plan "$campaign"

step "herald run $campaign --ignore-send-window"
# The sample campaign sends between 08:00 and 21:00 in each person's local
# time; the demo sends at once, whatever the hour.
$herald run "$campaign" --ignore-send-window

step "herald status $campaign"
$herald status "$campaign"
echo
echo "emails: $(ls demo-out/maildir/new | wc -l) messages received by the SMTP server in demo-out/maildir/new (open one with any mail client)"
echo "in-app: $(wc -l <demo-out/inapp.jsonl) notices received by the in-app service, in demo-out/inapp.jsonl"

step "a personal objection link, made and verified"
person=$(awk -F, 'NR==2 {print $1}' campaigns/ai-training-notice/audience.csv)
url=$($herald link make --campaign "$campaign" --person "$person")
echo "$url"
$herald link verify --campaign "$campaign" "$url"
echo "and with one character of the token changed:"
$herald link verify --campaign "$campaign" "${url%?}x" || true

step "delivery proofs: a signed bundle, exported and verified"
# The signing key pair is made once; the public key is what compliance hands
# out (docs/proofs.md).
sign=campaigns/ai-training-notice/proof-signing
[ -s "$sign.key" ] || $herald keys generate --out "$sign"
$herald proofs export "$campaign" --out demo-out/proofs --key "$sign.key" --csv
$herald proofs verify demo-out/proofs --pubkey "$sign.pub"
echo "bundle: demo-out/proofs (VERIFY.md says how to check it by hand)"
