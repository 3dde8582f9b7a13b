#!/usr/bin/env bash
# Disk full: the state store on a small file system of its own (a loop-mounted
# ext4 image; tmpfs where loop devices are missing; where nothing can be
# mounted, not root or not permitted, tests/crash/store_shim.c fails the
# writes that would grow data.mdb past a limit with ENOSPC, and the test says
# so). Email and push go to the real servers of test_crash_sigkill.sh.
#
# What it checks, as docs/state-store.md promises:
# * plan on a full disk exits 74 (IOERR) saying the disk is full; run refuses
#   the half-made store; once space is freed, a plain plan completes;
# * three times, run with only a little space left stops with 74, saying the
#   disk is full and to free space; each time the store stays consistent:
#   status works, every channel's counts add up to what was planned, every
#   delivery recorded sent was received, nothing received is recorded
#   pending or retrying (verify_outputs.py --partial), every extra copy is
#   listed as uncertain; and each run got further than the one before;
# * once the space is freed, a run completes, and crash_check finds nothing
#   lost and no unlisted extra copy.
source "$(dirname "$0")/lib.sh"
ROWS=${HERALD_E2E_ROWS:-$(e2e_scaled 20000)}
SHIM=${HERALD_BUILD_DIR:?}/tests/store_shim.so
t0=$SECONDS

# ---- the small file system ----
mnt=$WORK/small
mkdir -p "$mnt"
fs=shim
disk_cleanup() {
  local p
  for p in "${BG_KILL9_PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  [ "$fs" = shim ] || umount -l "$mnt" 2>/dev/null || true
  bg_cleanup
}
trap disk_cleanup EXIT
size_mb=$((ROWS * 6 / 1000 > 32 ? ROWS * 6 / 1000 : 32)) # the finished store is ~2.4 KB a row
if [ "${HERALD_E2E_DISKFULL:-}" != shim ] && [ "$(id -u)" = 0 ]; then
  truncate -s "${size_mb}M" "$WORK/fs.img"
  if mkfs.ext4 -q -m 0 -F "$WORK/fs.img" 2>"$WORK/mkfs.err" &&
    mount -o loop "$WORK/fs.img" "$mnt" 2>"$WORK/mount.err"; then
    fs=ext4
  elif mount -t tmpfs -o "size=${size_mb}m,mode=0700" tmpfs "$mnt" 2>>"$WORK/mount.err"; then
    fs=tmpfs
  fi
fi
case $fs in
  shim) echo "NOTE: no small file system mounted (${HERALD_E2E_DISKFULL:+HERALD_E2E_DISKFULL=shim; }user \
$(id -un); $(cat "$WORK/mount.err" 2>/dev/null | tail -n 1)): the full disk is simulated by \
$SHIM (HERALD_STORE_MAX_BYTES)" ;;
  *) echo "the state store is on a ${size_mb} MB $fs file system" ;;
esac
state=$mnt/state
ballast=$mnt/ballast
# leave_free BYTES : the file system (or the shim's limit) leaves about
# BYTES for the store to grow; sets LIMIT_ENV for the runs.
LIMIT_ENV=()
leave_free() {
  rm -f "$ballast"
  if [ "$fs" = shim ]; then
    local size=0
    [ -f "$state/data.mdb" ] && size=$(stat -c %s "$state/data.mdb")
    LIMIT_ENV=(env LD_PRELOAD="$SHIM" HERALD_STORE_MAX_BYTES=$((size + $1))
      ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")
    return
  fi
  sync -f "$mnt"
  local avail=$(($(stat -f -c '%a * %S' "$mnt")))
  [ "$avail" -gt "$1" ] || fail "only $avail bytes free on $mnt, wanted more than $1"
  fallocate -l $((avail - $1)) "$ballast"
}
# free_all : frees the space (the ballast, or the shim's limit).
free_all() {
  rm -f "$ballast"
  LIMIT_ENV=()
}

"$HERALD" generate --rows "$ROWS" --seed 7 --out "$WORK/audience.csv" \
  --objections "$WORK/objections.txt" 2>"$WORK/gen.err" || fail "generate: $(cat "$WORK/gen.err")"
crash_sink_start "$WORK/sink"
smtp_port=$PORT
push_server_start "$WORK/push"
crash_campaign "$WORK/c.yaml" "$WORK/audience.csv" "$WORK/objections.txt" "$smtp_port" "$PORT" \
  email_rate=none push_rate=none concurrency=64

# expect_full WHAT CMD... : CMD exits 74 and says the disk is full.
expect_full() {
  local what=$1
  shift
  expect_exit 74 "${LIMIT_ENV[@]}" "$@"
  grep -q 'disk full.*free space and run again' "$WORK/err" ||
    fail "$what on a full disk: the error does not say so: $(tail -n 2 "$WORK/err")"
}

# ---- plan on a full disk ----
mkdir -p "$state"
chmod 700 "$state"
leave_free $((ROWS * 100)) # the plan needs ~460 bytes a row
expect_full plan "$HERALD" plan "$WORK/c.yaml" --state-dir "$state"
tail -n 1 "$WORK/err"
rc=0
"$HERALD" run "$WORK/c.yaml" --state-dir "$state" --ignore-send-window >"$WORK/out" \
  2>"$WORK/err" || rc=$?
case $rc:$(cat "$WORK/err") in
  65:*"is not complete: run \`herald plan\` first"* | 66:*"run \`herald plan\` first"*) ;;
  *) fail "run after plan hit a full disk: exit $rc: $(cat "$WORK/err")" ;;
