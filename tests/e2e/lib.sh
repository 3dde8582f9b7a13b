# Shared helpers for end-to-end tests (sourced). Each test gets its own
# scratch directory, removed on exit.
set -euo pipefail
: "${HERALD:?HERALD must point at the herald binary}"
: "${HERALD_SOURCE_DIR:?}"
SRC=$HERALD_SOURCE_DIR
# The tests' Python modules (aiosmtpd, cryptography, yaml, nacl) come from
# Debian's packages (scripts/install-deps.sh): use Debian's interpreter even
# where another python3 comes first on PATH.
[ -x /usr/bin/python3 ] && export PATH="/usr/bin:$PATH"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/herald-e2e-XXXXXX")
# Background processes a test starts (servers, runs) are registered with
# bg_track and killed when the test exits, whatever way it exits.
BG_PIDS=()
BG_KILL9_PIDS=()
bg_cleanup() {
  local p
  for p in "${BG_KILL9_PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  for p in "${BG_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${HERALD_E2E_KEEP:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap bg_cleanup EXIT
bg_track() { BG_PIDS+=("$@"); }
export HERALD_LINK_SECRET=e2e-secret-0123456789abcdef
export HERALD_PSEUDONYM_KEY=e2e-pseudonym-key-0123456789abcdef

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# expect_exit CODE CMD... : runs CMD, asserts its exit status.
expect_exit() {
  local want=$1; shift
  local got=0
  [ -n "${E2E_SEVERAL_STORES:-}" ] && forget_plan_stores "$@"
  "$@" >"$WORK/out" 2>"$WORK/err" || got=$?
  [ "$got" -eq "$want" ] || { cat "$WORK/out" "$WORK/err" >&2; fail "exit $got, expected $want: $*"; }
}

# ---- ops_*: helpers of the operations tests (test_ops_*.sh) ----
# ops_audience FILE COUNT:COUNTRY:LANG:TZ... : a CSV audience of adults with an
# email address and a push token each, groups in the given order.
ops_audience() {
  python3 - "$@" <<'PY'
import sys
n = 0
with open(sys.argv[1], "w") as out:
    out.write("id,email,push_token,country,language,birth_date,time_zone,name\n")
    for spec in sys.argv[2:]:
        count, country, lang, tz = spec.split(":", 3)
        for _ in range(int(count)):
            n += 1
            out.write(f"p{n:06d},p{n:06d}@example.org,tok-{n:06d},{country},{lang},"
                      f"1980-01-01,{tz},Person {n}\n")
PY
}
# ops_campaign FILE AUDIENCE [ID [REGIONS]] : a campaign's head (id, default
# ops-e2e; audience in REGIONS, default "EU, EEA, UK"; link, locales); the
# test appends channels, waves, send_window, retry, canary, proofs.
ops_campaign() {
  cat >"$1" <<EOT
id: ${3:-ops-e2e}
reference_date: 2025-06-26
vars:
  company: Lumen
audience:
  source: $2
  format: csv
  regions: [${4:-EU, EEA, UK}]
  minimum_age: 18
objection_link:
  url: "https://privacy.example/object?p={{person}}&t={{token}}"
  secret_env: HERALD_LINK_SECRET
locales:
  dir: $SRC/locales/ai-training-notice
  default: en
EOT
}
# ops_q CAMPAIGN STATE_DIR EXPR : prints a Python expression over
# `herald status --json` (s); n(country, channel, state) sums the shards of a
# country (None: all countries).
ops_q() {
  "$HERALD" status "$1" --state-dir "$2" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
def n(country, channel, state):
    return sum(sh["channels"][channel][state] for sh in s["shards"]
               if country in (None, sh["country"]))
print(eval(sys.argv[1]))' "$3"
}
# ops_wait SECONDS CONDITION : evaluates CONDITION (bash) every 0.1 s until it
# holds; fails after SECONDS.
ops_wait() {
  local end=$((SECONDS + $1))
  until eval "$2"; do
    [ "$SECONDS" -lt "$end" ] || fail "not within $1 s: $2"
    sleep 0.1
  done
}
# ops_bg LOG CMD... : runs CMD in the background (output to LOG); $! is its
# pid. Whatever is still running when the test exits is killed.
ops_bg() {
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  BG_KILL9_PIDS+=("$!")
}

# ---- dispatch_*: helpers of the dispatch tests (test_dispatch_*.sh) ----
# dispatch_campaign OUT AUDIENCE OBJECTIONS OUTDIR [email_rate=R] [push_rate=R]
#                   [concurrency=N] [delay_ms=N] [fail_every=N] [backoff=D]
#                   [max_attempts=N]
# The sample campaign adapted to deliver with the file module into OUTDIR
# (maildir/ and inapp.jsonl; not $WORK/out, which expect_exit writes), with
# absolute audience, objections and locales; a rate of "none" removes the
# limit; delay_ms slows every batch, fail_every=N fails every Nth message
# transiently (test aids of the file module); backoff sets both retry
# backoffs (e.g. 1s), max_attempts the retry limit.
# Waves and the send window are kept (their dates are past; run with
# --ignore-send-window). Fails if the sample no longer has the lines it edits.
dispatch_campaign() {
  python3 - "$SRC/campaigns/ai-training-notice.yaml" "$SRC" "$@" <<'PY'
import re, sys
sample, src, out, audience, objections, outdir = sys.argv[1:7]
opts = dict(a.split("=", 1) for a in sys.argv[7:])
text = open(sample, encoding="utf-8").read()
def sub(pattern, repl, count=1):
    global text
    new, n = re.subn(pattern, lambda m: repl, text, flags=re.M)
    if n != count:
        sys.exit(f"dispatch_campaign: {pattern!r} matched {n} times in {sample}, not {count}")
    text = new
sub(r"^  source: .*$", f"  source: {audience}")
sub(r"^    file: .*$", f"    file: {objections}")
sub(r"^  dir: .*$", f'  dir: "{src}/locales/ai-training-notice"')
aids = "".join(f"\n      {k}: {opts[k]}" for k in ("delay_ms", "fail_every") if k in opts)
sub(r"^      maildir: .*$", f"      maildir: {outdir}/maildir" + aids)
sub(r"^      outbox: .*$", f"      outbox: {outdir}/inapp.jsonl" + aids)
if "backoff" in opts:  # retries within the test's time: initial_backoff and max_backoff
    sub(r"^  initial_backoff: .*$", f"  initial_backoff: {opts['backoff']}")
    sub(r"^  max_backoff: .*$", f"  max_backoff: {opts['backoff']}")
if "max_attempts" in opts:
    sub(r"^  max_attempts: .*$", f"  max_attempts: {opts['max_attempts']}")
for kind, rate in (("email", opts.get("email_rate")), ("push", opts.get("push_rate"))):
    if rate is None:
        continue
    # the rate line of the channel whose "type:" is kind
    m = re.search(rf"^    type: {kind}\n(?:      .*\n|    (?!rate:).*\n)*?(    rate: .*\n)", text, re.M)
    if m is None:
        sys.exit(f"dispatch_campaign: no rate for the {kind} channel in {sample}")
    text = text[:m.start(1)] + ("" if rate == "none" else f"    rate: {rate}\n") + text[m.end(1):]
if "concurrency" in opts:
    sub(r"^    concurrency: .*$", f"    concurrency: {opts['concurrency']}", count=2)
if "../" in text.split("\nchannels:", 1)[1]:
    sys.exit("dispatch_campaign: a channel still writes outside OUTDIR")
open(out, "w", encoding="utf-8").write(text)
PY
}
# dispatch_planned PLAN_JSON : "email=N inapp=M", the deliveries per channel of
# a fresh `herald plan --json` (every state, i.e. all pending).
dispatch_planned() {
  python3 - "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
tot = {}
for sh in s["shards"]:
    for ch, st in sh["channels"].items():
        tot[ch] = tot.get(ch, 0) + sum(v for k, v in st.items()
                                       if k not in ("no_address", "unsupported_address"))
print(" ".join(f"{k}={v}" for k, v in sorted(tot.items())))
PY
}
# dispatch_all_sent CAMPAIGN STATE_DIR PLANNED : asserts from `herald status
# --json` that every channel has nothing pending, in flight, retrying, failed
# or held, and sent == the planned count ("email=N inapp=M").
dispatch_all_sent() {
  "$HERALD" status "$1" --state-dir "$2" --json >"$WORK/status.json" ||
    fail "herald status failed"
  python3 - "$WORK/status.json" "$3" <<'PY' || fail "status does not show every delivery sent"
import json, sys
s = json.load(open(sys.argv[1]))
planned = dict(kv.split("=") for kv in sys.argv[2].split())
ok = set(planned) == set(s["channels"])
for ch, st in sorted(s["channels"].items()):
    left = st["pending"] + st["inflight"] + st["retry"]
    line = (f"{ch}: sent {st['sent']} of {st['total']} (planned {planned.get(ch)}), "
            f"pending+inflight+retry {left}, failed {st['failed']}, held {st['held']}")
    print(line)
    ok = ok and left == 0 and st["failed"] == 0 and st["held"] == 0 and \
        st["sent"] == st["total"] == int(planned.get(ch, -1))
sys.exit(0 if ok else 1)
PY
}
# dispatch_verify STATE_DIR OUTDIR [verify_outputs.py options...] : the
# independent output check for a campaign made by dispatch_campaign.
dispatch_verify() {
  local st=$1 out=$2; shift 2
  local url
  url=$(sed -n 's/^  url: "\(.*\)"$/\1/p' "$SRC/campaigns/ai-training-notice.yaml")
  [ -n "$url" ] || fail "no objection_link url in the sample campaign"
  python3 "$SRC/tests/e2e/verify_outputs.py" --state-dir "$st" \
    --channel "email:email:$out/maildir" --channel "inapp:push:$out/inapp.jsonl" \
    --link-template "$url" "$@"
}

# push_server_start DIR ARGS... : tests/e2e/push_server.py on a free port,
# recording into DIR; sets PORT. Killed when the test exits.
push_server_start() {
  local dir=$1; shift
  mkdir -p "$dir"
  python3 "$SRC/tests/e2e/push_server.py" --port-file "$dir/port" --log "$dir/requests.jsonl" \
    --accepted "$dir/accepted.jsonl" "$@" >"$dir/server.log" 2>&1 &
  bg_track "$!"
  for _ in $(seq 200); do [ -s "$dir/port" ] && break; sleep 0.05; done
  [ -s "$dir/port" ] || fail "push_server did not start: $(cat "$dir/server.log")"
  PORT=$(cat "$dir/port")
}

# smtp_start NAME [smtp_server.py options] : a capturing SMTP server (aiosmtpd)
# in $WORK/NAME on a free port; sets PORT. Killed when the test exits.
smtp_start() {
  local name=$1; shift
  mkdir -p "$WORK/$name"
  "${PY:-python3}" "$SRC/tests/e2e/smtp_server.py" --maildir "$WORK/$name/maildir" \
    --log "$WORK/$name/log.jsonl" --port-file "$WORK/$name/port" "$@" >"$WORK/$name/server.out" 2>&1 &
  bg_track "$!"
  for _ in $(seq 100); do [ -s "$WORK/$name/port" ] && break; sleep 0.1; done
  [ -s "$WORK/$name/port" ] || { cat "$WORK/$name/server.out" >&2; fail "smtp_server.py did not start"; }
  PORT=$(cat "$WORK/$name/port")
}
# email_counts CAMPAIGN STATE : "sent failed left" of the email channel.
email_counts() {
  "$HERALD" status "$1" --state-dir "$2" --json | "${PY:-python3}" -c '
import json, sys
c = json.load(sys.stdin)["channels"]["email"]
print(c["sent"], c["failed"], c["pending"] + c["inflight"] + c["retry"] + c["held"])'
}

# e2e_scaled N : N scaled by HERALD_E2E_SCALE (a percentage, default 100),
# at least 1. The sanitizer build sets it (tests/CMakeLists.txt) so the
# tests' sizes do not make them too costly there; every check still runs.
e2e_scaled() {
  local n=$(($1 * ${HERALD_E2E_SCALE:-100} / 100))
  echo $((n > 0 ? n : 1))
}

# ---- crash_*: helpers of the crash tests (test_crash_*.sh) ----
# crash_free_port : a TCP port of 127.0.0.1 nobody listens on now.
crash_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# crash_sink_start DIR : postfix's smtp-sink on a free port of 127.0.0.1,
# appending every message it takes to DIR/sink.dump (read by verify_outputs.py
# as --channel NAME:smtp-sink:DIR/sink.dump); sets PORT. smtp-sink appends a
# message only once the client's "." has arrived, before it answers 250.
crash_sink_start() {
  local dir=$1 user=() pid try
  command -v smtp-sink >/dev/null || fail "smtp-sink not found (postfix): run scripts/install-deps.sh"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then # smtp-sink refuses to run as root: it writes as nobody
    chmod 711 "$WORK"
    chown nobody "$dir"
    user=(-u nobody)
  fi
  for try in 1 2 3; do
    PORT=$(crash_free_port)
    smtp-sink "${user[@]}" -S '\001SINK\n' -D "$dir/sink.dump" -m 1024 "127.0.0.1:$PORT" 1024 \
      >"$dir/sink.log" 2>&1 &
    pid=$!
    if python3 - "$PORT" <<'PY'; then
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
      bg_track "$pid"
      return 0
    fi
    kill "$pid" 2>/dev/null || true
  done
  fail "smtp-sink did not start: $(cat "$dir/sink.log")"
}
# crash_campaign OUT AUDIENCE OBJECTIONS SMTP_PORT PUSH_PORT [dispatch_campaign options]
# The campaign of dispatch_campaign with its email channel on the smtp module
# (8 sessions to 127.0.0.1:SMTP_PORT, no TLS) and its push channel on
# http-push (16 requests in flight to http://127.0.0.1:PUSH_PORT/notices).
crash_campaign() {
  local out=$1 audience=$2 objections=$3 smtp=$4 push=$5
  shift 5
  dispatch_campaign "$out" "$audience" "$objections" "$WORK/no-file-outputs" "$@"
  python3 - "$out" "$smtp" "$push" <<'PY'
import re, sys
out, smtp, push = sys.argv[1:]
text = open(out, encoding="utf-8").read()
def sub(pattern, repl):
    global text
    text, n = re.subn(pattern, lambda m: repl(m), text, flags=re.M)
    if n != 1:
        sys.exit(f"crash_campaign: {pattern!r} matched {n} times, not once")
sub(r"^(    type: email\n)    module: file\n((?:    (?!settings:).*\n)*)    settings:\n      maildir: .*\n",
    lambda m: f"{m.group(1)}    module: smtp\n{m.group(2)}    settings:\n"
              f"      relays: [\"127.0.0.1:{smtp}\"]\n      starttls: off\n      pool_size: 8\n")
sub(r"^(    type: push\n)    module: file\n((?:    (?!settings:).*\n)*)    settings:\n      outbox: .*\n",
    lambda m: f"{m.group(1)}    module: http-push\n{m.group(2)}    settings:\n"
              f"      url: http://127.0.0.1:{push}/notices\n      max_in_flight: 16\n")
open(out, "w", encoding="utf-8").write(text)
PY
}
# crash_alive PID : whether PID runs (a zombie, dead but not yet waited
# for, does not; kill -0 would say it does).
crash_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}
# crash_done CAMPAIGN STATE : deliveries sent or failed so far, all channels.
crash_done() {
  ops_q "$1" "$2" 'sum(n(None, ch, "sent") + n(None, ch, "failed") for ch in s["channels"])'
}
# crash_kills KILLS LOG CAMPAIGN STATE CMD... : starts CMD (a `herald run` of
# CAMPAIGN on STATE) KILLS times and SIGKILLs each at a random instant, from
# $RANDOM (the test seeds it and prints the seed). One kill in five lands
# 0-300 ms after the start (start-up, recovery of the last kill's in-flight
# deliveries, the first batches); the others when the work done (sent or
# failed, polled from `herald status` every 50 ms) reaches a random point of
# the kill's slice of 90% of the work, plus 0-99 ms, so the kills spread over
# the whole wave whatever the machine's speed. Fails when a run ends before
# its kill. Sets RUNS; logs each kill's instant in LOG.
# CRASH_SIGNAL (default KILL) is the signal; another one (USR1 for the
# power-loss shim) is sent every 100 ms until the run dies, and the test
# ignores it itself (trap '' USR1) so a run that has not yet set up its
# handler ignores it too. CRASH_HOOK, when set, is a command run before each
# run starts (it may export settings for that run).
crash_kills() {
  local kills=$1 log=$2 campaign=$3 st=$4 total pid rc n=0 target done ms
  shift 4
  total=$(ops_q "$campaign" "$st" 'sum(c["total"] for c in s["channels"].values())')
  RUNS=0
  while [ "$n" -lt "$kills" ]; do
    RUNS=$((RUNS + 1))
    echo "=== run $RUNS" >>"$log"
    [ -z "${CRASH_HOOK:-}" ] || $CRASH_HOOK
    "$@" >>"$log" 2>&1 & # $! is herald itself, not a subshell
    pid=$!
    BG_KILL9_PIDS=("$pid") # killed by lib.sh if the test stops here
    if [ $((RANDOM % 5)) -eq 0 ]; then
      ms=$((RANDOM % 301))
      sleep "$(printf '0.%03d' "$ms")"
      echo "=== SIG${CRASH_SIGNAL:-KILL} $ms ms after the start of run $RUNS" >>"$log"
    else
      target=$((total * 9 * (n * 1000 + RANDOM % 1000) / (kills * 10000)))
      { # (a run that dies here is reported by its exit status below)
        until done=$(crash_done "$campaign" "$st") && [ "$done" -ge "$target" ]; do
          crash_alive "$pid" || break
          sleep 0.05
        done
      } 2>/dev/null
      ms=$((RANDOM % 100))
      sleep "$(printf '0.%03d' "$ms")"
      echo "=== SIG${CRASH_SIGNAL:-KILL} $ms ms after $done of $total done (target $target)" >>"$log"
    fi
    local waited=0
    rc=0
    { # (no "Killed" notice from bash, here or in wait)
      kill -"${CRASH_SIGNAL:-KILL}" "$pid" || true
      while [ "${CRASH_SIGNAL:-KILL}" != KILL ] && crash_alive "$pid" && [ "$waited" -lt 300 ]; do
        waited=$((waited + 1))
        sleep 0.1
        kill -"$CRASH_SIGNAL" "$pid" || true
      done
      [ "$waited" -lt 300 ] || kill -KILL "$pid" || true
      wait "$pid" || rc=$?
    } 2>/dev/null
    [ "$waited" -lt 300 ] || fail "run $RUNS still alive 30 s after SIG$CRASH_SIGNAL"
    BG_KILL9_PIDS=()
    case $rc in
      137) n=$((n + 1)) ;;
      0) fail "run $RUNS finished before its kill: only $n of $kills kills landed" ;;
      *) tail -n 5 "$log" >&2; fail "run $RUNS exited $rc" ;;
    esac
  done
}
# crash_finish LOG CMD... : runs CMD (a `herald run`) until a run completes
# (at most 3 runs); prints the last run's summary line. Adds to RUNS.
crash_finish() {
  local log=$1 i rc last
  shift
  for i in 1 2 3; do
    RUNS=$((${RUNS:-0} + 1))
    echo "=== run $RUNS, to completion" >>"$log"
    rc=0
    "$@" >>"$log" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || { tail -n 5 "$log" >&2; fail "run $RUNS exited $rc"; }
    last=$(grep '^herald: run ' "$log" | tail -n 1)
    case $last in
      "herald: run complete: "*) echo "$last"; return 0 ;;
    esac
  done
  fail "no run completed: $last"
}
# crash_check CAMPAIGN STATE PLANNED SINK_DUMP PUSH_ACCEPTED : the strong
# checker. status shows every planned delivery sent (dispatch_all_sent), and
# verify_outputs.py --light on what the servers took: every (person, channel)
# of the plan received at least once, nothing else received, every copy
# byte-identical to the SHA-256 the store recorded, and every (person,
# channel) received more than once listed by `herald status --uncertain` (the
# list equal to the store's uncertain flags). Leaves the summary in
# $WORK/verify.out and the uncertain list in $WORK/uncertain.txt; sets
# UNCERTAIN and EXTRA (the extra copies).
crash_check() {
  local campaign=$1 st=$2 planned=$3 sink=$4 accepted=$5 url
  dispatch_all_sent "$campaign" "$st" "$planned"
  "$HERALD" status "$campaign" --state-dir "$st" --uncertain >"$WORK/uncertain.txt" \
    2>"$WORK/uncertain.err" || fail "status --uncertain failed: $(cat "$WORK/uncertain.err")"
  UNCERTAIN=$(wc -l <"$WORK/uncertain.txt")
  grep -q "^herald: $UNCERTAIN uncertain deliveries" "$WORK/uncertain.err" ||
    fail "status --uncertain count: $(cat "$WORK/uncertain.err")"
  url=$(sed -n 's/^  url: "\(.*\)"$/\1/p' "$SRC/campaigns/ai-training-notice.yaml")
  python3 "$SRC/tests/e2e/verify_outputs.py" --state-dir "$st" --light \
    --channel "email:smtp-sink:$sink" --channel "inapp:push:$accepted" \
    --link-template "$url" --uncertain "$WORK/uncertain.txt" >"$WORK/verify.out" ||
    { cat "$WORK/verify.out"; fail "verify_outputs.py: a delivery lost, or an unlisted extra copy"; }
  cat "$WORK/verify.out"
  EXTRA=$(sed -n 's/.* extra_copies=\([0-9]*\) .*/\1/p' "$WORK/verify.out")
}

