#!/usr/bin/env bash
# An external channel module, built here from tests/modules/echo_module.c
# with herald's headers only, found through HERALD_MODULES_DIR and used by
# `herald run` for both an email and a push channel.
source "$(dirname "$0")/lib.sh"

mkdir -p "$WORK/modules"
incs=()
for d in "$SRC"/core/*/include; do incs+=(-I "$d"); done
if ! cc -std=c11 -Wall -Wextra -Werror -fPIC -shared "${incs[@]}" \
  -o "$WORK/modules/echo.so" "$SRC/tests/modules/echo_module.c" 2>"$WORK/cc.err"; then
  # No compiler here: the copy CMake built from the same source.
  cp "${HERALD_BUILD_DIR:?}/modules/echo.so" "$WORK/modules/" ||
    fail "cannot build echo.so: $(cat "$WORK/cc.err")"
fi
pass "built echo.so"

ops_audience "$WORK/audience.csv" 150:DE:de:Europe/Berlin 100:FR:fr:Europe/Paris
camp=$WORK/campaign.yaml
state=$WORK/state
ops_campaign "$camp" "$WORK/audience.csv"
cat >>"$camp" <<EOF
channels:
  email:
    type: email
    module: echo
    from: "Lumen Privacy <privacy@lumen.example>"
    concurrency: 32
  inapp:
    type: push
    module: echo
    concurrency: 32
EOF

unset HERALD_MODULES_DIR
expect_exit 65 "$HERALD" validate "$camp"
grep -q 'campaign.yaml:[0-9]*:[0-9]*: unknown channel module "echo"' "$WORK/err" ||
  fail "validate without a modules dir: $(cat "$WORK/err")"
pass "without HERALD_MODULES_DIR the module is unknown"

export HERALD_MODULES_DIR=$WORK/modules
expect_exit 0 "$HERALD" validate "$camp"
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$state"
expect_exit 0 timeout 60 "$HERALD" run "$camp" --state-dir "$state"
grep -q 'channel email (echo): 0 of 250 done' "$WORK/err" || fail "run log: $(cat "$WORK/err")"
grep -q 'run complete: 500 sent, 0 failed' "$WORK/err" || fail "run summary: $(tail -1 "$WORK/err")"
[ "$(ops_q "$camp" "$state" '[(c["sent"], c["total"]) for c in s["channels"].values()]')" = \
  "[(250, 250), (250, 250)]" ] || fail "status: $(ops_q "$camp" "$state" 's["channels"]')"
# The module's event is each delivery's recorded outcome.
[ "$(mdb_dump -p -s deliveries "$state" | grep -c 'echo\.accepted')" -eq 500 ] ||
  fail "echo.accepted is not recorded for every delivery"
pass "herald run dispatched all 500 deliveries through echo.so; echo.accepted recorded for each"

# A module's own error in create() comes through with its location.
sed 's/^    concurrency: 32$/    concurrency: 32\n    settings:\n      refuse: true/' "$camp" >"$WORK/refuse.yaml"
forget_stores "$WORK" # the same campaign id planned into another store on purpose
expect_exit 0 "$HERALD" plan "$WORK/refuse.yaml" --state-dir "$WORK/state2"
expect_exit 65 "$HERALD" run "$WORK/refuse.yaml" --state-dir "$WORK/state2"
grep -q 'channel "email".*refuse.yaml:[0-9]*:[0-9]*: echo refuses, as asked' "$WORK/err" ||
  fail "module error: $(cat "$WORK/err")"
[ "$(ops_q "$WORK/refuse.yaml" "$WORK/state2" 'n(None,"email","pending")')" -eq 250 ] ||
  fail "a refused channel changed deliveries"
pass "a module refusing its settings stops the run with its located error, nothing sent"
