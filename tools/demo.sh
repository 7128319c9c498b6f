#!/usr/bin/env bash
# The main job: installs what is missing, then builds and runs the runner (tools/runner): a
# network of stacks from the embedded default config, or from the config file given.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
exec bazel run -c opt --ui_event_filters=-info,-stdout,-stderr --noshow_progress //tools/runner -- "$@"
