#!/usr/bin/env bash
# http-push over TLS: HTTP/2 multiplexed on one connection, and HTTP/1.1, to
# nginx (Debian's nginx-light or nginx) with a certificate from a CA the test
# makes with openssl; nginx proxies to the recording server
# (tests/e2e/push_server.py) and logs the protocol and connection of every
# request. Also: a server certificate that does not verify fails the
# deliveries (transient, push.tls_failed), never sends in the clear.
source "$(dirname "$0")/lib.sh"
E2E_SEVERAL_STORES=1 # one campaign id, a store per scenario, on purpose (lib.sh)

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || fail "nginx is not installed (scripts/install-deps.sh installs nginx-light)"
command -v openssl >/dev/null || fail "openssl is not installed"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
link_url=$(sed -n 's/^  url: "\(.*\)"$/\1/p' "$SRC/campaigns/ai-training-notice.yaml")

# ---- a CA, and a certificate for 127.0.0.1 signed by it -----------------------------------
pki=$WORK/pki
mkdir -p "$pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=herald e2e CA" -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$pki/server.key" -out "$pki/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$pki/ext"
openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
  -days 2 -extfile "$pki/ext" -out "$pki/server.pem" 2>/dev/null
[ -s "$pki/server.pem" ] || fail "openssl could not make the certificates"

# ---- nginx: TLS with ALPN h2 and http/1.1, proxying to the recording server --------------------
push_server_start "$WORK/s1"
backend=$PORT
ng=$WORK/nginx
mkdir -p "$ng"
user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user root root;"
for attempt in 1 2 3; do
  TLS_PORT=$(free_port)
  cat >"$ng/nginx.conf" <<EOF
$user_line
worker_processes 1;
daemon off;
pid $ng/nginx.pid;
error_log $ng/error.log warn;
events { worker_connections 1024; }
http {
  log_format push '\$uri \$server_protocol \$connection \$status \$http_idempotency_key';
  access_log $ng/access.log push;
  client_body_temp_path $ng/body;
  proxy_temp_path $ng/proxy;
  fastcgi_temp_path $ng/fastcgi;
  uwsgi_temp_path $ng/uwsgi;
  scgi_temp_path $ng/scgi;
  http2_max_concurrent_streams 256;
  keepalive_requests 100000;
  upstream recorder { server 127.0.0.1:$backend; keepalive 16; }
  server {
    listen 127.0.0.1:$TLS_PORT ssl http2;
    ssl_certificate $pki/server.pem;
    ssl_certificate_key $pki/server.key;
    location / {
      proxy_pass http://recorder;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-Proto \$server_protocol;
    }
  }
}
EOF
  "$NGINX" -c "$ng/nginx.conf" -p "$ng" >"$ng/stdout" 2>&1 &
  bg_track "$!"
  ok=0
  for _ in $(seq 100); do
    if curl -s --cacert "$pki/ca.pem" -o /dev/null "https://127.0.0.1:$TLS_PORT/"; then ok=1; break; fi
    sleep 0.05
  done
  [ "$ok" = 1 ] && break
done
[ "$ok" = 1 ] || fail "nginx did not start: $(cat "$ng/error.log" "$ng/stdout" 2>/dev/null)"
: >"$ng/access.log"

# ---- 1. HTTP/2 over TLS, one connection ----------------------------------------------------------
camp=$WORK/campaign.yaml
python3 "$SRC/tests/e2e/push_campaign.py" "$SRC" "$camp" --maildir "$WORK/maildir" \
  --concurrency 128 --settings "url: https://127.0.0.1:$TLS_PORT/v1/notices
http_version: 2
ca_file: $pki/ca.pem
max_in_flight: 64
connections: 1"
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$WORK/st1"
expect_exit 0 timeout 120 "$HERALD" run "$camp" --state-dir "$WORK/st1" --ignore-send-window
grep -q "run complete: .* 0 failed" "$WORK/err" || fail "run: $(tail -3 "$WORK/err")"
grep -q "over HTTP/2, up to 64 in flight on 1 connection" "$WORK/err" || fail "start-up line"
total=$(ops_q "$camp" "$WORK/st1" 's["channels"]["inapp"]["total"]')
python3 "$SRC/tests/e2e/verify_outputs.py" --state-dir "$WORK/st1" \
  --channel "email:email:$WORK/maildir" --channel "inapp:push:$WORK/s1/accepted.jsonl" \
  --link-template "$link_url" --exact || fail "verify_outputs (h2)"
python3 "$SRC/tests/e2e/push_check.py" run --state-dir "$WORK/st1" --log "$WORK/s1/requests.jsonl" ||
  fail "push_check (h2)"
