#!/usr/bin/env bash
# bench/push.sh [N]: how fast `herald run` delivers push notices through the
# http-push module, with full bookkeeping, next to h2load against the same
# server in the same run.
#
# N people (default 200,000), each with a push token, on one push channel:
# `herald plan`, then `herald run` (every delivery rendered, marked in flight,
# committed durably, POSTed with its Idempotency-Key, marked sent) to a local
# nginx (1 worker, POST -> 200 {"ok":true}, like shared/bench/http/nginx.conf).
# Yardstick: `h2load --h1 -c64 -n N` posting a typical rendered notice to the
# same nginx, in the same round. Then batch mode (100 notices per request,
# all or nothing) and, over TLS, HTTP/1.1 on 64 connections vs HTTP/2 on one
# (the figures behind the http_version default). ROUNDS rounds (default 3),
# medians and per-round ratios; the machine is shared, trust the ratios.
# A benchmark, not a test: it prints figures. docs/push-channel.md has them.
set -euo pipefail

N=${1:-${N:-200000}}
ROUNDS=${ROUNDS:-3}
TLS=${TLS:-1}
. "$(dirname "$0")/lib.sh"

TARGET_RATIO=0.35

TMP=$(mktemp -d "${TMPDIR:-/tmp}/herald-bench-push.XXXXXX")
NGINX_PID=""
cleanup() {
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
    if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

need() { # need COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] && return 0
    echo "installing $2 (for $1)" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$2" >/dev/null
}
need nginx nginx-light
need h2load nghttp2-client
need openssl openssl
need_time
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
build
echo
echo "== http-push benchmark: $(commas "$N") notices, $ROUNDS rounds"
machine_notes
echo "tools:   $(curl --version | head -1 | cut -d' ' -f1-2) (libcurl), $("$NGINX" -v 2>&1 | cut -d' ' -f3), $(h2load --version | head -1)"

# ---- nginx: POST /push and /batch -> 200, cleartext and TLS --------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mkdir -p "$TMP/nginx"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$TMP/nginx/key.pem" -out "$TMP/nginx/cert.pem" 2>/dev/null
PORT=$(free_port)
TLS_PORT=$(free_port)
user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user root root;"
cat >"$TMP/nginx/nginx.conf" <<EOF
$user_line
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  http2_max_concurrent_streams 1024;
  client_body_buffer_size 16k;
  client_max_body_size 64m;
  server {
    listen 127.0.0.1:$PORT;
    listen 127.0.0.1:$TLS_PORT ssl http2;
    ssl_certificate $TMP/nginx/cert.pem;
    ssl_certificate_key $TMP/nginx/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location = /push { default_type application/json; return 200 '{"ok":true}'; }
    location = /batch { default_type application/json; return 200 '{"ok":true}'; }
  }
}
EOF
"$NGINX" -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" >"$TMP/nginx/stdout" 2>&1 &
NGINX_PID=$!
for _ in $(seq 100); do
    curl -s -o /dev/null -X POST -d '{}' "http://127.0.0.1:$PORT/push" && break
    sleep 0.05
done
curl -sf -o /dev/null -X POST -d '{}' "http://127.0.0.1:$PORT/push" ||
    { cat "$TMP/nginx/error.log" >&2; exit 1; }
echo "server:  nginx, 1 worker, 127.0.0.1:$PORT (HTTP/1.1) and :$TLS_PORT (TLS, ALPN h2 + http/1.1)"

# ---- audience: N people with a push token ----------------------------------------------------
bench_people "$N" 7 push >"$TMP/audience.csv"
GOT=$(($(wc -l <"$TMP/audience.csv") - 1))
[ "$GOT" = "$N" ] || { echo "bench: only $GOT clean people generated, wanted $N" >&2; exit 1; }
head -n 1001 "$TMP/audience.csv" >"$TMP/sample.csv"

export HERALD_LINK_SECRET=bench-secret-0123456789abcdef0123456789abcdef
campaign() { # campaign FILE AUDIENCE MODULE SETTINGS(yaml lines, 6 spaces)
    {
        bench_campaign_head bench-push "$2"
        cat <<EOF
  inapp:
    type: push
    module: $3
    concurrency: 2048
    settings:
$4
EOF
    } >"$1"
}

