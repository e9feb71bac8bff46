#!/bin/sh
# Runs inside the demo VM once the default target's units are up: prints what happened, then
# powers off. Output goes to the console; cairnctl's colours are off (a pipe, not a tty).
exec > /dev/console 2>&1
ctl() { cairnctl "$@" | cat; }
echo "=== cairn demo: up; $(cut -d' ' -f1 /proc/uptime) s since the kernel started ==="
echo "--- cairnctl analyze"
ctl analyze
echo "--- cairnctl analyze blame"
ctl analyze blame | head -10
echo "--- cairnctl analyze critical-chain"
ctl analyze critical-chain
echo "--- set at boot: sysctl.d, modules-load.d, tmpfiles.d"
echo "domainname: $(cat /proc/sys/kernel/domainname)"
echo "machine-id: $(cat /etc/machine-id) hostname: $(hostname)"
echo "crc16 loaded: $(grep -c '^crc16 ' /proc/modules)"
echo "/run/cairn-demo: $(stat -c %a /run/cairn-demo) $(cat /run/cairn-demo/motd)"
echo "--- cairnctl component list"
ctl component list
echo "--- cairnctl list-units"
ctl list-units | grep -E '\.(service|socket|target|mount) '
echo "--- a socket-activated service answering (Accept=yes: one instance per connection)"
echo "hi there" | nc 127.0.0.1 7
echo "--- cairnctl list-sockets"
ctl list-sockets
echo "--- cairnctl why demo-hello.service"
ctl why demo-hello.service
echo "--- cairnctl status demo-hello.service"
ctl status demo-hello.service
echo "--- the virtio disk: checked, mounted on /data, written by writer.service"
echo "/data/hello: $(cat /data/hello)"
# The boot plot travels to the host over the console; demo.sh writes it to build/boot.svg.
echo "=== boot.svg (base64) ==="
cairnctl analyze plot | base64
echo "=== end of boot.svg ==="
echo "=== cairn demo: powering off ==="
cairnctl poweroff