esac
free_all
expect_exit 0 "$HERALD" plan "$WORK/c.yaml" --state-dir "$state" --json
cp "$WORK/out" "$WORK/plan.json"
planned=$(dispatch_planned "$WORK/plan.json")
echo "planned: $planned"
pass "plan on a full disk: exit 74, refused by run; plan completes once space is freed ($((SECONDS - t0)) s)"

# counts_add_up STATUS_JSON PLANNED : per channel, the states add up to the
# total, the total is what was planned, nothing failed or held; prints the
# deliveries sent (all channels).
counts_add_up() {
  python3 - "$@" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
planned = dict(kv.split("=") for kv in sys.argv[2].split())
ok, sent = set(planned) == set(s["channels"]), 0
for ch, st in sorted(s["channels"].items()):
    parts = sum(st[k] for k in ("pending", "inflight", "sent", "retry", "failed", "held"))
    if not parts == st["total"] == int(planned.get(ch, -1)) or st["failed"] or st["held"]:
        print(f"{ch}: {st}", file=sys.stderr)
        ok = False
    sent += st["sent"]
print(sent)
sys.exit(0 if ok else 1)
PY
}

# ---- three runs that fill the disk ----
url=$(sed -n 's/^  url: "\(.*\)"$/\1/p' "$SRC/campaigns/ai-training-notice.yaml")
run=("$HERALD" run "$WORK/c.yaml" --state-dir "$state" --ignore-send-window)
last_sent=0
for i in 1 2 3; do
  leave_free $((ROWS * 300))
  expect_full "run $i" "${run[@]}"
  cat "$WORK/err" >>"$WORK/runs.log"
  echo "run $i: $(tail -n 1 "$WORK/err")"
  free_all # (status and the checks write nothing; the next run leaves little again)
  "$HERALD" status "$WORK/c.yaml" --state-dir "$state" --json >"$WORK/status.json" ||
    fail "status after run $i hit a full disk"
  sent=$(counts_add_up "$WORK/status.json" "$planned") || fail "counts do not add up after run $i"
  "$HERALD" status "$WORK/c.yaml" --state-dir "$state" --uncertain >"$WORK/uncertain.txt" \
    2>/dev/null || fail "status --uncertain after run $i"
  python3 "$SRC/tests/e2e/verify_outputs.py" --state-dir "$state" --light --partial \
    --channel "email:smtp-sink:$WORK/sink/sink.dump" --channel "inapp:push:$WORK/push/accepted.jsonl" \
    --link-template "$url" --uncertain "$WORK/uncertain.txt" >"$WORK/verify.out" ||
    { cat "$WORK/verify.out"; fail "after run $i hit a full disk, the store and the servers disagree"; }
  [ "$sent" -gt "$last_sent" ] || fail "run $i sent nothing more ($sent sent in all)"
  echo "after run $i: $sent sent; $(sed 's/.*delivered/delivered/' "$WORK/verify.out")"
  last_sent=$sent
done
pass "3 runs stopped by a full disk with exit 74; the store consistent after each ($((SECONDS - t0)) s)"

# ---- space freed: the run completes ----
free_all
crash_finish "$WORK/runs.log" "${run[@]}"
crash_check "$WORK/c.yaml" "$state" "$planned" "$WORK/sink/sink.dump" "$WORK/push/accepted.jsonl"
echo "after 3 full disks: $EXTRA extra copies, $UNCERTAIN uncertain deliveries"
pass "once space is freed, nothing lost and every extra copy listed as uncertain ($((SECONDS - t0)) s)"
