#!/usr/bin/env bash
# The demo: the sample AI-training notice campaign end to end on this machine.
# Installs what is missing, builds, validates the campaign and its 26 locales,
# plans the sample audience into ./herald-state/, dispatches it through the
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

step "herald plan $campaign"
# A fresh demo each time: the previous run's state and outputs go.
rm -rf "herald-state/ai-training-notice-2025" demo-out
$herald plan "$campaign"

step "herald run $campaign --ignore-send-window"
# The sample campaign sends between 08:00 and 21:00 in each person's local
# time; the demo sends at once, whatever the hour.
$herald run "$campaign" --ignore-send-window

step "herald status $campaign"
$herald status "$campaign"
echo
echo "emails: $(ls demo-out/maildir/new | wc -l) messages in demo-out/maildir/new (open one with any mail client)"
echo "in-app: $(wc -l <demo-out/inapp.jsonl) notices in demo-out/inapp.jsonl"

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
