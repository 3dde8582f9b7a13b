#!/usr/bin/env python3
"""push_check.py - checks of the http-push tests over the state store and the
request log of tests/e2e/push_server.py. Reads the store with mdb_dump
(through tests/e2e/verify_outputs.py's decoders); links nothing of Herald.

usage:
  push_check.py run --state-dir DIR --log LOG [--channel inapp] [--gone SUBSTR] [--mismatch SUBSTR]
                    [--key-field idempotency_key] [--batch] [--expect-status CODE=N ...]
      Asserts, for the push channel (index from the store's meta):
      * every delivery is final: sent, or failed with token_invalid (HTTP 410)
        exactly when the person's token contains --gone, or failed with
        push.key_reused (HTTP 422, response kept) when it contains --mismatch;
      * every request's Idempotency-Key (batch: every item's key) is the
        deterministic key of a person with a delivery on the channel; all
        requests with the same key carried the same body bytes, and (unless
        --template) those are the rendered bytes whose SHA-256 the delivery
        record holds (batch: the item without its key field, re-serialized
        canonically);
      * every sent delivery got exactly one first acceptance (201), and its
        provider_id is the id the server gave; no key of a failed delivery
        was ever accepted;
      * each request's person_id and token are the key's person's.
      Prints a one-line summary of the requests (status and fault counts).
  push_check.py pause --log LOG --status 429 --window S --max-in-flight N
      Asserts back-pressure: after each answer with that status, at most N-1
      requests (those already in flight) reach the server in the next S
      seconds before the next answer with that status.
"""
import argparse
import hashlib
import json
import os
import sys
from collections import Counter, defaultdict

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import verify_outputs as vo  # noqa: E402  (mdb_dump, decoders, message_key)


