# shellcheck shell=bash
# Shared helpers for the bench/ scripts (sourced, not run: every other
# bench/*.sh is a benchmark, and ctest runs each at the tiny size).
# Figures are printed, never checked: benchmarks are not tests. But every
# command they run must succeed: a failed herald or reference command stops
# the script with a non-zero status, so a benchmark cannot rot silently.
set -euo pipefail
# A failure inside $(...) stops the script too (bash drops errexit there
# otherwise, and X=$(failing command) would go on with an empty X).
shopt -s inherit_errexit
# Say which command failed, where (functions and subshells included).
set -E
trap 'echo "bench: exit $? at ${BASH_SOURCE[0]##*/}:$LINENO: $BASH_COMMAND" >&2' ERR

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# HERALD_BENCH_SIZE: "normal" (the default: the sizes the figures in
# bench/README.md were taken at) or "tiny" (seconds: every code path and
# every reference tool of the script runs, on a few hundred items; the
# figures mean nothing). ctest runs every bench script at the tiny size.
BENCH_SIZE=${HERALD_BENCH_SIZE:-normal}
case $BENCH_SIZE in
normal | tiny) ;;
*)
    echo "bench: HERALD_BENCH_SIZE must be normal or tiny, not '$BENCH_SIZE'" >&2
    exit 64
    ;;
esac
tiny() { [ "$BENCH_SIZE" = tiny ]; }

# HERALD set (ctest sets it, with HERALD_BUILD_DIR): use that binary and
# that build's helpers, build nothing. Otherwise build a Release tree in
# $BUILD (default build-bench/).
if [ -n "${HERALD:-}" ]; then
    HERALD_GIVEN=1
    BUILD=${HERALD_BUILD_DIR:-$(cd "$(dirname "$HERALD")/.." && pwd)}
else
    HERALD_GIVEN=""
    BUILD=${BUILD:-$ROOT/build-bench}
    HERALD=$BUILD/cmd/herald
fi
# Proofs are on by default: every benchmark campaign has a pseudonym key
# unless the caller gives one.
export HERALD_PSEUDONYM_KEY=${HERALD_PSEUDONYM_KEY:-bench-pseudonym-key-0123456789abcdef0123456789}

