#!/usr/bin/env python3
"""verify_outputs.py - an independent check of what `herald run` delivered
through the `file` channel module.

It links nothing of Herald: the state store is read with `mdb_dump` (lmdb-utils)
and decoded per docs/state-store.md, messages are parsed with Python's email
package (policy default, its header registry memoized for speed), links are
checked with the HMAC scheme of docs/objection-link.md, and message ids are
recomputed per core/render/include/herald/render.h. Python 3 standard library only.

usage:
  verify_outputs.py --state-dir DIR --channel NAME:TYPE:PATH [--channel ...]
                    [--link-template URL] [--secret-env VAR]
                    [--exact] [--uncertain FILE] [--jobs N] [--light] [--partial]

  --channel NAME:TYPE:PATH  one per campaign channel, IN CAMPAIGN ORDER (the
                            person record's chskip bytes are by index); TYPE is
                            email (PATH: the Maildir), smtp-sink (PATH: the
                            dump file of postfix's smtp-sink run with
                            -S '\001SINK\n' -D PATH) or push (PATH: the outbox,
                            or push_server.py's --accepted file)
  --link-template URL       the campaign's objection_link.url
  --secret-env VAR          where the link secret is (default HERALD_LINK_SECRET)
  --exact                   every expected (person, channel) delivered exactly once
  --uncertain FILE          `herald status --uncertain` output: every extra copy
                            must be listed there (and the list must match the
                            store's uncertain flags and the deliveries left in
                            flight)
  --light                   emails: only the key (Message-ID) and the SHA-256
                            of the bytes, not parsed (the crash tests, where
                            copies count and the bytes must be the recorded
                            ones; the content is checked by the other tests)
  --partial                 the store of a run that stopped (disk full): only
                            deliveries recorded sent must have been received,
                            and a copy may also belong to one in flight (its
                            outcome not recorded); one still pending or
                            retrying must not have been received

Asserts:
  * every expected (person, channel) pair (chskip == 0) was delivered at least
    once (--exact: exactly once), and nothing else was delivered;
  * Message-ID (email) / idempotency_key (push) is the deterministic key
    hex(SHA-256("herald-msgid-v1" 0 campaign 0 person 0 channel))[:32];
  * Content-Language / "language" is the person record's language used;
  * the objection link in the text part (and the HTML part; push: objection_url)
    verifies under the secret and names that person;
  * the subject decodes cleanly; To is the person's address;
  * every copy's bytes hash to the SHA-256 the delivery record holds (a re-send
    is byte-identical), the record is `sent`, and its variant flag matches;
  * with --uncertain: every pair delivered more than once is listed.
Without --exact, a torn outbox line (a run killed inside a batch's write())
is allowed, and counted; its delivery must be uncertain.
Prints one summary line; exits 1 listing (up to 20 of) the problems found.
"""
import argparse
import base64
import functools
import hashlib
import hmac
import html
import json
import multiprocessing
import os
import re
import subprocess
import sys
import unicodedata
from collections import Counter
from email import headerregistry, policy
from email.parser import BytesParser
from urllib.parse import quote, unquote_to_bytes

DSTATES = ["pending", "inflight", "sent", "retry", "failed", "held"]
DF_UNCERTAIN, DF_VARIANT = 0x1, 0x2


# ---- the state store ---------------------------------------------------------

def mdb_dump(state_dir, db):
    """(key, value) byte pairs of a named database, via mdb_dump's hex format."""
    out = subprocess.run(["mdb_dump", "-s", db, state_dir], check=True,
                         stdout=subprocess.PIPE).stdout.decode("ascii")
    lines = out.split("\n")
    try:
        i = lines.index("HEADER=END") + 1
    except ValueError:
        raise SystemExit(f"verify_outputs: mdb_dump -s {db}: no header")
    pairs = []
    while i < len(lines) and lines[i] != "DATA=END":
        pairs.append((bytes.fromhex(lines[i].strip()), bytes.fromhex(lines[i + 1].strip())))
        i += 2
    if i >= len(lines):
        raise SystemExit(f"verify_outputs: mdb_dump -s {db}: truncated dump")
    return pairs


