#!/usr/bin/env bash
# Issue 10, findings 8, 9 and 12 (inputs) through the real binary: every
# input file is opened by one helper (hd_input_open, herald/files.h) that
# never blocks on a FIFO, takes regular files only (links to them are
# fine), refuses procfs and the like, and holds each kind to a size limit.
# Exit codes as docs/exit-codes.md says: 66 for an input that is missing,
# unreadable or not a regular file; 78 for key files. Every command runs
# under `timeout`: a hang is a failure (124), not a stuck test.
source "$(dirname "$0")/lib.sh"

T=30 # seconds; each command here takes well under one

# campaign FILE AUDIENCE [EXTRA_AUDIENCE_LINE] [LINK_KEY_LINE] : a small
# campaign with the file channel.
campaign() {
  cat >"$1" <<EOT
id: input-files-e2e
reference_date: 2025-06-26
vars:
  company: Lumen
audience:
  source: $2
  format: csv
  regions: [DE]
${3:-}
objection_link:
  url: "https://privacy.example/object?p={{person}}&t={{token}}"
  secret_env: HERALD_LINK_SECRET
${4:-}
locales:
  dir: $WORK/locales
  default: en
channels:
  email:
    type: email
    module: file
    from: "Privacy <privacy@example.org>"
    settings:
      maildir: $WORK/out-mail
EOT
}
mkdir -p "$WORK/locales"
cp "$SRC/locales/ai-training-notice/en.yaml" "$SRC/locales/ai-training-notice/de.yaml" "$WORK/locales/"
printf 'id,email,country,language\np1,p1@example.org,DE,de\n' >"$WORK/a.csv"
campaign "$WORK/ok.yaml" "$WORK/a.csv"
expect_exit 0 timeout $T "$HERALD" plan "$WORK/ok.yaml" --state-dir "$WORK/st-ok"
pass "the small campaign plans"

# code_for NAME CODE CMD... : CMD exits CODE within T seconds, and its
# message names the problem.
code_for() {
  local name=$1 want=$2; shift 2
  expect_exit "$want" timeout $T "$@"
  grep -q "not a regular file\|cannot open\|kernel file system\|too large" "$WORK/err" ||
    fail "$name: no clear message: $(cat "$WORK/err")"
  pass "$name: exit $want, $(head -c 160 "$WORK/err" | tr '\n' ' ')"
}

# ---- finding 9: hangs -------------------------------------------------------
campaign "$WORK/c.yaml" /dev/zero
code_for "audience /dev/zero" 66 "$HERALD" plan "$WORK/c.yaml" --state-dir "$WORK/st1"
campaign "$WORK/c.yaml" "$WORK/a.csv" "  objections:
    file: /dev/zero
    action: skip"
code_for "objections /dev/zero" 66 "$HERALD" plan "$WORK/c.yaml" --state-dir "$WORK/st2"
mkfifo "$WORK/fifo"
campaign "$WORK/c.yaml" "$WORK/fifo"
code_for "audience FIFO" 66 "$HERALD" plan "$WORK/c.yaml" --state-dir "$WORK/st3"
code_for "campaign FIFO (validate)" 66 "$HERALD" validate "$WORK/fifo"
code_for "campaign FIFO (plan)" 66 "$HERALD" plan "$WORK/fifo" --state-dir "$WORK/st4"
campaign "$WORK/c.yaml" "$WORK/a.csv" "" "  secret_file: $WORK/fifo"
code_for "link key file FIFO" 78 env -u HERALD_LINK_SECRET "$HERALD" link make --campaign "$WORK/c.yaml" --person p1
mkdir -p "$WORK/loc-fifo" && cp "$WORK/locales/en.yaml" "$WORK/loc-fifo/" && mkfifo "$WORK/loc-fifo/de.yaml"
sed "s|dir: $WORK/locales|dir: $WORK/loc-fifo|" "$WORK/ok.yaml" >"$WORK/c.yaml"
code_for "locale file FIFO" 66 "$HERALD" validate "$WORK/c.yaml"

# ---- finding 12: exit codes per docs/exit-codes.md ----------------------------
mkdir -p "$WORK/adir"
campaign "$WORK/c.yaml" "$WORK/adir"
code_for "audience is a directory" 66 "$HERALD" plan "$WORK/c.yaml" --state-dir "$WORK/st6"
campaign "$WORK/c.yaml" "$WORK/missing.csv"
code_for "audience missing" 66 "$HERALD" plan "$WORK/c.yaml" --state-dir "$WORK/st7"
code_for "campaign missing" 66 "$HERALD" validate "$WORK/missing.yaml"
code_for "campaign is a directory" 66 "$HERALD" validate "$WORK/adir"
campaign "$WORK/c.yaml" "$WORK/a.csv" "  objections:
    file: $WORK/adir
    action: skip"
