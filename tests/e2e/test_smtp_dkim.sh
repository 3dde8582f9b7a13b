#!/usr/bin/env bash
# DKIM signing in the smtp module: the signer against the RFC 8463 Appendix
# A vectors (channels/smtp/test/dkim_vectors.c, built here with cc), then a
# 200-person slice of the sample campaign with dual signatures (Ed25519 and
# RSA 2048, keys made here with openssl) through tests/e2e/smtp_server.py:
# every captured message carries both signatures and both verify with
# python3-dkim; without the signature headers the bytes are exactly what the
# delivery record's SHA-256 covers. Then the dkim settings errors.
source "$(dirname "$0")/lib.sh"
E2E_SEVERAL_STORES=1 # one campaign id, a store per scenario, on purpose (lib.sh)
PY=${HERALD_PYTHON:-/usr/bin/python3}
"$PY" -c 'import aiosmtpd, yaml, dkim, nacl' 2>/dev/null ||
  fail "$PY lacks aiosmtpd, yaml, dkim or nacl (python3-aiosmtpd, python3-yaml, python3-dkim, python3-nacl)"
command -v openssl >/dev/null || fail "openssl is missing"

# ---- RFC 8463 Appendix A -------------------------------------------------------------
${CC:-cc} -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Werror \
  -I "$SRC/channels/smtp" "$SRC/channels/smtp/test/dkim_vectors.c" "$SRC/channels/smtp/dkim.c" \
  -lcrypto -o "$WORK/dkim_vectors" || fail "cannot build dkim_vectors"
"$WORK/dkim_vectors" >"$WORK/vectors.out" || { cat "$WORK/vectors.out" >&2; fail "RFC 8463 vectors"; }
grep '^ok:' "$WORK/vectors.out"
pass "the signer reproduces RFC 8463's rsa-sha256 and ed25519-sha256 signatures byte for byte"

