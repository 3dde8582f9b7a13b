#!/usr/bin/env python3
"""smtp_e2e.py - helpers of the SMTP end-to-end tests (test_smtp_*.sh).

  smtp_e2e.py campaign OUT --src SRC --work DIR --settings YAML [--fast-retry]
                        [--no-canary] [--concurrency N] [--rate R] [--audience CSV]
      The sample campaign (campaigns/ai-training-notice.yaml) with its email
      channel on module smtp (settings: the given YAML mapping body, already
      indented by 6 spaces or given as one flow mapping) and its push channel
      on the file module into DIR; audience, objections, link key and locales
      made absolute. --fast-retry: backoff 1s..2s; --no-canary: no canary.

  smtp_e2e.py records --state-dir D --campaign C
      Prints the email channel's delivery records counted by state, event and
      code, with one response text each: "STATE EVENT CODE COUNT<TAB>RESPONSE".

  smtp_e2e.py check --state-dir D --campaign C --maildir M --log L
                    [--src SRC] [--dkim-dns FILE] [--expect-sent N]
      The independent check of what reached the capturing server
      (smtp_server.py), against herald's state store (read with mdb_dump, per
      docs/state-store.md) and `herald status --json`:
        * every email delivery is final: sent or failed, none pending, in
          flight, retrying or held;
        * every sent delivery reached the server exactly once: the captured
          message's Message-ID is the deterministic key of that person, its
          bytes hash to the SHA-256 in the delivery record (after removing
          DKIM-Signature headers when signed), the record says smtp.accepted,
          code 250, provider_id = the server's queue id, and the response is
          the reply text without CRLF;
        * every failed delivery was refused by the server with a 5xx (log),
          record smtp.rejected with that code, and was never captured;
        * every captured message parses with Python's email package (policy
          default) without defects: one From, To (the person's address),
          Subject (decodes to the locale's subject, variant or not), Date,
          Message-ID (unique), Content-Language (the person's language); a
          text/plain and a text/html part that decode, show the locale's
          opening line and carry the objection link, which verifies (HMAC,
          docs/objection-link.md) and names the person;
        * with --dkim-dns: each message carries DKIM signatures that
          python3-dkim verifies against the keys in FILE (JSON
          {"selector._domainkey.domain": "v=DKIM1; k=...; p=..."}).
      Prints a summary line; exits 1 listing the problems.
"""
import argparse
import base64
import hashlib
import hmac
import html
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from email import policy
from email.parser import BytesParser
from urllib.parse import unquote

DSTATES = ["pending", "inflight", "sent", "retry", "failed", "held"]


# ---- campaign ------------------------------------------------------------------

def cmd_campaign(a):
    sample = os.path.join(a.src, "campaigns", "ai-training-notice.yaml")
    text = open(sample, encoding="utf-8").read()
    cdir = os.path.join(a.src, "campaigns")

    def sub(pattern, repl, count=1):
        nonlocal text
        new, n = re.subn(pattern, lambda m: repl, text, flags=re.M)
        if n != count:
            sys.exit(f"smtp_e2e: {pattern!r} matched {n} times in {sample}, not {count}")
        text = new

    audience = a.audience or os.path.join(cdir, "ai-training-notice", "audience.csv")
    sub(r"^  source: .*$", f"  source: {audience}")
    sub(r"^    file: .*$", f"    file: {os.path.join(cdir, 'ai-training-notice', 'objections.txt')}")
    sub(r"^  secret_file: .*\n", "")
    # other key files named relative to the sample: the tests set the
    # variables instead (lib.sh exports them)
    text = re.sub(r"^  (\w+_key_file): (?!/).*\n", "", text, flags=re.M)
    sub(r"^  dir: .*$", f'  dir: "{a.src}/locales/ai-training-notice"')
    settings = a.settings.strip("\n")
    if not settings.startswith(" "):
        settings = "      " + settings
    # the email channel: module smtp and its settings
    m = re.search(r"^  email:\n    type: email\n    module: file\n((?:    .*\n)*?)    settings:\n"
                  r"      maildir: .*\n", text, re.M)
    if m is None:
        sys.exit("smtp_e2e: the sample's email channel is not as expected")
    head = m.group(1)
    if a.rate:
        head = re.sub(r"^    rate: .*$", f"    rate: {a.rate}", head, flags=re.M)
    if a.concurrency:
        head = re.sub(r"^    concurrency: .*$", f"    concurrency: {a.concurrency}", head, flags=re.M)
    text = (text[:m.start()] + "  email:\n    type: email\n    module: smtp\n" + head +
            "    settings:\n" + settings + "\n" + text[m.end():])
    sub(r"^      outbox: .*$", f"      outbox: {a.work}/inapp.jsonl")
    if a.fast_retry:
        sub(r"^  initial_backoff: .*$", "  initial_backoff: 1s")
        sub(r"^  max_backoff: .*$", "  max_backoff: 2s")
    if a.max_attempts:
        sub(r"^  max_attempts: .*$", f"  max_attempts: {a.max_attempts}")
    if a.no_canary:
        sub(r"^canary:\n(?:  .*\n)*", "")
    open(a.out, "w", encoding="utf-8").write(text)