code_for "objections is a directory" 66 "$HERALD" plan "$WORK/c.yaml" --state-dir "$WORK/st8"
campaign "$WORK/c.yaml" "$WORK/a.csv" "" "  secret_file: $WORK/adir"
code_for "link key file is a directory" 78 env -u HERALD_LINK_SECRET "$HERALD" link make --campaign "$WORK/c.yaml" --person p1
# Unreadable: as root permissions do not apply, so the check runs as nobody.
chmod 755 "$WORK"
cp "$WORK/a.csv" "$WORK/secret.csv" && chmod 000 "$WORK/secret.csv"
campaign "$WORK/c.yaml" "$WORK/secret.csv"
mkdir -p "$WORK/nobody" && chmod 777 "$WORK/nobody"
chmod 644 "$WORK/c.yaml" "$WORK/locales"/*
as_user=()
[ "$(id -u)" -eq 0 ] && as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
code_for "audience unreadable" 66 "${as_user[@]}" env HOME="$WORK/nobody" "$HERALD" plan "$WORK/c.yaml" --state-dir "$WORK/nobody/st"

# ---- finding 9: proofs verify on a bundle member linked to /dev/zero ---------
expect_exit 0 timeout $T "$HERALD" run "$WORK/ok.yaml" --state-dir "$WORK/st-ok" --ignore-send-window
expect_exit 0 timeout $T "$HERALD" keys generate --out "$WORK/signing"
campaign "$WORK/proofs.yaml" "$WORK/a.csv"
printf 'proofs:\n  pseudonym_key_env: HERALD_PSEUDONYM_KEY\n' >>"$WORK/proofs.yaml"
forget_stores "$WORK" # the same campaign id as ok.yaml, planned again on purpose
expect_exit 0 timeout $T "$HERALD" plan "$WORK/proofs.yaml" --state-dir "$WORK/st-p"
expect_exit 0 timeout $T "$HERALD" run "$WORK/proofs.yaml" --state-dir "$WORK/st-p" --ignore-send-window
expect_exit 0 timeout $T "$HERALD" proofs export "$WORK/proofs.yaml" --state-dir "$WORK/st-p" --out "$WORK/bundle" --key "$WORK/signing.key"
expect_exit 0 timeout $T "$HERALD" proofs verify "$WORK/bundle"
for member in summary.json manifest.json checkpoint signer.vkey records.jsonl; do
  rm -rf "$WORK/b2" && cp -r "$WORK/bundle" "$WORK/b2"
  ln -sf /dev/zero "$WORK/b2/$member"
  expect_exit 1 timeout $T "$HERALD" proofs verify "$WORK/b2"
  grep -q "character device, not a regular file" "$WORK/out" "$WORK/err" ||
    fail "verify with $member -> /dev/zero: $(cat "$WORK/out" "$WORK/err")"
done
pass "proofs verify: a bundle member linked to /dev/zero is a changed bundle (exit 1), at once"
# a small member over its limit is refused by size, not read (a sparse file)
rm -rf "$WORK/b2" && cp -r "$WORK/bundle" "$WORK/b2"
truncate -s 1G "$WORK/b2/checkpoint"
expect_exit 1 timeout $T "$HERALD" proofs verify "$WORK/b2"
grep -q "too large" "$WORK/out" "$WORK/err" || fail "1 GiB checkpoint: $(cat "$WORK/out" "$WORK/err")"
pass "proofs verify: a 1 GiB checkpoint is refused by its size"

# ---- finding 8: secrets in errors --------------------------------------------
secret=$HERALD_LINK_SECRET
campaign "$WORK/c.yaml" /proc/self/environ
code_for "audience /proc/self/environ" 66 "$HERALD" plan "$WORK/c.yaml" --state-dir "$WORK/st10"
! grep -q "$secret" "$WORK/out" "$WORK/err" || fail "the link secret is in plan's output"
pass "/proc/self/environ as audience: refused, the secret is not printed"
# the environment in a regular file: the header lists columns, cut and escaped
env -0 | tr '\0\n' ',,' >"$WORK/environ.csv"
printf '\n' >>"$WORK/environ.csv"
grep -q "$secret" "$WORK/environ.csv" || fail "the copied environment lacks the secret"
campaign "$WORK/c.yaml" "$WORK/environ.csv"
forget_stores "$WORK" # the same campaign id planned into another store on purpose
expect_exit 65 timeout $T "$HERALD" plan "$WORK/c.yaml" --state-dir "$WORK/st11"
grep -q 'header has no column "id"' "$WORK/err" || fail "no header message: $(cat "$WORK/err")"
! grep -q "$secret" "$WORK/out" "$WORK/err" || fail "the link secret is in plan's output"
pass "an environment dump as CSV header: named, the secret is not printed"
# a secret in an invalid row's value: the reason names field and cause only
{ printf 'id,email,country,language,name\n'
  printf 'p1,p1@example.org,DE,de,%s\x1b[2J\n' "$secret"
  printf '{"id": %s}\n' "$secret"; } >"$WORK/rows.csv"
campaign "$WORK/c.yaml" "$WORK/rows.csv"
forget_stores "$WORK" # the same campaign id planned into another store on purpose
expect_exit 0 timeout $T "$HERALD" plan "$WORK/c.yaml" --state-dir "$WORK/st12" --json
cat "$WORK/out" "$WORK/err" >"$WORK/all"
forget_stores "$WORK" # the same campaign id planned into another store on purpose
expect_exit 0 timeout $T "$HERALD" plan "$WORK/c.yaml" --state-dir "$WORK/st13"
cat "$WORK/out" "$WORK/err" >>"$WORK/all"
grep -q "control character" "$WORK/all" || fail "no cause: $(cat "$WORK/all")"
! grep -q "$secret" "$WORK/all" || fail "the secret is in plan's output"
! grep -q $'\x1b' "$WORK/all" || fail "a terminal escape is in plan's output"
pass "a secret in an invalid row: plan's report names field and cause, never the value"
