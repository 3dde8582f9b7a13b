#!/bin/sh
# Writes the man pages and shell completions into OUT (run by the build:
# cmd/CMakeLists.txt). The commands' pages and the completions come from the
# binary's own help table (cmd/help.c), so they say what --help says;
# herald-campaign(5) is docs/campaign-format.md through pandoc.
# usage: gen-manpages.sh HERALD SOURCE_DIR OUT
set -eu
herald=$1 src=$2 out=$3
mkdir -p "$out/man1" "$out/man5" "$out/completions"
"$herald" help --man >"$out/man1/herald.1"
"$herald" help | sed -n 's/^  \([a-z-]*\)  .*/\1/p' | while read -r cmd; do
  "$herald" help --man "$cmd" >"$out/man1/herald-$cmd.1"
done
pandoc -s -t man -M title=HERALD-CAMPAIGN -M section=5 -M "footer=herald" \
  -M "header=Herald Manual" "$src/docs/campaign-format.md" -o "$out/man5/herald-campaign.5"
"$herald" completion bash >"$out/completions/herald"
"$herald" completion zsh >"$out/completions/_herald"
