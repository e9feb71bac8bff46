#!/bin/sh
exec > /dev/console 2>&1
echo "=== auto: early.service $(cairnctl is-active early.service) ==="
echo "=== auto: before the access: auto.mount $(cairnctl is-active auto.mount), auto.automount $(cairnctl is-active auto.automount) ==="
echo "=== auto: ls /auto: $(ls /auto | tr '\n' ' ') ==="
echo "=== auto: after the access: auto.mount $(cairnctl is-active auto.mount) ==="
cairnctl status auto.automount | cat
cairnctl poweroff
