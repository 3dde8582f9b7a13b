#!/usr/bin/env bash
# bench/smtp.sh [N]: how fast `herald run` sends personalised email through
# the smtp module, with full state bookkeeping, next to Postfix's
# smtp-source against the same smtp-sink in the same run, on equal terms:
# the same number of SMTP sessions, the same message size and one recipient
# per message on both sides.
#
# Plans N email deliveries (default 200,000: N people, each with an email
# address, on one email channel). For each session count S in SESSIONS
# (default "8 16"), ROUNDS (default 3) paired rounds against one smtp-sink
# on 127.0.0.1:
#   smtp-source -d -s S -r 1 (the yardstick: S sessions, many messages per
#   session, N messages as large as herald's on the wire), then herald run
#   through the smtp module (starttls off, pool_size S, messages_per_session
#   1000, concurrency 4096, no rate limit: every message rendered, marked in
#   flight and then sent in LMDB, durably), then smtp-source again, ...;
#   each herald run is compared with the mean of the yardsticks just before
#   and after it. The table shows medians with min-max of messages/s, CPU
#   per message of each side and the ratios, S=8 and S=16 side by side (the
#   machine is shared: absolute rates move a lot between runs, paired
#   ratios less);
# then a small run (NAGLE_N messages) with tcp_nodelay: false, to show what
# the connect() interposer (docs/smtp-channel.md) is worth.
# Message size: a second smtp-sink dumps a sample of herald's messages and
# two smtp-source probes; smtp-source's payload length (-l) is then set so
# that its messages are as large on the wire as herald's average.
# Rates are messages / whole-process wall time, start-up included. Client and
# sink share this machine's cores. A benchmark, not a test: it prints figures.
# HERALD_BENCH_SIZE=tiny: 300 messages, 1 round, both session counts.
#
# Needs postfix's smtp-sink and smtp-source (`apt-get install postfix`, with
# "No configuration"; scripts/install-deps.sh does it) and GNU time.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
if tiny; then
    N=300 ROUNDS=1 NAGLE_N=40 SIZE_N=40 SESSIONS="8 16"
else
    N=${1:-${N:-200000}}
    ROUNDS=${ROUNDS:-3}
    NAGLE_N=${NAGLE_N:-2000}
    SIZE_N=${SIZE_N:-1000}
    SESSIONS=${SESSIONS:-8 16}
fi
TARGET_RATIO=0.5

for tool in smtp-sink smtp-source; do
    [ -x /usr/sbin/$tool ] || {
        echo "bench: /usr/sbin/$tool is missing: install postfix (scripts/install-deps.sh)" >&2
        exit 1
    }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/herald-bench-smtp.XXXXXX")
SINK_PID="" DUMP_PID=""
cleanup() {
    local p
    for p in $SINK_PID $DUMP_PID; do kill "$p" 2>/dev/null || true; done
    if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

need_time
build
echo
echo "== herald smtp benchmark, $(commas "$N") messages, sessions: $SESSIONS (each side), $ROUNDS rounds"
machine_notes
echo "tools:   postfix $(dpkg-query -W -f '${Version}' postfix 2>/dev/null || echo '?') (smtp-sink, smtp-source), libesmtp $(pkg-config --modversion libesmtp-1.0 2>/dev/null || echo '?')"

# ---- the audience: N generated people with a plain email address ----------------------
# (bench_people in bench/lib.sh, without the push token requirement)
bench_people "$N" 1 email >"$TMP/audience.csv"
bench_people "$NAGLE_N" 2 email >"$TMP/audience-small.csv"
GOT=$(($(wc -l <"$TMP/audience.csv") - 1))
[ "$GOT" = "$N" ] || { echo "bench: only $GOT clean people generated, wanted $N" >&2; exit 1; }
head -n $((SIZE_N + 1)) "$TMP/audience.csv" >"$TMP/audience-size.csv"

# ---- smtp-sinks on free ports (loopback only) -----------------------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { # wait_port PORT: until it accepts connections (5 s at most)
    local _
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
    echo "bench: nothing listens on 127.0.0.1:$1" >&2
    exit 1
}
SINK_USER=()
[ "$(id -u)" = 0 ] && SINK_USER=(-u nobody)
# -m 1024: up to 1024 sessions at once; backlog 1024. PIPELINING is announced.
PORT=$(free_port)
/usr/sbin/smtp-sink "${SINK_USER[@]}" -m 1024 "127.0.0.1:$PORT" 1024 >/dev/null 2>&1 &
SINK_PID=$!
# The size sink writes every message it receives to a file in $TMP/dump
# (as nobody when root: the directories must let it in).
chmod 711 "$TMP"
mkdir -m 777 "$TMP/dump"
DPORT=$(free_port)
/usr/sbin/smtp-sink "${SINK_USER[@]}" -d "$TMP/dump/%M." "127.0.0.1:$DPORT" 64 >/dev/null 2>&1 &
DUMP_PID=$!
wait_port "$PORT"
wait_port "$DPORT"

