#!/usr/bin/env bash
# Installs the Debian 12 packages that Herald's build, tests and demo need,
# only those missing. Non-interactive; needs root (or sudo) when something is
# missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-format
  libyaml-dev liblmdb-dev lmdb-utils libjansson-dev libcsv-dev libidn2-dev libssl-dev
  libcmocka-dev libesmtp-dev libcurl4-openssl-dev libnghttp2-dev
  python3 python3-aiosmtpd python3-cryptography python3-dkim
  tzdata valgrind
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
