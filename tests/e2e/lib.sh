# Shared helpers for end-to-end tests (sourced). Each test gets its own
# scratch directory, removed on exit.
set -euo pipefail
: "${HERALD:?HERALD must point at the herald binary}"
: "${HERALD_SOURCE_DIR:?}"
SRC=$HERALD_SOURCE_DIR
WORK=$(mktemp -d "${TMPDIR:-/tmp}/herald-e2e-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export HERALD_LINK_SECRET=e2e-secret-0123456789abcdef

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# expect_exit CODE CMD... : runs CMD, asserts its exit status.
expect_exit() {
  local want=$1; shift
  local got=0
  "$@" >"$WORK/out" 2>"$WORK/err" || got=$?
  [ "$got" -eq "$want" ] || { cat "$WORK/out" "$WORK/err" >&2; fail "exit $got, expected $want: $*"; }
}
