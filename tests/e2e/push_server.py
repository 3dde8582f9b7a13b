#!/usr/bin/env python3
"""push_server.py - a recording in-app notification service for the http-push
end-to-end tests: HTTP/1.1 with keep-alive (http.server's ThreadingHTTPServer)
on 127.0.0.1, a free port chosen by the kernel and written to --port-file.

Every request is appended to --log (JSON Lines: seq, method, path, the headers
the tests look at, the body, the status answered or the fault applied). Every
notice answered 2xx is appended to --accepted in the `file` module's outbox
format ({"idempotency_key","token","person_id","language","payload"}), so
tests/e2e/verify_outputs.py can check what was delivered.

Like a real service with idempotency keys it remembers each key's body: the
same key with the same body again is answered 200 as a replay (and recorded
again, flagged "replay"), with a different body 422.

Faults (by request number, from 1, counted over every request):
  --throttle K[:RA]      the first K requests: 429 with Retry-After RA (default 1)
  --throttle-date        give Retry-After as an HTTP date instead of seconds
  --unavailable A-B[:RA] requests A..B: 503 (with Retry-After RA when given)
  --error-every N        every Nth request: 500
  --conflict-every N     every Nth request: 409 (key in flight)
  --stall A-B[:S]        requests A..B: read, then no answer for S s (default 30), close
  --drop A-B             requests A..B: read, then close the connection without an answer
  --gone SUBSTR          a token containing SUBSTR: 410 {"error":"Unregistered"}
  --mismatch SUBSTR      a token containing SUBSTR: 422 (as if the key had come with
                         another body before)
  --trickle A-B[:MS]     requests A..B: 200 with a 200-byte body sent one byte every MS
                         ms (default 100), a slow trickle (nothing is accepted)
  --oversize A-B         requests A..B: answered as usual (accepted), but the body goes
                         on and on (1 MiB chunks, up to 10 GiB) until the client hangs up
  --bad-json A-B         requests A..B: accepted, but the body is not JSON
  --garbage A-B          requests A..B: not HTTP at all ("\x00\xffnot http"), then close
                         (nothing is accepted)
  --delay-ms D           every answer waits D ms
  --slow A-B:MS          requests A..B: the answer waits MS ms
  --bearer-env VAR       require Authorization: Bearer $VAR (else 401)
  --echo-auth SUBSTR     echo the request's Authorization header back, as careless
                         services do: a token containing SUBSTR gets 400 with it in
                         the error body; every accepted notice's id carries it too
  --webhook-secret-env VAR  check Standard Webhooks signatures (else 401); whsec_ secrets
                         are base64-decoded
  --batch-path PATH      POST PATH takes {"items":[...]} and answers
                         {"results":[{"idempotency_key","status","id"|"error"}, ...]}
                         (per item: 201, or 410 for --gone tokens)
Stops on SIGTERM/SIGINT.
"""
import argparse
import base64
import email.utils
import hashlib
import hmac
import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"seq": 0, "keys": {}, "ids": 0, "conns": 0}
ARGS = None
LOG = None
ACCEPTED = None


def span(spec):
    """'A-B[:X]' -> (A, B, X or None)."""
    if spec is None:
        return None
    rng, _, extra = spec.partition(":")
    a, _, b = rng.partition("-")
    return int(a), int(b or a), (extra or None)