# ---- keys and their DNS records ----------------------------------------------------------
keys=$WORK/keys
mkdir -p "$keys"
openssl genpkey -algorithm ed25519 -out "$keys/ed25519.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$keys/rsa.pem" 2>/dev/null
chmod 600 "$keys"/*.pem
ed_pub=$(openssl pkey -in "$keys/ed25519.pem" -pubout -outform DER | tail -c 32 | base64 -w0)
rsa_pub=$(openssl pkey -in "$keys/rsa.pem" -pubout -outform DER | base64 -w0)
cat >"$WORK/dns.json" <<EOF
{"herald-ed._domainkey.lumen.example": "v=DKIM1; k=ed25519; p=$ed_pub",
 "herald-rsa._domainkey.lumen.example": "v=DKIM1; k=rsa; p=$rsa_pub"}
EOF

# ---- the campaign, signed twice ------------------------------------------------------------
mkdir -p "$WORK/srv"
"$PY" "$SRC/tests/e2e/smtp_server.py" --maildir "$WORK/srv/maildir" --log "$WORK/srv/log.jsonl" \
  --port-file "$WORK/srv/port" >"$WORK/srv/server.out" 2>&1 &
bg_track "$!"
for _ in $(seq 100); do [ -s "$WORK/srv/port" ] && break; sleep 0.1; done
PORT=$(cat "$WORK/srv/port")
head -n 201 "$SRC/campaigns/ai-training-notice/audience.csv" >"$WORK/audience.csv"
dkim="{domain: lumen.example, rsa_selector: herald-rsa, ed25519_selector: herald-ed, rsa_key_file: $keys/rsa.pem, ed25519_key_file: $keys/ed25519.pem}"
camp() { # camp NAME DKIM_SETTINGS
  "$PY" "$SRC/tests/e2e/smtp_e2e.py" campaign "$WORK/$1.yaml" --src "$SRC" --work "$WORK" \
    --audience "$WORK/audience.csv" --no-canary \
    --settings "{relays: [\"127.0.0.1:$PORT\"], starttls: off, pool_size: 2, dkim: $2}"
}
camp signed "$dkim"
expect_exit 0 "$HERALD" plan "$WORK/signed.yaml" --state-dir "$WORK/state"
expect_exit 0 "$HERALD" run "$WORK/signed.yaml" --state-dir "$WORK/state" --ignore-send-window
grep -q 'DKIM signed' "$WORK/err" || fail "the channel line does not say DKIM"
grep -q 'DMARC' "$WORK/err" && fail "a DMARC alignment warning for an aligned domain"
sent=$(ls "$WORK/srv/maildir/new" | wc -l)
[ "$sent" -gt 100 ] || fail "only $sent messages captured"
"$PY" "$SRC/tests/e2e/smtp_e2e.py" check --state-dir "$WORK/state" --campaign "$WORK/signed.yaml" \
  --src "$SRC" --maildir "$WORK/srv/maildir" --log "$WORK/srv/log.jsonl" --expect-sent "$sent" \
  --dkim-dns "$WORK/dns.json" --dkim-sigs 2 >"$WORK/check.out" || { cat "$WORK/check.out"; fail "DKIM check"; }
cat "$WORK/check.out"
grep -q "dkim verified $((2 * sent)) ed25519-sha256:$sent rsa-sha256:$sent;" "$WORK/check.out" ||
  fail "not every signature verified"
pass "$sent messages, each with ed25519-sha256 and rsa-sha256 signatures that python3-dkim verifies"

# A tampered copy must fail: python3-dkim is really checking.
"$PY" - "$WORK/srv/maildir/new" "$WORK/dns.json" <<'PY' || fail "a tampered message still verifies"
import dkim, json, os, sys
d = sys.argv[1]
keys = json.load(open(sys.argv[2]))
dns = lambda name, timeout=5: keys.get(name.decode().rstrip("."), "").encode()
data = open(os.path.join(d, sorted(os.listdir(d))[0]), "rb").read()
assert dkim.verify(data, dnsfunc=dns)
bad = data.replace(b"Lumen", b"Lumen!", 1)
assert bad != data and not dkim.DKIM(bad).verify(idx=0, dnsfunc=dns) \
    and not dkim.DKIM(bad).verify(idx=1, dnsfunc=dns)
added = data.replace(b"\r\n\r\n", b"\r\nList-Unsubscribe: <https://evil.example/>\r\n\r\n", 1)
assert not dkim.DKIM(added).verify(idx=0, dnsfunc=dns), "an added List-Unsubscribe verifies"
print("tampered body and added List-Unsubscribe header fail verification")
PY
pass "a changed body, or an added List-Unsubscribe (signed as absent), breaks both signatures"

# ---- settings errors ---------------------------------------------------------------------------
# err_case NAME DKIM_SETTINGS EXIT PATTERN: EXIT 65 (bad settings) comes from
# plan, which checks the settings as validate does; 78 (a key file) from run.
err_case() {
  camp "$1" "$2"
  if [ "$3" = 65 ]; then
    expect_exit 65 "$HERALD" plan "$WORK/$1.yaml" --state-dir "$WORK/state-$1"
    grep -q -- "$4" "$WORK/err" || fail "$1: $(cat "$WORK/err")"
    return 0
  fi
  expect_exit 0 "$HERALD" plan "$WORK/$1.yaml" --state-dir "$WORK/state-$1"
  expect_exit "$3" "$HERALD" run "$WORK/$1.yaml" --state-dir "$WORK/state-$1" --ignore-send-window
  grep -q -- "$4" "$WORK/err" || fail "$1: $(cat "$WORK/err")"
}
cp "$keys/rsa.pem" "$keys/open.pem"
chmod 644 "$keys/open.pem"
err_case openkey "{domain: lumen.example, selector: s1, rsa_key_file: $keys/open.pem}" 78 \
  'open.pem must be a regular file readable by its owner only (chmod 600)'
err_case sameselector "{domain: lumen.example, selector: s1, rsa_key_file: $keys/rsa.pem, ed25519_key_file: $keys/ed25519.pem}" 65 \
  'need different selectors'
err_case wrongtype "{domain: lumen.example, selector: s1, rsa_key_file: $keys/ed25519.pem}" 78 \
  'is not an RSA key of at least 2048 bits'
err_case typo "{domain: lumen.example, selector: s1, rsa_keyfile: $keys/rsa.pem}" 65 \
  'unknown dkim setting "rsa_keyfile" (did you mean "rsa_key_file"?)'
camp unaligned "{domain: other.example, selector: s1, ed25519_key_file: $keys/ed25519.pem}"
expect_exit 0 "$HERALD" plan "$WORK/unaligned.yaml" --state-dir "$WORK/state-unaligned"
grep -q 'unaligned.yaml:[0-9]*:[0-9]*: warning: DKIM domain other.example is not the From domain lumen.example' "$WORK/err" ||
  fail "plan: no alignment warning: $(cat "$WORK/err")"
expect_exit 0 "$HERALD" run "$WORK/unaligned.yaml" --state-dir "$WORK/state-unaligned" --ignore-send-window
grep -q 'DKIM domain other.example is not the From domain lumen.example' "$WORK/err" ||
  fail "no alignment warning: $(grep -i dkim "$WORK/err")"
pass "dkim settings: key mode, selectors, key type, did-you-mean; a DMARC alignment warning"
