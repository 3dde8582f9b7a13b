#!/usr/bin/env bash
# The state directory and every file Herald writes, against a hostile file
# system (issue 10, findings 3 and 12): a state directory that is not ours or
# is writable by others is refused; links planted in it (data.mdb, lock.mdb,
# run.lock) are never followed; the file module's Maildir and outbox refuse
# planted links; outputs in user-chosen places (proof bundles, proofs prove
# and show, generate) never write through a link planted where they go; a
# state path that is a file, not writable or too long exits 73 before
# anything is created. Tests run as root in CI: "not ours" is chown nobody,
# "not writable" runs herald as nobody.
source "$(dirname "$0")/lib.sh"
# root: chown to another user and running as nobody need it (CI runs as root)
root=false
[ "$(id -u)" = 0 ] && root=true

ops_audience "$WORK/audience.csv" 20:DE:de:Europe/Berlin
camp=$WORK/campaign.yaml
ops_campaign "$camp" "$WORK/audience.csv"
cat >>"$camp" <<EOF
channels:
  email:
    type: email
    module: file
    from: "Lumen Privacy <privacy@lumen.example>"
    settings:
      maildir: $WORK/maildir
  inapp:
    type: push
    module: file
    settings:
      outbox: $WORK/inapp.jsonl
proofs:
  pseudonym_key_env: HERALD_PSEUDONYM_KEY
  key_id: pk-e2e
EOF
# victim FILE: a file with known content that no test may change.
victim() { printf 'precious %s\n' "$1" >"$1"; chmod 644 "$1"; }
untouched() { [ "$(cat "$1")" = "precious $1" ] || fail "$2: $1 was written through a link"; }

# ---- finding 3: the state directory itself ----
if $root; then
  mkdir -m 700 "$WORK/s-nobody"
  chown nobody "$WORK/s-nobody"
  expect_exit 78 "$HERALD" plan "$camp" --state-dir "$WORK/s-nobody"
  grep -qF "$WORK/s-nobody" "$WORK/err" && grep -q 'chown' "$WORK/err" ||
    fail "owner: message does not name the path and chown: $(cat "$WORK/err")"
  [ ! -e "$WORK/s-nobody/data.mdb" ] || fail "plan wrote into a state dir owned by another user"
  pass "a state directory owned by another user is refused (78), naming chown"
fi

for mode in 777 770 702; do
  mkdir -m "$mode" "$WORK/s-$mode"
  chmod "$mode" "$WORK/s-$mode"
  expect_exit 78 "$HERALD" plan "$camp" --state-dir "$WORK/s-$mode"
  grep -qF "$WORK/s-$mode" "$WORK/err" && grep -q "chmod 700" "$WORK/err" ||
    fail "mode $mode: message does not name the path and chmod: $(cat "$WORK/err")"
  [ ! -e "$WORK/s-$mode/data.mdb" ] || fail "plan wrote into a state dir of mode $mode"
done
pass "a state directory writable by group or others is refused (78), naming chmod"

for f in data.mdb lock.mdb; do
  mkdir -m 700 "$WORK/s-$f"
  victim "$WORK/victim-$f"
  ln -s "$WORK/victim-$f" "$WORK/s-$f/$f"
  expect_exit 78 "$HERALD" plan "$camp" --state-dir "$WORK/s-$f"
  grep -qF "$WORK/s-$f/$f" "$WORK/err" && grep -q 'link' "$WORK/err" ||
    fail "$f link: message does not name the file: $(cat "$WORK/err")"
  untouched "$WORK/victim-$f" "plan with a $f link"
  # a dangling link: nothing may be created at its target either
  rm "$WORK/victim-$f"
  expect_exit 78 "$HERALD" plan "$camp" --state-dir "$WORK/s-$f"
  [ ! -e "$WORK/victim-$f" ] || fail "plan created the target of a dangling $f link"
done
pass "data.mdb and lock.mdb links planted in the state directory are not followed"

# A good store, then links planted into it: run, status and export refuse.
state=$WORK/state
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$state"
cp -p "$state/lock.mdb" "$WORK/lock.saved"
for cmd in "run" "status"; do
  victim "$WORK/victim-lock"
  ln -s "$WORK/victim-lock" "$state/lock.mdb.new" && mv -T "$state/lock.mdb.new" "$state/lock.mdb"
  # shellcheck disable=SC2086
  expect_exit 78 "$HERALD" $cmd "$camp" --state-dir "$state"
  untouched "$WORK/victim-lock" "$cmd with a lock.mdb link"
  rm "$state/lock.mdb"
  cp -p "$WORK/lock.saved" "$state/lock.mdb"
