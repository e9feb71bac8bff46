#!/bin/sh
# make demo: builds the demo initramfs (cairn's release binaries, busybox, the units in
# integration/vm/units), boots it under QEMU (TCG: KVM hangs on these machines) with
# cairn-init as /init, and prints what the system printed on its console until it powered off.
set -eu
cd "$(dirname "$0")/../.."
BIN=${CAIRN_BIN_DIR:-target/release}
B=${CAIRN_BUILD_DIR:-build}
OUT=$B/demo.cpio.gz
KERNEL=${CAIRN_KERNEL:-$(ls /boot/vmlinuz-* | sort -V | tail -1)}
mkdir -p "$B"
integration/vm/build-initramfs.sh "$OUT" "$BIN"
# The disk: an empty ext4 file system, which the guest fscks, mounts on /data and writes to.
DISK=$B/demo-disk.img
rm -f "$DISK"
truncate -s 32M "$DISK"
mkfs.ext4 -q -F "$DISK"
echo "== booting $KERNEL with $OUT and $DISK (qemu, tcg) =="
LOG=$B/demo-console.log
start=$(date +%s.%N)
timeout 300 qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot \
    -drive "file=$DISK,format=raw,if=virtio" \
    -kernel "$KERNEL" -initrd "$OUT" -append "console=ttyS0 panic=-1 quiet cairn.log_level=info" >"$LOG" 2>&1 || true
end=$(date +%s.%N)
# From cairn's first line on, without terminal escapes or the plot's base64.
sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\r$//' "$LOG" >"$LOG.txt"
sed -n '/cairn-/,$p' "$LOG.txt" | sed '/=== boot.svg (base64) ===/,/=== end of boot.svg ===/d'
sed -n '/=== boot.svg (base64) ===/,/=== end of boot.svg ===/p' "$LOG.txt" | sed '1d;$d' |
    base64 -d >$B/boot.svg 2>/dev/null || true
if grep -q "=== cairn demo: powering off ===" "$LOG" && grep -q "reboot: Power down" "$LOG"; then
    awk -v s="$start" -v e="$end" \
        'BEGIN { printf "== the VM booted cairn, ran the demo and powered off (%.1f s on the host) ==\n", e - s }'
else
    echo "== the demo did not finish: the whole console is in $LOG =="
    exit 1
fi
if grep -q "</svg>" $B/boot.svg; then
    echo "== the boot plot (cairnctl analyze plot) is in $B/boot.svg =="
else
    echo "== no boot plot came back: see $LOG =="
fi
if fsck -n "$DISK" >$B/demo-fsck.log 2>&1; then
    echo "== disk clean (fsck -n $DISK after poweroff) =="
else
    echo "== the disk is NOT clean after poweroff: =="
    cat $B/demo-fsck.log
    exit 1
fi