# A typical rendered notice for h2load (which repeats one body): the
# median-sized one of the first 1000 people, through the file module.
campaign "$TMP/sample.yaml" "$TMP/sample.csv" file "      outbox: \"$TMP/sample.jsonl\""
"$HERALD" plan "$TMP/sample.yaml" --state-dir "$TMP/state-sample" >/dev/null 2>&1
"$HERALD" run "$TMP/sample.yaml" --state-dir "$TMP/state-sample" >/dev/null 2>&1
python3 - "$TMP/sample.jsonl" "$TMP/body.json" <<'PY'
import json, sys
lines = [json.loads(l)["payload"] for l in open(sys.argv[1])]
bodies = sorted((json.dumps(p, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
                 for p in lines), key=len)
open(sys.argv[2], "wb").write(bodies[len(bodies) // 2])
PY
echo "body:    $(wc -c <"$TMP/body.json") bytes (median rendered notice; h2load repeats it)"

# ---- plans: one per setting, copied afresh before every run -----------------------------------
h1="      url: http://127.0.0.1:$PORT/push
      max_in_flight: 64"
batch="      url: http://127.0.0.1:$PORT/batch
      max_in_flight: 16
      batch:
        max_items: 100"
tls1="      url: https://127.0.0.1:$TLS_PORT/push
      ca_file: $TMP/nginx/cert.pem
      http_version: 1.1
      max_in_flight: 64"
tls2="      url: https://127.0.0.1:$TLS_PORT/push
      ca_file: $TMP/nginx/cert.pem
      http_version: 2
      max_in_flight: 64
      connections: 1"
null=""
names="h1 batch null"
[ "$TLS" = 1 ] && names="$names tls1 tls2"
for name in $names; do
    if [ "$name" = null ]; then
        campaign "$TMP/$name.yaml" "$TMP/audience.csv" '"null"' ""
        sed -i '/^    settings:$/d' "$TMP/$name.yaml"
    else
        campaign "$TMP/$name.yaml" "$TMP/audience.csv" http-push "${!name}"
    fi
    "$HERALD" plan "$TMP/$name.yaml" --state-dir "$TMP/plan-$name" --json >"$TMP/plan-$name.json" 2>/dev/null
done
PLANNED=$(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(sum(c.get("pending", 0) for sh in s["shards"] for c in sh["channels"].values()))' "$TMP/plan-h1.json")
echo "plan:    $(commas "$PLANNED") deliveries"

# run_one NAME: herald run on a fresh copy of that plan; RATE, CPU_US (per notice).
run_one() {
    rm -rf "$TMP/state"
    cp -a "$TMP/plan-$1" "$TMP/state"
    sync
    timed "$TMP/run-$1" "$HERALD" run "$TMP/$1.yaml" --state-dir "$TMP/state"
    [ "$T_RC" = 0 ] || { tail -5 "$TMP/run-$1.err" >&2; exit 1; }
    local sent
    sent=$(sed -n 's/.*run complete: \([0-9]*\) sent, 0 failed.*/\1/p' "$TMP/run-$1.err")
    [ "$sent" = "$PLANNED" ] || { echo "bench: $1 sent ${sent:-?} of $PLANNED" >&2; tail -3 "$TMP/run-$1.err" >&2; exit 1; }
    RATE=$(rate "$PLANNED" "$T_NS")
    CPU_US=$(awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 } END { printf "%.1f", (u + s) * 1e6 / n }' n="$PLANNED" "$TMP/run-$1.time")
}
# h2load_rate ARGS...: h2load's own req/s.
h2load_rate() {
    h2load -n "$PLANNED" -d "$TMP/body.json" -H 'Content-Type: application/json' "$@" >"$TMP/h2load.out" 2>&1 ||
        { cat "$TMP/h2load.out" >&2; exit 1; }
    grep -q " 0 failed, 0 errored" "$TMP/h2load.out" || { grep requests: "$TMP/h2load.out" >&2; exit 1; }
    sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$TMP/h2load.out" | awk '{ printf "%.0f", $1 }'
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

R_H1="" R_Y="" R_RATIO="" R_BATCH="" R_NULL="" R_T1="" R_T2="" R_YT="" CPU_H1="" CPU_BATCH=""
CPU_T1="" CPU_T2=""
for round in $(seq "$ROUNDS"); do
    run_one h1
    h1_rate=$RATE
    CPU_H1="$CPU_H1 $CPU_US"
    y=$(h2load_rate --h1 -c64 "http://127.0.0.1:$PORT/push")
    run_one batch
    b_rate=$RATE
    CPU_BATCH="$CPU_BATCH $CPU_US"
    run_one null
    n_rate=$RATE
    line="round $round: herald h1 $(commas "$h1_rate")/s, h2load --h1 -c64 $(commas "$y")/s, ratio $(div "$h1_rate" "$y"); batch $(commas "$b_rate") notices/s; null module $(commas "$n_rate")/s"
    R_H1="$R_H1 $h1_rate" R_Y="$R_Y $y" R_RATIO="$R_RATIO $(div "$h1_rate" "$y")" R_BATCH="$R_BATCH $b_rate"
    R_NULL="$R_NULL $n_rate"
    if [ "$TLS" = 1 ]; then
        run_one tls1
        t1=$RATE
        CPU_T1="$CPU_T1 $CPU_US"
        run_one tls2
        t2=$RATE
        CPU_T2="$CPU_T2 $CPU_US"
        yt=$(h2load_rate -c1 -m64 "https://127.0.0.1:$TLS_PORT/push")
        R_T1="$R_T1 $t1" R_T2="$R_T2 $t2" R_YT="$R_YT $yt"
        line="$line; TLS: h1 $(commas "$t1")/s, h2 $(commas "$t2")/s, h2load h2 -c1 -m64 $(commas "$yt")/s"
    fi
    echo "$line"
done

ok() { if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; then echo "met"; else echo "NOT met"; fi; }
m_h1=$(echo "$R_H1" | median) m_y=$(echo "$R_Y" | median) m_ratio=$(echo "$R_RATIO" | median)
m_batch=$(echo "$R_BATCH" | median)
echo
printf '%-44s %16s   %s\n' "measure (median of $ROUNDS)" "value" "note"
printf '%-44s %16s   %s\n' "herald run, http-push HTTP/1.1, 64 conns" "$(commas "$m_h1") req/s" \
    "plan + run, durable bookkeeping; $(echo "$CPU_H1" | median) us CPU per notice (both threads)"
printf '%-44s %16s   %s\n' "h2load --h1 -c64, same server" "$(commas "$m_y") req/s" "same body, same rounds"
printf '%-44s %16s   %s\n' "ratio herald / h2load (per round)" "$m_ratio" \
    "target >= $TARGET_RATIO: $(ok "$m_ratio" "$TARGET_RATIO"); rounds:$R_RATIO"
printf '%-44s %16s   %s\n' "batch mode, 100 per request, 16 in flight" "$(commas "$m_batch") notices/s" \
    "$(div "$m_batch" "$m_h1")x one-per-request; $(echo "$CPU_BATCH" | median) us CPU per notice"
m_null=$(echo "$R_NULL" | median)
printf '%-44s %16s   %s\n' "same plan, null module (no HTTP)" "$(commas "$m_null") deliv/s" \
    "the dispatcher's own ceiling here; batch mode reaches $(div "$m_batch" "$m_null") of it"
if [ "$TLS" = 1 ]; then
    m_t1=$(echo "$R_T1" | median) m_t2=$(echo "$R_T2" | median) m_yt=$(echo "$R_YT" | median)
    printf '%-44s %16s   %s\n' "TLS, HTTP/1.1 on 64 connections" "$(commas "$m_t1") req/s" \
        "$(div "$m_t1" "$m_yt") of h2load h2 -c1 -m64; $(echo "$CPU_T1" | median) us CPU per notice"
    printf '%-44s %16s   %s\n' "TLS, HTTP/2 on 1 connection, 64 streams" "$(commas "$m_t2") req/s" \
        "$(div "$m_t2" "$m_yt") of h2load; h2/h1 $(div "$m_t2" "$m_t1"); $(echo "$CPU_T2" | median) us CPU per notice"
    printf '%-44s %16s   %s\n' "h2load TLS h2 -c1 -m64" "$(commas "$m_yt") req/s" ""
fi
