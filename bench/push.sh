#!/usr/bin/env bash
# bench/push.sh [N]: how fast `herald run` delivers push notices through the
# http-push module, with full bookkeeping, next to h2load against the same
# server in the same run.
#
# N people (default 200,000), each with a push token, on one push channel:
# `herald plan`, then `herald run` (every delivery rendered, marked in flight,
# committed durably, POSTed with its Idempotency-Key, marked sent) to a local
# nginx (1 worker, POST -> 200 {"ok":true}, like shared/bench/http/nginx.conf).
# Every herald setting has its h2load yardstick on equal terms, in the same
# round: the same connections and streams, a body of herald's mean size and
# the same request headers (Content-Type, Idempotency-Key, User-Agent):
#   HTTP/1.1, 64 connections         h2load --h1 -c64
#   batch mode, 100 notices/request,  h2load --h1 -c16, a 100-item batch body
#     16 connections                  (notices/s = requests/s x 100)
#   TLS, HTTP/1.1, 64 connections     h2load --h1 -c64 over TLS
#   TLS, HTTP/2, 1 conn, 64 streams   h2load -c1 -m64 over TLS (ALPN h2)
# (the TLS pair: the figures behind the http_version default), and the same
# plan through the null module (the dispatcher's own ceiling). CPU per
# notice (user + sys) of both sides. ROUNDS rounds (default 3), medians and
# per-round ratios; the machine is shared, trust the ratios.
# A benchmark, not a test: it prints figures. docs/push-channel.md has them.
# HERALD_BENCH_SIZE=tiny: 1,600 notices, 1 round, every setting and yardstick.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
if tiny; then
    N=1600 ROUNDS=1 TLS=1 # 16 batch requests at least: h2load -c16 wants as many
else
    N=${1:-${N:-200000}}
    ROUNDS=${ROUNDS:-3}
    TLS=${TLS:-1}
fi

TARGET_RATIO=0.35