# ---- the store -------------------------------------------------------------------

def mdb_dump(state_dir, db):
    out = subprocess.run(["mdb_dump", "-s", db, state_dir], check=True,
                         stdout=subprocess.PIPE).stdout.decode("ascii")
    lines = out.split("\n")
    i = lines.index("HEADER=END") + 1
    pairs = []
    while lines[i] != "DATA=END":
        pairs.append((bytes.fromhex(lines[i].strip()), bytes.fromhex(lines[i + 1].strip())))
        i += 2
    return pairs


def strings(rec, off, n):
    out = []
    for _ in range(n):
        ln = int.from_bytes(rec[off:off + 2], "little")
        off += 2
        out.append(rec[off:off + ln].decode("utf-8"))
        off += ln
    return out


def decode_person(rec):
    n = rec[23]
    chskip = list(rec[24:24 + n])
    language, pid, email, _push, _asked, _tz, _name = strings(rec, 24 + n, 7)
    return {"variant": rec[20], "chskip": chskip, "language": language, "id": pid,
            "email": email}


def decode_delivery(rec):
    event, provider_id, response = strings(rec, 64, 3)
    return {"state": DSTATES[rec[1]], "attempts": rec[2],
            "flags": int.from_bytes(rec[3:5], "little"),
            "code": int.from_bytes(rec[5:7], "little"), "sha256": rec[32:64].hex(),
            "event": event, "provider_id": provider_id, "response": response}


def message_key(campaign, person, channel):
    return hashlib.sha256(b"herald-msgid-v1\0" + campaign.encode() + b"\0" + person.encode() +
                          b"\0" + channel.encode()).hexdigest()[:32]


