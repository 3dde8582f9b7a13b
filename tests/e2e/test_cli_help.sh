#!/usr/bin/env bash
# The command line as operators expect it: -h and --help everywhere, `herald
# help COMMAND`, man pages and shell completions made from the same table as
# --help (cmd/help.c). The drift this catches: a command without help or man
# page, a man page that says something else than --help, and an option the
# help lists that the command does not accept.
source "$(dirname "$0")/lib.sh"

# ---- the list -------------------------------------------------------------------------------------
expect_exit 0 "$HERALD" --help
cp "$WORK/out" "$WORK/list"
grep -q "^usage: herald COMMAND" "$WORK/list" || fail "herald --help: $(head -3 "$WORK/list")"
expect_exit 0 "$HERALD" -h
cmp -s "$WORK/out" "$WORK/list" || fail "herald -h differs from herald --help"
expect_exit 0 "$HERALD" help
cmp -s "$WORK/out" "$WORK/list" || fail "herald help differs from herald --help"
expect_exit 64 "$HERALD"
grep -q "^usage: herald COMMAND" "$WORK/err" || fail "herald without a command: no usage on stderr"
expect_exit 64 "$HERALD" frobnicate
grep -q 'unknown command "frobnicate"' "$WORK/err" || fail "unknown command: $(cat "$WORK/err")"
expect_exit 64 "$HERALD" help frobnicate
mapfile -t commands < <(sed -n 's/^  \([a-z-]*\)  .*/\1/p' "$WORK/list")
[ "${#commands[@]}" -ge 13 ] || fail "herald help lists ${#commands[@]} commands: ${commands[*]}"
pass "herald -h, --help and help list ${#commands[@]} commands; no command or an unknown one: exit 64"

# ---- each command: --help, -h, help COMMAND, the man page ------------------------------------------
man_dir=${HERALD_BUILD_DIR:?}/share/man1
for cmd in "${commands[@]}"; do
  expect_exit 0 "$HERALD" "$cmd" --help
  cp "$WORK/out" "$WORK/help.$cmd"
  head -1 "$WORK/help.$cmd" | grep -q "^usage: herald $cmd" || fail "$cmd --help: $(head -1 "$WORK/help.$cmd")"
  # -h anywhere, after other arguments too, and herald help COMMAND: the same text
  expect_exit 0 "$HERALD" "$cmd" some-argument -h
  cmp -s "$WORK/out" "$WORK/help.$cmd" || fail "$cmd ... -h differs from $cmd --help"
  expect_exit 0 "$HERALD" help "$cmd"
  cmp -s "$WORK/out" "$WORK/help.$cmd" || fail "herald help $cmd differs from $cmd --help"

  page=$man_dir/herald-$cmd.1
  [ -f "$page" ] || fail "no man page herald-$cmd.1 in the build"
  expect_exit 0 "$HERALD" help --man "$cmd"
  cmp -s "$WORK/out" "$page" || fail "herald-$cmd.1 is not what herald help --man $cmd prints"
  MANWIDTH=200 man --warnings -l "$page" >"$WORK/man.$cmd" 2>"$WORK/man-warn" ||
    fail "man -l herald-$cmd.1: $(cat "$WORK/man-warn")"
  [ ! -s "$WORK/man-warn" ] || fail "groff warns on herald-$cmd.1: $(cat "$WORK/man-warn")"
  # every option and every synopsis word of --help is in the rendered page
  # an option line: "  SPELLING  text" (the text may start on the next line)
  sed -n '/^options:/,$p' "$WORK/help.$cmd" | sed -n 's/^  \(-[^ ]*\( [^ ]\+\)*\)\(  .*\)\?$/\1/p' |
    sed 's/^-h, //' >"$WORK/opts.$cmd"
  [ -s "$WORK/opts.$cmd" ] || fail "$cmd --help lists no option"
  while read -r opt; do
    grep -qF -- "$opt" "$WORK/man.$cmd" || fail "herald-$cmd.1 does not have $opt of --help"
  done <"$WORK/opts.$cmd"
  sed -n '/^options:/q; /herald /s/^.*herald [a-z-]* //p' "$WORK/help.$cmd" | tr ' ' '\n' |
    grep -v '^$' | while read -r word; do
    grep -qF -- "$word" "$WORK/man.$cmd" || fail "herald-$cmd.1's synopsis lacks $word"
  done
