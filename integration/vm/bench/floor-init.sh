#!/bin/sh
# The floor of the boot benchmark: a busybox shell as /init that forks the same N services
# (/bin/sleep 1000) and waits until each has exec'd (its comm turns from sh to sleep), then
# runs the same marker as the init systems do. @N@ is replaced by bench/build.sh.
mount -t proc proc /proc
mount -t devtmpfs dev /dev
i=0
pids=
while [ $i -lt @N@ ]; do
    /bin/sleep 1000 &
    pids="$pids $!"
    i=$((i + 1))
done
for p in $pids; do
    while read -r c < /proc/$p/comm && [ "$c" != sleep ]; do :; done
done
exec /bench/report.sh
