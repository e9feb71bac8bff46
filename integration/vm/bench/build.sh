#!/bin/sh
# One boot benchmark's initramfs: SYSTEM (cairn, systemd or floor) starting N trivial services
# (Type=exec, /bin/sleep 1000) and loading LOADED more units it does not start (referenced by
# the target's After=, as systemd loads only what something references), then the marker
# (report.sh) after all N. The same busybox, kernel modules and marker for all three.
# Usage: build.sh SYSTEM N LOADED OUT.cpio.gz [CAIRN-BIN-DIR]
set -eu
system=$1 n=$2 loaded=$3 out=$4
bin=${5:-$(dirname "$0")/../../../target/release}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# units DIR: bench.target, the N services, the LOADED others and the marker.
units() {
    d=$1
    mkdir -p "$d"
    svc='[Unit]\nDefaultDependencies=no\n[Service]\nType=exec\nExecStart=/bin/sleep 1000\n'
    i=1
    while [ "$i" -le "$n" ]; do printf "$svc" > "$d/s$i.service"; i=$((i + 1)); done
    i=1
    while [ "$i" -le "$loaded" ]; do
        printf '[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nExecStart=/bin/true\n' > "$d/l$i.service"
        i=$((i + 1))
    done
    # Long dependency lists, 100 names to a line.
    list() { # KEY PREFIX COUNT
        i=1 line=
        while [ "$i" -le "$3" ]; do
            line="$line $2$i.service"
            if [ $((i % 100)) -eq 0 ] || [ "$i" -eq "$3" ]; then echo "$1=$line"; line=; fi
            i=$((i + 1))
        done
    }
    {
        printf '[Unit]\nDescription=boot benchmark\nAllowIsolate=yes\nDefaultDependencies=no\nWants=marker.service\n'
        list Wants s "$n"
        list After l "$loaded"
    } > "$d/bench.target"
    {
        printf '[Unit]\nDefaultDependencies=no\n'
        list After s "$n"
        printf '[Service]\nType=oneshot\nExecStart=/bench/report.sh\n'
    } > "$d/marker.service"
}

# Common to all three: busybox and its applets, the marker, users, a machine id.
base() {
    r=$1
    mkdir -p "$r/bin" "$r/sbin" "$r/etc" "$r/proc" "$r/sys" "$r/dev" "$r/run" "$r/tmp" "$r/bench"
    cp /bin/busybox "$r/bin/busybox"
    for a in $("$r/bin/busybox" --list); do
        [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"
    done
    install -m 0755 "$here/report.sh" "$r/bench/report.sh"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$r/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$r/etc/group"
    echo 5ba7a3c0a6d94c1a9f0e2b7d4c3e1f00 > "$r/etc/machine-id"
    cp /etc/os-release "$r/etc/os-release" 2>/dev/null || cp /usr/lib/os-release "$r/etc/os-release"
}

pack() {
    (cd "$1" && find . | cpio -o -H newc --quiet) | gzip -1 > "$out"
}

case $system in
cairn)
    base "$tmp/overlay"
    units "$tmp/overlay/etc/cairn/system"
    echo /etc/cairn/system > "$tmp/overlay/etc/units-dir"
    CAIRN_BARE=1 CAIRN_OVERLAY="$tmp/overlay" "$here/../build-initramfs.sh" "$out" "$bin"
    ;;
floor)
    base "$tmp/root"
    sed "s/@N@/$n/" "$here/floor-init.sh" > "$tmp/root/init"
    chmod 0755 "$tmp/root/init"
    pack "$tmp/root"
    ;;
systemd)
    r=$tmp/root
    base "$r"
    units "$r/etc/systemd/system"
    echo /etc/systemd/system > "$r/etc/units-dir"
    mkdir -p "$r/lib/systemd" "$r/usr/lib/x86_64-linux-gnu/systemd" "$r/lib64" "$r/var" "$r/root"
    cp /lib/systemd/systemd "$r/lib/systemd/systemd"
    # systemctl, for the daemon-reload measurement (report.sh).
    cp /bin/systemctl "$r/bin/systemctl"
    for lib in $( (ldd /lib/systemd/systemd; ldd /bin/systemctl) | grep -o "/[^ ]*" | sort -u); do
        mkdir -p "$r$(dirname "$lib")"
        cp -L "$lib" "$r$lib"
    done
    ln -s lib/systemd/systemd "$r/init"
    # No journald here: output goes nowhere, as the services' does under cairn's default.
    mkdir -p "$r/etc/systemd"
    printf '[Manager]\nDefaultStandardOutput=null\nDefaultStandardError=null\nShowStatus=no\n' > "$r/etc/systemd/system.conf"
    # systemd loads autofs4 at start (with libkmod: modules.dep from depmod).
    kver=${KVER:-$(ls /lib/modules | sort -V | tail -1)}
    f=$(modinfo -k "$kver" -n autofs4 2>/dev/null || true)
    case "$f" in
        /*) mkdir -p "$r$(dirname "$f")"; cp "$f" "$r$f"
            cp "/lib/modules/$kver/modules.order" "/lib/modules/$kver/modules.builtin" \
               "/lib/modules/$kver/modules.builtin.modinfo" "$r/lib/modules/$kver/" 2>/dev/null || true
            depmod -b "$r" "$kver" ;;
    esac
    pack "$r"
    ;;
*)
    echo "build.sh: unknown system $system (cairn, systemd, floor)" >&2
    exit 2
    ;;
esac
