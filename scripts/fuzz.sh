#!/usr/bin/env bash
# Runs the libFuzzer targets (tests/fuzz) for longer than the test command
# does, and prints figures per target.
#   scripts/fuzz.sh TARGET|all SECONDS
# TARGET is a name such as tmpl or audience_csv (tests/fuzz/fuzz_<name>.c).
# Builds build-fuzz first (clang, HERALD_FUZZ=ON). Each target's corpus
# grows in a work directory, never in the tree: $HERALD_FUZZ_WORK (default
# build-fuzz/fuzz-work)/<name>/corpus, seeded from tests/fuzz/corpus/<name>/
# and kept between runs; reproducers land in .../<name>/artifacts/.
# Extra libFuzzer flags can be passed in HERALD_FUZZ_FLAGS (e.g. -jobs=2);
# Exit status: 0 when no target found anything, 1 otherwise, 64 on usage.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ne 2 ] || ! [[ $2 =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh TARGET|all SECONDS" >&2
  exit 64
fi
want=$1 seconds=$2
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" \
  -DCMAKE_C_COMPILER=clang -DHERALD_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$jobs" --target fuzz >/dev/null

names=()
for src in tests/fuzz/fuzz_*.c; do
  n=$(basename "$src" .c)
  names+=("${n#fuzz_}")
done
if [ "$want" != all ]; then
  if [ ! -f "tests/fuzz/fuzz_$want.c" ]; then
    echo "fuzz.sh: no target \"$want\" (have: ${names[*]})" >&2
    exit 64
  fi
  names=("$want")
fi

work=${HERALD_FUZZ_WORK:-build-fuzz/fuzz-work}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export HERALD_SOURCE_DIR=$PWD
status=0
rows=()
for name in "${names[@]}"; do
  dir=$work/$name
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp -rn "tests/fuzz/corpus/$name/." "$dir/corpus/" 2>/dev/null || true
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$PWD/$dir/artifacts/")
  [ -f "tests/fuzz/$name.dict" ] && args+=(-dict="tests/fuzz/$name.dict")
  # shellcheck disable=SC2086
  build-fuzz/tests/fuzz/fuzz_"$name" "${args[@]}" ${HERALD_FUZZ_FLAGS:-} "$dir/corpus" \
    >"$dir/log" 2>&1 || status=1
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$dir/log" | grep -E ' cov: ' | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
  crashes=$(find "$dir/artifacts" -type f | wc -l)
  [ "$crashes" -gt 0 ] && status=1
  rows+=("$(printf '%-16s %12s %8s %6s %7s %12s %7s' "$name" "${execs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes")")
  echo "fuzz.sh: $name done (log $dir/log)" >&2
done
printf '%-16s %12s %8s %6s %7s %12s %7s\n' target execs exec/s cov ft corpus crashes
printf '%s\n' "${rows[@]}"
[ $status -eq 0 ] || echo "fuzz.sh: findings: see the artifacts directories under $work" >&2
exit $status
