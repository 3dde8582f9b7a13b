#!/usr/bin/env bash
# The Debian package (`cpack -G DEB` in the build folder): what it holds (no
# key, no state), that its dependencies are Debian 12 packages, and that it
# installs, runs, and is removed without leaving a file behind. It is
# installed into a root of its own (dpkg --root), never into this system. The
# systemd unit it ships is checked with systemd-analyze.
source "$(dirname "$0")/lib.sh"
build=${HERALD_BUILD_DIR:?}
for t in cpack dpkg dpkg-deb systemd-analyze man; do
  command -v "$t" >/dev/null || fail "$t is not installed (scripts/install-deps.sh)"
done

# ---- build it ------------------------------------------------------------------------------------------
(cd "$build" && cpack -G DEB -B "$WORK/pkg" >"$WORK/cpack.log" 2>&1) || fail "cpack: $(tail -5 "$WORK/cpack.log")"
deb=$(ls "$WORK"/pkg/herald_*.deb)
dpkg-deb -c "$deb" | awk '{print $6}' >"$WORK/contents"
for want in ./usr/bin/herald ./usr/share/man/man1/herald.1 ./usr/share/man/man1/herald-run.1 \
  ./usr/share/man/man5/herald-campaign.5 ./usr/share/bash-completion/completions/herald \
  ./usr/share/zsh/vendor-completions/_herald ./usr/lib/systemd/system/herald@.service \
  ./usr/lib/sysusers.d/herald.conf ./usr/share/doc/herald/examples/herald.env \
  ./usr/share/herald/campaigns/ai-training-notice.yaml; do
  grep -qx -- "$want" "$WORK/contents" || fail "the package lacks $want"
done
if grep -E '\.key$|\.pub$|\.vkey$|herald-state|\.mdb$' "$WORK/contents"; then
  fail "the package holds a key or a state store (above)"
fi
depends=$(dpkg-deb -f "$deb" Depends)
[ -n "$depends" ] || fail "the package declares no dependencies"
for dep in $(echo "$depends" | tr ',' '\n' | sed 's/(.*//; s/ //g'); do
  dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q "install ok installed" ||
    fail "Depends names $dep, not an installed Debian package here"
done
pass "$(basename "$deb"): $(wc -l <"$WORK/contents") entries, no key or store; Depends: $depends"

# ---- install into a root of its own, run, remove ----------------------------------------------------
root=$WORK/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
# The libraries are this system's; --force-script-chrootless runs postinst with
# DPKG_ROOT set, where it makes no user (deploy/debian/postinst).
dpkg_root() { dpkg --root="$root" --force-script-chrootless --log=/dev/null "$@"; }
dpkg_root --force-depends -i "$deb" >"$WORK/dpkg.log" 2>&1 || fail "dpkg -i: $(tail -5 "$WORK/dpkg.log")"
"$root/usr/bin/herald" --version | grep -q "^herald [0-9]" || fail "the installed herald --version"
expect_exit 0 "$root/usr/bin/herald" validate "$root/usr/share/herald/campaigns/ai-training-notice.yaml"
MANWIDTH=80 man -l "$root/usr/share/man/man1/herald-plan.1" 2>/dev/null | grep -q "herald-plan" ||
  fail "the installed herald-plan(1) does not render"
dpkg_root --purge herald >"$WORK/dpkg.log" 2>&1 || fail "dpkg --purge: $(tail -5 "$WORK/dpkg.log")"
left=$(cd "$root" && find . -path ./var/lib/dpkg -prune -o -type f -print)
[ -z "$left" ] || fail "files left after removal: $left"
pass "installed: herald --version, validate of the example campaign, man page; purged without a trace"

# ---- the systemd unit --------------------------------------------------------------------------------
units=$WORK/units
mkdir -p "$units"
# verify wants the programs it names to exist: this build's binary stands in for /usr/bin/herald
sed "s|/usr/bin/herald|$HERALD|g" "$SRC/deploy/systemd/herald@.service" >"$units/herald@demo.service"
systemd-analyze verify --man=no "$units/herald@demo.service" >"$WORK/verify.log" 2>&1 ||
  fail "systemd-analyze verify: $(cat "$WORK/verify.log")"
[ ! -s "$WORK/verify.log" ] || fail "systemd-analyze warns: $(cat "$WORK/verify.log")"
sed 's/^Restart=/Restrat=/' "$units/herald@demo.service" >"$units/herald@typo.service"
systemd-analyze verify --man=no "$units/herald@typo.service" >"$WORK/verify.log" 2>&1 || true
grep -q "Restrat" "$WORK/verify.log" || fail "systemd-analyze does not catch a misspelt directive here"
grep -q '^SuccessExitStatus=2 4 5$' "$units/herald@demo.service" || fail "SuccessExitStatus"
pass "herald@.service passes systemd-analyze verify (which catches a misspelt directive)"
