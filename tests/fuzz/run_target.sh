#!/usr/bin/env bash
# Runs one libFuzzer target for a short fixed time, for ctest:
#   run_target.sh BINARY FUZZ_DIR NAME SECONDS
# The seed corpus FUZZ_DIR/corpus/NAME is copied to a temporary directory
# (libFuzzer adds to the corpus it is given; runs never write into the tree),
# every seed is run first, then new inputs until SECONDS have passed. Any
# crash, leak, sanitizer report, input taking over 10 s or growth over
# 2 GiB RSS ends the run with a non-zero status, the reproducer's path and
# its base64 (so a CI log alone is enough to reproduce).
set -euo pipefail
bin=$(readlink -f "$1") dir=$(readlink -f "$2") name=$3 seconds=$4
corpus=$dir/corpus/$name
if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
  echo "fuzz.$name: no seed corpus in $corpus: every target needs one" >&2
  exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/herald-fuzz-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/artifacts"
cp -r "$corpus/." "$work/corpus/"
args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
      -artifact_prefix="$work/artifacts/")
[ -f "$dir/$name.dict" ] && args+=(-dict="$dir/$name.dict")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
(cd "$work" && "$bin" "${args[@]}" "$work/corpus") || status=$?
for f in "$work"/artifacts/*; do
  [ -e "$f" ] || continue
  echo "fuzz.$name: reproducer $(basename "$f") (base64 follows)" >&2
  base64 -w0 "$f" >&2
  echo >&2
  status=${status/#0/1}
done
exit "$status"
