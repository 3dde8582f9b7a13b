#!/usr/bin/env bash
# The crash test (test_dispatch_crash.sh) with every 8th message failing
# transiently and retried a second later: SIGKILLs then also land between a
# due retry being picked and its in-flight mark. Nothing may be lost: every
# delivery ends sent, each at least once in the outputs, every extra copy
# listed as uncertain.
export HERALD_E2E_FAIL_EVERY=8 # under the sample canary's 20%
export HERALD_E2E_KILLS=${HERALD_E2E_KILLS:-20}
exec bash "$(dirname "$0")/test_dispatch_crash.sh"