done
[ -f "$man_dir/herald.1" ] || fail "no herald.1"
MANWIDTH=200 man --warnings -l "$man_dir/herald.1" >"$WORK/man.main" 2>"$WORK/man-warn"
[ ! -s "$WORK/man-warn" ] || fail "groff warns on herald.1: $(cat "$WORK/man-warn")"
for cmd in "${commands[@]}"; do
  grep -q "herald-$cmd(1)" "$WORK/man.main" || fail "herald(1) does not list herald-$cmd(1)"
done
page5=${HERALD_BUILD_DIR}/share/man5/herald-campaign.5
MANWIDTH=100 man -l "$page5" 2>/dev/null | grep -q "channels" || fail "herald-campaign(5) is empty"
pass "every command: --help = -h = help COMMAND; its man page renders cleanly with every option and synopsis word"

# ---- the options --help lists are the ones each command accepts ----------------------------------------
# A refused option is reported as `bad argument "OPT"` or `unexpected argument "OPT"`.
refused() { grep -qE "(bad|unexpected) argument \"$1\"" "$WORK/err"; }
"$HERALD" plan --no-such-option >/dev/null 2>"$WORK/err" || true
refused --no-such-option || fail "an unknown option is not refused the way this test expects"
checked=0
for cmd in "${commands[@]}"; do
  # the actions of commands whose synopsis lines start with one (proofs export, link make)
  actions=$(sed -n '/^options:/q; s/^.*herald '"$cmd"' \([a-z][a-z-]*\)\( .*\)\?$/\1/p' "$WORK/help.$cmd")
  [ -n "$actions" ] || actions="-"
  while read -r spelling; do
    case $spelling in -h | --help) continue ;; esac
    opt=${spelling%% *}
    opt=${opt%%=*}
    args=("$opt")
    if [[ $spelling == *=* ]]; then # --inflight=resend|hold
      v=${spelling#*=}
      args=("$opt=${v%%|*}")
    elif [[ $spelling == *" "* ]]; then # --log-format text|json, --state-dir DIR
      v=${spelling#* }
      [[ $v == *"|"* ]] && args+=("${v%%|*}") || args+=("$WORK/none/x")
    fi
    ok=0
    for action in $actions; do
      a=()
      [ "$action" = "-" ] || a=("$action")
      timeout 20 "$HERALD" "$cmd" "${a[@]}" "${args[@]}" >/dev/null 2>"$WORK/err" </dev/null || true
      refused "$opt" || { ok=1; break; }
    done
    [ "$ok" = 1 ] || fail "herald $cmd --help lists $opt, but $cmd refuses it: $(head -1 "$WORK/err")"
    checked=$((checked + 1))
  done <"$WORK/opts.$cmd"
done
pass "$checked options listed by --help: each accepted by its command"

# ---- completions ----------------------------------------------------------------------------------------
completions=${HERALD_BUILD_DIR}/share/completions
"$HERALD" completion bash | cmp -s - "$completions/herald" || fail "the built bash completion is stale"
bash -c '
  source "$1"
  COMP_WORDS=(herald pl); COMP_CWORD=1; _herald
  [ "${COMPREPLY[*]}" = plan ] || { echo "herald pl<TAB>: ${COMPREPLY[*]}"; exit 1; }
  COMP_WORDS=(herald run --ig); COMP_CWORD=2; _herald
  [ "${COMPREPLY[*]}" = --ignore-send-window ] || { echo "herald run --ig<TAB>: ${COMPREPLY[*]}"; exit 1; }
  COMP_WORDS=(herald proofs --pseudonym-key-); COMP_CWORD=2; _herald
  [ "${#COMPREPLY[@]}" = 2 ] || { echo "herald proofs --pseudonym-key-<TAB>: ${COMPREPLY[*]}"; exit 1; }
' _ "$completions/herald" || fail "bash completion"
command -v zsh >/dev/null || fail "zsh is not installed (scripts/install-deps.sh installs it)"
zsh -n "$completions/_herald" || fail "the zsh completion does not parse"
for cmd in "${commands[@]}"; do
  grep -q "^    '$cmd:" "$completions/_herald" || fail "zsh completion lacks $cmd"
done
pass "bash completes commands and options; the zsh completion parses and lists every command"