# ---- campaigns: one per session count (a plan is bound to its campaign's bytes) ------------
export HERALD_LINK_SECRET=bench-secret-0123456789abcdef0123456789abcdef
campaign() { # campaign FILE AUDIENCE PORT POOL [EXTRA SETTINGS]
    {
        bench_campaign_head bench-smtp "$2"
        cat <<YAML
  email:
    type: email
    module: smtp
    from: "Lumen Privacy <privacy@lumen.example>"
    concurrency: 4096
    settings:
      relays: ["127.0.0.1:$3"]
      starttls: off
      pool_size: $4
      messages_per_session: 1000
${5:-}
YAML
    } >"$1"
}
FIRST_S=${SESSIONS%% *}
for s in $SESSIONS; do campaign "$TMP/smtp$s.yaml" "$TMP/audience.csv" "$PORT" "$s"; done
campaign "$TMP/nodelay.yaml" "$TMP/audience-small.csv" "$PORT" "$FIRST_S"
campaign "$TMP/nagle.yaml" "$TMP/audience-small.csv" "$PORT" "$FIRST_S" "      tcp_nodelay: false"
campaign "$TMP/size.yaml" "$TMP/audience-size.csv" "$DPORT" "$FIRST_S"

plan() { # plan NAME: into $TMP/plan-NAME
    forget_plans
    timed "$TMP/plan-$1" "$HERALD" plan "$TMP/$1.yaml" --state-dir "$TMP/plan-$1"
}
for s in $SESSIONS; do plan "smtp$s"; done
PLAN_NS=$T_NS
for c in nagle nodelay size; do plan "$c"; done

# run NAME EXPECTED: herald run on a fresh copy of plan-NAME (a run consumes
# its plan); checks that all EXPECTED were sent; leaves T_* (lib.sh).
run() {
    rm -rf "$TMP/state"
    cp -a "$TMP/plan-$1" "$TMP/state"
    sync
    timed "$TMP/run-$1" "$HERALD" run "$TMP/$1.yaml" --state-dir "$TMP/state"
    local sent
    sent=$(sed -n 's/.*run complete: \([0-9]*\) sent, 0 failed.*/\1/p' "$TMP/run-$1.err")
    [ "$sent" = "$2" ] || {
        echo "bench: $1 run sent ${sent:-?} of $2 (or some failed):" >&2
        tail -3 "$TMP/run-$1.err" >&2
        exit 1
    }
}