done
victim "$WORK/victim-run"
rm -f "$state/run.lock"
ln -s "$WORK/victim-run" "$state/run.lock"
expect_exit 78 "$HERALD" run "$camp" --state-dir "$state"
untouched "$WORK/victim-run" "run with a run.lock link"
grep -qF "$state/run.lock" "$WORK/err" || fail "run.lock link not named: $(cat "$WORK/err")"
rm "$state/run.lock"
chmod 644 "$state/data.mdb"
expect_exit 78 "$HERALD" status "$camp" --state-dir "$state"
grep -q "chmod 600" "$WORK/err" || fail "loose data.mdb not refused with chmod: $(cat "$WORK/err")"
chmod 600 "$state/data.mdb"
pass "links planted in a planned store (lock.mdb, run.lock) are not followed by run or status"

# Plan's sort runs (every 2^19 rows) are made in the state directory without
# following a link planted in their place.
"$HERALD" generate --rows 530000 --seed 5 --out "$WORK/big.csv" 2>/dev/null
sed "s|^  source: .*|  source: $WORK/big.csv|" "$camp" >"$WORK/big.yaml"
mkdir -m 700 "$WORK/s-big"
victim "$WORK/victim-run0"
ln -s "$WORK/victim-run0" "$WORK/s-big/plan-run-0.tmp"
t0=$SECONDS
forget_stores "$WORK" # the same campaign id, another store on purpose
expect_exit 0 "$HERALD" plan "$WORK/big.yaml" --state-dir "$WORK/s-big"
echo "plan of 530,000 rows: $((SECONDS - t0)) s"
untouched "$WORK/victim-run0" "plan's sort run"
[ -z "$(find "$WORK/s-big" -name 'plan-run-*')" ] || fail "sort runs left behind"
pass "plan's sort runs do not follow a link planted in their place"

# ---- finding 12: state paths that cannot be used exit 73 ----
: >"$WORK/s-file"
forget_stores "$WORK" # the same campaign id, another store on purpose
expect_exit 73 "$HERALD" plan "$camp" --state-dir "$WORK/s-file"
grep -qF "$WORK/s-file" "$WORK/err" || fail "state file not named: $(cat "$WORK/err")"
pass "a state path that is a regular file exits 73"

long=$WORK/long$(printf '/a%.0s' $(seq 2100))
expect_exit 73 "$HERALD" plan "$camp" --state-dir "$long"
grep -q 'too long' "$WORK/err" || fail "long path: $(head -c 300 "$WORK/err")"
[ ! -e "$WORK/long" ] || fail "an over-long state path created directories"
pass "a state path over 4095 bytes exits 73 before creating anything"

