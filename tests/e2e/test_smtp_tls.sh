#!/usr/bin/env bash
# STARTTLS and AUTH of the smtp module against tests/e2e/smtp_server.py, with
# certificates from a CA this test makes with openssl: a trusted certificate
# (by IP address and by host name) is accepted; an untrusted issuer, a wrong
# name, a relay without STARTTLS are refused when required (smtp.tls_failed,
# nothing reaches the server); verify: false and opportunistic behave as
# documented; AUTH with credentials from the environment; settings errors.
# A 200-person slice of the sample audience keeps it quick.
source "$(dirname "$0")/lib.sh"
E2E_SEVERAL_STORES=1 # one campaign id, a store per scenario, on purpose (lib.sh)
PY=${HERALD_PYTHON:-/usr/bin/python3}
"$PY" -c 'import aiosmtpd, yaml' 2>/dev/null || fail "$PY lacks aiosmtpd or yaml (python3-aiosmtpd, python3-yaml)"
command -v openssl >/dev/null || fail "openssl is missing"
head -n 201 "$SRC/campaigns/ai-training-notice/audience.csv" >"$WORK/audience.csv"
# run_case NAME SETTINGS [EXIT]: plan and run a campaign with those smtp settings
# against the server last started; sets SENT FAILED LEFT, CAMP, ST. EXIT 65 (bad
# settings) is plan's, which checks the settings as validate does; any other
# is run's (78: a secret or file only run reads). One attempt
# per message, so refusals stay in the records; RETRY=1 allows 3 attempts (1 s
# apart), for the cases that must succeed: aiosmtpd's STARTTLS can rarely
# stall a session (see smtp_server.py), which a retry absorbs.
run_case() {
  local name=$1 settings=$2 want=${3:-0}
  local retry=(--max-attempts 1)
  [ -z "${RETRY:-}" ] || retry=(--max-attempts 3 --fast-retry)
  CAMP=$WORK/$name.yaml ST=$WORK/state-$name
  mkdir -p "$WORK/$name"
  "$PY" "$SRC/tests/e2e/smtp_e2e.py" campaign "$CAMP" --src "$SRC" --work "$WORK/$name" \
    --audience "$WORK/audience.csv" --no-canary "${retry[@]}" --settings "$settings"
  if [ "$want" = 65 ]; then
    expect_exit 65 "$HERALD" plan "$CAMP" --state-dir "$ST"
    [ ! -e "$ST" ] || fail "$name: plan wrote a state dir"
    return 0
  fi
  expect_exit 0 "$HERALD" plan "$CAMP" --state-dir "$ST"
  expect_exit "$want" "$HERALD" run "$CAMP" --state-dir "$ST" --ignore-send-window
  [ "$want" = 0 ] || [ "$want" = 2 ] || return 0
  read -r SENT FAILED LEFT <<<"$(email_counts "$CAMP" "$ST")"
  echo "$name: sent $SENT, failed $FAILED, left $LEFT"
  [ "$LEFT" = 0 ] || fail "$name: $LEFT deliveries not final"
}
# records: the email records by state, event, code (a file first: grep -q must not cut the pipe)
records() {
  "$PY" "$SRC/tests/e2e/smtp_e2e.py" records --state-dir "$ST" --campaign "$CAMP" >"$WORK/records.txt"
  cat "$WORK/records.txt"
}
captured() { ls "$WORK/$1/maildir/new" 2>/dev/null | wc -l; }