# ---- the message size, as both sides send it --------------------------------------------------
# wire_bytes FILES...: mean size of the dumped messages on the wire: without
# the sink's own lines (X-Client-*, X-Helo/Mail/Rcpt-Args, its Received
# header), with CRLF line ends (the dump has LF).
wire_bytes() {
    python3 - "$@" <<'PY'
import re, sys
sink = re.compile(rb"^X-(Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args): ")
total = 0
for name in sys.argv[1:]:
    lines = open(name, "rb").read().splitlines(keepends=True)
    i = 0
    while i < len(lines) and sink.match(lines[i]):
        i += 1
    if i < len(lines) and lines[i].startswith(b"Received: "):
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    total += sum(len(l.rstrip(b"\r\n")) + 2 for l in lines[i:])
print(round(total / (len(sys.argv) - 1)))
PY
}
source_dump() { # source_dump LENGTH: wire size of one smtp-source message with -l LENGTH
    rm -f "$TMP"/dump/*
    /usr/sbin/smtp-source -l "$1" -M bench.local -f a@bench.local -t b@bench.local -r 1 -m 1 \
        "127.0.0.1:$DPORT"
    sleep 0.2
    wire_bytes "$TMP"/dump/*
}
run size "$SIZE_N"
sleep 0.2
SIZE_FILES=$(find "$TMP/dump" -type f | wc -l)
[ "$SIZE_FILES" = "$SIZE_N" ] || { echo "bench: the size sink holds $SIZE_FILES messages, not $SIZE_N" >&2; exit 1; }
HERALD_BYTES=$(wire_bytes "$TMP"/dump/*)
S1K=$(source_dump 1000)
S9K=$(source_dump 9000)
# smtp-source's size grows linearly with -l (payload lines of 80 with CRLF).
LEN=$(awk -v h="$HERALD_BYTES" -v a="$S1K" -v b="$S9K" 'BEGIN { l = 1000 + (h - a) * 8000 / (b - a); printf "%d", l < 1 ? 1 : l + 0.5 }')
SOURCE_BYTES=$(source_dump "$LEN")
kill "$DUMP_PID" 2>/dev/null || true
DUMP_PID=""
echo
echo "plan:    $(commas "$N") deliveries planned in $(secs "$PLAN_NS") s"
echo "size:    herald's messages average $(commas "$HERALD_BYTES") bytes on the wire ($(commas "$SIZE_N") dumped by smtp-sink; multipart text + HTML, 26 languages);"
echo "         smtp-source -l $LEN sends $(commas "$SOURCE_BYTES") bytes per message; one recipient per message on both sides"

# ---- the runs ---------------------------------------------------------------------------------
yardstick() { # yardstick S: smtp-source -d -s S, N messages of LEN bytes; leaves T_*
    timed "$TMP/source" /usr/sbin/smtp-source -l "$LEN" -M bench.local -f a@bench.local \
        -t b@bench.local -r 1 -d -s "$1" -m "$N" "127.0.0.1:$PORT"
}
# Per session count: rounds Y0 H1 Y1 H2 Y2 ...; round i pairs H_i with the
# mean time of Y_{i-1} and Y_i. One line per round: S, herald msgs/s,
# smtp-source msgs/s, ratio, herald CPU us/msg, smtp-source CPU us/msg
# (mean of the two), CPU ratio.
ROWS_FILE=$TMP/rounds
: >"$ROWS_FILE"
for s in $SESSIONS; do
    yardstick "$s"
    y_prev=$T_NS y_cpu_prev=$(cpu_us "$N")
    for r in $(seq "$ROUNDS"); do
        run "smtp$s" "$N"
        h_ns=$T_NS h_cpu=$(cpu_us "$N")
        H_RSS=$T_RSS_KB H_ANON=$T_ANON_KB
        yardstick "$s"
        y_cpu=$(awk -v a="$y_cpu_prev" -v b="$(cpu_us "$N")" 'BEGIN { printf "%.1f", (a + b) / 2 }')
        h=$(rate "$N" "$h_ns")
        y=$(rate "$N" $(((y_prev + T_NS) / 2)))
        echo "$s $h $y $(div "$h" "$y") $h_cpu $y_cpu $(div "$h_cpu" "$y_cpu")" >>"$ROWS_FILE"
        echo "  sessions $s, round $r: herald $(commas "$h") msgs/s ($h_cpu us CPU/msg)," \
            "smtp-source $(commas "$y") msgs/s ($y_cpu us CPU/msg), ratio $(div "$h" "$y")"
        y_prev=$T_NS y_cpu_prev=$(cpu_us "$N")
    done
done
run nodelay "$(($(wc -l <"$TMP/audience-small.csv") - 1))"
ND_NS=$T_NS
run nagle "$(($(wc -l <"$TMP/audience-small.csv") - 1))"
NG_NS=$T_NS
SMALL=$(($(wc -l <"$TMP/audience-small.csv") - 1))

# ---- figures -------------------------------------------------------------------------------------
# stat S COLUMN: "median (min-max)" of that column over the rounds of S sessions.
stat() {
    awk -v s="$1" -v c="$2" '$1 == s { v[n++] = $c } END {
        for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
        m = n % 2 ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
        f = (c == 4 || c == 7) ? "%.3f" : (c >= 5 ? "%.1f" : "%d")
        printf(f " (" f "-" f ")", m, v[0], v[n - 1]) }' "$ROWS_FILE"
}
median() { stat "$1" "$2" | cut -d' ' -f1; }
ok() { if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; then echo "met"; else echo "NOT met"; fi; }
echo
echo "median (min-max) of $ROUNDS rounds of $(commas "$N") messages; each side runs S sessions:"
printf '%-34s' "measure"
for s in $SESSIONS; do printf '  %-28s' "S = $s"; done
echo
row() { # row LABEL COLUMN
    printf '%-34s' "$1"
    for s in $SESSIONS; do printf '  %-28s' "$(stat "$s" "$2")"; done
    echo
}
row "herald msgs/s" 2
row "smtp-source -d msgs/s" 3
row "ratio herald / smtp-source" 4
row "herald CPU us/msg" 5
row "smtp-source CPU us/msg" 6
row "CPU ratio herald / smtp-source" 7
printf '%-34s' "target ratio >= $TARGET_RATIO"
for s in $SESSIONS; do printf '  %-28s' "$(ok "$(median "$s" 4)" "$TARGET_RATIO")"; done
echo
echo "herald: pool_size S, messages_per_session 1000, concurrency 4096, bookkeeping included;"
echo "smtp-source: -d -s S -r 1 -l $LEN; CPU is user + sys of the client process only (the sink's is not counted)."
echo "last herald run: peak RSS $((H_RSS / 1024)) MB (heap $((H_ANON / 1024)) MB)"
echo
echo "TCP_NODELAY (the connect() interposer), $(commas "$SMALL") messages each, pool_size $FIRST_S:"
printf '%-40s %22s   %s\n' "herald run, tcp_nodelay: true" "$(commas "$(rate "$SMALL" "$ND_NS")") msgs/s" "$(secs "$ND_NS") s, start-up included"
printf '%-40s %22s   %s\n' "herald run, tcp_nodelay: false" "$(commas "$(rate "$SMALL" "$NG_NS")") msgs/s" "$(secs "$NG_NS") s: Nagle + delayed ACK"
printf '%-40s %22s   %s\n' "false / true" "$(div "$(rate "$SMALL" "$NG_NS")" "$(rate "$SMALL" "$ND_NS")")" ""
