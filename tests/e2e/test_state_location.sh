#!/usr/bin/env bash
# Issue 12 item 1: the state store belongs to the campaign, not to the
# current directory. status, run and plan from another directory find the
# same store and never plan it again; plan refuses to start a second store
# for a campaign whose store it can find (the location marker, the old
# ./herald-state/<id>, $HERALD_STATE_DIR, state.dir); run refuses a store of
# another campaign; HERALD_STATE_DIR and state.dir place the store.
source "$(dirname "$0")/lib.sh"

# mk FOLDER ID [YAML...]: a campaign FOLDER/c.yaml with id ID, 40 people,
# one file email channel writing into FOLDER/maildir; extra lines appended.
mk() {
  local dir=$1 id=$2; shift 2
  mkdir -p "$dir"
  ops_audience "$dir/audience.csv" 25:DE:de:Europe/Berlin 15:FR:fr:Europe/Paris
  ops_campaign "$dir/c.yaml" audience.csv "$id"
  cat >>"$dir/c.yaml" <<EOT
channels:
  email:
    type: email
    module: file
    from: "Lumen Privacy <privacy@lumen.example>"
    settings:
      maildir: $dir/maildir
EOT
  local l; for l in "$@"; do echo "$l" >>"$dir/c.yaml"; done
}
sent() { find "$1/maildir" -type f 2>/dev/null | wc -l; }
in_dir() { local d=$1; shift; (cd "$d" && "$@"); }
mkdir -p "$WORK/elsewhere"

# ---- the default: <campaign folder>/herald-state/<id>, from any directory ----
A=$WORK/a
mk "$A" loc-a
in_dir "$A" expect_exit 0 "$HERALD" plan c.yaml
[ -f "$A/herald-state/loc-a/data.mdb" ] || fail "plan did not make the store in the campaign folder"
[ "$(cat "$A/herald-state/loc-a.location")" = "$(realpath "$A/herald-state/loc-a")" ] ||
  fail "location marker: $(cat "$A/herald-state/loc-a.location" 2>&1)"
cd "$WORK/elsewhere"
expect_exit 0 "$HERALD" status "$A/c.yaml" --json
python3 -c 'import json,sys,os; s=json.load(open(sys.argv[1]));
assert os.path.realpath(s["state_dir"]) == os.path.realpath(sys.argv[2]), s["state_dir"]' \
  "$WORK/out" "$A/herald-state/loc-a" || fail "status from elsewhere read another store"
expect_exit 0 "$HERALD" run "$A/c.yaml"
[ "$(sent "$A")" -eq 40 ] || fail "first run sent $(sent "$A"), expected 40"
expect_exit 0 "$HERALD" plan "$A/c.yaml"
grep -q "up to date" "$WORK/err" || fail "plan from elsewhere did not find the store: $(cat "$WORK/err")"
[ ! -e "$WORK/elsewhere/herald-state" ] || fail "a store appeared in the current directory"
expect_exit 0 "$HERALD" run "$A/c.yaml"
[ "$(sent "$A")" -eq 40 ] || fail "a run from elsewhere sent again: $(sent "$A") messages"
pass "status, run and plan from another directory use the campaign's store; nothing re-sent"

# ---- plan refuses a second store while the first can be found ----
expect_exit 65 "$HERALD" plan "$A/c.yaml" --state-dir "$WORK/second"
grep -q "already has a state store at .*loc-a" "$WORK/err" || fail "second store: $(cat "$WORK/err")"
[ ! -e "$WORK/second" ] || fail "the refused plan left $WORK/second"
HERALD_STATE_DIR=$WORK/root expect_exit 65 "$HERALD" plan "$A/c.yaml"
[ ! -e "$WORK/root/loc-a" ] || fail "the refused plan left a store under HERALD_STATE_DIR"
pass "plan refuses a second store (--state-dir, HERALD_STATE_DIR)"

# The old default, ./herald-state/<id>, found even without a marker.
B=$WORK/b
mk "$B" loc-b
mkdir -p "$WORK/old"
in_dir "$WORK/old" expect_exit 0 "$HERALD" plan "$B/c.yaml" --state-dir herald-state/loc-b
rm "$B/herald-state/loc-b.location"
in_dir "$WORK/old" expect_exit 65 "$HERALD" plan "$B/c.yaml"
grep -q "already has a state store at herald-state/loc-b" "$WORK/err" || fail "legacy: $(cat "$WORK/err")"
[ ! -e "$B/herald-state/loc-b" ] || fail "a second store was made beside the legacy one"
pass "plan refuses a second store beside the old ./herald-state/<id>"

