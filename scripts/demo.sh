#!/usr/bin/env bash
# The main job: plan the demo image from testdata/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
node bin/kiln.js plan -f testdata/demo/Dockerfile testdata/demo
