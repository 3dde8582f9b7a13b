#!/usr/bin/env bash
# Proof bundles that a hostile or careless party made, checked by both
# verifiers: `herald proofs verify` and the independent tests/e2e/proof_verify.py
# must give the same answer on every bundle (issue 10, findings 7 and 12):
# records re-signed with the real key after an edit that only a lax parser
# takes (a backslash before a NUL byte, lone surrogates, numbers of other
# forms, duplicate keys, ...), and an oversized checkpoint, which is a bad
# bundle (exit 1), not an internal error (70).
source "$(dirname "$0")/lib.sh"
PY=${HERALD_PYTHON:-/usr/bin/python3}
pyv() { "$PY" "$SRC/tests/e2e/proof_verify.py" "$@"; }
"$PY" - "$WORK" <<'PY'
import sys
work = sys.argv[1]
rows = [f"p-{i:02d},p{i:02d}@example.org,tok-{i:02d},{cc},{lang},1980-01-01,,N {i}"
        for i, (cc, lang) in enumerate([("DE", "de"), ("FR", "fr"), ("SE", "sv"), ("AT", "pt-BR")] * 2)]
rows.append("kid,kid@example.org,tok-kid,DE,de,2015-01-01,,Kid")
open(f"{work}/audience.csv", "w").write(
    "id,email,push_token,country,language,birth_date,time_zone,name\n" + "\n".join(rows) + "\n")
PY
camp=$WORK/campaign.yaml
ops_campaign "$camp" "$WORK/audience.csv" proofs-hostile EU
cat >>"$camp" <<EOF
channels:
  email:
    type: email
    module: file
    from: "Lumen Privacy <privacy@lumen.example>"
    settings:
      maildir: $WORK/maildir
  inapp:
    type: push
    module: file
    settings:
      outbox: $WORK/inapp.jsonl
      permanent_every: 5
retry:
  max_attempts: 1
proofs:
  pseudonym_key_env: HERALD_PSEUDONYM_KEY
  key_id: pk-hostile
EOF
expect_exit 0 "$HERALD" plan "$camp" --state-dir "$WORK/state"
# exit 2: the run finished with failed deliveries (permanent_every: 5, by design here)
expect_exit 2 "$HERALD" run "$camp" --state-dir "$WORK/state" --ignore-send-window
expect_exit 0 "$HERALD" keys generate --out "$WORK/signing"
bundle=$WORK/bundle
expect_exit 0 "$HERALD" proofs export "$camp" --state-dir "$WORK/state" --out "$bundle" --key "$WORK/signing.key"
expect_exit 0 "$HERALD" proofs verify "$bundle" --pubkey "$WORK/signing.pub"
expect_exit 0 pyv "$bundle" --pubkey "$WORK/signing.pub"

# ---- an oversized checkpoint is a bad bundle (1), not an internal error (70) ----
big=$WORK/big
cp -r "$bundle" "$big"
truncate -s 1100M "$big/checkpoint" # sparse: more than any buffer takes
expect_exit 1 "$HERALD" proofs verify "$big" --pubkey "$WORK/signing.pub"
grep -q "^invalid: checkpoint" "$WORK/out" || fail "oversized checkpoint: $(cat "$WORK/out" "$WORK/err")"
expect_exit 0 "$HERALD" proofs prove "$bundle" --person p-00 --pseudonym-key-env HERALD_PSEUDONYM_KEY --out "$WORK/p00.json"
expect_exit 1 "$HERALD" proofs verify-inclusion "$WORK/p00.json" --checkpoint "$big/checkpoint" --pubkey "$WORK/signing.pub"
expect_exit 1 "$HERALD" proofs consistency "$bundle" "$big" --pubkey "$WORK/signing.pub"
grep -q "checkpoint" "$WORK/out" "$WORK/err" || fail "consistency does not name the checkpoint: $(cat "$WORK/out" "$WORK/err")"
pass "an oversized checkpoint: verify, verify-inclusion and consistency exit 1 (bad bundle)"

