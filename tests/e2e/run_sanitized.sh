#!/usr/bin/env bash
# run_sanitized.sh TEST.sh : an end-to-end test against the ASan+UBSan build
# (tests/CMakeLists.txt registers every test_*.sh through this in the
# sanitizer build). The sanitizers write each report to a file of their own
# (log_path) instead of the test's stderr, where a test that expects a
# failing exit status, or kills herald on purpose, could miss it; any report
# fails the test, and is printed. The options scripts/test.sh sets (abort on
# error, leak checks) are kept.
set -uo pipefail
test=${1:?usage: run_sanitized.sh TEST.sh}
reports=$(mktemp -d "${TMPDIR:-/tmp}/herald-sanitizers-XXXXXX")
trap 'rm -rf "$reports"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$reports/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$reports/ubsan"
rc=0
bash "$test" || rc=$?
if compgen -G "$reports/*" >/dev/null; then
  for f in "$reports"/*; do
    echo "==== sanitizer report $(basename "$f") ====" >&2
    head -n 60 "$f" >&2
  done
  echo "FAIL: sanitizer reports from herald during $(basename "$test")" >&2
  exit 1
fi
exit $rc
