#!/bin/sh
# Boots a boot benchmark's initramfs (build.sh) once under QEMU (TCG) and prints one line:
#   SYSTEM N LOADED KERNEL-S USERSPACE-S SLEEPS [reload=S] MEM...
# where USERSPACE-S runs from the kernel's "Run /init as init process" to the marker's
# BENCH-TARGET (both from the guest's kernel log) and MEM is PID:COMM:RSS-KB:PSS-KB:CPU-TICKS for each
# process of the init system (CPU in clock ticks). With CAIRN_BENCH_RELOAD=1 the guest also
# changes one loaded unit's file after the target and times a daemon-reload (reload=S).
# Usage: boot.sh SYSTEM N LOADED IMAGE [CONSOLE-LOG]
set -eu
system=$1 n=$2 loaded=$3 image=$4
log=${5:-$(mktemp)}
kernel=${CAIRN_KERNEL:-$(ls /boot/vmlinuz-* | sort -V | tail -1)}
case $system in
    cairn) unit="cairn.unit=bench.target" ;;
    systemd) unit="systemd.unit=bench.target" ;;
    *) unit= ;;
esac
[ "${CAIRN_BENCH_RELOAD:-0}" = 1 ] && unit="$unit bench.reload"
timeout 600 qemu-system-x86_64 -accel tcg -m 2048 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$image" \
    -append "console=ttyS0 panic=-1 quiet printk.time=1 $unit" >"$log" 2>&1 || true
tr -d '\r' < "$log" | awk -v logfile="$log" -v sys="$system" -v n="$n" -v loaded="$loaded" '
    /BENCH-KMSG .*Run \/init as init process/ { gsub(/[][]/, " "); run = $2 }
    /BENCH-KMSG .*BENCH-TARGET/ { gsub(/[][]/, " "); target = $2 }
    /BENCH-KMSG .*BENCH-RELOAD-START/ { gsub(/[][]/, " "); rs = $2 }
    /BENCH-KMSG .*BENCH-RELOAD-END/ { gsub(/[][]/, " "); re = $2 }
    /BENCH-MEM / { sub(/.*BENCH-MEM /, ""); mem = mem " " $1 ":" $2 ":" $3 ":" $4 ":" $5 }
    /BENCH-SLEEPS / { sub(/.*BENCH-SLEEPS /, ""); sleeps = $1 }
    END {
        if (run == "" || target == "") { print "boot.sh: no result; console in " logfile > "/dev/stderr"; exit 1 }
        reload = (rs != "" && re != "") ? sprintf(" reload=%.3f", re - rs) : ""
        printf "%s %d %d %.3f %.3f %d%s%s\n", sys, n, loaded, run, target - run, sleeps, reload, mem
    }'
