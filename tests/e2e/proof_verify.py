#!/usr/bin/env python3
"""An independent verifier of Herald proof bundles (docs/proofs.md).

Uses only hashlib and the `cryptography` package, and nothing of Herald: if
this agrees with `herald proofs verify`, the format is what the docs say.

    proof_verify.py BUNDLE --pubkey KEY            # PEM public key or C2SP vkey
    proof_verify.py --inclusion PROOF.json --checkpoint BUNDLE/checkpoint --pubkey KEY
    proof_verify.py --consistency PROOF.json --old OLD/checkpoint --new NEW/checkpoint --pubkey KEY

Checks: the checkpoint's Ed25519 signature (C2SP signed note), the manifest's
hash on the checkpoint's extension line, the files the manifest lists, every
record line is canonical JSON with seq = line index and prev = the previous
leaf hash, and the RFC 9162 Merkle root over the lines equals the signed one.
Exit 0 valid, 1 invalid (with the reason), 2 usage.
"""
import base64
import hashlib
import json
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
    return hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4]


def check_checkpoint(text: bytes, name, raw):
    """Returns (origin, size, root, extension lines) of a note signed by the key."""
    if b"\n\n" not in text or not text.endswith(b"\n"):
        raise Invalid("checkpoint: not a signed note")
    body, sigs = text.split(b"\n\n", 1)
    body += b"\n"
    lines = body.decode().split("\n")[:-1]
    if len(lines) < 3:
        raise Invalid("checkpoint: needs origin, size and root")
    origin, size, root_b64 = lines[0], int(lines[1]), lines[2]
    root = base64.b64decode(root_b64, validate=True)
    pub = Ed25519PublicKey.from_public_bytes(raw)
    for sig_line in sigs.decode().split("\n")[:-1]:
        if not sig_line.startswith("\u2014 "):
            raise Invalid("checkpoint: malformed signature line")
        sname, b64 = sig_line[2:].split(" ")
        blob = base64.b64decode(b64, validate=True)
        if name is not None and sname != name:
            continue
        if len(blob) != 68 or blob[:4] != key_hash(sname, raw):
            continue
        try:
            pub.verify(blob[4:], body)
        except InvalidSignature:
            raise Invalid("checkpoint: signature does not verify")
        return origin, size, root, lines[3:]
    raise Invalid("checkpoint: no signature by this key")


def verify_bundle(bundle, name, raw):
    text = open(f"{bundle}/checkpoint", "rb").read()
    origin, size, root, ext = check_checkpoint(text, name, raw)
    man_line = [e for e in ext if e.startswith("herald-manifest sha256:")]
    if len(man_line) != 1:
        raise Invalid("checkpoint: no herald-manifest line")
    manifest_bytes = open(f"{bundle}/manifest.json", "rb").read()
    if hashlib.sha256(manifest_bytes).hexdigest() != man_line[0].split(":", 1)[1]:
        raise Invalid("manifest.json: changed after signing")
    manifest = json.loads(manifest_bytes)
    for fname, digest in manifest["files"].items():
        if "/" in fname or hashlib.sha256(open(f"{bundle}/{fname}", "rb").read()).hexdigest() != digest:
            raise Invalid(f"{fname}: changed after export")
    leaves = []
    prev = None
    with open(f"{bundle}/records.jsonl", "rb") as f:
        for i, line in enumerate(f):
            if not line.endswith(b"\n"):
                raise Invalid(f"records.jsonl line {i + 1}: no newline")
            line = line[:-1]
            rec = json.loads(line)
            canon = json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()
            if canon != line:
                raise Invalid(f"records.jsonl line {i + 1}: not canonical JSON")
            if rec["seq"] != i:
                raise Invalid(f"records.jsonl line {i + 1}: seq {rec['seq']}, expected {i}")
            if i > 0 and rec.get("prev") != prev.hex():
                raise Invalid(f"records.jsonl line {i}: changed (prev of line {i + 1} differs)")
            prev = leaf_hash(line)
            leaves.append(prev)
    if len(leaves) != size:
        raise Invalid(f"records.jsonl: {len(leaves)} records, checkpoint signs {size}")
    if mth(leaves) != root:
        raise Invalid("records.jsonl: Merkle root differs from the checkpoint")
    if manifest["tree_size"] != size or manifest["root_sha256"] != root.hex():
        raise Invalid("manifest.json: size or root differs from the checkpoint")
    return origin, size, root


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


def main(argv):
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
    except (OSError, ValueError, KeyError) as e:
        print(f"invalid: {type(e).__name__}: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
