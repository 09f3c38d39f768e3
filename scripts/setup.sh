#!/usr/bin/env bash
# Installs what kiln needs on a fresh Debian 12 machine with Node 20, then builds kiln.
#   busybox-static   the demo's base image userland
#   runc             the reference runtime, compared against kiln's in tests
#   skopeo, umoci    independent checks that kiln's images are valid
#   docker-registry  a real registry on 127.0.0.1 for pull/push tests
#   pigz             the peer that the layer benchmark compares against
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(busybox-static runc skopeo umoci docker-registry pigz)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
  else
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
npm ci --no-audit --no-fund