# ---- re-signed records: both verifiers give the same answer ----
# Each case edits one record of a copy (line L, an email delivery; or
# line 1, an exclusion), re-signs the bundle with the real
# key (tests/e2e/proof_resign.py recomputes summary, manifest, checkpoint)
# and runs both verifiers: same exit code, and the one expected.
n=0
case_() { # case_ NAME WANT(0/1) LINE PYTHON-EXPR (b: the line's bytes -> new bytes)
  local name=$1 want=$2 line=$3 expr=$4 t=$WORK/case-$1
  rm -rf "$t" && cp -r "$bundle" "$t"
  "$PY" - "$t/records.jsonl" "$line" "$expr" <<'PY' || fail "$name: edit failed"
import sys
path, n, expr = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = open(path, "rb").read().split(b"\n")
b = lines[n - 1]
new = eval(expr)
assert new != b, "the edit changed nothing"
lines[n - 1] = new
open(path, "wb").write(b"\n".join(lines))
PY
  "$PY" "$SRC/tests/e2e/proof_resign.py" "$t" "$WORK/signing.key" || fail "$name: resign failed"
  local h=0 p=0
  "$HERALD" proofs verify "$t" --pubkey "$WORK/signing.pub" >"$t.herald" 2>&1 || h=$?
  pyv "$t" --pubkey "$WORK/signing.pub" >"$t.python" 2>&1 || p=$?
  [ "$h" = "$p" ] || fail "$name: herald exit $h ($(cat "$t.herald")), python exit $p ($(cat "$t.python"))"
  [ "$h" = "$want" ] || fail "$name: both exit $h, expected $want: $(cat "$t.herald")"
  printf '  %-22s %s | %s\n' "$name" "$(head -1 "$t.herald")" "$(head -1 "$t.python")"
  n=$((n + 1))
}
L=$(grep -m1 -n '"attempts":1,.*"message_id":"' "$bundle/records.jsonl" | cut -d: -f1)
[ -n "$L" ] || fail "no email delivery in the bundle"
grep -q '"kind":"exclusion"' <(sed -n 1p "$bundle/records.jsonl") || fail "line 1 is not an exclusion"
# mid FRAGMENT: put FRAGMENT (Python bytes-literal text) at the start of the message_id
mid() { printf '%s' "b.replace(b'\"message_id\":\"', b'\"message_id\":\"$1', 1)"; }
# the finding: a backslash before a NUL byte
case_ backslash-nul 1 "$L" "$(mid '\\\x00')"
case_ nul-escape 0 "$L" "$(mid '\\u0000')"
case_ raw-nul 1 "$L" "$(mid '\x00')"
case_ raw-control 1 "$L" "$(mid '\x1f')"
case_ raw-del 1 "$L" "$(mid '\x7f')"
case_ del-escape 0 "$L" "$(mid '\\u007f')"
case_ nonascii-escape 0 "$L" "$(mid '\\u00e9')"
case_ upper-hex 1 "$L" "$(mid '\\u00E9')"
case_ raw-utf8 1 "$L" "$(mid '\xc3\xa9')"
case_ overlong-utf8 1 "$L" "$(mid '\xc0\xaf')"
case_ bad-utf8 1 "$L" "$(mid '\xff')"
case_ surrogate-pair 0 "$L" "$(mid '\\ud83d\\ude00')"
case_ lone-high 1 "$L" "$(mid '\\ud83d')"
case_ lone-low 1 "$L" "$(mid '\\ude00')"
case_ reversed-pair 1 "$L" "$(mid '\\ude00\\ud83d')"
case_ high-then-ascii 1 "$L" "$(mid '\\ud83dx')"
case_ slash-escape 1 "$L" "$(mid '\\/')"
case_ plain-as-u 1 "$L" "$(mid '\\u0041')"
case_ short-escapes 0 "$L" "$(mid '\\b\\f\\n\\r\\t\\"\\\\')"
case_ u-for-newline 1 "$L" "$(mid '\\u000a')"
case_ bad-escape 1 "$L" "$(mid '\\x')"
case_ empty-message-id 0 "$L" 'b[:b.index(b"\"message_id\":\"") + 14] + b[b.index(b"\"", b.index(b"\"message_id\":\"") + 14):]'
case_ int-max 0 "$L" 'b.replace(b"\"attempts\":1", b"\"attempts\":9007199254740991", 1)'
case_ int-over 1 "$L" 'b.replace(b"\"attempts\":1", b"\"attempts\":9007199254740992", 1)'
case_ int-huge 1 "$L" 'b.replace(b"\"attempts\":1", b"\"attempts\":18446744073709551616", 1)'
case_ negative 1 "$L" 'b.replace(b"\"attempts\":1", b"\"attempts\":-1", 1)'
case_ minus-zero 1 "$L" 'b.replace(b"\"attempts\":1", b"\"attempts\":-0", 1)'
case_ leading-zero 1 "$L" 'b.replace(b"\"attempts\":1", b"\"attempts\":01", 1)'
case_ float 1 "$L" 'b.replace(b"\"attempts\":1", b"\"attempts\":1.0", 1)'
case_ exponent 1 "$L" 'b.replace(b"\"attempts\":1", b"\"attempts\":1e0", 1)'
case_ nan 1 "$L" 'b.replace(b"\"attempts\":1", b"\"attempts\":NaN", 1)'
case_ infinity 1 "$L" 'b.replace(b"\"attempts\":1", b"\"attempts\":Infinity", 1)'
case_ bool-as-int 1 "$L" 'b.replace(b"\"attempts\":1", b"\"attempts\":true", 1)'
case_ string-int 1 "$L" 'b.replace(b"\"attempts\":1", b"\"attempts\":\"1\"", 1)'
case_ null 1 "$L" 'b.replace(b"\"attempts\":1", b"\"attempts\":null", 1)'
case_ array 1 "$L" 'b.replace(b"\"attempts\":1", b"\"attempts\":[1]", 1)'
case_ duplicate-key 1 "$L" 'b.replace(b"\"attempts\":1", b"\"attempts\":1,\"attempts\":1", 1)'
case_ space-after-colon 1 "$L" 'b.replace(b"\"attempts\":1", b"\"attempts\": 1", 1)'
case_ space-at-end 1 "$L" 'b + b" "'
case_ tab-at-start 1 "$L" 'b"\t" + b'
case_ cr-at-end 1 "$L" 'b + b"\r"'
case_ bom 1 "$L" 'b"\xef\xbb\xbf" + b'
case_ unknown-field 1 "$L" 'b.replace(b"\"uncertain\"", b"\"unc\":1,\"uncertain\"", 1)'
case_ unknown-nested 1 "$L" 'b.replace(b"\"response\":{\"code\"", b"\"response\":{\"a\":1,\"code\"", 1)'
case_ nested-object 1 "$L" 'b.replace(b"\"response\":{\"code\":", b"\"response\":{\"code\":{},\"x\":", 1)'
case_ top-level-code 1 "$L" 'b.replace(b"\"seq\"", b"\"code\":1,\"seq\"", 1)'
case_ unsorted 1 "$L" 'b.replace(b"{\"", b"{\"zz\":1,\"", 1)'
case_ not-object 1 "$L" 'b"[" + b + b"]"'
case_ empty-line 1 "$L" 'b""'
case_ bad-country 1 "$L" 'b.replace(b"\"country\":\"", b"\"country\":\"x", 1)'
case_ bad-time 1 "$L" 'b.replace(b"Z\"", b"z\"")'
case_ month-13 1 "$L" '__import__("re").sub(rb"([0-9]{4})-[0-9]{2}-([0-9]{2}T)", lambda m: m[1] + b"-13-" + m[2], b)'
case_ upper-hex-value 1 "$L" 'b[:b.index(b"\"link_hmac\":\"") + 13] + b"F" + b[b.index(b"\"link_hmac\":\"") + 14:]'
case_ excl-event 1 1 'b.replace(b"\"event\":\"excluded.", b"\"event\":\"excluded.x", 1)'
case_ excl-extra 1 1 'b.replace(b"\"kind\"", b"\"channel\":\"email\",\"kind\"", 1)'
pass "$n re-signed edge cases: herald proofs verify and proof_verify.py give the same answer, the expected one"

