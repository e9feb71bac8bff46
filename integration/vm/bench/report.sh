#!/bin/sh
# The boot benchmark's marker (bench/build.sh): ordered after all N services, so running it
# means the target is reached. Notes the moment in the kernel's log first, then reports on the
# console (memory of the init system's processes, the two kernel timestamps, how many services
# run) and powers off at once.
echo BENCH-TARGET > /dev/kmsg
exec > /dev/console 2>&1
kb() { while read -r k v _; do [ "$k" = "$1" ] && { echo "$v"; return; }; done < "$2"; echo 0; }
# utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat; the comm
# field, in parentheses, has no spaces here).
cpu() { read -r _ _ _ _ _ _ _ _ _ _ _ _ _ ut st _ < "$1/stat"; echo $((ut + st)); }
# RSS from smaps_rollup, which counts the pages mapped: /proc/PID/status's VmRSS on this
# kernel (6.1) is a sum each thread updates after every 64 page faults, so it reads low for a
# process that has faulted little since (cairn-init's read 4 KiB of its true 600).
sleeps=0
for d in /proc/[0-9]*; do
    read -r comm < "$d/comm" 2>/dev/null || continue
    case $comm in
        sleep) sleeps=$((sleeps + 1)) ;;
        systemd|cairn-*) echo "BENCH-MEM ${d#/proc/} $comm $(kb Rss: "$d/smaps_rollup") $(kb Pss: "$d/smaps_rollup") $(cpu "$d")" ;;
        *) [ "${d#/proc/}" = 1 ] && echo "BENCH-MEM 1 $comm $(kb Rss: "$d/smaps_rollup") $(kb Pss: "$d/smaps_rollup") $(cpu "$d")" ;;
    esac
done
echo "BENCH-SLEEPS $sleeps"
# Where PID 1's and the supervisor's resident pages are (not parsed by boot.sh; for the log).
for d in /proc/[0-9]*; do
    read -r comm < "$d/comm" 2>/dev/null || continue
    case ${d#/proc/}:$comm in 1:*|*:cairn-superviso*)
        r=$d/smaps_rollup
        echo "BENCH-RSS ${d#/proc/} $comm anon=$(kb Anonymous: "$r") mapped=$(($(kb Rss: "$r") - $(kb Anonymous: "$r")))" ;;
    esac
done
read -r _ user nice system idle iowait irq softirq _ < /proc/stat
echo "BENCH-STAT user=$user nice=$nice system=$system idle=$idle iowait=$iowait irq=$irq softirq=$softirq"
dmesg | grep -E 'Run /init as init process|BENCH-TARGET' | sed 's/^/BENCH-KMSG /'
# daemon-reload after one unit file changed, when the kernel command line asks for it
# (`bench.reload`, boot.sh with CAIRN_BENCH_RELOAD=1): timed between two marks in the kernel's
# log, as the boot is.
if grep -q bench.reload /proc/cmdline && [ -f /etc/units-dir ] && [ -f "$(cat /etc/units-dir)/l1.service" ]; then
    dir=$(cat /etc/units-dir)
    printf '[Unit]\nDescription=changed\nDefaultDependencies=no\n[Service]\nType=oneshot\nExecStart=/bin/true\n' > "$dir/l1.service"
    echo BENCH-RELOAD-START > /dev/kmsg
    if command -v cairnctl >/dev/null; then cairnctl daemon-reload; else systemctl daemon-reload; fi
    echo BENCH-RELOAD-END > /dev/kmsg
    dmesg | grep -E 'BENCH-RELOAD' | sed 's/^/BENCH-KMSG /'
fi
# cairn's own account of the boot (not timed: after the mark).
if command -v cairnctl >/dev/null; then
    cairnctl analyze | sed 's/^/BENCH-ANALYZE /'
    cairnctl analyze blame | head -8 | sed 's/^/BENCH-ANALYZE /'
    cairnctl analyze critical-chain marker.service | sed 's/^/BENCH-ANALYZE /'
fi
echo BENCH-END
poweroff -f
