#!/usr/bin/env python3
"""An independent verifier of Herald proof bundles (docs/proofs.md).

Uses only hashlib and the `cryptography` package, and nothing of Herald: if
this agrees with `herald proofs verify`, the format is what the docs say.

    proof_verify.py BUNDLE --pubkey KEY            # PEM public key or C2SP vkey
    proof_verify.py --inclusion PROOF.json --checkpoint BUNDLE/checkpoint --pubkey KEY
    proof_verify.py --consistency PROOF.json --old OLD/checkpoint --new NEW/checkpoint --pubkey KEY
    proof_verify.py --serve                        # "BUNDLE<TAB>KEY" lines in, verdicts out

Checks: the checkpoint's Ed25519 signature (C2SP signed note), the manifest's
hash on the checkpoint's extension line, the files the manifest lists, every
record line is canonical JSON with seq = line index and prev = the previous
leaf hash, and the RFC 9162 Merkle root over the lines equals the signed one.
Exit 0 valid, 1 invalid (with the reason), 2 usage.
"""
import base64
import hashlib
import json
import os
import re
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key


class Invalid(Exception):
    pass


def leaf_hash(line: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + line).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(hashes):
    """RFC 9162 2.1.1 over leaf hashes, iteratively (constant stack)."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    # the stream form: perfect subtrees, merged like a binary counter
    stack = []  # (size, hash)
    for h in hashes:
        size = 1
        while stack and stack[-1][0] == size:
            s, left = stack.pop()
            h = node_hash(left, h)
            size *= 2
        stack.append((size, h))
    root = stack[-1][1]
    for _, h in reversed(stack[:-1]):
        root = node_hash(h, root)
    return root


def load_pubkey(path):
    data = open(path, "rb").read()
    if data.startswith(b"-----BEGIN"):
        key = load_pem_public_key(data)
        if not isinstance(key, Ed25519PublicKey):
            raise SystemExit(f"{path}: not an Ed25519 key")
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
        return None, key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    name, khash, b64 = data.decode().strip().split("+", 2)
    typed = base64.b64decode(b64, validate=True)
    if len(typed) != 33 or typed[0] != 1:
        raise SystemExit(f"{path}: not an Ed25519 vkey")
    raw = typed[1:]
    if key_hash(name, raw).hex() != khash:
        raise SystemExit(f"{path}: vkey hash does not match")
    return name, raw


def key_hash(name: str, raw: bytes) -> bytes:
    return key_hash_b(name.encode(), raw)


def key_hash_b(name: bytes, raw: bytes) -> bytes:
    return hashlib.sha256(name + b"\n\x01" + raw).digest()[:4]


B64 = re.compile(rb"^[A-Za-z0-9+/]*={0,2}$")


def strict_b64(data: bytes) -> bytes:
    """Standard base64, padded, with the unused bits zero: one text per value."""
    if len(data) % 4 or not B64.match(data):
        raise Invalid("bad base64")
    out = base64.b64decode(data, validate=True)
    if base64.b64encode(out) != data:
        raise Invalid("bad base64 (not the canonical text)")
    return out


EM_DASH = "\u2014 ".encode()
MANIFEST_EXT = b"herald-manifest sha256:"
SIZE = re.compile(rb"^(0|[1-9][0-9]{0,18})$")


def check_checkpoint(text: bytes, name, raw):
    """Returns (origin, size, root, manifest sha256 or None) of a C2SP signed
    note signed by the key. Bytes throughout: the note need not be UTF-8."""
    if len(text) > CHECKPOINT_MAX:
        raise Invalid("checkpoint: larger than 64 KiB")
    if not text.endswith(b"\n") or b"\n\n" not in text or b"\0" in text or b"\r" in text:
        raise Invalid("checkpoint: not a signed note")
    cut = text.index(b"\n\n") + 1
    body, sigs = text[:cut], text[cut + 1:]
    pub = Ed25519PublicKey.from_public_bytes(raw)
    # the first signature by the key that verifies; lines after it are not read
    verified = False
    for sig_line in sigs.split(b"\n")[:-1]:
        if not sig_line.startswith(EM_DASH) or b" " not in sig_line[len(EM_DASH):]:
            raise Invalid("checkpoint: malformed signature line")
        sname, b64 = sig_line[len(EM_DASH):].split(b" ", 1)
        if len(sname) >= 128:
            raise Invalid("checkpoint: malformed signature line")
        try:
            blob = strict_b64(b64)
        except Invalid:
            raise Invalid("checkpoint: a signature line with bad base64")
        if len(blob) < 5:
            raise Invalid("checkpoint: a signature line with bad base64")
        if name is not None and sname != name.encode():
            continue
        if len(blob) != 68 or blob[:4] != key_hash_b(sname, raw):
            continue
        try:
            pub.verify(blob[4:], body)
        except InvalidSignature:
            continue
        verified = True
        break
    if not verified:
        raise Invalid("checkpoint: no signature by this key verifies")
    lines = body.split(b"\n")[:-1]
    if len(lines) < 3:
        raise Invalid("checkpoint: needs origin, size and root")
    if not 1 <= len(lines[0]) < 160 or not SIZE.match(lines[1]):
        raise Invalid("checkpoint: malformed origin or size")
    root = strict_b64(lines[2])
    if len(root) != 32:
        raise Invalid("checkpoint: root is not 32 bytes")
    manifest = None
    for e in lines[3:]:
        if len(e) == len(MANIFEST_EXT) + 64 and e.startswith(MANIFEST_EXT):
            h = e[len(MANIFEST_EXT):]
            if not HEX64.match(h):
                raise Invalid("checkpoint: malformed herald-manifest line")
            manifest = h.decode()  # the last one counts
    return lines[0], int(lines[1]), root, manifest


# ---- the record: docs/proofs.md "Fields", one entry per field ----
# type: name ([A-Za-z0-9._/-], 1-64), str, hex (64 lowercase), ts, int, bool, obj
# where: D / X may appear in a delivery / an exclusion; RD / RX must.
D, X, RD, RX = 1, 2, 4, 8
FIELDS = {
    "accepted": ("ts", D), "address_key": ("hex", D), "attempts": ("int", D | RD),
    "campaign": ("name", D | X | RD | RX), "channel": ("name", D | RD),
    "country": ("name", D | X | RD), "event": ("name", D | X | RD | RX), "fallback": ("bool", D | RD),
    "field": ("name", X), "first_attempt": ("ts", D), "idempotency_key": ("str", D),
    "key_id": ("name", D | X | RD | RX), "kind": ("name", D | X | RD | RX),
    "language": ("name", D | RD), "last_change": ("ts", D | X | RD | RX), "link_hmac": ("hex", D | RD),
    "message_id": ("str", D), "person_key": ("hex", D | X | RD), "prev": ("hex", D | X),
    "reason": ("name", X | RX), "response": ("obj", D | RD), "seq": ("int", D | X | RD | RX),
    "sha256": ("hex", D), "snapshot": ("hex", D | X | RD | RX), "state": ("name", D | X | RD | RX),
    "template": ("name", D | RD), "uncertain": ("bool", D | RD),
}
RESPONSE = {"code": ("int", D | RD), "provider_id": ("str", D), "text": ("str", D)}
REASONS = {"out_of_region", "minor", "already_objected", "no_channel", "duplicate_id", "invalid_row"}
NAME = re.compile(r"^[A-Za-z0-9._/-]{1,64}$")
HEX64 = re.compile(rb"^[0-9a-f]{64}$")
HEX64S = re.compile(r"^[0-9a-f]{64}$")
TS = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.[0-9]{3}Z$")
INT_MAX = 2 ** 53 - 1  # I-JSON (RFC 7493)
LINE_MAX = 16 << 20  # the longest record line
CHECKPOINT_MAX = 64 << 10


def check_value(key, kind, v):
    if kind == "int":
        if type(v) is not int or not 0 <= v <= INT_MAX:
            raise Invalid(f'field "{key}" must be an integer 0..2^53-1')
    elif kind == "bool":
        if type(v) is not bool:
            raise Invalid(f'field "{key}" must be true or false')
    elif kind == "obj":
        if type(v) is not dict:
            raise Invalid(f'field "{key}" must be an object')
    elif type(v) is not str:
        raise Invalid(f'field "{key}" must be a string')
    elif kind == "name" and not NAME.match(v):
        raise Invalid(f'field "{key}" must be 1-64 of A-Z a-z 0-9 . _ - /')
    elif kind == "hex" and not HEX64S.match(v):
        raise Invalid(f'field "{key}" must be 64 lowercase hex digits')
    elif kind == "ts":
        m = TS.match(v)
        if not m or not (1 <= int(m[2]) <= 12 and 1 <= int(m[3]) <= 31 and int(m[4]) < 24
                         and int(m[5]) < 60 and int(m[6]) < 61):
            raise Invalid(f'field "{key}" must be a UTC time YYYY-MM-DDTHH:MM:SS.mmmZ')


def all_strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from all_strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from all_strings(x)


def check_record(line: bytes):
    """A record line as docs/proofs.md defines it; returns the record."""
    if len(line) >= LINE_MAX:
        raise Invalid("longer than 16 MiB")
    rec = json.loads(line.decode("utf-8"))
    if json.dumps(rec, sort_keys=True, separators=(",", ":")).encode() != line:
        raise Invalid("not canonical JSON")
    for t in all_strings(rec):  # lone surrogates survive json round trips
        t.encode("utf-8")
    if type(rec) is not dict:
        raise Invalid("not a JSON object")
    kind = rec.get("kind")
    if kind not in ("delivery", "exclusion"):
        raise Invalid('field "kind" must be "delivery" or "exclusion"')
    may, must = (X, RX) if kind == "exclusion" else (D, RD)
    for table, obj in ((FIELDS, rec), (RESPONSE, rec.get("response"))):
        if obj is None:
            continue
        for key, v in obj.items():
            if key not in table:
                raise Invalid(f'unknown field "{key}"')
            check_value(key, table[key][0], v)
            if not table[key][1] & may:
                raise Invalid(f'field "{key}" does not belong in a {kind}')
        for key, (_, where) in table.items():
            if where & must and key not in obj:
                raise Invalid(f'field "{key}" is missing')
    if (rec["seq"] > 0) != ("prev" in rec):
        raise Invalid('"prev" missing, or on record 0')
    if "country" in rec and not re.match(r"^[A-Z]{2}$", rec["country"]):
        raise Invalid('field "country" must be two capital letters')
    if kind == "exclusion":
        if rec["reason"] not in REASONS or rec["state"] != "excluded":
            raise Invalid("not a known exclusion reason, or state not excluded")
        if rec["event"] != "excluded." + rec["reason"]:
            raise Invalid('field "event" must be "excluded." + reason')
        if ("field" in rec) != (rec["reason"] == "invalid_row"):
            raise Invalid('field "field" belongs to exactly the invalid_row exclusions')
        return rec
    if rec["state"] not in ("sent", "failed"):
        raise Invalid('field "state" of a delivery must be "sent" or "failed"')
    if (rec["state"] == "sent") != ("accepted" in rec):
        raise Invalid('"accepted" belongs to exactly the sent deliveries')
    if "accepted" in rec and rec["accepted"] != rec["last_change"]:
        raise Invalid('field "accepted" differs from "last_change"')
    if ("message_id" in rec) == ("idempotency_key" in rec):
        raise Invalid('a delivery has exactly one of "message_id" and "idempotency_key"')
    if rec["template"] not in (rec["language"], rec["language"] + "/variant"):
        raise Invalid('field "template" must be the language or language/variant')
    return rec


# ---- summary.json and records.csv: what the records add up to ----
def jansson_str(s: str) -> str:
    """A JSON string as jansson writes it (summary.json is Herald's
    JSON_INDENT(2) | JSON_SORT_KEYS output): UTF-8 as is, short escapes,
    \\uXXXX (capitals) for the other controls."""
    out = ['"']
    for c in s:
        o = ord(c)
        if c in '"\\':
            out.append("\\" + c)
        elif c in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[c])
        elif o < 0x20:
            out.append("\\u%04X" % o)
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def pretty(v, indent=0) -> str:
    pad = " " * (indent + 2)
    if isinstance(v, dict):
        if not v:
            return "{}"
        items = [f"{pad}{jansson_str(k)}: {pretty(v[k], indent + 2)}" for k in sorted(v)]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(v, list):
        if not v:
            return "[]"
        return "[\n" + ",\n".join(pad + pretty(x, indent + 2) for x in v) + "\n" + " " * indent + "]"
    if isinstance(v, str):
        return jansson_str(v)
    return json.dumps(v)


class Summary:
    def __init__(self):
        self.deliv, self.excl, self.state, self.reason = {}, {}, {}, {}
        self.records = self.deliveries = self.exclusions = 0

    def add(self, r):
        self.records += 1
        self.state[r["state"]] = self.state.get(r["state"], 0) + 1
        if r["kind"] == "exclusion":
            self.exclusions += 1
            k = "\x01".join((r["reason"], r.get("country", "")))
            self.excl[k] = self.excl.get(k, 0) + 1
            self.reason[r["reason"]] = self.reason.get(r["reason"], 0) + 1
            return
        self.deliveries += 1
        k = "\x01".join((r["country"], r["language"], r["channel"], r["state"], r["event"]))
        n, fb = self.deliv.get(k, (0, 0))
        self.deliv[k] = (n + 1, fb + (1 if r["fallback"] else 0))

    def text(self, campaign) -> bytes:
        deliv = []
        for k in sorted(self.deliv):
            c, lang, ch, st, ev = k.split("\x01")
            n, fb = self.deliv[k]
            deliv.append({"country": c, "language": lang, "channel": ch, "state": st, "event": ev,
                          "records": n, "fallback": fb})
        excl = []
        for k in sorted(self.excl):
            reason, country = k.split("\x01")
            excl.append({"reason": reason, "country": country, "records": self.excl[k]})
        doc = {"campaign": campaign, "deliveries": deliv, "exclusions": excl,
               "totals": {"records": self.records, "delivery_records": self.deliveries,
                          "exclusion_records": self.exclusions, "by_state": self.state,
                          "by_reason": self.reason}}
        return (pretty(doc) + "\n").encode()


CSV_COLS = ["seq", "kind", "campaign", "snapshot", "key_id", "person_key", "address_key", "channel",
            "country", "language", "template", "fallback", "event", "reason", "field", "state",
            "first_attempt", "last_change", "accepted", "attempts", "sha256", "message_id",
            "idempotency_key", "link_hmac", "response_code", "response_provider_id",
            "response_text", "uncertain", "prev"]
CSV_HEADER = (",".join(CSV_COLS) + "\r\n").encode()


def csv_row(r) -> bytes:
    cells = []
    resp = r.get("response", {})
    for col in CSV_COLS:
        v = resp.get(col[9:]) if col.startswith("response_") else r.get(col)
        if v is None:
            cells.append(b"")
        elif type(v) is bool:
            cells.append(b"true" if v else b"false")
        elif type(v) is int:
            cells.append(str(v).encode())
        else:
            b = v.encode("utf-8")
            if b == b"" or any(c in b for c in (b",", b'"', b"\r", b"\n", b"\0")):
                b = b'"' + b.replace(b'"', b'""') + b'"'
            cells.append(b)
    return b",".join(cells) + b"\r\n"


BUNDLE_FILES = {"summary.json", "VERIFY.md", "signer.vkey", "records.csv"}


def load_manifest(data: bytes):
    """manifest.json as Herald's reader (jansson) takes it: UTF-8, an object,
    no NUL or lone surrogate in a string, integers in int64."""
    m = json.loads(data.decode("utf-8"))

    def walk(v):
        if isinstance(v, str):
            if "\0" in v:
                raise Invalid("manifest.json: a NUL in a string")
            v.encode("utf-8")
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(k)
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif type(v) is int and not -2 ** 63 <= v < 2 ** 63:
            raise Invalid("manifest.json: an integer out of range")
        elif type(v) is float and v != v or v in (float("inf"), float("-inf")):
            raise Invalid("manifest.json: not a number")
    walk(m)
    if type(m) is not dict:
        raise Invalid("manifest.json: not an object")
    return m


def verify_bundle(bundle, name, raw):
    text = open(f"{bundle}/checkpoint", "rb").read(CHECKPOINT_MAX + 1)
    origin, size, root, man_hash = check_checkpoint(text, name, raw)
    if man_hash is None:
        raise Invalid("checkpoint: no herald-manifest line")
    manifest_bytes = open(f"{bundle}/manifest.json", "rb").read()
    if hashlib.sha256(manifest_bytes).hexdigest() != man_hash:
        raise Invalid("manifest.json: changed after signing")
    manifest = load_manifest(manifest_bytes)
    files = manifest.get("files")
    if manifest.get("format") != "herald-proofs/1" or type(files) is not dict:
        raise Invalid("manifest.json: not a herald-proofs/1 manifest")
    for key in ("tree_size", "records"):
        if type(manifest.get(key)) is not int or manifest[key] != size:
            raise Invalid("manifest.json: size differs from the checkpoint")
    if manifest.get("root_sha256") != root.hex() or \
            type(manifest.get("checkpoint_origin")) is not str or \
            manifest["checkpoint_origin"].encode() != origin:
        raise Invalid("manifest.json: root or origin differs from the checkpoint")
    for fname, digest in files.items():
        if fname not in BUNDLE_FILES or type(digest) is not str:
            raise Invalid(f"manifest.json: lists an unknown file {fname!r}")
        if hashlib.sha256(open(f"{bundle}/{fname}", "rb").read()).hexdigest() != digest:
            raise Invalid(f"{fname}: changed after export")
    if "records.csv" not in files and os.path.lexists(f"{bundle}/records.csv"):
        raise Invalid("records.csv: not part of this export")
    csv = None
    if "records.csv" in files:
        csv = open(f"{bundle}/records.csv", "rb").read()
        if not csv.startswith(CSV_HEADER):
            raise Invalid("records.csv: not the header this format writes")
        csv_at = len(CSV_HEADER)
    leaves = []
    prev = None
    first = None
    summary = Summary()
    with open(f"{bundle}/records.jsonl", "rb") as f:
        for i, line in enumerate(f):
            if not line.endswith(b"\n"):
                raise Invalid(f"records.jsonl line {i + 1}: no newline")
            line = line[:-1]
            try:
                rec = check_record(line)
            except Invalid as e:
                raise Invalid(f"records.jsonl line {i + 1}: {e}")
            if rec["seq"] != i:
                raise Invalid(f"records.jsonl line {i + 1}: seq {rec['seq']}, expected {i}")
            if i > 0 and rec.get("prev") != prev.hex():
                raise Invalid(f"records.jsonl line {i}: changed (prev of line {i + 1} differs)")
            if first is None:
                first = (rec["campaign"], rec["snapshot"])
            elif (rec["campaign"], rec["snapshot"]) != first:
                raise Invalid(f"records.jsonl line {i + 1}: campaign or snapshot differs from line 1")
            summary.add(rec)
            if csv is not None:
                row = csv_row(rec)
                if csv[csv_at:csv_at + len(row)] != row:
                    raise Invalid(f"records.jsonl line {i + 1}: differs from its records.csv row")
                csv_at += len(row)
            prev = leaf_hash(line)
            leaves.append(prev)
    if len(leaves) != size:
        raise Invalid(f"records.jsonl: {len(leaves)} records, checkpoint signs {size}")
    if mth(leaves) != root:
        raise Invalid("records.jsonl: Merkle root differs from the checkpoint")
    if csv is not None and csv_at != len(csv):
        raise Invalid("records.csv: has rows after the last record")
    mc, ms = manifest.get("campaign"), manifest.get("snapshot_sha256")
    if type(mc) is not str or type(ms) is not str or (first and (mc, ms) != first):
        raise Invalid("manifest.json: campaign or snapshot differs from the records")
    want = summary.text(first[0] if first else mc)
    if open(f"{bundle}/summary.json", "rb").read() != want:
        raise Invalid("summary.json: does not match the records")
    return origin.decode("utf-8", "replace"), size, root


def verify_inclusion_path(leaf, index, size, path, root):
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency_path(m, n, old_root, new_root, proof):
    """RFC 9162 2.1.4.2."""
    if m == 0:
        return not proof
    if m == n:
        return not proof and old_root == new_root
    if m > n or not proof:
        return False
    if m & (m - 1) == 0:
        proof = [old_root] + proof
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


CAUGHT = (Invalid, OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError)


def serve():
    """--serve: one "BUNDLE<TAB>PUBKEY" per line on stdin, one answer per line
    on stdout: "0 valid: ...", "1 invalid: ...", or "crash <what>" for an
    exception that is none of the expected ones (a bug here). For the
    differential fuzz target (tests/fuzz/fuzz_proof_bundle_diff.c), which
    would spend most of its time starting Python otherwise."""
    for req in sys.stdin:
        bundle, pubkey = req.rstrip("\n").split("\t")
        try:
            name, raw = load_pubkey(pubkey)
            origin, size, root = verify_bundle(bundle, name, raw)
            ans = f"0 valid: {size} records"
        except Invalid as e:
            ans = f"1 invalid: {e}"
        except CAUGHT as e:
            ans = f"1 invalid: {type(e).__name__}: {e}"
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            ans = f"crash {type(e).__name__}: {e}"
        sys.stdout.write(ans.replace("\n", " ") + "\n")
        sys.stdout.flush()


def main(argv):
    if argv == ["--serve"]:
        serve()
        return 0
    args = {}
    pos = []
    i = 0
    while i < len(argv):
        if argv[i].startswith("--"):
            args[argv[i][2:]] = argv[i + 1]
            i += 2
        else:
            pos.append(argv[i])
            i += 1
    if "pubkey" not in args:
        print(__doc__, file=sys.stderr)
        return 2
    name, raw = load_pubkey(args["pubkey"])
    try:
        if "inclusion" in args:
            _, size, root, _ = check_checkpoint(open(args["checkpoint"], "rb").read(), name, raw)
            proof = json.load(open(args["inclusion"]))
            if proof["tree_size"] != size:
                raise Invalid("proof is for another tree size")
            for r in proof["records"]:
                line = r["record"].encode()
                path = [bytes.fromhex(h) for h in r["inclusion_path"]]
                if not verify_inclusion_path(leaf_hash(line), r["seq"], size, path, root):
                    raise Invalid(f"record seq {r['seq']}: not in the signed tree")
            print(f"valid: {len(proof['records'])} records included in tree of {size}")
        elif "consistency" in args:
            _, m, old_root, _ = check_checkpoint(open(args["old"], "rb").read(), name, raw)
            _, n, new_root, _ = check_checkpoint(open(args["new"], "rb").read(), name, raw)
            proof = json.load(open(args["consistency"]))
            hashes = [bytes.fromhex(h) for h in proof["proof"]]
            if not verify_consistency_path(m, n, old_root, new_root, hashes):
                raise Invalid("consistency proof does not verify")
            print(f"valid: tree of {n} extends tree of {m}")
        else:
            if len(pos) != 1:
                print(__doc__, file=sys.stderr)
                return 2
            origin, size, root = verify_bundle(pos[0], name, raw)
            print(f"valid: {origin}, {size} records, root {root.hex()}")
    except Invalid as e:
        print(f"invalid: {e}")
        return 1
    except CAUGHT as e:
        print(f"invalid: {type(e).__name__}: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
