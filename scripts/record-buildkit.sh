#!/usr/bin/env bash
# Re-record the conformance expectations from BuildKit (docker 20.10). See record-buildkit.mjs.
set -euo pipefail
exec node "$(dirname "$0")/record-buildkit.mjs" "$@"
