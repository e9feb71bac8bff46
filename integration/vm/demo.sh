#!/bin/sh
# make demo: builds the demo initramfs (cairn's release binaries, busybox, the units in
# integration/vm/units), boots it under QEMU (TCG: KVM hangs on these machines) with
# cairn-init as /init, and prints what the system printed on its console until it powered off.
set -eu
cd "$(dirname "$0")/../.."
BIN=${CAIRN_BIN_DIR:-target/release}
OUT=build/demo.cpio.gz
KERNEL=${CAIRN_KERNEL:-$(ls /boot/vmlinuz-* | sort -V | tail -1)}
mkdir -p build
integration/vm/build-initramfs.sh "$OUT" "$BIN"
echo "== booting $KERNEL with $OUT (qemu, tcg) =="
LOG=build/demo-console.log
start=$(date +%s.%N)
timeout 300 qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot \
    -kernel "$KERNEL" -initrd "$OUT" -append "console=ttyS0 panic=-1 quiet" >"$LOG" 2>&1 || true
end=$(date +%s.%N)
# From cairn's first line on, without terminal escapes.
sed -n '/cairn-/,$p' "$LOG" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g'
if grep -q "=== cairn demo: powering off ===" "$LOG" && grep -q "reboot: Power down" "$LOG"; then
    awk -v s="$start" -v e="$end" \
        'BEGIN { printf "== the VM booted cairn, ran the demo and powered off (%.1f s on the host) ==\n", e - s }'
else
    echo "== the demo did not finish: the whole console is in $LOG =="
    exit 1
fi