def write(f, obj):
    f.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
    f.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "push-server/1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stalls

    def log_message(self, fmt, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        with LOCK:  # one number per TCP connection, in each request's record ("conn")
            STATE["conns"] += 1
            self.conn_no = STATE["conns"]

    def answer(self, status, obj=None, headers=()):
        data = json.dumps(obj).encode() if obj is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        self.do_POST()

    def do_PATCH(self):
        self.do_POST()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        with LOCK:
            STATE["seq"] += 1
            seq = STATE["seq"]
        rec = {"seq": seq, "conn": self.conn_no, "t": round(time.time(), 3), "method": self.command,
               "path": self.path,
               "idempotency_key": self.headers.get("Idempotency-Key"),
               "content_type": self.headers.get("Content-Type"),
               "expect": self.headers.get("Expect"),
               "webhook_id": self.headers.get("webhook-id"),
               "webhook_timestamp": self.headers.get("webhook-timestamp"),
               "webhook_signature": self.headers.get("webhook-signature"),
               "auth": bool(self.headers.get("Authorization")),
               "x_test": self.headers.get("X-Test"),
               "via": self.headers.get("X-Forwarded-Proto"),
               "body_sha256": hashlib.sha256(raw).hexdigest()}
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        rec["body"] = body if body is not None else raw.decode("utf-8", "replace")
        status, obj, headers, fault = None, None, (), None
        for name in ("trickle", "garbage"):  # before decide(): nothing is accepted
            r = span(getattr(ARGS, name))
            if r and r[0] <= seq <= r[1]:
                status, obj, headers, fault = 0, r[2], (), name
        if fault is None:
            status, obj, headers, fault = self.decide(seq, raw, body)
        for name in ("oversize", "bad_json"):
            r = span(getattr(ARGS, name))
            if r and r[0] <= seq <= r[1] and 200 <= status < 300:
                fault = name
        rec["status"] = status
        if fault:
            rec["fault"] = fault
        if fault == "batch":
            rec["item_status"] = {r["idempotency_key"]: r["status"] for r in obj["results"]}
            rec["ids"] = {r["idempotency_key"]: r["id"] for r in obj["results"] if "id" in r}
        elif 200 <= status < 300:
            rec["answer"] = obj
        if fault in ("trickle", "garbage", "oversize", "bad_json"):
            rec.pop("answer", None)  # the client cannot read an id from these
            with LOCK:
                write(LOG, rec)
            self.misbehave(fault, status, obj)
            return
        if fault in ("stall", "drop"):
            with LOCK:
                write(LOG, rec)
            if fault == "stall":
                time.sleep(float(obj))
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if ARGS.delay_ms:
            time.sleep(ARGS.delay_ms / 1000)
        slow = span(ARGS.slow)
        if slow and slow[0] <= seq <= slow[1]:
            time.sleep(int(slow[2]) / 1000)
        with LOCK:
            write(LOG, rec)
        self.answer(status, obj, headers)

    def misbehave(self, fault, status, obj):
        self.close_connection = True
        try:
            if fault == "garbage":
                self.wfile.write(b"\x00\xffnot http\r\n\r\n")
            elif fault == "trickle":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 200\r\n\r\n")
                self.wfile.flush()
                for _ in range(200):
                    time.sleep(int(obj or 100) / 1000)
                    self.wfile.write(b" ")
                    self.wfile.flush()
            elif fault == "bad_json":
                data = b"<html>accepted, see you</html>"
                self.wfile.write(f"HTTP/1.1 {status} OK\r\nContent-Type: text/html\r\n"
                                 f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
            elif fault == "oversize":
                head = json.dumps(obj).encode()[:-1] + b', "pad": "'
                self.wfile.write(f"HTTP/1.1 {status} Created\r\nContent-Type: application/json\r\n"
                                 f"Content-Length: {10 << 30}\r\n\r\n".encode() + head)
                chunk = b"x" * (1 << 20)
                for _ in range(10 << 10):
                    self.wfile.write(chunk)
        except OSError:
            pass  # the client hung up: what these faults are for
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def decide(self, seq, raw, body):
        a = ARGS
        if a.bearer_env:
            want = "Bearer " + os.environ[a.bearer_env]
            if not hmac.compare_digest(self.headers.get("Authorization", ""), want):
                return 401, {"error": "bad credentials"}, (), "auth"
        if a.webhook_secret_env and not self.signature_ok(raw):
            return 401, {"error": "bad webhook signature"}, (), "signature"
        if a.throttle:
            k, _, ra = a.throttle.partition(":")
            if seq <= int(k):
                ra = int(ra or 1)
                value = (email.utils.formatdate(time.time() + ra + 1, usegmt=True)
                         if a.throttle_date else str(ra))
                return 429, {"error": "slow down"}, (("Retry-After", value),), "throttle"
        u = span(a.unavailable)
        if u and u[0] <= seq <= u[1]:
            return 503, {"error": "unavailable"}, ((("Retry-After", u[2]),) if u[2] else ()), \
                "unavailable"
        if a.error_every and seq % a.error_every == 0:
            return 500, {"error": "internal"}, (), "error"
        if a.conflict_every and seq % a.conflict_every == 0:
            return 409, {"error": "in flight"}, (), "conflict"
        st = span(a.stall)
        if st and st[0] <= seq <= st[1]:
            return 0, st[2] or "30", (), "stall"
        dr = span(a.drop)
        if dr and dr[0] <= seq <= dr[1]:
            return 0, None, (), "drop"
        if a.batch_path and self.path == a.batch_path:
            return self.batch(body)
        if not isinstance(body, dict):
            return 400, {"error": "body is not a JSON object"}, (), "bad_body"
        key = self.headers.get("Idempotency-Key")
        if not key:
            return 400, {"error": "no Idempotency-Key"}, (), "no_key"
        tok = str(body.get("token", body.get("to", "")))
        if a.echo_auth and a.echo_auth in tok:
            return 400, {"error": "app not registered for this credential",
                         "request": {"authorization": self.headers.get("Authorization", "")}}, \
                (), "echo_auth"
        if a.gone and a.gone in tok:
            return 410, {"error": "Unregistered"}, (), "gone"
        if a.mismatch and a.mismatch in tok:
            return 422, {"error": "idempotency key reused with a different body"}, (), "mismatch"
        return self.accept(key, raw, body)

    def accept(self, key, raw, body):
        sha = hashlib.sha256(raw).hexdigest()
        with LOCK:
            prev = STATE["keys"].get(key)
            if prev and prev[0] != sha:
                return 422, {"error": "idempotency key reused with a different body"}, (), \
                    "key_reused"
            replay = prev is not None
            if not replay:
                STATE["ids"] += 1
                prev = STATE["keys"][key] = (sha, f"n-{STATE['ids']}")
            write(ACCEPTED, {"idempotency_key": key, "token": body.get("token"),
                             "person_id": body.get("person_id"), "language": body.get("language"),
                             "payload": body})
        pid = prev[1]
        if ARGS.echo_auth:
            pid += " for " + self.headers.get("Authorization", "")
        return (200 if replay else 201), {"id": pid}, (), ("replay" if replay else None)

    def batch(self, body):
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            return 400, {"error": "no items"}, (), "bad_body"
        results = []
        for it in items:
            key = it.get("idempotency_key")
            tok = str(it.get("token", ""))
            if ARGS.gone and ARGS.gone in tok:
                results.append({"idempotency_key": key, "status": 410, "error": "Unregistered"})
                continue
            payload = {k: v for k, v in it.items() if k != "idempotency_key"}
            raw = json.dumps(payload, sort_keys=True, separators=(",", ":"),
                             ensure_ascii=False).encode()
            st, obj, _, _ = self.accept(key, raw, payload)
            results.append({"idempotency_key": key, "status": st, **obj})
        # answer in reverse order: the client must map by key, not position
        return 200, {"results": results[::-1]}, (), "batch"

    def signature_ok(self, raw):
        secret = os.environ[ARGS.webhook_secret_env]
        key = (base64.b64decode(secret[6:]) if secret.startswith("whsec_")
               else secret.encode())
        wid = self.headers.get("webhook-id", "")
        ts = self.headers.get("webhook-timestamp", "")
        sig = self.headers.get("webhook-signature", "")
        if not wid or not ts.isdigit() or abs(time.time() - int(ts)) > 300:
            return False
        mac = base64.b64encode(hmac.new(key, f"{wid}.{ts}.".encode() + raw,
                                        hashlib.sha256).digest()).decode()
        return any(hmac.compare_digest(s, "v1," + mac) for s in sig.split(" "))


def main():
    global ARGS, LOG, ACCEPTED
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--accepted", required=True)
    p.add_argument("--throttle")
    p.add_argument("--throttle-date", action="store_true")
    p.add_argument("--unavailable")
    p.add_argument("--error-every", type=int, default=0)
    p.add_argument("--conflict-every", type=int, default=0)
    p.add_argument("--stall")
    p.add_argument("--drop")
    p.add_argument("--gone")
    p.add_argument("--mismatch")
    p.add_argument("--trickle")
    p.add_argument("--oversize")
    p.add_argument("--bad-json")
    p.add_argument("--garbage")
    p.add_argument("--delay-ms", type=int, default=0)
    p.add_argument("--slow")
    p.add_argument("--bearer-env")
    p.add_argument("--echo-auth")
    p.add_argument("--webhook-secret-env")
    p.add_argument("--batch-path")
    ARGS = p.parse_args()
    LOG = open(ARGS.log, "a", encoding="utf-8")
    ACCEPTED = open(ARGS.accepted, "a", encoding="utf-8")
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 256
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{srv.server_address[1]}\n")
    os.rename(tmp, ARGS.port_file)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    try:
        srv.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