TMP=$(mktemp -d "${TMPDIR:-/tmp}/herald-bench-push.XXXXXX")
NGINX_PID=""
cleanup() {
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
    if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

need nginx nginx-light
need h2load nghttp2-client
need openssl openssl
need curl curl
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

# The bodies for h2load (which repeats one body): the rendered notice of the
# first 1000 people closest to their mean size, through the file module; and
# a batch of 100 of them, each item with its idempotency key first, as the
# module sends it (docs/push-channel.md, batch mode).
campaign "$TMP/sample.yaml" "$TMP/sample.csv" file "      outbox: \"$TMP/sample.jsonl\""
"$HERALD" plan "$TMP/sample.yaml" --state-dir "$TMP/state-sample" >"$TMP/sample.out" 2>&1 ||
    { cat "$TMP/sample.out" >&2; exit 1; }
"$HERALD" run "$TMP/sample.yaml" --state-dir "$TMP/state-sample" >"$TMP/sample.out" 2>&1 ||
    { cat "$TMP/sample.out" >&2; exit 1; }
python3 - "$TMP/sample.jsonl" "$TMP/body.json" "$TMP/batch.json" <<'PY'
import json, sys
dump = lambda o: json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
bodies = [dump(json.loads(l)["payload"]) for l in open(sys.argv[1])]
mean = sum(map(len, bodies)) / len(bodies)
open(sys.argv[2], "wb").write(min(bodies, key=lambda b: abs(len(b) - mean)))
items = [b'{"idempotency_key":"%032x",' % i + b[1:] for i, b in enumerate((bodies * 100)[:100])]
open(sys.argv[3], "wb").write(b'{"items":[' + b",".join(items) + b"]}")
PY
echo "body:    $(wc -c <"$TMP/body.json") bytes (the notice closest to the mean size; h2load repeats it)," \
    "batch $(wc -c <"$TMP/batch.json") bytes (100 items)"

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
    forget_plans
    "$HERALD" plan "$TMP/$name.yaml" --state-dir "$TMP/plan-$name" --json >"$TMP/plan-$name.json" \
        2>"$TMP/plan-$name.err" || { cat "$TMP/plan-$name.err" >&2; exit 1; }
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
    local sent
    sent=$(sed -n 's/.*run complete: \([0-9]*\) sent, 0 failed.*/\1/p' "$TMP/run-$1.err")
    [ "$sent" = "$PLANNED" ] || { echo "bench: $1 sent ${sent:-?} of $PLANNED" >&2; tail -3 "$TMP/run-$1.err" >&2; exit 1; }
    RATE=$(rate "$PLANNED" "$T_NS")
    CPU_US=$(cpu_us "$PLANNED")
}
# h2load_run BODY PER_REQUEST ARGS...: h2load posts BODY PLANNED/PER_REQUEST
# times, with the headers herald sends; YRATE: notices/s (h2load's own
# req/s x PER_REQUEST), YCPU: h2load's CPU us per notice.
h2load_run() {
    local body=$1 per=$2
    shift 2
    local n=$(((PLANNED + per - 1) / per))
    timed "$TMP/h2load" h2load -n "$n" -d "$body" -H 'Content-Type: application/json' \
        -H 'Idempotency-Key: 3f0c6a5e0d2b4a7c9e1f5a6b7c8d9e0f' -H 'User-Agent: herald-http-push/1' "$@"
    grep -q " 0 failed, 0 errored" "$TMP/h2load.out" || { grep requests: "$TMP/h2load.out" >&2; exit 1; }
    YRATE=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$TMP/h2load.out" | awk -v p="$per" '{ printf "%.0f", $1 * p }')
    YCPU=$(cpu_us $((n * per)))
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# Per round, one line per setting in $TMP/rounds: NAME herald/s yardstick/s
# ratio herald-CPU-us yardstick-CPU-us (per notice).
: >"$TMP/rounds"
pair() { # pair NAME BODY PER_REQUEST H2LOAD_ARGS...: herald run NAME, then its yardstick
    local name=$1 body=$2 per=$3
    shift 3
    run_one "$name"
    h2load_run "$body" "$per" "$@"
    echo "$name $RATE $YRATE $(div "$RATE" "$YRATE") $CPU_US $YCPU" >>"$TMP/rounds"
    echo "  round $round, $name: herald $(commas "$RATE")/s ($CPU_US us CPU), h2load ${*:1:$(($# - 1))} $(commas "$YRATE")/s ($YCPU us CPU), ratio $(div "$RATE" "$YRATE")"
}
for round in $(seq "$ROUNDS"); do
    pair h1 "$TMP/body.json" 1 --h1 -c64 "http://127.0.0.1:$PORT/push"
    pair batch "$TMP/batch.json" 100 --h1 -c16 "http://127.0.0.1:$PORT/batch"
    run_one null
    echo "null $RATE - - $CPU_US -" >>"$TMP/rounds"
    echo "  round $round, null module: $(commas "$RATE")/s ($CPU_US us CPU)"
    if [ "$TLS" = 1 ]; then
        pair tls1 "$TMP/body.json" 1 --h1 -c64 "https://127.0.0.1:$TLS_PORT/push"
        pair tls2 "$TMP/body.json" 1 -c1 -m64 "https://127.0.0.1:$TLS_PORT/push"
    fi
done

ok() { if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; then echo "met"; else echo "NOT met"; fi; }
col() { # col NAME COLUMN: median of that column over the rounds
    awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$TMP/rounds" | median
}
rng() { # rng NAME COLUMN: "min-max"
    awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$TMP/rounds" | sort -g | sed -n '1p;$p' | paste -sd- -
}
echo
echo "median of $ROUNDS rounds of $(commas "$PLANNED") notices; herald and h2load on the same connections and streams:"
printf '%-40s %10s %10s %22s %10s %10s\n' "setting (h2load yardstick)" "herald/s" "h2load/s" \
    "ratio (min-max)" "herald us" "h2load us"
line() { # line NAME LABEL
    printf '%-40s %10s %10s %22s %10s %10s\n' "$2" "$(commas "$(col "$1" 2)")" "$(commas "$(col "$1" 3)")" \
        "$(col "$1" 4) ($(rng "$1" 4))" "$(col "$1" 5)" "$(col "$1" 6)"
}
line h1 "HTTP/1.1, 64 conns (--h1 -c64)"
line batch "batch 100/req, 16 conns (--h1 -c16)"
if [ "$TLS" = 1 ]; then
    line tls1 "TLS HTTP/1.1, 64 conns (--h1 -c64)"
    line tls2 "TLS HTTP/2, 1 conn x 64 (-c1 -m64)"
fi
echo "(rates in notices/s; CPU in us per notice, user + sys of the client process, nginx's not counted)"
echo
m_h1=$(col h1 2) m_null=$(col null 2) m_batch=$(col batch 2) m_ratio=$(col h1 4)
printf '%-44s %16s   %s\n' "ratio herald / h2load, HTTP/1.1" "$m_ratio" \
    "target >= $TARGET_RATIO: $(ok "$m_ratio" "$TARGET_RATIO")"
printf '%-44s %16s   %s\n' "batch mode / one notice per request" "$(div "$m_batch" "$m_h1")" \
    "herald's batch notices/s over its HTTP/1.1 notices/s"
printf '%-44s %16s   %s\n' "same plan, null module (no HTTP)" "$(commas "$m_null") deliv/s" \
    "the dispatcher's own ceiling here ($(col null 5) us CPU); batch mode reaches $(div "$m_batch" "$m_null") of it"
if [ "$TLS" = 1 ]; then
    printf '%-44s %16s   %s\n' "TLS: herald HTTP/2 / herald HTTP/1.1" "$(div "$(col tls2 2)" "$(col tls1 2)")" \
        "CPU per notice $(col tls2 5) us (h2) vs $(col tls1 5) us (h1)"
fi
