#!/usr/bin/env bash
# The main job: installs what is missing, then builds and runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
exec bazel run -c opt --ui_event_filters=-info,-stdout,-stderr --noshow_progress //tools:demo -- "$@"
