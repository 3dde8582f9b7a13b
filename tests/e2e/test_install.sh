#!/usr/bin/env bash
# What `cmake --install` writes: the binary, the example campaign, its
# locales and the docs; never a key or a state store, even when the demo has
# left its keys (link.key, pseudonym.key, proof-signing.*) and its store
# beside the example campaign. The source tree is copied and the demo's
# leftovers are planted in the copy, so the check does not depend on whether
# the demo ran here.
source "$(dirname "$0")/lib.sh"
command -v cmake >/dev/null || fail "cmake is not installed"

src=$WORK/src
mkdir -p "$src"
tar -C "$SRC" --exclude='./build*' --exclude=./.git --exclude='./herald-state' \
  --exclude='*/herald-state' --exclude='./campaigns/*/*.key' -cf - . | tar -C "$src" -xf -
demo=$src/campaigns/ai-training-notice
for k in link.key pseudonym.key proof-signing.key proof-signing.pub proof-signing.vkey; do
  printf 'planted-e2e-secret-%s\n' "$k" >"$demo/$k"
  chmod 600 "$demo/$k"
done
mkdir -p "$src/campaigns/herald-state/ai-training-notice-2025" "$demo/herald-state/x"
echo store >"$src/campaigns/herald-state/ai-training-notice-2025/data.mdb"
echo store >"$demo/herald-state/x/data.mdb"

# The data component needs a configured tree, not a build.
cmake -S "$src" -B "$WORK/build" >"$WORK/cmake.log" 2>&1 || fail "cmake: $(tail -5 "$WORK/cmake.log")"
cmake --install "$WORK/build" --component data --prefix "$WORK/prefix" >"$WORK/install.log" 2>&1 ||
  fail "install: $(tail -5 "$WORK/install.log")"
(cd "$WORK/prefix" && find . -type f | sort) >"$WORK/files"

for want in share/herald/campaigns/ai-training-notice.yaml \
  share/herald/campaigns/ai-training-notice/audience.csv \
  share/herald/campaigns/ai-training-notice/objections.txt \
  share/herald/locales/ai-training-notice/en.yaml \
  share/doc/herald/README.md share/doc/herald/campaign-format.md; do
  grep -qx "./$want" "$WORK/files" || fail "install did not write $want: $(cat "$WORK/files")"
done
if grep -E '\.key$|\.pub$|\.vkey$|herald-state|\.mdb$' "$WORK/files"; then
  fail "install wrote a key or a state store (above)"
fi
if grep -rl 'planted-e2e-secret-' "$WORK/prefix"; then fail "a planted secret reached the install tree"; fi
pass "install writes $(wc -l <"$WORK/files") files: example campaign, locales, docs; no key, no store"

# The binary, from the build the tests run (its install rule is the same).
if [ -n "${HERALD_BUILD_DIR:-}" ] && [ -f "$HERALD_BUILD_DIR/cmake_install.cmake" ]; then
  cmake --install "$HERALD_BUILD_DIR" --component Unspecified --prefix "$WORK/bin-prefix" \
    >"$WORK/install-bin.log" 2>&1 || fail "install of the binary: $(tail -5 "$WORK/install-bin.log")"
  [ -x "$WORK/bin-prefix/bin/herald" ] || fail "install did not write bin/herald"
  (cd "$WORK/bin-prefix" && find . -type f) | grep -qv '^./bin/herald$' &&
    fail "the binary's install wrote more than bin/herald"
  "$WORK/bin-prefix/bin/herald" validate "$WORK/prefix/share/herald/campaigns/ai-training-notice.yaml" \
    >"$WORK/validate.out" 2>&1 || fail "the installed example does not validate: $(cat "$WORK/validate.out")"
  pass "install writes bin/herald, and it validates the installed example campaign"
fi
