#!/usr/bin/env bash
# The main job: build the demo image from testdata/demo and run it.
# The base image busybox:latest is imported from Debian's busybox-static when the store lacks it
# (no registry is needed). The store is $KILN_ROOT, default /var/lib/kiln as root.
set -euo pipefail
cd "$(dirname "$0")/.."
kiln() { node bin/kiln.js "$@"; }
if ! kiln image inspect busybox:latest >/dev/null 2>&1; then
  echo "demo: importing busybox:latest from /bin/busybox (busybox-static)"
  bash scripts/busybox-rootfs.sh - | kiln import -m "busybox-static from Debian" - busybox:latest
fi
kiln build -t kiln-demo:latest testdata/demo
kiln run --rm kiln-demo:latest
