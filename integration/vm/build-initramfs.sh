#!/bin/sh
# Builds the demo initramfs: cairn (release binaries and their shared libraries), busybox,
# the demo's units, and cairn-init as /init. Usage: build-initramfs.sh OUT.cpio.gz [BIN-DIR]
# CAIRN_OVERLAY=DIR copies DIR over the tree (the initrd's or the real root's extra files);
# CAIRN_TREE=1 writes the tree into the directory OUT instead (for mkfs.ext4 -d);
# CAIRN_BARE=1 leaves out the demo's units and files (the overlay brings its own: make bench);
# CAIRN_STATIC_DIR=DIR takes cairn-init and the helpers from DIR (static builds).
set -eu
out=$1
bin=${2:-$(dirname "$0")/../../target/release}
here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root/usr/lib/cairn" "$root/usr/bin" "$root/bin" "$root/sbin" "$root/etc/cairn/system" \
         "$root/lib64" "$root/lib/x86_64-linux-gnu" "$root/proc" "$root/sys" "$root/dev" "$root/run" \
         "$root/tmp" "$root/var/log" "$root/root"
for b in cairn-init cairn-supervisor cairn-spawner cairn-activator cairn-mounter cairn-devmon; do
    install -m 0755 "$bin/$b" "$root/usr/lib/cairn/$b"
done
# CAIRN_STATIC_DIR: statically linked builds of cairn-init and the helpers (make release) —
# they need no shared library and start faster.
if [ -n "${CAIRN_STATIC_DIR:-}" ]; then
    for b in cairn-init cairn-spawner cairn-activator cairn-mounter cairn-devmon; do
        if [ -x "$CAIRN_STATIC_DIR/$b" ]; then
            install -m 0755 "$CAIRN_STATIC_DIR/$b" "$root/usr/lib/cairn/$b"
        fi
    done
fi
install -m 0755 "$bin/cairnctl" "$root/usr/bin/cairnctl"
# Debug builds carry hundreds of MiB of debug info the VM does not need.
if command -v strip >/dev/null; then
    strip --strip-debug "$root"/usr/lib/cairn/* "$root/usr/bin/cairnctl"
fi
for c in poweroff reboot halt shutdown; do ln -s ../usr/bin/cairnctl "$root/sbin/$c"; done
ln -s usr/lib/cairn/cairn-init "$root/init"
# The shared libraries the binaries need (glibc, libgcc_s, libm), found by ldd.
for lib in $(for b in cairn-init cairn-supervisor cairn-activator cairn-mounter cairn-devmon cairnctl; do ldd "$bin/$b"; done | grep -o "/[^ ]*" | sort -u); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
# Host tools the mounter and devmon run: fsck (util-linux) with e2fsck, and util-linux's
# blkid and findfs (busybox's lack the options used); with their libraries.
for t in fsck e2fsck blkid findfs; do
    p=$(command -v "$t" 2>/dev/null || true)
    [ -n "$p" ] || continue
    mkdir -p "$root$(dirname "$p")"
    cp -L "$p" "$root$p"
    for lib in $(ldd "$p" | grep -o "/[^ ]*"); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
done
[ -e "$root/usr/sbin/e2fsck" ] && ln -sf e2fsck "$root/usr/sbin/fsck.ext4"
[ -e "$root/sbin/e2fsck" ] && ln -sf e2fsck "$root/sbin/fsck.ext4"
# busybox (static) and its applets (where no real tool is).
cp /bin/busybox "$root/bin/busybox"
for a in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done
# Kernel modules for a virtio disk with ext4 and for autofs, with their dependencies, for the
# kernel that will boot ($KVER, default: the newest in /lib/modules); depmod'ed into the image
# so that devmon's modprobe finds them by alias.
kver=${KVER:-$(ls /lib/modules | sort -V | tail -1)}
if [ -d "/lib/modules/$kver" ]; then
    want="virtio_pci virtio_blk ext4 autofs4 crc32c_generic"
    seen=""
    while [ -n "$want" ]; do
        set -- $want; m=$1; shift; want="$*"
        case " $seen " in *" $m "*) continue ;; esac
        seen="$seen $m"
        f=$(modinfo -k "$kver" -n "$m" 2>/dev/null) || continue
        case "$f" in /*) ;; *) continue ;; esac   # built in
        mkdir -p "$root$(dirname "$f")"
        cp "$f" "$root$f"
        deps=$(modinfo -k "$kver" -F depends "$m" | tr ',' ' ')
        want="$want $deps"
    done
    cp "/lib/modules/$kver/modules.order" "/lib/modules/$kver/modules.builtin" "$root/lib/modules/$kver/" 2>/dev/null || true
    depmod -b "$root" "$kver"
fi
ln -sf ../bin/busybox "$root/sbin/modprobe"
echo cairn-demo > "$root/etc/hostname"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
if [ -z "${CAIRN_BARE:-}" ]; then
    cp -r "$here/units/." "$root/etc/cairn/system/"
    install -m 0755 "$here/demo-report.sh" "$root/etc/cairn/demo-report.sh"
    install -m 0755 "$here/limits-report.sh" "$root/etc/cairn/limits-report.sh"
    install -m 0755 "$here/disk-report.sh" "$root/etc/cairn/disk-report.sh"
    install -m 0755 "$here/auto-report.sh" "$root/etc/cairn/auto-report.sh"
    install -m 0644 "$here/fstab" "$root/etc/fstab"
    cp -r "$here/etc/." "$root/etc/"
fi
if [ -n "${CAIRN_OVERLAY:-}" ]; then
    cp -a "$CAIRN_OVERLAY/." "$root/"
fi
if [ -n "${CAIRN_TREE:-}" ]; then
    mkdir -p "$out"
    cp -a "$root/." "$out/"
else
    (cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 > "$out"
fi