def link_token(secret, campaign, person):
    mac = hmac.new(secret, b"herald-link-v1\0" + campaign.encode() + b"\0" + person.encode(),
                   hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


# ---- locales -----------------------------------------------------------------------

class Locales:
    def __init__(self, src):
        import yaml  # python3-yaml
        self.dir = os.path.join(src, "locales", "ai-training-notice")
        self.yaml = yaml
        self.cache = {}

    def get(self, lang):
        if lang not in self.cache:
            p = os.path.join(self.dir, lang + ".yaml")
            self.cache[lang] = self.yaml.safe_load(open(p, encoding="utf-8")) \
                if os.path.exists(p) else None
        return self.cache[lang]

    @staticmethod
    def render(t):
        """{{company}} filled in; None when other variables remain."""
        t = re.sub(r"\{\{\s*company\s*\}\}", "Lumen", t)
        return None if "{{" in t else t

    def expect(self, lang, variant):
        doc = self.get(lang)
        if doc is None:
            return None, None
        email = (doc.get("variant") or {}).get("email") if variant else doc.get("email")
        if not email:
            return None, None
        first = next((ln.strip() for ln in email.get("text", "").split("\n") if ln.strip()), "")
        return self.render(email.get("subject", "")), self.render(first)


# ---- check ---------------------------------------------------------------------------

def cmd_check(a):
    problems = []
    bad = problems.append
    secret = os.environb.get(b"HERALD_LINK_SECRET")
    if not secret:
        sys.exit("smtp_e2e: HERALD_LINK_SECRET is not set")
    campaign_text = open(a.campaign, encoding="utf-8").read()
    campaign = re.search(r"^id: (\S+)", campaign_text, re.M).group(1)
    url = re.search(r'^  url: "(.*)"$', campaign_text, re.M).group(1)
    link_rx = re.compile(re.escape(url).replace(re.escape("{{person}}"), r"([A-Za-z0-9._~%-]+)")
                         .replace(re.escape("{{token}}"), r"([A-Za-z0-9_-]{22})"))
    channels = re.findall(r"^  (\w[\w-]*):\n    type: (email|push)", campaign_text, re.M)
    email_ci = [i for i, (_, t) in enumerate(channels) if t == "email"][0]
    email_name = channels[email_ci][0]
    locales = Locales(a.src) if a.src else None

    # server log
    accepted = defaultdict(list)   # msgid key -> [event]
    rejected = {}                  # rcpt -> event (the last)
    events = Counter()
    for line in open(a.log, encoding="utf-8"):
        e = json.loads(line)
        events[e["ev"]] += 1
        if e["ev"] == "accepted":
            accepted[e["msgid"]].append(e)
        elif e["ev"] == "rejected":
            rejected[e["rcpt"].lower()] = e

    # store
    persons = {k: decode_person(v) for k, v in mdb_dump(a.state_dir, "persons")}
    deliveries = {}
    for k, v in mdb_dump(a.state_dir, "deliveries"):
        if k[10] == email_ci:
            deliveries[k[:10]] = decode_delivery(v)
    by_key = {message_key(campaign, p["id"], email_name): pk for pk, p in persons.items()}

    # captured messages
    files = sorted(os.listdir(os.path.join(a.maildir, "new")))
    captured = defaultdict(list)
    for name in files:
        data = open(os.path.join(a.maildir, "new", name), "rb").read()
        msg = BytesParser(policy=policy.default).parsebytes(data)
        mid = re.fullmatch(r"<([0-9a-f]{32})@([^<>@\s]+)>", str(msg.get("Message-ID", "")).strip())
        if not mid:
            bad(f"{name}: bad Message-ID {msg.get('Message-ID')!r}")
            continue
        captured[mid.group(1)].append((name, data, msg))

    dkim_keys = None
    if a.dkim_dns:
        import dkim  # python3-dkim
        dkim_keys = json.load(open(a.dkim_dns))

        def dnsfunc(name, timeout=5):
            n = name.decode() if isinstance(name, bytes) else name
            v = dkim_keys.get(n.rstrip("."))
            return v.encode() if v else b""

    stats = Counter()
    for key, copies in captured.items():
        if key not in by_key:
            bad(f"{copies[0][0]}: Message-ID key {key} is no person of campaign {campaign}")
            continue
        if len(copies) != 1:
            bad(f"{key}: captured {len(copies)} times (Message-IDs must be unique)")
    for pk, rec in sorted(deliveries.items()):
        p = persons[pk]
        key = message_key(campaign, p["id"], email_name)
        copies = captured.get(key, [])
        stats[rec["state"]] += 1
        where = f"person {p['id']!r}"
        if rec["state"] == "sent":
            if len(copies) != 1:
                bad(f"{where}: sent, but captured {len(copies)} times")
                continue
            name, data, msg = copies[0]
            logged = accepted.get(key, [])
            if len(logged) != 1:
                bad(f"{where}: the server logged {len(logged)} acceptances")
            elif rec["provider_id"] != logged[0]["qid"]:
                bad(f"{where}: provider_id {rec['provider_id']!r}, server queue id "
                    f"{logged[0]['qid']!r}")
            if rec["attempts"] < a.min_attempts:
                bad(f"{where}: sent after {rec['attempts']} attempts, expected at least "
                    f"{a.min_attempts}")
            stats[f"attempts_{rec['attempts']}"] += 1
            if rec["event"] != "smtp.accepted" or rec["code"] != 250:
                bad(f"{where}: record {rec['event']} {rec['code']}, expected smtp.accepted 250")
            if not rec["response"].startswith("2.0.0 Ok: queued as ") or "\r" in rec["response"] \
                    or "\n" in rec["response"]:
                bad(f"{where}: response {rec['response']!r}")
            raw = data
            if dkim_keys is not None:
                n_sig = len(re.findall(rb"^DKIM-Signature:", data, re.M | re.I))
                if n_sig != a.dkim_sigs:
                    bad(f"{where}: {n_sig} DKIM-Signature headers, expected {a.dkim_sigs}")
                algs = re.findall(rb"^DKIM-Signature:[^\0]*?\ba=([a-z0-9-]+);", data, re.M | re.I)
                for idx in range(n_sig):
                    d = dkim.DKIM(data, minkey=2048 if b"rsa" in algs[idx] else 0) \
                        if idx < len(algs) else dkim.DKIM(data)
                    if not d.verify(idx=idx, dnsfunc=dnsfunc):
                        bad(f"{where}: DKIM signature {idx + 1} "
                            f"({algs[idx].decode() if idx < len(algs) else '?'}) does not verify "
                            f"(python3-dkim)")
                    else:
                        stats["dkim_verified"] += 1
                        stats[f"dkim_{algs[idx].decode()}"] += 1
                # the signed message is the rendered one with the signature headers in front
                raw = re.sub(rb"\ADKIM-Signature:.*?\r\n(?![ \t])", b"", data, flags=re.S)
                raw = re.sub(rb"\ADKIM-Signature:.*?\r\n(?![ \t])", b"", raw, flags=re.S)
            if hashlib.sha256(raw).hexdigest() != rec["sha256"]:
                bad(f"{where}: captured bytes differ from the SHA-256 in the delivery record")
            check_message(name, msg, p, rec, key, campaign, link_rx, secret, locales, bad, stats)
        elif rec["state"] == "failed":
            if copies:
                bad(f"{where}: failed, but captured {len(copies)} times")
            rj = rejected.get(p["email"].lower()) or next(
                (e for r, e in rejected.items() if r.split("@")[0] == p["email"].split("@")[0].lower()),
                None)
            if rj is None:
                bad(f"{where}: failed ({rec['event']} {rec['code']}: {rec['response']!r}), but the "
                    f"server rejected nothing for {p['email']}")
            elif rec["event"] != "smtp.rejected" or rec["code"] != rj["code"]:
                bad(f"{where}: failed with {rec['event']} {rec['code']}, server said {rj['code']}")
        else:
            bad(f"{where}: delivery is {rec['state']}, not final")
    if a.expect_rejected and (stats["failed"] == 0 or stats["failed"] != len(rejected)):
        bad(f"{stats['failed']} deliveries failed, the server rejected {len(rejected)} recipients")
    if a.expect_sent is not None and stats["sent"] != a.expect_sent:
        bad(f"{stats['sent']} sent, expected {a.expect_sent}")
    if sum(len(c) for c in captured.values()) != stats["sent"]:
        bad(f"{sum(len(c) for c in captured.values())} messages captured, {stats['sent']} sent")

    summary = (f"smtp_e2e check: {'FAIL' if problems else 'ok'}: {len(deliveries)} email deliveries: "
               f"sent {stats['sent']}, failed {stats['failed']}; captured {len(files)} "
               f"({len(captured)} distinct Message-IDs); links verified {stats['links']}; "
               f"subjects matched {stats['subjects']}; languages {stats['nlangs']}; "
               f"dkim verified {stats['dkim_verified']}"
               + "".join(f" {k[5:]}:{v}" for k, v in sorted(stats.items())
                         if k.startswith("dkim_") and k != "dkim_verified")
               + "; attempts "
               + " ".join(f"{k[9:]}:{v}" for k, v in sorted(stats.items()) if k.startswith("attempts_"))
               + "; server events "
               + ", ".join(f"{k}={v}" for k, v in sorted(events.items())))
    for x in problems[:25]:
        print("  " + x, file=sys.stderr)
    print(summary)
    return 1 if problems else 0


LANGS = set()


def check_message(name, msg, p, rec, key, campaign, link_rx, secret, locales, bad, stats):
    where = f"{name} (person {p['id']!r})"
    if msg.defects:
        bad(f"{where}: defects {msg.defects}")
    for h in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Language",
              "Content-Type"):
        if len(msg.get_all(h, [])) != 1:
            bad(f"{where}: {len(msg.get_all(h, []))} {h} headers")
    for h, v in msg.raw_items():
        for i, line in enumerate(str(v).split("\n")):
            n = len(line.rstrip("\r")) + (len(h) + 2 if i == 0 else 0)
            if n > 78:
                bad(f"{where}: header line of {n} characters (over 78): {h}")
    lang = str(msg["Content-Language"])
    if lang != p["language"]:
        bad(f"{where}: Content-Language {lang!r}, person's language {p['language']!r}")
    if lang not in LANGS:
        LANGS.add(lang)
        stats["nlangs"] = len(LANGS)
    to = msg["To"].addresses
    if len(to) != 1 or to[0].addr_spec.split("@")[0] != p["email"].split("@")[0]:
        bad(f"{where}: To {msg['To']!r}, person's address {p['email']!r}")
    subject = str(msg["Subject"])
    if "=?" in subject or "\ufffd" in subject or not subject.strip():
        bad(f"{where}: subject does not decode: {subject!r}")
    want_subject, want_first = (locales.expect(lang, bool(rec["flags"] & 2))
                                if locales else (None, None))
    if want_subject is not None:
        if subject != want_subject:
            bad(f"{where}: subject {subject!r}, locale {lang} says {want_subject!r}")
        else:
            stats["subjects"] += 1
    parts = {}
    for part in msg.iter_parts():
        try:
            parts[part.get_content_type()] = part.get_content()
        except Exception as e:  # noqa: BLE001 - a decode failure is a finding
            bad(f"{where}: {part.get_content_type()} does not decode: {e}")
    if set(parts) != {"text/plain", "text/html"}:
        bad(f"{where}: parts {sorted(parts)}")
        return
    if want_first and want_first not in parts["text/plain"]:
        bad(f"{where}: the text part lacks the locale's opening {want_first!r}")
    for ct in ("text/plain", "text/html"):
        body = parts[ct] if ct == "text/plain" else html.unescape(parts[ct])
        found = link_rx.findall(body)
        if not found:
            bad(f"{where}: no objection link in {ct}")
        for enc, token in found:
            person = unquote(enc)
            if person != p["id"]:
                bad(f"{where}: {ct} link names {person!r}")
            elif not hmac.compare_digest(link_token(secret, campaign, person), token):
                bad(f"{where}: {ct} link does not verify")
            else:
                stats["links"] += 1