# ---- a test CA, and certificates ------------------------------------------------------
pki=$WORK/pki
mkdir -p "$pki"
mkca() { # mkca NAME
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$pki/$1.key" -out "$pki/$1.pem" -subj "/CN=Herald test CA $1" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
mkcert() { # mkcert NAME CA SUBJECT_ALT_NAMES
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/$1.key" \
    -out "$pki/$1.csr" -subj "/CN=$1" 2>/dev/null
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$3" >"$pki/$1.ext"
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/$2.pem" -CAkey "$pki/$2.key" -CAcreateserial \
    -days 2 -out "$pki/$1.pem" -extfile "$pki/$1.ext" 2>/dev/null
}
mkca ca
mkca rogue
mkcert good ca "DNS:localhost,IP:127.0.0.1"
mkcert othername ca "DNS:mail.other.example"
mkcert untrusted rogue "DNS:localhost,IP:127.0.0.1"
openssl verify -CAfile "$pki/ca.pem" "$pki/good.pem" >/dev/null || fail "test CA broken"
pass "a test CA and server certificates made with openssl"

# ---- trusted certificate ---------------------------------------------------------------
smtp_start good --tls-cert "$pki/good.pem" --tls-key "$pki/good.key" --require-tls
RETRY=1 run_case good "{relays: [\"127.0.0.1:$PORT\"], ca_file: $pki/ca.pem, pool_size: 3, command_timeout: 10s}"
[ "$FAILED" = 0 ] && [ "$SENT" -gt 100 ] && [ "$(captured good)" = "$SENT" ] || fail "good: $SENT sent, $FAILED failed"
grep -q '"tls": false' "$WORK/good/log.jsonl" && fail "good: a message went without TLS"
grep -q 'STARTTLS required' "$WORK/err" || fail "no STARTTLS in the channel log line"
"$PY" "$SRC/tests/e2e/smtp_e2e.py" check --state-dir "$ST" --campaign "$CAMP" --src "$SRC" \
  --maildir "$WORK/good/maildir" --log "$WORK/good/log.jsonl" --expect-sent "$SENT" || fail "good: check"
planned=$SENT
pass "STARTTLS required, certificate from the test CA for 127.0.0.1: all $SENT sent over TLS"

RETRY=1 run_case byname "{relays: [\"localhost:$PORT\"], ca_file: $pki/ca.pem, pool_size: 2, command_timeout: 10s}"
[ "$SENT" = "$planned" ] && [ "$(captured good)" = $((2 * planned)) ] || fail "byname: $SENT sent"
pass "the same by host name (localhost)"

# ---- refused certificates ----------------------------------------------------------------
smtp_start untrusted --tls-cert "$pki/untrusted.pem" --tls-key "$pki/untrusted.key"
run_case untrusted "{relays: [\"127.0.0.1:$PORT\"], ca_file: $pki/ca.pem}" 2 # every delivery fails: exit 2
records
[ "$SENT" = 0 ] && [ "$FAILED" = "$planned" ] && [ "$(captured untrusted)" = 0 ] || fail "untrusted: $SENT sent"
records >/dev/null; grep -q "^failed smtp.tls_failed 0 $planned"$'\t'".*STARTTLS: certificate refused: unable to get local issuer certificate" "$WORK/records.txt" ||
  fail "untrusted: not recorded as smtp.tls_failed"
pass "a certificate from another CA is refused (smtp.tls_failed, transient), nothing sent"

RETRY=1 run_case unverified "{relays: [\"127.0.0.1:$PORT\"], ca_file: $pki/ca.pem, verify: false, command_timeout: 10s}"
[ "$SENT" = "$planned" ] && [ "$(captured untrusted)" = "$planned" ] || fail "unverified: $SENT sent"
grep -q 'certificates NOT verified' "$WORK/err" || fail "verify: false is not announced"
pass "verify: false sends over TLS anyway, and says so"

smtp_start othername --tls-cert "$pki/othername.pem" --tls-key "$pki/othername.key"
run_case othername "{relays: [\"127.0.0.1:$PORT\"], ca_file: $pki/ca.pem}" 2 # every delivery fails: exit 2
[ "$SENT" = 0 ] && [ "$(captured othername)" = 0 ] || fail "othername: $SENT sent"
records >/dev/null; grep -q $'^failed smtp.tls_failed 0 [0-9]*\t.*certificate is for "mail.other.example", not 127.0.0.1' "$WORK/records.txt" ||
  fail "othername: not refused for its name"
pass "a trusted certificate for another name is refused"

# ---- no STARTTLS ----------------------------------------------------------------------------
smtp_start cleartext
run_case required "{relays: [\"127.0.0.1:$PORT\"]}" 2 # every delivery fails: exit 2
[ "$SENT" = 0 ] && [ "$(captured cleartext)" = 0 ] || fail "required: $SENT sent in clear"
records >/dev/null; grep -q 'relay does not offer STARTTLS' "$WORK/records.txt" || fail "required: no reason"
pass "starttls: required (the default) refuses a relay without STARTTLS"
run_case opportunistic "{relays: [\"127.0.0.1:$PORT\"], starttls: opportunistic}"
[ "$SENT" = "$planned" ] && [ "$(captured cleartext)" = "$planned" ] || fail "opportunistic: $SENT sent"
pass "starttls: opportunistic sends in clear to a relay without STARTTLS"

# ---- AUTH -----------------------------------------------------------------------------------
smtp_start auth --tls-cert "$pki/good.pem" --tls-key "$pki/good.key" --auth "herald:s3cret-pw"
export SMTP_USER=herald SMTP_PASS=s3cret-pw
auth="relays: [\"127.0.0.1:$PORT\"], ca_file: $pki/ca.pem, auth_user_env: SMTP_USER, auth_password_env: SMTP_PASS"
RETRY=1 run_case auth "{$auth, command_timeout: 10s}"
[ "$SENT" = "$planned" ] && [ "$(captured auth)" = "$planned" ] || fail "auth: $SENT sent"
grep -q '"auth": false' "$WORK/auth/log.jsonl" && fail "auth: a message went unauthenticated"
grep -q 's3cret-pw' "$WORK/err" && fail "the password appears in herald's log"
pass "AUTH with credentials from the environment"
SMTP_PASS=wrong run_case badauth "{$auth}" 2 # every delivery fails: exit 2
[ "$SENT" = 0 ] && [ "$(captured auth)" = "$planned" ] || fail "badauth: $SENT sent"
records >/dev/null; grep -q "^failed smtp.auth_failed 0 $planned"$'\t'".*AUTH did not succeed (535 5.7.8 " "$WORK/records.txt" ||
  fail "badauth: not recorded as smtp.auth_failed with the relay's 535"
pass "a refused AUTH sends nothing; smtp.auth_failed (transient) with the relay's 535"
SMTP_PASS='' run_case noenv "{$auth}" 78
grep -q 'environment variable SMTP_PASS (setting "auth_password_env") is not set' "$WORK/err" ||
  fail "noenv: $(cat "$WORK/err")"
pass "a missing credential variable stops the run (exit 78), naming the variable"

# ---- settings errors --------------------------------------------------------------------------
run_case typo "{relays: [\"127.0.0.1:$PORT\"], pool_sise: 4}" 65
grep -q 'typo.yaml:[0-9]*:[0-9]*: unknown setting "pool_sise" .*did you mean "pool_size"' "$WORK/err" ||
  fail "typo: $(cat "$WORK/err")"
run_case badrelay "{relays: [\"127.0.0.1\"]}" 65
grep -q 'badrelay.yaml:[0-9]*:[0-9]*: a relay must be "host:port"' "$WORK/err" || fail "badrelay: $(cat "$WORK/err")"
run_case cleartextauth "{$auth, starttls: off}" 65
grep -q 'SMTP AUTH needs starttls: required' "$WORK/err" || fail "cleartextauth: $(cat "$WORK/err")"
run_case badtimeout "{relays: [\"127.0.0.1:$PORT\"], data_timeout: 5 minutes}" 65
grep -q 'setting "data_timeout" must be a duration' "$WORK/err" || fail "badtimeout: $(cat "$WORK/err")"
run_case noca "{relays: [\"127.0.0.1:$PORT\"], ca_file: $pki/none.pem}" 78
grep -q 'cannot load CA certificates' "$WORK/err" || fail "noca: $(cat "$WORK/err")"
pass "settings errors: file:line:col, did-you-mean, exit 65 (78 for a CA file that cannot be read)"