# ---- re-signed checkpoints: both verifiers read them the same way ----
# Each variant's note text is signed with the real key; WANT is the verdict.
"$PY" - "$bundle" "$WORK" "$WORK/signing.key" <<'PY' || fail "checkpoint variants"
import base64, hashlib, shutil, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key
src, work, keyfile = sys.argv[1:]
key = load_pem_private_key(open(keyfile, "rb").read(), None)
other = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
def sigline(k, name, text):
    raw = k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kh = hashlib.sha256(name + b"\n\x01" + raw).digest()[:4]
    return "\u2014 ".encode() + name + b" " + base64.b64encode(kh + k.sign(text)) + b"\n"
body = open(src + "/checkpoint", "rb").read().split(b"\n\n")[0].split(b"\n")
origin, size, root, man = body[0], body[1], body[2], body[3]
bad_root = root[:-2] + (b"B" if root[-2:-1] != b"B" else b"C") + b"="  # padding bits set
variants = {  # name: (want, lines of the note text, extra signature lines before ours)
    "cp-plain": (0, [origin, size, root, man], []),
    "cp-extension": (0, [origin, size, root, b"other-extension 1", man], []),
    "cp-two-manifests": (0, [origin, size, root, b"herald-manifest sha256:" + b"0" * 64, man], []),
    "cp-manifest-last-bad": (1, [origin, size, root, man, b"herald-manifest sha256:" + b"0" * 64], []),
    "cp-manifest-upper": (1, [origin, size, root, man.upper().replace(b"HERALD-MANIFEST SHA256:", b"herald-manifest sha256:")], []),
    "cp-size-leading-zero": (1, [origin, b"0" + size, root, man], []),
    "cp-size-plus": (1, [origin, b"+" + size, root, man], []),
    "cp-size-space": (1, [origin, b" " + size, root, man], []),
    "cp-root-bits": (1, [origin, size, bad_root, man], []),
    "cp-root-unpadded": (1, [origin, size, root.rstrip(b"="), man], []),
    "cp-origin-cr": (1, [origin + b"\r", size, root, man], []),
    "cp-origin-latin1": (1, [origin + b"\xe9", size, root, man], []),
    "cp-other-signer-first": (0, [origin, size, root, man], ["other"]),
    "cp-bad-line-first": (1, [origin, size, root, man], ["malformed"]),
}
for name, (want, lines, extra) in variants.items():
    d = f"{work}/{name}"
    shutil.copytree(src, d)
    text = b"".join(l + b"\n" for l in lines)
    sigs = b""
    for e in extra:
        sigs += sigline(other, b"herald-proofs", text) if e == "other" else b"\xe2\x80\x94 x\n"
    sigs += sigline(key, b"herald-proofs", text)
    open(d + "/checkpoint", "wb").write(text + b"\n" + sigs)
    open(d + ".want", "w").write(str(want))
PY
m=0
for w in "$WORK"/cp-*.want; do
  t=${w%.want} want=$(cat "$w") h=0 p=0
  "$HERALD" proofs verify "$t" --pubkey "$WORK/signing.pub" >"$t.herald" 2>&1 || h=$?
  pyv "$t" --pubkey "$WORK/signing.pub" >"$t.python" 2>&1 || p=$?
  [ "$h" = "$p" ] || fail "$(basename "$t"): herald exit $h ($(head -1 "$t.herald")), python exit $p ($(cat "$t.python"))"
  [ "$h" = "$want" ] || fail "$(basename "$t"): both exit $h, expected $want: $(head -1 "$t.herald")"
  printf '  %-22s %s | %s\n' "$(basename "$t")" "$(head -1 "$t.herald")" "$(head -1 "$t.python")"
  m=$((m + 1))
done
pass "$m re-signed checkpoint variants: both verifiers give the same, expected verdict"