# A store planned with --state-dir is found through the marker; once gone,
# plan refuses to start afresh.
C=$WORK/c
mk "$C" loc-c
expect_exit 0 "$HERALD" plan "$C/c.yaml" --state-dir "$WORK/c-store"
expect_exit 0 "$HERALD" status "$C/c.yaml" --json
grep -q "c-store" "$WORK/out" || fail "status did not follow the marker: $(cat "$WORK/out")"
rm -rf "$WORK/c-store"
expect_exit 65 "$HERALD" plan "$C/c.yaml"
grep -q "holds no store any more" "$WORK/err" || fail "gone store: $(cat "$WORK/err")"
expect_exit 65 "$HERALD" plan "$C/c.yaml" --state-dir "$WORK/c-store"
pass "the marker leads to the store; a vanished store is not silently re-planned"

# ---- run refuses a store of another campaign ----
expect_exit 65 "$HERALD" run "$B/c.yaml" --state-dir "$A/herald-state/loc-a"
grep -q 'belongs to campaign "loc-a", not "loc-b"' "$WORK/err" || fail "mismatch: $(cat "$WORK/err")"
[ "$(sent "$B")" -eq 0 ] || fail "run sent from another campaign's store"
echo "description: changed" >>"$A/c.yaml"
expect_exit 65 "$HERALD" run "$A/c.yaml"
grep -q "changed since the plan" "$WORK/err" || fail "snapshot: $(cat "$WORK/err")"
[ "$(sent "$A")" -eq 40 ] || fail "run sent from a changed campaign"
pass "run refuses a store whose campaign id or snapshot does not match"

# ---- HERALD_STATE_DIR and state.dir ----
D=$WORK/d
mk "$D" loc-d
HERALD_STATE_DIR=$WORK/root expect_exit 0 "$HERALD" plan "$D/c.yaml"
[ -f "$WORK/root/loc-d/data.mdb" ] || fail "HERALD_STATE_DIR: no store in $WORK/root/loc-d"
in_dir / env HERALD_STATE_DIR="$WORK/root" "$HERALD" status "$D/c.yaml" --json >"$WORK/st.json" ||
  fail "status with HERALD_STATE_DIR"
grep -q "root/loc-d" "$WORK/st.json" || fail "status: $(cat "$WORK/st.json")"
E=$WORK/e
mk "$E" loc-e "state:" "  dir: store"
in_dir "$WORK/elsewhere" expect_exit 0 "$HERALD" plan "$E/c.yaml"
[ -f "$E/store/data.mdb" ] || fail "state.dir: no store in $E/store"
in_dir / expect_exit 0 "$HERALD" run "$E/c.yaml"
[ "$(sent "$E")" -eq 40 ] || fail "state.dir run sent $(sent "$E")"
pass "HERALD_STATE_DIR and state.dir place the store"

# ---- a read-only campaign folder (a Kubernetes ConfigMap) ----
# With $HERALD_STATE_DIR the store is found without the marker, which cannot
# be written there; with --state-dir alone it could not be found again, so
# plan refuses (73) rather than make a store nobody would find.
R=$WORK/ro-src
mk "$R" loc-r
sed -i "s|maildir: $R/maildir|maildir: $WORK/ro-maildir|" "$R/c.yaml"
mkdir -p "$WORK/ro"
mount --bind "$R" "$WORK/ro" || fail "cannot bind-mount $R (the test needs root)"
unmount_ro() { umount "$WORK/ro" 2>/dev/null || true; }
trap 'unmount_ro; bg_cleanup' EXIT
mount -o remount,ro,bind "$WORK/ro" || fail "cannot make the bind mount read-only"
touch "$WORK/ro/probe" 2>/dev/null && fail "the campaign folder is writable"
expect_exit 73 "$HERALD" plan "$WORK/ro/c.yaml" --state-dir "$WORK/ro-flag"
HERALD_STATE_DIR=$WORK/ro-root expect_exit 0 "$HERALD" plan "$WORK/ro/c.yaml"
[ -f "$WORK/ro-root/loc-r/data.mdb" ] || fail "read-only folder: no store under HERALD_STATE_DIR"
in_dir / env HERALD_STATE_DIR="$WORK/ro-root" "$HERALD" run "$WORK/ro/c.yaml" >/dev/null 2>"$WORK/err" ||
  fail "run with a read-only campaign folder: $(cat "$WORK/err")"
[ "$(find "$WORK/ro-maildir" -type f | wc -l)" -eq 40 ] || fail "read-only folder: run did not send 40"
HERALD_STATE_DIR=$WORK/ro-root expect_exit 0 "$HERALD" plan "$WORK/ro/c.yaml"
grep -q "up to date" "$WORK/err" || fail "read-only folder: plan again did not find the store"
pass "a read-only campaign folder: HERALD_STATE_DIR finds the store without a marker; --state-dir alone is refused"
