#!/bin/sh
# Builds the demo initramfs: cairn (release binaries and their shared libraries), busybox,
# the demo's units, and cairn-init as /init. Usage: build-initramfs.sh OUT.cpio.gz [BIN-DIR]
set -eu
out=$1
bin=${2:-$(dirname "$0")/../../target/release}
here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root/usr/lib/cairn" "$root/usr/bin" "$root/bin" "$root/sbin" "$root/etc/cairn/system" \
         "$root/lib64" "$root/lib/x86_64-linux-gnu" "$root/proc" "$root/sys" "$root/dev" "$root/run" \
         "$root/tmp" "$root/var/log" "$root/root"
for b in cairn-init cairn-supervisor cairn-activator cairn-mounter cairn-devmon; do
    install -m 0755 "$bin/$b" "$root/usr/lib/cairn/$b"
done
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
# busybox (static) and its applets.
cp /bin/busybox "$root/bin/busybox"
for a in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done
echo cairn-demo > "$root/etc/hostname"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
cp -r "$here/units/." "$root/etc/cairn/system/"
install -m 0755 "$here/demo-report.sh" "$root/etc/cairn/demo-report.sh"
install -m 0755 "$here/limits-report.sh" "$root/etc/cairn/limits-report.sh"
(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 > "$out"
