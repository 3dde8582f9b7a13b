#!/usr/bin/env bash
# The demo: the sample AI-training notice campaign end to end on this machine.
# Installs what is missing, builds, validates the campaign and its 26 locales,
# plans the sample audience into ./herald-state/, dispatches it through the
# file module (emails into the Maildir demo-out/maildir, in-app notices into
# demo-out/inapp.jsonl), shows status, and makes and verifies a personal
# objection link.
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
