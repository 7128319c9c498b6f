#!/usr/bin/env bash
# Runs the SVR4-only example program and checks what it reports.
set -euo pipefail
out=$(tools/examples/pingpong 500)
echo "$out"
[[ "$out" == "500 round trips over a STREAMS pipe; modules on end 0: null" ]]
