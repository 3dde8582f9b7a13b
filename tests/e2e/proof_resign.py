#!/usr/bin/env python3
"""Re-signs a Herald proof bundle after its records were edited, as a signer
who holds the key would: the "prev" chain relinked, records.csv (when the manifest lists it) and
summary.json recomputed from the records where they can be, manifest.json
with the files' SHA-256, the record count and the Merkle root, and a new
checkpoint signed with KEY (PKCS#8 PEM, `herald keys generate`). Tests use it
to make bundles whose only fault is in the records, so that both verifiers
(herald and proof_verify.py) must judge the records themselves.

    proof_resign.py BUNDLE KEY [--name NAME]     (NAME: from BUNDLE/signer.vkey)
"""
import base64
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives.serialization import (Encoding, PublicFormat,
                                                          load_pem_private_key)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proof_verify as pv  # noqa: E402


def resign(bundle, keyfile, name=None):
    data = open(f"{bundle}/records.jsonl", "rb").read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    # the chain: each "prev" names the record before, as it now is
    for i in range(1, len(lines)):
        at = lines[i].find(b'"prev":"')
        if at >= 0 and len(lines[i]) >= at + 8 + 64:
            lines[i] = lines[i][:at + 8] + pv.leaf_hash(lines[i - 1]).hex().encode() + \
                lines[i][at + 8 + 64:]
    open(f"{bundle}/records.jsonl", "wb").write(b"".join(l + b"\n" for l in lines))
    root = pv.mth([pv.leaf_hash(l) for l in lines])
    # what the records add up to, when they can be read at all
    try:
        recs = [json.loads(l) for l in lines]
        summary = pv.Summary()
        for r in recs:
            summary.add(r)
        campaign = recs[0]["campaign"] if recs else json.load(open(f"{bundle}/manifest.json"))["campaign"]
        open(f"{bundle}/summary.json", "wb").write(summary.text(campaign))
    except Exception:
        pass
    m = json.load(open(f"{bundle}/manifest.json"))
    if "records.csv" in m["files"]:
        try:
            rows = b"".join(pv.csv_row(json.loads(l)) for l in lines)
            open(f"{bundle}/records.csv", "wb").write(pv.CSV_HEADER + rows)
        except Exception:
            pass
    for f in m["files"]:
        m["files"][f] = hashlib.sha256(open(f"{bundle}/{f}", "rb").read()).hexdigest()
    m["records"] = m["tree_size"] = len(lines)
    m["root_sha256"] = root.hex()
    m["root_base64"] = base64.b64encode(root).decode()
    mb = (json.dumps(m, indent=2, sort_keys=True) + "\n").encode()
    open(f"{bundle}/manifest.json", "wb").write(mb)
    key = load_pem_private_key(open(keyfile, "rb").read(), None)
    if name is None:
        name = open(f"{bundle}/signer.vkey").read().split("+", 1)[0]
    text = "%s\n%d\n%s\nherald-manifest sha256:%s\n" % (
        m["checkpoint_origin"], len(lines), base64.b64encode(root).decode(),
        hashlib.sha256(mb).hexdigest())
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kh = hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4]
    sig = base64.b64encode(kh + key.sign(text.encode())).decode()
    open(f"{bundle}/checkpoint", "w").write(text + "\n\u2014 " + name + " " + sig + "\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    name = None
    if "--name" in args:
        i = args.index("--name")
        name = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    resign(args[0], args[1], name)
