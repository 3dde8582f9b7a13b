#!/usr/bin/env bash
# bench/smtp.sh [N]: how fast `herald run` sends personalised email through
# the smtp module, with full state bookkeeping, next to Postfix's
# smtp-source against the same smtp-sink in the same run.
#
# Plans N email deliveries (default 200,000: N people, each with an email
# address, on one email channel), then runs ROUNDS (default 3) paired rounds
# against one smtp-sink on 127.0.0.1:
#   smtp-source -d -s 16 (the yardstick: 16 sessions, many messages per
#   session, N messages of herald's average size), then herald run through
#   the smtp module (starttls off, pool_size POOL (8), messages_per_session
#   1000, concurrency 4096, no rate limit: every message rendered, marked in
#   flight and then sent in LMDB, durably), then smtp-source again, ...;
#   each herald run is compared with the mean of the yardsticks just before
#   and after it, and the table shows medians with min-max (the machine is
#   shared: absolute rates move a lot between runs, paired ratios less);
# then a small run (NAGLE_N messages) with tcp_nodelay: false, to show what
# the connect() interposer (docs/smtp-channel.md) is worth.
# Rates are messages / whole-process wall time, start-up included. Client and
# sink share this machine's cores. A benchmark, not a test: it prints figures.
#
# Needs postfix's smtp-sink and smtp-source (`apt-get install postfix`, with
# "No configuration"; scripts/install-deps.sh does it) and GNU time.
set -euo pipefail

N=${1:-${N:-200000}}
POOL=${POOL:-8}
ROUNDS=${ROUNDS:-3}
NAGLE_N=${NAGLE_N:-2000}
. "$(dirname "$0")/lib.sh"
TARGET_RATIO=0.5

for tool in smtp-sink smtp-source; do
    [ -x /usr/sbin/$tool ] || {
        echo "bench: /usr/sbin/$tool is missing: install postfix (scripts/install-deps.sh)" >&2
        exit 1
    }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/herald-bench-smtp.XXXXXX")
