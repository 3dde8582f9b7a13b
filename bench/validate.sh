#!/usr/bin/env bash
# bench/validate.sh: is loading a campaign linear in its size?
#
# For each shape that once made `herald validate` quadratic (issue 10,
# finding 2) it generates campaigns of 1, 2 and 4 MB: the sample campaign
# plus one extra top-level key "bulk" holding
#   keys     one mapping with many keys (the duplicate-key check),
#   anchors  many anchors, each used by an alias (the anchor lookup),
#   blocks   many literal block scalars (the block-scalar position lookup),
#   quoted   many multi-line double-quoted scalars with escapes,
#   waves    many waves in the campaign's waves list (duplicate names).
# It prints the CPU time validate takes on each file (and its wall time),
# the ratio 4 MB / 1 MB (linear is about 4, quadratic about 16), and next to
# it the CPU time python3-yaml's CSafeLoader (libyaml's own document loader)
# takes to load the same file, with Herald / reference ratios. Validate
# includes the 26 locale files of the sample, a fixed cost that keeps the
# ratio under 4 at these sizes. Validate must exit 65 with exactly one
# error, the unknown key "bulk": anything else is a failure of this script.
#
# HERALD_BENCH_SIZE=tiny uses 16, 32 and 64 kB files (seconds in all): what
# the test command runs. A benchmark, not a test: it prints figures and fails
# only when a command fails.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

if tiny; then SIZES="16000 32000 64000"; else SIZES="1000000 2000000 4000000"; fi
SHAPES=${HERALD_BENCH_SHAPES:-keys anchors blocks quoted waves}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/herald-bench-validate.XXXXXX")
cleanup() { if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi; }
trap cleanup EXIT

python3 -c 'import yaml; yaml.CSafeLoader' 2>/dev/null || {
    echo "bench: python3-yaml with libyaml (CSafeLoader) is needed: scripts/install-deps.sh" >&2
    exit 1
}

# HERALD_BIN=path times that binary instead (e.g. an older build, for a
# before/after comparison); otherwise a Release build of this tree.
if [ -n "${HERALD_BIN:-}" ]; then HERALD=$HERALD_BIN; else build; fi
echo
echo "== herald validate on large campaigns (sizes: $SIZES bytes)"
machine_notes

# The sample campaign's relative paths resolve from $TMP/c.
mkdir -p "$TMP/c"
ln -s "$ROOT/locales" "$TMP/locales"
ln -s "$ROOT/campaigns/ai-training-notice" "$TMP/c/ai-training-notice"

# gen SHAPE BYTES OUT: the sample campaign plus "bulk:" of SHAPE, padded to
# at most BYTES bytes. Lines are long enough that even 4 MB stays under the
# loader's node limit (HD_YAML_MAX_NODES, 200,000).
gen() {
    python3 "$ROOT/bench/gen_campaign.py" "$ROOT/campaigns/ai-training-notice.yaml" "$1" "$2" "$3"
}

# Seconds with 3 decimals (tiny files take milliseconds).
secs3() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e9 }'; }

# ref_ns FILE: CPU ns python3-yaml's CSafeLoader takes to load FILE
# (interpreter startup excluded).
ref_ns() {
    python3 - "$1" <<'PY'
import sys, time, yaml
data = open(sys.argv[1], "rb").read()
t0 = time.process_time_ns()
yaml.load(data, Loader=yaml.CSafeLoader)
print(time.process_time_ns() - t0)
PY
}

# cpu_run ERRFILE CMD...: runs CMD (stderr to ERRFILE) and prints its exit
# status and the CPU time (user + system, ns) it used. CPU time, not wall
# time: the machine is shared, and a loaded machine stretches wall time
# without changing the work done.
cpu_run() {
    python3 - "$@" <<'PY'
import resource, subprocess, sys
with open(sys.argv[1], "wb") as err:
    p = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=err)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(p.returncode, int((r.ru_utime + r.ru_stime) * 1e9))
PY
}

# The bare sample with an empty "bulk": the fixed cost (26 locale files)
# that the marginal ratios below leave out.
gen keys 1 "$TMP/c/bare.yaml"
read -r rc base < <(cpu_run "$TMP/err" "$HERALD" validate "$TMP/c/bare.yaml")
[ "$rc" = 65 ] || { echo "bench: validate of the bare campaign: exit $rc" >&2; cat "$TMP/err" >&2; exit 1; }
echo "bare sample campaign: $(secs3 "$base") s CPU (the fixed cost in every figure below)"

echo
printf '%-8s %9s %12s %12s %12s %10s\n' shape bytes "herald cpu s" "(wall s)" "CSafe cpu s" "herald/ref"
for shape in $SHAPES; do
    first_h="" first_r="" last_h="" last_r=""
    for size in $SIZES; do
        f="$TMP/c/$shape-$size.yaml"
        gen "$shape" "$size" "$f"
        bytes=$(stat -c %s "$f")
        t0=$(now_ns)
        read -r rc h < <(cpu_run "$TMP/err" "$HERALD" validate "$f")
        t1=$(now_ns)
        # Exactly one error: the unknown key "bulk" (the sample is valid).
        if [ "$rc" != 65 ] || [ "$(grep -vc '^warning\|: warning: ' "$TMP/err" || true)" != 1 ] ||
            ! grep -q 'unknown key "bulk" in the campaign' "$TMP/err"; then
            echo "bench: validate $f: exit $rc, expected 65 and one error about \"bulk\":" >&2
            head -n 5 "$TMP/err" >&2
            exit 1
        fi
        r=$(ref_ns "$f")
        printf '%-8s %9s %12s %12s %12s %10s\n' "$shape" "$(commas "$bytes")" "$(secs3 "$h")" \
            "$(secs3 $((t1 - t0)))" "$(secs3 "$r")" "$(div "$h" "$r")"
        [ -n "$first_h" ] || { first_h=$h first_r=$r; }
        last_h=$h last_r=$r
    done
    # the marginal ratio means something only when the smallest file costs
    # clearly more than the bare campaign (not at tiny sizes)
    marginal="n/a, files too small"
    [ $((first_h - base)) -gt $((base / 2)) ] && marginal=$(div $((last_h - base)) $((first_h - base)))
    echo "$shape: largest / smallest (4x the bytes): herald $(div "$last_h" "$first_h")" \
        "(without the fixed cost: $marginal)," \
        "CSafeLoader $(div "$last_r" "$first_r") (linear is about 4, quadratic about 16)"
done
