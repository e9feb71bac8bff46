#!/bin/sh
# cairn.unit=disk.target: the virtio disk's story, on the console, then poweroff (which
# unmounts it: the host checks the image is clean).
exec > /dev/console 2>&1
echo "=== disk: units ==="
cairnctl list-units | cat | grep -E 'vda|data|writer'
echo "=== disk: data.mount ==="
cairnctl show data.mount | cat | grep -E '^(What|Where|Fsck|ActiveState)='
echo "=== disk: file: $(cat /data/hello) ==="
echo "=== disk: services running: $(cairnctl list-units | grep -c 'svc@.*running') ==="
cairnctl poweroff