def strings(rec, off, n):
    out = []
    for _ in range(n):
        if off + 2 > len(rec):
            raise ValueError("truncated string length")
        ln = int.from_bytes(rec[off:off + 2], "little")
        off += 2
        if off + ln > len(rec):
            raise ValueError("truncated string")
        out.append(rec[off:off + ln].decode("utf-8"))
        off += ln
    return out, off


def decode_person(rec):
    if len(rec) < 24 or rec[0] != 1:
        raise ValueError("bad person record")
    n = rec[23]
    if n > 8:
        raise ValueError("nchannels > 8")
    chskip = list(rec[24:24 + n])
    (language, pid, email, push_token, asked, tz, name), _ = strings(rec, 24 + n, 7)
    return {
        "row": int.from_bytes(rec[1:9], "little"),
        "country": rec[17:19].decode("ascii"),
        "variant": rec[20],
        "chskip": chskip,
        "language": language, "id": pid, "email": email, "push_token": push_token,
        "name": name,
    }


def decode_delivery(rec):
    if len(rec) == 2 and rec[0] == 2 and rec[1] < len(DSTATES):  # never touched: [2][state]
        return {"state": DSTATES[rec[1]], "attempts": 0, "flags": 0, "sha256": "0" * 64,
                "event": "", "provider_id": ""}
    if len(rec) < 64 or rec[0] != 1 or rec[1] >= len(DSTATES):
        raise ValueError("bad delivery record")
    (event, provider_id, response), _ = strings(rec, 64, 3)
    return {"state": DSTATES[rec[1]], "attempts": rec[2],
            "flags": int.from_bytes(rec[3:5], "little"), "sha256": rec[32:64].hex(),
            "event": event, "provider_id": provider_id}


# ---- keys and links ------------------------------------------------------------

def message_key(campaign, person, channel):
    h = hashlib.sha256(b"herald-msgid-v1\0" + campaign.encode() + b"\0" + person.encode() +
                       b"\0" + channel.encode())
    return h.hexdigest()[:32]


