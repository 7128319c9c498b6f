#!/usr/bin/env bash
# Runs every test: installs what is missing, then `bazel test //...`. Extra arguments go to
# Bazel (e.g. tools/test.sh --config=asan).
set -uo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh || exit 1

log=$(mktemp)
trap 'rm -f "$log"' EXIT
bazel test "$@" //... 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# One plain summary line for readers that do not know Bazel's.
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
failed=$(grep -cE '^//[^ ]+ +(FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD)' "$log")
echo "tests: ${passed} passed, ${failed} failed"
exit "$rc"