SINK_PID=""
cleanup() {
    [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null || true
    if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

need_time
build
echo
echo "== herald smtp benchmark, $(commas "$N") messages (pool_size $POOL)"
machine_notes
echo "tools:   postfix $(dpkg-query -W -f '${Version}' postfix 2>/dev/null || echo '?') (smtp-sink, smtp-source), libesmtp $(pkg-config --modversion libesmtp-1.0 2>/dev/null || echo '?')"

# ---- the audience: N generated people with a plain email address ----------------------
# (bench_people in bench/lib.sh, without the push token requirement)
bench_people "$N" 1 email >"$TMP/audience.csv"
bench_people "$NAGLE_N" 2 email >"$TMP/audience-small.csv"
GOT=$(($(wc -l <"$TMP/audience.csv") - 1))
[ "$GOT" = "$N" ] || { echo "bench: only $GOT clean people generated, wanted $N" >&2; exit 1; }

# ---- smtp-sink on a free port (loopback only) ---------------------------------------------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SINK_USER=()
[ "$(id -u)" = 0 ] && SINK_USER=(-u nobody)
# -m 1024: up to 1024 sessions at once; backlog 1024. PIPELINING is announced.
/usr/sbin/smtp-sink "${SINK_USER[@]}" -m 1024 "127.0.0.1:$PORT" 1024 >/dev/null 2>&1 &
SINK_PID=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

# ---- campaigns ----------------------------------------------------------------------------
export HERALD_LINK_SECRET=bench-secret-0123456789abcdef0123456789abcdef
campaign() { # campaign FILE AUDIENCE MODULE SETTINGS
    {
        bench_campaign_head bench-smtp "$2"
        cat <<EOF
  email:
    type: email
    module: $3
    from: "Lumen Privacy <privacy@lumen.example>"
    concurrency: 4096
    settings:
$4
EOF
    } >"$1"
}
SMTP_SETTINGS="      relays: [\"127.0.0.1:$PORT\"]
      starttls: off
      pool_size: $POOL
      messages_per_session: 1000"
campaign "$TMP/smtp.yaml" "$TMP/audience.csv" smtp "$SMTP_SETTINGS"
campaign "$TMP/nagle.yaml" "$TMP/audience-small.csv" smtp "$SMTP_SETTINGS
      tcp_nodelay: false"
campaign "$TMP/nodelay.yaml" "$TMP/audience-small.csv" smtp "$SMTP_SETTINGS"
campaign "$TMP/size.yaml" "$TMP/audience-small.csv" file "      maildir: \"$TMP/size-maildir\""

plan() { # plan NAME
    timed "$TMP/plan-$1" "$HERALD" plan "$TMP/$1.yaml" --state-dir "$TMP/state-$1"
    [ "$T_RC" = 0 ] || { cat "$TMP/plan-$1.err" >&2; exit 1; }
}
# One store per round: a run consumes its plan. The campaign file is shared.
for r in $(seq "$ROUNDS"); do
    timed "$TMP/plan-smtp$r" "$HERALD" plan "$TMP/smtp.yaml" --state-dir "$TMP/state-smtp$r"
    [ "$T_RC" = 0 ] || { cat "$TMP/plan-smtp$r.err" >&2; exit 1; }
    if [ "$r" = 1 ]; then PLAN_NS=$T_NS; fi
done
for c in nagle nodelay size; do plan "$c"; done

# The average size of herald's messages, so smtp-source sends the same bytes.
"$HERALD" run "$TMP/size.yaml" --state-dir "$TMP/state-size" >/dev/null 2>&1
AVG=$(find "$TMP/size-maildir/new" -type f -printf '%s\n' | awk '{ s += $1; n++ } END { printf "%d", s / n }')
SMALL=$(find "$TMP/size-maildir/new" -type f | wc -l)
echo
echo "plan: $(commas "$N") deliveries planned in $(secs "$PLAN_NS") s; herald's messages average $(commas "$AVG") bytes (multipart text + HTML, 26 languages)"

# ---- the runs ---------------------------------------------------------------------------------
yardstick() { # smtp-source -d -s 16, N messages of AVG bytes; leaves Y_NS
    local t0 t1
    t0=$(now_ns)
    /usr/sbin/smtp-source -l "$AVG" -M bench.local -f a@bench.local -t b@bench.local \
        -d -s 16 -m "$N" "127.0.0.1:$PORT"
    t1=$(now_ns)
    Y_NS=$((t1 - t0))
}
run() { # run NAME EXPECTED [STATE]
    timed "$TMP/run-$1" "$HERALD" run "$TMP/$1.yaml" --state-dir "$TMP/state-${3:-$1}"
    [ "$T_RC" = 0 ] || { tail -5 "$TMP/run-$1.err" >&2; exit 1; }
    local sent
    sent=$(sed -n 's/.*run complete: \([0-9]*\) sent.*/\1/p' "$TMP/run-$1.err")
    [ "$sent" = "$2" ] || {
        echo "bench: $1 run sent ${sent:-?} of $2:" >&2
        tail -3 "$TMP/run-$1.err" >&2
        exit 1
    }
    RUN_USER=$(awk -F': ' '/User time/ { print $2 }' "$TMP/run-$1.time")
    RUN_SYS=$(awk -F': ' '/System time/ { print $2 }' "$TMP/run-$1.time")
    RUN_CPU=$(awk -F': ' '/Percent of CPU/ { print $2 }' "$TMP/run-$1.time")
}
# Rounds: Y0 H1 Y1 H2 Y2 ... ; round i pairs H_i with the mean of Y_{i-1} and Y_i.
yardstick
Y_NSS=("$Y_NS")
H_NSS=()
for r in $(seq "$ROUNDS"); do
    sync
    run smtp "$N" "smtp$r"
    H_NSS+=("$T_NS")
    H_RSS=$T_RSS_KB H_ANON=$T_ANON_KB H_USER=$RUN_USER H_SYS=$RUN_SYS H_CPU=$RUN_CPU
    yardstick
    Y_NSS+=("$Y_NS")
done
run nodelay "$SMALL"
ND_NS=$T_NS
run nagle "$SMALL"
NG_NS=$T_NS

# ---- figures -------------------------------------------------------------------------------------
rounds=""
for r in $(seq "$ROUNDS"); do
    h=$(rate "$N" "${H_NSS[$((r - 1))]}")
    y=$(rate "$N" $(((Y_NSS[r - 1] + Y_NSS[r]) / 2)))
    rounds+="$h $y $(div "$h" "$y")"$'\n'
done
# medians (and min-max) over the rounds, of herald's rate, the yardstick's, the ratio
stat() { # stat COLUMN: "median (min-max)"
    printf '%s' "$rounds" | awk -v c="$1" 'NF { v[n++] = $c } END {
        for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
        m = n % 2 ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
        printf(c == 3 ? "%.3f (%.3f-%.3f)" : "%d (%d-%d)", m, v[0], v[n - 1]) }'
}
median() { stat "$1" | cut -d' ' -f1; }
RATIO=$(median 3)
ND_RATE=$(rate "$SMALL" "$ND_NS")
NG_RATE=$(rate "$SMALL" "$NG_NS")
ok() { if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; then echo "met"; else echo "NOT met"; fi; }
echo
echo "rounds (herald msgs/s, smtp-source msgs/s, ratio), $ROUNDS rounds of $(commas "$N") messages:"
printf '%s' "$rounds" | awk 'NF { printf "  round %d: %8d  %8d  %s\n", NR, $1, $2, $3 }'
echo
printf '%-40s %22s   %s\n' "measure" "median (min-max)" "note"
printf '%-40s %22s   %s\n' "herald run, smtp module, msgs/s" "$(stat 1)" \
    "pool_size $POOL, messages_per_session 1000, concurrency 4096; bookkeeping included"
printf '%-40s %22s   %s\n' "smtp-source -d -s 16, same sink" "$(stat 2)" \
    "$(commas "$AVG")-byte messages; mean of the runs before and after each herald run"
printf '%-40s %22s   %s\n' "herald / smtp-source" "$(stat 3)" "target >= $TARGET_RATIO: $(ok "$RATIO" "$TARGET_RATIO")"
printf '%-40s %22s   %s\n' "herald, last round" "$(secs "${H_NSS[$((ROUNDS - 1))]}") s" \
    "user ${H_USER}s + sys ${H_SYS}s, CPU $H_CPU; peak RSS $((H_RSS / 1024)) MB (heap $((H_ANON / 1024)) MB)"
echo
echo "TCP_NODELAY (the connect() interposer), $(commas "$SMALL") messages each:"
printf '%-40s %22s   %s\n' "herald run, tcp_nodelay: true" "$(commas "$ND_RATE") msgs/s" "$(secs "$ND_NS") s, start-up included"
printf '%-40s %22s   %s\n' "herald run, tcp_nodelay: false" "$(commas "$NG_RATE") msgs/s" "$(secs "$NG_NS") s: Nagle + delayed ACK"
printf '%-40s %22s   %s\n' "false / true" "$(div "$NG_RATE" "$ND_RATE")" ""