def herald_token(secret, campaign, person):
    msg = b"herald-link-v1\0" + campaign.encode() + b"\0" + person.encode()
    mac = hmac.new(secret, msg, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def pct(s):
    return quote(s.encode("utf-8"), safe="-._~")


def link_regex(template, campaign):
    """The template as a regex: group 1 the percent-encoded person, 2 the token."""
    parts = re.split(r"\{\{\s*(person|token|campaign)\s*\}\}", template)
    rx, groups = "", []
    for i, p in enumerate(parts):
        if i % 2 == 0:
            rx += re.escape(p)
        elif p == "campaign":
            rx += re.escape(pct(campaign))
        elif p == "person":
            rx += r"([A-Za-z0-9._~%-]+)"
            groups.append("person")
        else:
            rx += r"([A-Za-z0-9_-]{22})(?![A-Za-z0-9_-])"
            groups.append("token")
    if sorted(groups) != ["person", "token"]:
        raise SystemExit("verify_outputs: the link template needs {{person}} and {{token}} once")
    return re.compile(rx), groups.index("person") + 1, groups.index("token") + 1


class Links:
    def __init__(self, template, campaign, secret):
        self.rx, self.gp, self.gt = link_regex(template, campaign)
        self.campaign, self.secret = campaign, secret

    def find(self, text):
        """The (percent-encoded person, token) of every link in text."""
        return [(m.group(self.gp), m.group(self.gt)) for m in self.rx.finditer(text)]

    def check(self, found, person, where, problems):
        """Every link found must verify and name person; at least one."""
        for enc, token in found:
            raw = unquote_to_bytes(enc)
            try:
                who = raw.decode("utf-8")
            except UnicodeDecodeError:
                problems.append(f"{where}: link person is not UTF-8: {enc!r}")
                continue
            good = hmac.compare_digest(herald_token(self.secret, self.campaign, who), token)
            if not good:
                problems.append(f"{where}: objection link does not verify: p={enc} t={token}")
            elif who != person:
                problems.append(f"{where}: objection link is for {who!r}, not {person!r}")
        if not found:
            problems.append(f"{where}: no objection link")
        return len(found)


# ---- Maildir messages (parsed in worker processes) --------------------------------

class CachedRegistry(headerregistry.HeaderRegistry):
    """policy.default's header registry, memoized: the library re-parses the
    same Content-Type some 20 times per message, which made parsing 3x slower.
    Header objects are immutable, so sharing them changes no result."""

    @functools.lru_cache(maxsize=4096)
    def __call__(self, name, value):
        return super().__call__(name, value)


POLICY = policy.default.clone(header_factory=CachedRegistry())
NAME_RX = re.compile(r"^(\d+)\.([0-9a-f]{32})_(\d+)(?:_(\d+))?\.[^/]+$")
MSGID_RX = re.compile(r"^<([0-9a-f]{32})@([^<>@\s]+)>$")


WORKER_LINKS = None


def worker_init(links):
    global WORKER_LINKS
    WORKER_LINKS = links


SINK_START = b"\x01SINK\n"  # smtp-sink -S: starts every message in the dump


def sink_messages(path):
    """The messages of smtp-sink's multi-message dump file (-S '\\001SINK\\n'
    -D PATH). smtp-sink appends a transaction only once it has finished (the
    client's "." received; a session cut inside DATA leaves nothing), before
    it answers 250, so each one is a copy the relay took."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.startswith(SINK_START):
        return [b""]  # reported as not a complete dump
    return data.split(SINK_START)[1:]


def sink_message(data):
    """The bytes sent, from one message of smtp-sink's dump, or None. It is
    smtp-sink's own header block (X-Client-Addr ..., then a three-line
    Received: header), the message as received, dot-unstuffed, with LF line
    ends, then an empty line. Herald's messages have no bare LF, so restoring
    CRLF gives back the exact bytes."""
    lines = data.split(b"\n")
    i = next((k for k, line in enumerate(lines) if line.startswith(b"Received: ")), None)
    if i is None or len(lines) < i + 6 or lines[-1] != b"" or lines[-2] != b"":
        return None
    return b"\r\n".join(lines[i + 3:-2]) + b"\r\n"


def parse_email(job):
    """What the main process needs of one message; problems as strings.
    (Header objects are costly under policy default: each is fetched once.)
    job: (name, path, "email", light) or (name, bytes, "smtp-sink", light)."""
    name, data, typ, light = job
    if typ == "email":
        with open(data, "rb") as f:
            data = f.read()
    r = {"name": name, "sha256": None, "problems": [],
         "key": None, "attempt": None, "to": None, "lang": None, "campaign": None,
         "text": [], "html": [], "light": light}
    p = r["problems"]
    if typ == "smtp-sink":
        data = sink_message(data)
        if data is None:
            p.append(f"{name}: not a complete smtp-sink dump file")
            return r
    r["sha256"] = hashlib.sha256(data).hexdigest()
    if light:
        mid = re.search(rb"^Message-ID:[ \t]*(<[^\r\n]*>)\r$",
                        data.split(b"\r\n\r\n", 1)[0] + b"\r", re.M | re.I)
        mid = MSGID_RX.match(mid.group(1).decode("ascii", "replace")) if mid else None
        if not mid:
            p.append(f"{name}: no Message-ID of Herald's form")
        else:
            r["key"], r["domain"] = mid.group(1), mid.group(2)
        return r
    m = NAME_RX.match(name) if typ == "email" else None
    if not m and typ == "email":
        p.append(f"{name}: not a <time>.<key>_<attempt>.<host> name")
    else:
        r["attempt"] = int(m.group(3))
    try:
        msg = BytesParser(policy=POLICY).parsebytes(data)
    except Exception as e:  # noqa: BLE001 - any parse failure is a finding
        p.append(f"{name}: does not parse: {e}")
        return r
    if msg.defects:
        p.append(f"{name}: message defects {msg.defects}")
    raw = {}
    for h, v in msg.raw_items():
        raw.setdefault(h.lower(), []).append(re.sub(r"\r?\n[ \t]", " ", str(v)).strip())
    for h in ("Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Language",
              "X-Herald-Campaign", "Content-Type"):
        if len(raw.get(h.lower(), ())) != 1:
            p.append(f"{name}: {len(raw.get(h.lower(), ()))} {h} headers, expected 1")
    mid = MSGID_RX.match(raw.get("message-id", [""])[0])
    if not mid:
        p.append(f"{name}: bad Message-ID {raw.get('message-id')!r}")
    else:
        r["key"], r["domain"] = mid.group(1), mid.group(2)
        if m and m.group(2) != r["key"]:
            p.append(f"{name}: file name key differs from Message-ID {r['key']}")
    r["lang"] = raw.get("content-language", [""])[0]
    r["campaign"] = raw.get("x-herald-campaign", [""])[0]
    try:
        subject = msg["Subject"]
        s = str(subject)
        if (subject.defects or not s.strip() or "=?" in s or "\ufffd" in s or
                any(0xDC80 <= ord(c) <= 0xDCFF for c in s)):
            p.append(f"{name}: subject does not decode cleanly: {s!r} {subject.defects}")
        to = msg["To"].addresses
        r["to"] = to[0].addr_spec if len(to) == 1 else None
        if len(to) != 1:
            p.append(f"{name}: To has {len(to)} addresses")
        fr = msg["From"].addresses
        r["from_domain"] = fr[0].domain if len(fr) == 1 else None
        if msg["Date"].datetime is None:
            p.append(f"{name}: Date does not parse")
    except Exception as e:  # noqa: BLE001
        p.append(f"{name}: bad header: {e}")
    try:
        parts = list(msg.iter_parts()) if msg.is_multipart() else [msg]
        kinds = Counter()
        for part in parts:
            ct = part.get_content_type()
            kinds[ct] += 1
            if ct == "text/plain":
                r["text"] = WORKER_LINKS.find(part.get_content())
            elif ct == "text/html":
                r["html"] = WORKER_LINKS.find(html.unescape(part.get_content()))
        if kinds["text/plain"] != 1 or kinds["text/html"] > 1:
            p.append(f"{name}: parts {dict(kinds)}, expected one text/plain (and an html)")
    except Exception as e:  # noqa: BLE001
        p.append(f"{name}: body does not decode: {e}")
    return r


def idna_equal(want, got):
    """got (ASCII) is the address want with its domain in IDNA form."""
    wl, _, wd = want.rpartition("@")
    gl, _, gd = got.rpartition("@")
    if wl != gl:
        return False
    if wd.lower() == gd.lower():
        return True
    try:
        if wd.encode("idna").decode("ascii").lower() == gd.lower():
            return True
    except UnicodeError:
        pass
    try:  # IDNA 2008 and 2003 differ on a few characters: compare decoded
        back = gd.encode("ascii").decode("idna")
        return unicodedata.normalize("NFC", back) == unicodedata.normalize("NFC", wd.lower())
    except UnicodeError:
        return False


# ---- main --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--channel", action="append", required=True, metavar="NAME:TYPE:PATH")
    ap.add_argument("--link-template",
                    default="https://privacy.lumen.example/ai/object?p={{person}}&t={{token}}")
    ap.add_argument("--secret-env", default="HERALD_LINK_SECRET")
    ap.add_argument("--exact", action="store_true")
    ap.add_argument("--uncertain")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--light", action="store_true")
    ap.add_argument("--partial", action="store_true")
    a = ap.parse_args()

    problems = []

    def bad(msg):
        problems.append(msg)

    secret = os.environb.get(a.secret_env.encode())
    if not secret:
        raise SystemExit(f"verify_outputs: ${a.secret_env} is not set")
    channels = []
    for spec in a.channel:
        name, typ, path = (spec.split(":", 2) + ["", ""])[:3]
        if typ not in ("email", "smtp-sink", "push") or not name or not path:
            raise SystemExit(f"verify_outputs: bad --channel {spec!r}")
        channels.append((name, typ, path))

    meta = dict(mdb_dump(a.state_dir, "meta"))
    if b"campaign_id" not in meta:
        raise SystemExit(f"verify_outputs: no campaign_id in {a.state_dir}: not a herald store")
    campaign = meta[b"campaign_id"].decode()
    if meta.get(b"plan_state") != b"complete":
        bad("the plan is not complete")
    links = Links(a.link_template, campaign, secret)

    # persons and the pairs that must be delivered
    persons = {}      # person key (10 bytes) -> record
    by_key = {}       # message key -> (person key, channel index)
    expected = set()  # (person key, channel index)
    for k, v in mdb_dump(a.state_dir, "persons"):
        try:
            p = decode_person(v)
        except (ValueError, UnicodeDecodeError) as e:
            bad(f"person {k.hex()}: {e}")
            continue
        if len(p["chskip"]) != len(channels):
            raise SystemExit(f"verify_outputs: the store has {len(p['chskip'])} channels, "
                             f"--channel gives {len(channels)}")
        persons[k] = p
        for ci, (cname, _, _) in enumerate(channels):
            mk = message_key(campaign, p["id"], cname)
            if mk in by_key:
                bad(f"message key collision {mk}")
            by_key[mk] = (k, ci)
            if p["chskip"][ci] == 0:
                expected.add((k, ci))
    deliveries = {}
    for k, v in mdb_dump(a.state_dir, "deliveries"):
        try:
            deliveries[(k[:10], k[10])] = decode_delivery(v)
        except (ValueError, UnicodeDecodeError) as e:
            bad(f"delivery {k.hex()}: {e}")
    if set(deliveries) != expected:
        bad(f"deliveries in the store ({len(deliveries)}) are not the persons' pairs with "
            f"chskip 0 ({len(expected)})")

    copies = Counter()            # (person key, channel) -> copies delivered
    copies_torn = set()           # pairs with a torn outbox line
    stats = Counter()

    def pair_of(key, ci, where):
        hit = by_key.get(key)
        if hit is None:
            bad(f"{where}: key {key} is no (person, channel) of campaign {campaign}")
            return None
        if hit[1] != ci:
            bad(f"{where}: key {key} belongs to channel {channels[hit[1]][0]}")
            return None
        if hit not in expected:
            bad(f"{where}: delivered to person {persons[hit[0]]['id']!r}, who has no "
                f"{channels[ci][0]} delivery (chskip {persons[hit[0]]['chskip'][ci]})")
        return hit

    def check_record(pair, sha, where):
        rec = deliveries.get(pair)
        if rec is None:
            return
        if rec["state"] != "sent" and not (a.partial and rec["state"] == "inflight"):
            bad(f"{where}: delivered, but the delivery record is {rec['state']}")
        if sha is not None and sha != rec["sha256"]:
            bad(f"{where}: bytes differ from the SHA-256 in the delivery record")
        if bool(rec["flags"] & DF_VARIANT) != bool(persons[pair[0]]["variant"]):
            bad(f"{where}: variant flag {rec['flags']} but person variant "
                f"{persons[pair[0]]['variant']}")

    for ci, (cname, typ, path) in enumerate(channels):
        if typ in ("email", "smtp-sink"):
            files = []
            if typ == "email":
                for sub in ("new", "cur"):
                    d = os.path.join(path, sub)
                    if os.path.isdir(d):
                        files += [(f, os.path.join(d, f), typ, a.light) for f in os.listdir(d)]
                tmpd = os.path.join(path, "tmp")
                stats["tmp_leftovers"] += len(os.listdir(tmpd)) if os.path.isdir(tmpd) else 0
            else:
                files = [(f"{os.path.basename(path)} message {i}", m, typ, a.light)
                         for i, m in enumerate(sink_messages(path), 1)]
            files.sort()
            with multiprocessing.Pool(max(1, a.jobs), worker_init, (links,)) as pool:
                parsed = pool.imap_unordered(parse_email, files, chunksize=200)
                for r in parsed:
                    stats["emails"] += 1
                    for x in r["problems"]:
                        bad(x)
                    if r["key"] is None:
                        continue
                    where = f"{cname} {r['name']}"
                    pair = pair_of(r["key"], ci, where)
                    if pair is None:
                        continue
                    p = persons[pair[0]]
                    copies[pair] += 1
                    if r["light"]:
                        check_record(pair, r["sha256"], where)
                        continue
                    if r["lang"] != p["language"]:
                        bad(f"{where}: Content-Language {r['lang']!r}, person's language "
                            f"{p['language']!r}")
                    if r["campaign"] != campaign:
                        bad(f"{where}: X-Herald-Campaign {r['campaign']!r}")
                    if r.get("from_domain") and r.get("domain") != r["from_domain"]:
                        bad(f"{where}: Message-ID domain {r.get('domain')!r} is not the From "
                            f"domain {r['from_domain']!r}")
                    if r["to"] is not None and not idna_equal(p["email"], r["to"]):
                        bad(f"{where}: To {r['to']!r}, person's email {p['email']!r}")
                    links.check(r["text"], p["id"], where + " text part", problems)
                    if r["html"]:
                        links.check(r["html"], p["id"], where + " html part", problems)
                    stats["links"] += len(r["text"]) + len(r["html"])
                    check_record(pair, r["sha256"], where)
        else:
            if not os.path.exists(path):
                lines = []
            else:
                with open(path, "rb") as f:
                    lines = f.read().split(b"\n")
                if lines[-1] == b"":
                    lines.pop()
                elif a.exact:
                    bad(f"{cname}: the outbox does not end in a newline")
            keys = ["idempotency_key", "token", "person_id", "language", "payload"]
            for no, raw in enumerate(lines, 1):
                where = f"{cname} outbox line {no}"
                try:
                    o = json.loads(raw)
                    if not isinstance(o, dict):
                        raise ValueError("not an object")
                except ValueError:
                    # A run killed inside a batch's write() leaves the batch's
                    # start: whole lines, then the start of one (the module
                    # begins the next batch on a new line). Without --exact
                    # such a torn line is allowed; its delivery must be
                    # uncertain when it gets far enough to name its key.
                    stats["torn_lines"] += 1
                    head = b'{"idempotency_key":"'
                    m = re.match(rb'\{"idempotency_key":"([0-9a-f]{32})"', raw)
                    if a.exact or not (raw.startswith(head) or head.startswith(raw)):
                        bad(f"{where}: not a JSON object: {raw[:80]!r}")
                    elif m is not None:
                        torn = by_key.get(m.group(1).decode())
                        if torn is None:
                            bad(f"{where}: torn line of an unknown key: {raw[:80]!r}")
                        else:
                            copies_torn.add(torn)
                    continue
                stats["push"] += 1
                if list(o) != keys:
                    bad(f"{where}: keys {list(o)}, expected {keys}")
                    continue
                pair = pair_of(o["idempotency_key"], ci, where)
                if pair is None:
                    continue
                p = persons[pair[0]]
                copies[pair] += 1
                pl = o["payload"]
                if o["person_id"] != p["id"]:
                    bad(f"{where}: person_id {o['person_id']!r}, key says {p['id']!r}")
                if o["token"] != p["push_token"]:
                    bad(f"{where}: token is not the person's push token")
                if o["language"] != p["language"]:
                    bad(f"{where}: language {o['language']!r}, person's language "
                        f"{p['language']!r}")
                if not isinstance(pl, dict):
                    bad(f"{where}: payload is not an object")
                    continue
                want = {"campaign_id": campaign, "language": p["language"],
                        "person_id": p["id"], "token": p["push_token"]}
                for f, v in want.items():
                    if pl.get(f) != v:
                        bad(f"{where}: payload {f} {pl.get(f)!r}, expected {v!r}")
                if sorted(pl) != ["body", "campaign_id", "language", "objection_url",
                                  "person_id", "title", "token"]:
                    bad(f"{where}: payload keys {sorted(pl)}")
                if not str(pl.get("title", "")).strip() or not str(pl.get("body", "")).strip():
                    bad(f"{where}: empty title or body")
                url = pl.get("objection_url", "")
                if links.check(links.find(url), p["id"], where + " objection_url", problems) == 1:
                    full = links.rx.fullmatch(url)
                    if full is None:
                        bad(f"{where}: objection_url has extra text: {url!r}")
                in_body = links.find(str(pl.get("body", "")))
                if in_body:  # the body's own copy of the link, where the text has one
                    links.check(in_body, p["id"], where + " body", problems)
                # the body as sent: canonical JSON, keys sorted, compact
                canon = json.dumps(pl, sort_keys=True, separators=(",", ":"),
                                   ensure_ascii=False).encode()
                check_record(pair, hashlib.sha256(canon).hexdigest(), where)

    # every expected pair delivered; extra copies
    missing = [pr for pr in expected if copies[pr] == 0 and
               (not a.partial or deliveries.get(pr, {}).get("state") == "sent")]
    for pr in sorted(missing)[:20]:
        bad(f"never delivered: person {persons[pr[0]]['id']!r} on {channels[pr[1]][0]}")
    if missing:
        bad(f"{len(missing)} expected deliveries were never delivered")
    extra = {pr: n for pr, n in copies.items() if n > 1}
    extra_copies = sum(n - 1 for n in extra.values())
    if a.exact and extra:
        for pr, n in sorted(extra.items())[:20]:
            bad(f"delivered {n} times: person {persons[pr[0]]['id']!r} on {channels[pr[1]][0]}")
        bad(f"--exact: {len(extra)} pairs delivered more than once")
    # `status --uncertain` with no dispatcher alive (always, when this runs)
    # lists the flagged deliveries and those a stopped or dead run left in
    # flight.
    flagged = {pr for pr, rec in deliveries.items()
               if rec["flags"] & DF_UNCERTAIN or rec["state"] == "inflight"}
    listed = set()
    if a.uncertain:
        by_id = {(p["id"]): k for k, p in persons.items()}
        ch_index = {c[0]: i for i, c in enumerate(channels)}
        with open(a.uncertain, encoding="utf-8") as f:
            for no, line in enumerate(f, 1):
                line = line.rstrip("\n")
                if not line:
                    continue
                fields = line.split("\t")
                if len(fields) < 2 or fields[0] not in by_id or fields[1] not in ch_index:
                    bad(f"{a.uncertain}:{no}: not person<TAB>channel of this campaign: {line!r}")
                    continue
                listed.add((by_id[fields[0]], ch_index[fields[1]]))
        unlisted = [pr for pr in extra if pr not in listed]
        for pr in sorted(unlisted)[:20]:
            bad(f"extra copy not listed as uncertain: person {persons[pr[0]]['id']!r} on "
                f"{channels[pr[1]][0]} ({copies[pr]} copies)")
        if unlisted:
            bad(f"{len(unlisted)} pairs with extra copies are not listed as uncertain")
        if listed != flagged:
            bad(f"the uncertain list ({len(listed)}) differs from the store's uncertain flags "
                f"({len(flagged)})")
    for pr in copies_torn:
        if a.uncertain and pr not in listed:
            bad(f"torn outbox line of person {persons[pr[0]]['id']!r}, not listed as uncertain")

    per_ch = Counter(ci for _, ci in expected)
    summary = (f"verify_outputs: {'FAIL' if problems else 'ok'}: campaign {campaign}, "
               f"{len(persons)} persons, expected "
               + ", ".join(f"{c[0]}={per_ch[i]}" for i, c in enumerate(channels))
               + f"; delivered {stats['emails']} emails + {stats['push']} push lines; "
               f"extra_copies={extra_copies} (pairs={len(extra)}) "
               f"uncertain={len(flagged)} torn_lines={stats['torn_lines']} "
               f"tmp_leftovers={stats['tmp_leftovers']} missing={len(missing)}"
               + (" exact" if a.exact else ""))
    if problems:
        for x in problems[:20]:
            print("  " + x, file=sys.stderr)
        if len(problems) > 20:
            print(f"  ... and {len(problems) - 20} more problems", file=sys.stderr)
    print(summary)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
