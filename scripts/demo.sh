#!/usr/bin/env bash
# The demo: the sample AI-training notice campaign end to end on this machine.
# Installs what is missing, builds, validates the campaign and its 26 locales,
# plans the sample audience into ./herald-state/, and shows a personal
# objection link being made and verified.
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
$herald plan "$campaign"

step "a personal objection link, made and verified"
person=$(awk -F, 'NR==2 {print $1}' campaigns/ai-training-notice/audience.csv)
url=$($herald link make --campaign "$campaign" --person "$person")
echo "$url"
$herald link verify --campaign "$campaign" "$url"
echo "and with one character of the token changed:"
$herald link verify --campaign "$campaign" "${url%?}x" || true
