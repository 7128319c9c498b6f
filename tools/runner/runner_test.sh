#!/usr/bin/env bash
# The runner's default run, as a new user sees it: exit status 0 and every step in the output.
set -uo pipefail
runner="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-ustreams}/tools/runner/runner"
[ -x "$runner" ] || runner="tools/runner/runner"
out="$("$runner" 2>&1)"
rc=$?
echo "$out"
fail() { echo "runner_test: FAILED: $1" >&2; exit 1; }
[ "$rc" -eq 0 ] || fail "exit status $rc"
for want in "== module graph ==" "== routing tables ==" "3 packets transmitted, 3 received, 0% packet loss" \
            "echo from 10.0.2.1:7 \"hello, stack\"" "another routing socket reads: RTM_ADD 198.51.100.0" \
            "failed: EEXIST" "rtm_errno=EEXIST" "RTM_DELETE 198.51.100.0" "== counters ==" \
            "all steps succeeded"; do
  grep -qF -- "$want" <<<"$out" || fail "missing: $want"
done
# A config that does not load: exit 2 and a message naming the file and line.
bad="$(mktemp)"
printf 'stack {\n  name: "x"\n  bogus: 1\n}\n' >"$bad"
out="$("$runner" "$bad" 2>&1)"
rc=$?
rm -f "$bad"
[ "$rc" -eq 2 ] || fail "a bad config gave exit status $rc"
grep -q "$(basename "$bad"):3" <<<"$out" || fail "the error does not name line 3: $out"
echo "runner_test: passed"