# run_told CAMPAIGN STATE TIMEOUT ARGS... : `herald run CAMPAIGN --state-dir
# STATE ARGS` (output in $WORK/out and $WORK/err) whose exit code must be the
# one its end state calls for (docs/exit-codes.md): 3 with work left (held,
# pending), else 2 with failed deliveries, else 0. For tests whose faults make
# failures or holds on purpose, in numbers they check themselves.
run_told() {
  local camp=$1 st=$2 t=$3 got=0 want
  shift 3
  timeout "$t" "$HERALD" run "$camp" --state-dir "$st" "$@" >"$WORK/out" 2>"$WORK/err" || got=$?
  want=$("$HERALD" status "$camp" --state-dir "$st" --json | python3 -c '
import json, sys
ch = json.load(sys.stdin)["channels"].values()
left = sum(c["pending"] + c["inflight"] + c["retry"] + c["held"] for c in ch)
print(3 if left else 2 if sum(c["failed"] for c in ch) else 0)')
  [ "$got" -eq "$want" ] || { cat "$WORK/err" >&2; fail "run exit $got, expected $want for its end state: $camp"; }
}

# forget_stores DIR: forgets where the campaigns in DIR were planned (their
# location markers, DIR/herald-state/*.location, docs/state-store.md), for a
# test that plans the same campaign id into another store on purpose; plan
# refuses a second store while it can find the first.
forget_stores() { rm -f "$1"/herald-state/*.location; }
# A test that plans one campaign id into several stores on purpose (a store
# per scenario) sets E2E_SEVERAL_STORES=1: expect_exit then forgets the
# stores of the campaign a `herald plan` names before it runs.
forget_plan_stores() {
  local a plan=
  for a in "$@"; do
    [ "$a" = plan ] && plan=1
    case "$a" in *.yaml | *.yml) [ -n "$plan" ] && forget_stores "$(dirname "$a")" ;; esac
  done
  return 0
}
