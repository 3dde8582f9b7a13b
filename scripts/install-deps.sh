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
  time curl                            # bench (GNU time: peak RSS, CPU per item; curl: push bench and tests)
  nginx-light nghttp2-client openssl   # http-push tests (TLS + HTTP/2 server) and bench (h2load)
  python3-yaml python3-nacl postfix    # smtp tests (locales, Ed25519 DKIM) and bench (smtp-sink/-source)
  clang libclang-rt-14-dev             # fuzz targets (libFuzzer, tests/fuzz)
  pandoc man-db groff-base zsh         # man pages (build), and their tests (man, zsh completion)
  dpkg-dev systemd                     # the .deb (dpkg-shlibdeps) and its unit check (systemd-analyze)
  libmicrohttpd-dev prometheus         # the metrics endpoint, and promtool to check what it serves
  libgmime-3.0-dev libpcre2-dev        # returned mail: DSN/ARF parsing (GMime) and its rules (PCRE2)
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
# postfix only for its smtp-sink and smtp-source tools: no mail system is configured or started
if [[ " ${missing[*]} " == *" postfix "* ]]; then
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
