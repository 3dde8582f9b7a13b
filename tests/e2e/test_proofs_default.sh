#!/usr/bin/env bash
# Issue 12 item 6: proofs by default. A campaign without a proofs: section
# keeps proof records (pseudonym key from $HERALD_PSEUDONYM_KEY or
# pseudonym.key beside the campaign); proofs are off only with
# `proofs: {enabled: false, reason: ...}`, which validate prints as a
# warning; without a reason it is refused at file:line:col; validate says
# how to make a missing pseudonym key.
source "$(dirname "$0")/lib.sh"

ops_audience "$WORK/audience.csv" 20:DE:de:Europe/Berlin 10:FR:fr:Europe/Paris
# mk FILE [YAML...]: a campaign with one file email channel, lines appended.
mk() {
  local f=$1; shift
  ops_campaign "$f" "$WORK/audience.csv"
  cat >>"$f" <<EOT
channels:
  email:
    type: email
    module: file
    from: "Lumen Privacy <privacy@lumen.example>"
    settings:
      maildir: $WORK/maildir-$(basename "$f" .yaml)
EOT
  local l; for l in "$@"; do echo "$l" >>"$f"; done
}
expect_exit 0 "$HERALD" keys generate --out "$WORK/signing"
records() { # CAMPAIGN STATE: the number of proof records exported
  expect_exit 0 "$HERALD" proofs export "$1" --state-dir "$2" --out "$WORK/bundle-$(basename "$2")" \
    --key "$WORK/signing.key"
  sed -n 's/^exported \([0-9]*\) records.*/\1/p' "$WORK/out"
}

# ---- no proofs: section: proofs are kept ----
mkdir -p "$WORK/d"
mk "$WORK/d/plain.yaml"
expect_exit 0 "$HERALD" validate "$WORK/d/plain.yaml"
expect_exit 0 "$HERALD" plan "$WORK/d/plain.yaml" --state-dir "$WORK/st-plain"
expect_exit 0 "$HERALD" run "$WORK/d/plain.yaml" --state-dir "$WORK/st-plain"
n=$(records "$WORK/d/plain.yaml" "$WORK/st-plain")
[ "$n" -ge 30 ] || fail "a campaign without proofs: kept $n proof records, expected at least 30"
pass "a campaign without a proofs: section keeps proof records ($n)"

# The default key file, pseudonym.key beside the campaign, when the variable is unset.
mkdir -p "$WORK/k"
mk "$WORK/k/plain.yaml"
env -u HERALD_PSEUDONYM_KEY "$HERALD" validate "$WORK/k/plain.yaml" >"$WORK/out" 2>"$WORK/err" ||
  fail "validate without a key: $(cat "$WORK/err")"
grep -q "head -c 32 /dev/urandom | base64 > $WORK/k/pseudonym.key" "$WORK/err" ||
  fail "validate does not say how to make the key: $(cat "$WORK/err")"
env -u HERALD_PSEUDONYM_KEY "$HERALD" plan "$WORK/k/plain.yaml" --state-dir "$WORK/st-k" \
  >"$WORK/out" 2>"$WORK/err" && fail "plan without a pseudonym key succeeded"
(umask 077; head -c 32 /dev/urandom | base64 >"$WORK/k/pseudonym.key")
env -u HERALD_PSEUDONYM_KEY "$HERALD" validate "$WORK/k/plain.yaml" >"$WORK/out" 2>"$WORK/err"
! grep -q "urandom" "$WORK/err" || fail "validate still asks for the key: $(cat "$WORK/err")"
env -u HERALD_PSEUDONYM_KEY "$HERALD" plan "$WORK/k/plain.yaml" --state-dir "$WORK/st-k" \
  >"$WORK/out" 2>"$WORK/err" || fail "plan with pseudonym.key: $(cat "$WORK/err")"
pass "validate says how to make the missing pseudonym key; pseudonym.key is the default file"

# ---- proofs off needs a reason, at file:line:col ----
mkdir -p "$WORK/off"
mk "$WORK/off/bare.yaml" "proofs: off"
expect_exit 65 "$HERALD" validate "$WORK/off/bare.yaml"
line=$(grep -n '^proofs: off' "$WORK/off/bare.yaml" | cut -d: -f1)
grep -q "^$WORK/off/bare.yaml:$line:[0-9]*: .*reason" "$WORK/err" || fail "proofs: off: $(cat "$WORK/err")"
mk "$WORK/off/noreason.yaml" "proofs:" "  enabled: false"
expect_exit 65 "$HERALD" validate "$WORK/off/noreason.yaml"
line=$(grep -n '^  enabled: false' "$WORK/off/noreason.yaml" | cut -d: -f1)
grep -q "^$WORK/off/noreason.yaml:$line:[0-9]*: .*reason" "$WORK/err" || fail "no reason: $(cat "$WORK/err")"
mk "$WORK/off/empty.yaml" "proofs:" "  enabled: false" '  reason: ""'
expect_exit 65 "$HERALD" validate "$WORK/off/empty.yaml"
pass "proofs off without a reason is refused at file:line:col"

mk "$WORK/off/why.yaml" "proofs:" "  enabled: false" '  reason: "staff test send, no evidence needed"'
expect_exit 0 "$HERALD" validate "$WORK/off/why.yaml"
grep -q "warning: .*proofs are off.*staff test send, no evidence needed" "$WORK/err" ||
  fail "no warning: $(cat "$WORK/err")"
expect_exit 0 "$HERALD" plan "$WORK/off/why.yaml" --state-dir "$WORK/st-off"
expect_exit 0 "$HERALD" run "$WORK/off/why.yaml" --state-dir "$WORK/st-off"
n=$(records "$WORK/off/why.yaml" "$WORK/st-off")
[ "$n" -eq 0 ] || fail "proofs off kept $n records"
pass "proofs off with a reason: validate warns, no records kept"