def fail(msg):
    print(f"push_check: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def load_log(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def deliveries(state_dir, channel):
    """The channel's deliveries: dicts with person, key, state, event, code, provider_id..."""
    meta = dict(vo.mdb_dump(state_dir, "meta"))
    campaign = meta[b"campaign_id"].decode()
    persons = {k: vo.decode_person(v) for k, v in vo.mdb_dump(state_dir, "persons")}
    names = json.loads(meta[b"channels"]) if b"channels" in meta else None
    out = {}
    for k, v in vo.mdb_dump(state_dir, "deliveries"):
        d = vo.decode_delivery(v)
        d["code"] = int.from_bytes(v[5:7], "little")
        (_, _, d["response"]), _ = vo.strings(v, 64, 3)
        p = persons[k[:10]]
        d["person"] = p["id"]
        d["token"] = p["push_token"]
        d["index"] = k[10]
        key = vo.message_key(campaign, p["id"], channel)
        d["key"] = key
        out.setdefault(k[10], {})[key] = d
    _ = names
    return campaign, out


def cmd_run(a):
    campaign, by_index = deliveries(a.state_dir, a.channel)
    # the channel's index: the one whose keys the requests use
    reqs = load_log(a.log)
    keyed = []  # (request, key, item)
    for r in reqs:
        if a.batch and isinstance(r["body"], dict) and isinstance(r["body"].get("items"), list):
            for it in r["body"]["items"]:
                keyed.append((r, it.get(a.key_field), it))
        else:
            keyed.append((r, r["idempotency_key"], r["body"]))
    idx = None
    for i, ds in by_index.items():
        if any(k in ds for _, k, _ in keyed[:50]):
            idx = i
    if idx is None:
        fail("no request carries a key of this campaign's channel " + a.channel)
    ds = by_index[idx]
    problems = []
    first_accept = Counter()
    bodies = defaultdict(set)
    ids = {}
    for r, key, body in keyed:
        d = ds.get(key)
        if d is None:
            problems.append(f"request {r['seq']}: key {key!r} is no {a.channel} delivery")
            continue
        if a.batch:
            bodies[key].add(json.dumps(body, sort_keys=True))
        else:
            bodies[key].add(r["body_sha256"])
        if not isinstance(body, dict) or body.get("person_id") != d["person"] or \
                body.get("token") != d["token"]:
            problems.append(f"request {r['seq']}: body is not person {d['person']!r}'s")
        st = r.get("item_status", {}).get(key, r["status"]) if a.batch else r["status"]
        if not a.template:
            # the bytes sent are the bytes rendered (batch: the item without its key)
            if a.batch:
                item = {k: v for k, v in body.items() if k != a.key_field}
                sha = hashlib.sha256(json.dumps(item, sort_keys=True, separators=(",", ":"),
                                                ensure_ascii=False).encode()).hexdigest()
            else:
                sha = r["body_sha256"]
            if sha != d["sha256"]:
                problems.append(f"request {r['seq']}: body differs from the rendered bytes "
                                f"(SHA-256 in the delivery record)")
        if st == 201:
            first_accept[key] += 1
            ids[key] = (r.get("ids") or {}).get(key) if a.batch else (r.get("answer") or {}).get("id")
    for key, b in bodies.items():
        if len(b) != 1:
            problems.append(f"key {key} (person {ds[key]['person']!r}) was sent with "
                            f"{len(b)} different bodies")
    states = Counter()
    for key, d in ds.items():
        states[(d["state"], d["event"])] += 1
        gone = bool(a.gone) and a.gone in d["token"]
        if d["state"] == "sent":
            if gone or (a.mismatch and a.mismatch in d["token"]):
                problems.append(f"person {d['person']!r}: sent, but the server refuses it")
            if first_accept[key] != 1:
                problems.append(f"person {d['person']!r}: sent, accepted {first_accept[key]} "
                                f"times as new")
            if not a.no_provider_ids and ids.get(key) and d["provider_id"] != ids[key]:
                problems.append(f"person {d['person']!r}: provider_id {d['provider_id']!r}, "
                                f"server said {ids[key]!r}")
            if d["event"] != "push.accepted":
                problems.append(f"person {d['person']!r}: event {d['event']!r}")
        elif d["state"] == "failed" and not gone and a.mismatch and a.mismatch in d["token"]:
            if d["event"] != "push.key_reused" or d["code"] != 422 or not d["response"]:
                problems.append(f"person {d['person']!r}: failed with {d['event']!r} "
                                f"{d['code']} {d['response']!r}, expected push.key_reused 422")
        elif d["state"] == "failed" and gone:
            if d["event"] != "token_invalid" or d["code"] != 410:
                problems.append(f"person {d['person']!r}: failed with {d['event']!r} "
                                f"{d['code']}, expected token_invalid 410")
            if first_accept[key]:
                problems.append(f"person {d['person']!r}: failed, but the server accepted it")
        else:
            problems.append(f"person {d['person']!r}: {d['state']} {d['event']!r} {d['code']} "
                            f"{d['response']!r}")
    for want in a.expect_status or []:
        code, _, n = want.partition("=")
        got = sum(1 for r in reqs if str(r["status"]) == code or r.get("fault") == code)
        if got < int(n):
            problems.append(f"expected at least {n} requests answered {code}, saw {got}")
    status = Counter(str(r.get("fault") or r["status"]) for r in reqs)
    print(f"push_check: {len(reqs)} requests ({len(keyed)} notices) for {len(ds)} deliveries: "
          + ", ".join(f"{k} {v}" for k, v in sorted(status.items()))
          + "; store: " + ", ".join(f"{s}/{e} {n}" for (s, e), n in sorted(states.items())))
    if problems:
        for x in problems[:20]:
            print("  " + x, file=sys.stderr)
        fail(f"{len(problems)} problems")


def cmd_pause(a):
    reqs = sorted(load_log(a.log), key=lambda r: r["t"])
    hits = [r for r in reqs if r["status"] == a.status]
    if not hits:
        fail(f"no request was answered {a.status}")
    worst = 0
    for h in hits:
        later = [r for r in reqs if h["t"] < r["t"] < h["t"] + a.window and r["status"] != a.status]
        worst = max(worst, len(later))
    if worst > a.max_in_flight - 1:
        fail(f"after a {a.status}, {worst} requests arrived within {a.window} s "
             f"(allowed: {a.max_in_flight - 1} already in flight)")
    print(f"push_check: back-pressure ok: after each of {len(hits)} answers {a.status}, at most "
          f"{worst} requests (already in flight) arrived within {a.window} s")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--state-dir", required=True)
    r.add_argument("--log", required=True)
    r.add_argument("--channel", default="inapp")
    r.add_argument("--gone")
    r.add_argument("--mismatch")
    r.add_argument("--batch", action="store_true")
    r.add_argument("--template", action="store_true",
                   help="bodies come from a body_template: skip the SHA-256 check")
    r.add_argument("--key-field", default="idempotency_key")
    r.add_argument("--no-provider-ids", action="store_true",
                   help="all-or-nothing batches: results are not mapped, so no provider ids")
    r.add_argument("--expect-status", action="append")
    q = sub.add_parser("pause")
    q.add_argument("--log", required=True)
    q.add_argument("--status", type=int, default=429)
    q.add_argument("--window", type=float, required=True)
    q.add_argument("--max-in-flight", type=int, required=True)
    a = p.parse_args()
    {"run": cmd_run, "pause": cmd_pause}[a.cmd](a)


if __name__ == "__main__":
    main()