def cmd_records(a):
    """Counts of the email channel's delivery records by (state, event, code)."""
    text = open(a.campaign, encoding="utf-8").read()
    channels = re.findall(r"^  (\w[\w-]*):\n    type: (email|push)", text, re.M)
    email_ci = [i for i, (_, t) in enumerate(channels) if t == "email"][0]
    n = Counter()
    responses = {}
    for k, v in mdb_dump(a.state_dir, "deliveries"):
        if k[10] == email_ci:
            r = decode_delivery(v)
            n[(r["state"], r["event"] or "-", r["code"])] += 1
            responses.setdefault((r["state"], r["event"] or "-", r["code"]), r["response"])
    for (state, event, code), count in sorted(n.items()):
        print(f"{state} {event} {code} {count}\t{responses[(state, event, code)]}")
    return 0


def main():
    ap = argparse.ArgumentParser()
    sp = ap.add_subparsers(dest="cmd", required=True)
    c = sp.add_parser("campaign")
    c.add_argument("out")
    c.add_argument("--src", required=True)
    c.add_argument("--work", required=True)
    c.add_argument("--settings", required=True)
    c.add_argument("--fast-retry", action="store_true")
    c.add_argument("--no-canary", action="store_true")
    c.add_argument("--concurrency", type=int)
    c.add_argument("--rate")
    c.add_argument("--audience")
    c.add_argument("--max-attempts", type=int)
    k = sp.add_parser("check")
    k.add_argument("--state-dir", required=True)
    k.add_argument("--campaign", required=True)
    k.add_argument("--maildir", required=True)
    k.add_argument("--log", required=True)
    k.add_argument("--src")
    k.add_argument("--dkim-dns")
    k.add_argument("--dkim-sigs", type=int, default=2)
    k.add_argument("--expect-sent", type=int)
    k.add_argument("--min-attempts", type=int, default=1)
    k.add_argument("--expect-rejected", action="store_true",
                   help="the server rejected someone: some deliveries must have failed")
    r = sp.add_parser("records")
    r.add_argument("--state-dir", required=True)
    r.add_argument("--campaign", required=True)
    a = ap.parse_args()
    if a.cmd == "records":
        return cmd_records(a)
    if a.cmd == "campaign":
        cmd_campaign(a)
        return 0
    return cmd_check(a)


if __name__ == "__main__":
    sys.exit(main())
