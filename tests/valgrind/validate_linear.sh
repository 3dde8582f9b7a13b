#!/usr/bin/env bash
# validate_linear.sh: loading a campaign costs linear work in its size
# (issue 10, finding 2: a 3.99 MB campaign took 282 s to validate).
#
# For each shape that once made the loader quadratic (bench/gen_campaign.py:
# many keys in one mapping, anchors and aliases, block scalars, multi-line
# quoted scalars, waves) it counts the instructions `herald validate` runs
# (valgrind's callgrind: an exact count, the same on a busy machine as on an
# idle one, so this is no timing test) on a 128 kB and a 512 kB campaign,
# less those of the bare sample (its 26 locale files). Four times the input
# must cost about four times the work: the ratio must stay under 5.5
# (linear measured 4.06 for every shape; the quadratic loader gave 8.4 to
# 14.6 at these sizes). bench/validate.sh prints the times at 1, 2, 4 MB.
set -euo pipefail
SRC=${HERALD_SOURCE_DIR:?}
HERALD=${HERALD:?}
command -v valgrind >/dev/null || { echo "FAIL: valgrind not found: run scripts/install-deps.sh" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/herald-linear-XXXXXX")
trap 'rm -rf "$work"' EXIT
# the sample's relative paths (locales, audience) resolve from $work/c
mkdir "$work/c"
ln -s "$SRC/locales" "$work/locales"
ln -s "$SRC/campaigns/ai-training-notice" "$work/c/ai-training-notice"

gen() { python3 "$SRC/bench/gen_campaign.py" "$SRC/campaigns/ai-training-notice.yaml" "$@"; }
# instructions FILE: what `herald validate FILE` executes; it must refuse
# the file for exactly the unknown key "bulk", having loaded all of it.
instructions() {
  local out rc=0
  out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$HERALD" validate "$1" 2>&1) || rc=$?
  if [ "$rc" -ne 65 ] || [ "$(grep -c 'unknown key "bulk"' <<<"$out")" -ne 1 ]; then
    echo "FAIL: validate $1 exited $rc, expected 65 for the key \"bulk\" alone:" >&2
    echo "$out" | grep -v '^==' | head -5 >&2
    exit 1
  fi
  sed -n 's/^==[0-9]*== Collected : //p' <<<"$out"
}

gen keys 1 "$work/c/bare.yaml"
bare=$(instructions "$work/c/bare.yaml")
status=0
for shape in keys anchors blocks quoted waves; do
  gen "$shape" 128000 "$work/c/small.yaml"
  gen "$shape" 512000 "$work/c/large.yaml"
  small=$(instructions "$work/c/small.yaml")
  large=$(instructions "$work/c/large.yaml")
  ratio=$(awk -v b="$bare" -v s="$small" -v l="$large" 'BEGIN { printf "%.2f", (l - b) / (s - b) }')
  if awk -v r="$ratio" 'BEGIN { exit !(r < 5.5) }'; then
    echo "ok: $shape: 4x the input costs ${ratio}x the instructions"
  else
    echo "FAIL: $shape: 4x the input costs ${ratio}x the instructions (linear is 4; at most 5.5)" >&2
    status=1
  fi
done
exit $status