# forget_plans: a benchmark plans one campaign id into a store per setting on
# purpose; `herald plan` refuses a second store while the campaign folder's
# location marker names the first (docs/state-store.md), so each plan forgets
# the one before.
forget_plans() { rm -f "$TMP"/herald-state/*.location; }

# Nanoseconds since the epoch.
now_ns() { date +%s%N; }

# a / b with 3 decimals (awk: bash has integers only).
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.3f", a / b }'; }

# Rate: n items over ns nanoseconds, per second, rounded.
rate() { awk -v n="$1" -v ns="$2" 'BEGIN { if (ns <= 0) print "n/a"; else printf "%.0f", n * 1e9 / ns }'; }

# Seconds from nanoseconds.
secs() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e9 }'; }

# 1234567 -> 1,234,567 (plain awk, no locale needed).
commas() {
    awk -v x="$1" 'BEGIN {
        if (x !~ /^-?[0-9]+$/) { print x; exit }
        s = ""; neg = x < 0; if (neg) x = -x
        while (length(x) > 3) { s = "," substr(x, length(x) - 2) s; x = substr(x, 1, length(x) - 3) }
        print (neg ? "-" : "") x s }'
}

# need COMMAND PACKAGE: installs the Debian package when COMMAND is missing.
# At the tiny size (the test suite) it installs nothing and fails instead:
# scripts/install-deps.sh lists every package the benchmarks use.
need() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] && return 0
    if tiny; then
        echo "bench: $1 is missing (package $2): run scripts/install-deps.sh" >&2
        exit 69
    fi
    echo "installing $2 (for $1)" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$2" >/dev/null
}
need_time() { [ -x /usr/bin/time ] || need /usr/bin/time time; }

build() {
    if [ -n "$HERALD_GIVEN" ]; then
        echo "== herald: $HERALD (size: $BENCH_SIZE)"
    else
        echo "== build (Release) in $BUILD (size: $BENCH_SIZE)"
        cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
        cmake --build "$BUILD" -j2 >/dev/null
    fi
    "$HERALD" --version
}

# shellcheck disable=SC2034 # T_* are the results, read by the callers
# timed OUT_PREFIX CMD...: runs CMD under /usr/bin/time -v; leaves the wall
# time in ns in $T_NS, the peak RSS in kB in $T_RSS_KB (GNU time) and
# $T_ANON_KB (sampled RssAnon, see sample_anon), and the exit status
# in $T_RC, user and system CPU seconds in $T_USER and $T_SYS. A non-zero
# exit stops the script (after the last lines of its output). Stdout/stderr
# go to OUT_PREFIX.out / .err, the -v report to .time.
timed() {
    local prefix=$1
    shift
    local t0 t1
    t0=$(now_ns)
    /usr/bin/time -v -o "$prefix.time" "$@" >"$prefix.out" 2>"$prefix.err" &
    local tpid=$!
    sample_anon "$tpid" >"$prefix.anon" &
    local spid=$!
    set +e
    wait "$tpid"
    T_RC=$?
    set -e
    t1=$(now_ns)
    wait "$spid" || true
    T_NS=$((t1 - t0))
    T_RSS_KB=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$prefix.time")
    T_ANON_KB=$(cat "$prefix.anon")
    T_USER=$(awk -F': ' '/User time/ { print $2 }' "$prefix.time")
    T_SYS=$(awk -F': ' '/System time/ { print $2 }' "$prefix.time")
    if [ "$T_RC" != 0 ]; then
        echo "bench: exit $T_RC: $*" >&2
        tail -n 5 "$prefix.out" "$prefix.err" >&2
        exit 1
    fi
}

# cpu_us N: microseconds of CPU (user + sys) per item of the last timed run.
cpu_us() { awk -v u="$T_USER" -v s="$T_SYS" -v n="$1" 'BEGIN { printf "%.1f", (u + s) * 1e6 / n }'; }

# sample_anon PID_OF_TIME: prints the peak RssAnon (kB) of the child of
# /usr/bin/time, sampled every 0.1 s. "Maximum resident set size" counts the
# pages of the LMDB map the process touched (file-backed page cache, shared
# and reclaimable) as well as its own heap; RssAnon is the heap, stacks and
# private dirty pages only. Sampling can miss a short peak.
sample_anon() {
    local tpid=$1 child="" peak=0 v
    while kill -0 "$tpid" 2>/dev/null; do
        if [ -z "$child" ]; then
            child=$(awk '{ print $1 }' "/proc/$tpid/task/$tpid/children" 2>/dev/null || true)
        fi
        if [ -n "$child" ]; then
            v=$(awk '/^RssAnon:/ { print $2 }' "/proc/$child/status" 2>/dev/null || true)
            if [ -n "$v" ] && [ "$v" -gt "$peak" ]; then peak=$v; fi
        fi
        sleep 0.1
    done
    echo "$peak"
}

# Wall time in ns of a command whose output is discarded.
wall_ns() {
    local t0 t1
    t0=$(now_ns)
    "$@" >/dev/null
    t1=$(now_ns)
    echo $((t1 - t0))
}

machine_notes() {
    echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host:    $(nproc) vCPU ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min)"
}

# bench_people COUNT SEED NEEDS > CSV: COUNT people from `herald generate`
# that the plan keeps and that can be reached as NEEDS says (email, push or
# both): clean adults in the EU/EEA/UK region, an email address with an
# ASCII local part (IDN domains are fine) and/or a push token. The
# generator's deliberate junk (minors, malformed rows, no address...) is left
# out so that each row is exactly one delivery per needed channel; about 62%
# of generated rows pass, so twice COUNT are generated. The caller checks the
# count (a short file means the generator changed). Uses $TMP for scratch.
bench_people() {
    local region='AT|BE|BG|HR|CY|CZ|DK|EE|FI|FR|DE|GR|HU|IE|IT|LV|LT|LU|MT|NL|PL|PT|RO|SK|SI|ES|SE|IS|LI|NO|GB'
    local email=0 push=0
    case $3 in email) email=1 ;; push) push=1 ;; both) email=1 push=1 ;; esac
    # Generated into a file first, so that a failing generator stops the
    # script; the filter reads all of it (no early exit, no SIGPIPE).
    "$HERALD" generate --rows $(($1 * 2 + 1000)) --seed "$2" --out "$TMP/people.csv" \
        2>"$TMP/people.err" || { cat "$TMP/people.err" >&2; exit 1; }
    LC_ALL=C.UTF-8 grep -a -x '.*' "$TMP/people.csv" |
        LC_ALL=C awk -F, -v region="^($region)\$" -v email="$email" -v push="$push" -v max="$1" '
            NR == 1 { print; next }
            NF == 8 && $4 ~ region &&
            (!email || ($2 ~ /^[A-Za-z0-9._+-]+@[^@ ]+\.[^@. ]+$/ && $2 !~ /\.\./)) &&
            (!push || $3 != "") &&
            $6 ~ /^(19[0-9][0-9]|200[0-6])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$/ &&
            $8 !~ /[\t\r"]/ && !seen[$1]++ && kept++ < max'
    rm -f "$TMP/people.csv" "$TMP/people.err"
}

# bench_campaign_head ID AUDIENCE: the YAML every benchmark campaign starts
# with (the sample's locales and objection link, the audience, no waves, no
# send window), up to and including "channels:".
bench_campaign_head() {
    cat <<YAML
id: $1
reference_date: 2025-06-26
vars:
  company: Lumen
audience:
  source: "$2"
  format: csv
  regions: [EU, EEA, UK]
  minimum_age: 18
objection_link:
  url: "https://privacy.lumen.example/ai/object?p={{person}}&t={{token}}"
  secret_env: HERALD_LINK_SECRET
locales:
  dir: "$ROOT/locales/ai-training-notice"
  default: en
  require_own_language: [FR, BE]
channels:
YAML
}
