#!/usr/bin/env bash
# Writes a busybox root filesystem tarball (from Debian's busybox-static) to $1 (or stdout with -).
# It is the base image of the demo and of the tests when no registry is reachable:
#   bash scripts/busybox-rootfs.sh - | kiln import - busybox:latest
set -euo pipefail
out=${1:?usage: busybox-rootfs.sh OUT.tar|-}
bb=${BUSYBOX:-/bin/busybox}
[ -x "$bb" ] || { echo "busybox-rootfs: $bb not found (apt-get install busybox-static)" >&2; exit 1; }
dir=$(mktemp -d)
chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var/tmp,home,proc,sys,dev,run}
chmod 1777 "$dir/tmp" "$dir/var/tmp"
chmod 700 "$dir/root"
cp "$bb" "$dir/bin/busybox"
for applet in $("$bb" --list-full); do
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "$dir/$(dirname "$applet")"
  rel=$(realpath --relative-to="$dir/$(dirname "$applet")" "$dir/bin/busybox")
  ln -sf "$rel" "$dir/$applet"
done
cat > "$dir/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$dir/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
nogroup:x:65534:
GROUP
echo 'root:*::0:::::' > "$dir/etc/shadow"
chmod 640 "$dir/etc/shadow"
# Fixed times and owners so the same busybox gives the same image digest on every machine.
find "$dir" -exec touch -h -d @0 {} +
if [ "$out" = - ]; then
  tar -C "$dir" --sort=name --numeric-owner --owner=0 --group=0 -cf - .
else
  tar -C "$dir" --sort=name --numeric-owner --owner=0 --group=0 -cf "$out" .
fi