python3 - "$ng/access.log" "$total" <<'PY' || fail "not HTTP/2 on one connection"
import sys
# Only Herald's requests: nginx may log the start-up probe (GET /) after the
# truncation above, since it writes the line once the response has left.
lines = [l.split()[1:] for l in open(sys.argv[1]) if l.startswith("/v1/notices ")]
total = int(sys.argv[2])
assert len(lines) == total, f"{len(lines)} requests logged by nginx, {total} notices"
protos = {l[0] for l in lines}
conns = {l[1] for l in lines}
assert protos == {"HTTP/2.0"}, protos
assert len(conns) == 1, f"{len(conns)} connections"
assert len({l[3] for l in lines}) == total, "idempotency keys not unique"
print(f"nginx: {len(lines)} requests, all HTTP/2.0, on {len(conns)} connection")
PY
pass "HTTP/2 over TLS: $total notices multiplexed on one connection, verified against the test's CA"

# ---- 2. HTTP/1.1 over TLS, keep-alive pool --------------------------------------------------------
head -n 201 "$SRC/campaigns/ai-training-notice/audience.csv" >"$WORK/small.csv"
: >"$ng/access.log"
python3 "$SRC/tests/e2e/push_campaign.py" "$SRC" "$WORK/h1.yaml" --maildir "$WORK/maildir2" \
  --audience "$WORK/small.csv" --settings "url: https://127.0.0.1:$TLS_PORT/v1/notices
http_version: 1.1
ca_file: $pki/ca.pem
max_in_flight: 8"
expect_exit 0 "$HERALD" plan "$WORK/h1.yaml" --state-dir "$WORK/st2"
expect_exit 0 timeout 60 "$HERALD" run "$WORK/h1.yaml" --state-dir "$WORK/st2" --ignore-send-window
grep -q "run complete: .* 0 failed" "$WORK/err" || fail "run: $(tail -3 "$WORK/err")"
n=$(ops_q "$WORK/h1.yaml" "$WORK/st2" 's["channels"]["inapp"]["sent"]')
python3 - "$ng/access.log" "$n" <<'PY' || fail "not HTTP/1.1 keep-alive"
import sys
# Only Herald's requests: nginx may log the start-up probe (GET /) after the
# truncation above, since it writes the line once the response has left.
lines = [l.split()[1:] for l in open(sys.argv[1]) if l.startswith("/v1/notices ")]
assert len(lines) == int(sys.argv[2]), (len(lines), sys.argv[2])
assert {l[0] for l in lines} == {"HTTP/1.1"}, {l[0] for l in lines}
conns = {l[1] for l in lines}
assert len(conns) <= 8, f"{len(conns)} connections for 8 in flight"
print(f"nginx: {len(lines)} requests over HTTP/1.1 on {len(conns)} kept-alive connections")
PY
pass "HTTP/1.1 over TLS: $n notices on at most 8 kept-alive connections"

# ---- 3. a certificate that does not verify --------------------------------------------------------
: >"$ng/access.log"
python3 "$SRC/tests/e2e/push_campaign.py" "$SRC" "$WORK/bad.yaml" --maildir "$WORK/maildir3" \
  --audience "$WORK/small.csv" --retry "max_attempts: 1, initial_backoff: 1s, max_backoff: 1s" \
  --canary-rate none --settings "url: https://127.0.0.1:$TLS_PORT/v1/notices
http_version: 2
max_in_flight: 8"
expect_exit 0 "$HERALD" plan "$WORK/bad.yaml" --state-dir "$WORK/st3"
# exit 2: the run finished with failed deliveries (push.tls_failed, by design here)
expect_exit 2 timeout 60 "$HERALD" run "$WORK/bad.yaml" --state-dir "$WORK/st3" --ignore-send-window
n=$(ops_q "$WORK/bad.yaml" "$WORK/st3" 's["channels"]["inapp"]["total"]')
[ "$(ops_q "$WORK/bad.yaml" "$WORK/st3" 's["channels"]["inapp"]["failed"]')" = "$n" ] ||
  fail "unverified certificate: $(ops_q "$WORK/bad.yaml" "$WORK/st3" 's["channels"]["inapp"]')"
! grep -q "^/v1/notices " "$ng/access.log" || fail "a request went through without a verified certificate"
python3 - "$WORK/st3" <<PY || fail "failures are not push.tls_failed"
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, "$SRC/tests/e2e")
import push_check
_, by = push_check.deliveries(sys.argv[1], "inapp")
events = {d["event"] for ds in by.values() for d in ds.values() if d["state"] == "failed"}
assert events == {"push.tls_failed"}, events
PY
pass "a certificate from an unknown CA: every delivery failed with push.tls_failed, nothing sent"