# Not writable: as root every directory is writable, so run herald as nobody
# on a directory nobody owns with mode 0500.
if $root; then
  ro=$WORK/ro
  mkdir -m 755 "$ro"
  cp "$WORK/audience.csv" "$ro/"
  sed "s|$WORK/audience.csv|$ro/audience.csv|" "$camp" >"$ro/campaign.yaml"
  chmod 644 "$ro"/*
  mkdir -m 500 "$ro/state"
  chown -R nobody "$ro"
  chmod 711 "$WORK"
  expect_exit 73 setpriv --reuid=nobody --regid=nogroup --clear-groups "$HERALD" plan "$ro/campaign.yaml" \
    --state-dir "$ro/state"
  grep -qF "$ro/state" "$WORK/err" || fail "unwritable: $(cat "$WORK/err")"
  chmod 700 "$WORK"
  pass "a state directory that is not writable exits 73"
fi

# ---- finding 3: the file module's outbox and Maildir ----
victim "$WORK/victim-outbox"
ln -s "$WORK/victim-outbox" "$WORK/inapp.jsonl"
expect_exit 78 "$HERALD" run "$camp" --state-dir "$state"
untouched "$WORK/victim-outbox" "run with an outbox link"
grep -qF "$WORK/inapp.jsonl" "$WORK/err" || fail "outbox link not named: $(cat "$WORK/err")"
rm "$WORK/inapp.jsonl"
if $root; then
  install -m 600 -o nobody /dev/null "$WORK/inapp.jsonl"
  expect_exit 78 "$HERALD" run "$camp" --state-dir "$state"
  grep -q 'chown' "$WORK/err" || fail "foreign outbox: $(cat "$WORK/err")"
  rm "$WORK/inapp.jsonl"
fi
pass "an outbox that is a link or another user's file is refused (78)"

rm -rf "$WORK/maildir"
mkdir -m 700 "$WORK/maildir" "$WORK/elsewhere"
ln -s "$WORK/elsewhere" "$WORK/maildir/new"
mkdir -m 700 "$WORK/maildir/tmp" "$WORK/maildir/cur"
expect_exit 78 "$HERALD" run "$camp" --state-dir "$state"
[ -z "$(ls -A "$WORK/elsewhere")" ] || fail "a message went through the maildir's new link"
rm "$WORK/maildir/new"
mkdir -m 777 "$WORK/maildir/new"
chmod 777 "$WORK/maildir/new"
expect_exit 78 "$HERALD" run "$camp" --state-dir "$state"
grep -q 'chmod 700' "$WORK/err" || fail "open maildir: $(cat "$WORK/err")"
chmod 700 "$WORK/maildir/new"
pass "a Maildir with a linked or world-writable subdirectory is refused (78)"

expect_exit 0 "$HERALD" run "$camp" --state-dir "$state" --ignore-send-window
[ "$(find "$WORK/maildir/new" -type f | wc -l)" -eq 20 ] || fail "not 20 messages delivered"
[ "$(wc -l <"$WORK/inapp.jsonl")" -eq 20 ] || fail "not 20 push lines"
pass "the fixed-up store, Maildir and outbox run to completion"

# ---- finding 3: outputs in user-chosen places ----
expect_exit 0 "$HERALD" keys generate --out "$WORK/signing"
bundle=$WORK/bundle
mkdir "$bundle"
for f in records.jsonl .records.jsonl.tmp summary.json checkpoint manifest.json; do
  victim "$WORK/victim-b-$f"
  ln -s "$WORK/victim-b-$f" "$bundle/$f"
done
expect_exit 0 "$HERALD" proofs export "$camp" --state-dir "$state" --out "$bundle" --key "$WORK/signing.key"
for f in records.jsonl .records.jsonl.tmp summary.json checkpoint manifest.json; do
  untouched "$WORK/victim-b-$f" "proofs export over a $f link"
done
for f in records.jsonl summary.json checkpoint manifest.json; do
  [ -f "$bundle/$f" ] && [ ! -L "$bundle/$f" ] || fail "bundle $f is not a regular file"
done
expect_exit 0 "$HERALD" proofs verify "$bundle" --pubkey "$WORK/signing.pub"
pass "proofs export replaces links planted in the bundle directory, never writes through them"

victim "$WORK/victim-prove"
ln -s "$WORK/victim-prove" "$WORK/prove.json"
expect_exit 0 "$HERALD" proofs prove "$bundle" --person p000001 --pseudonym-key-env HERALD_PSEUDONYM_KEY \
  --out "$WORK/prove.json"
untouched "$WORK/victim-prove" "proofs prove --out over a link"
[ -f "$WORK/prove.json" ] && [ ! -L "$WORK/prove.json" ] || fail "prove.json is still a link"
mkdir "$WORK/show"
victim "$WORK/victim-show"
ln -s "$WORK/victim-show" "$WORK/show/email.eml"
"$HERALD" proofs show "$camp" --state-dir "$state" --person p000001 --out "$WORK/show" \
  >"$WORK/out" 2>"$WORK/err" || true
untouched "$WORK/victim-show" "proofs show --out over a link"
grep -q 'Lumen' "$WORK/show/email.eml" || fail "show did not write email.eml: $(cat "$WORK/err")"
pass "proofs prove and show write new files in place of planted links"

victim "$WORK/victim-gen"
ln -s "$WORK/victim-gen" "$WORK/gen.csv"
expect_exit 73 "$HERALD" generate --rows 10 --out "$WORK/gen.csv"
untouched "$WORK/victim-gen" "generate --out over a link"
grep -q 'link' "$WORK/err" || fail "generate: link not named: $(cat "$WORK/err")"
pass "generate refuses to write through a link (73)"
