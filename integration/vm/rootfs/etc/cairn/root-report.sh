#!/bin/sh
# Runs in the real root after switch-root: what carried over, then poweroff.
exec > /dev/console 2>&1
echo "=== root: marker: $(cat /etc/root-marker) ==="
echo "=== root: $(cairnctl analyze | head -1) ==="
echo "=== root: / $(awk '$2 == "/" { o = $4 } END { split(o, a, ","); print a[1] }' /proc/mounts) ==="
echo "=== root: still in the initrd: $( [ -e /etc/initrd-release ] && echo yes || echo no) ==="
before=$(cat /run/logger.pid)
now=$(cairnctl show logger.service | sed -n 's/^MainPID=//p')
echo "=== root: logger pid in the initrd $before, main pid now $now, $(cairnctl is-active logger.service) ==="
cairnctl component list | cat
echo "written after switch-root" > /after-switch
cairnctl poweroff
