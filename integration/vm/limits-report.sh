#!/bin/sh
# cairn.unit=limits.target: what MemoryMax= and TasksMax= did, on the console.
exec > /dev/console 2>&1
sleep 1
cg=/sys/fs/cgroup/system.slice
echo "=== limits: memhog ==="
cairnctl status memhog.service | cat
echo "memhog oom_kill: $(grep oom_kill "$cg/memhog.service/memory.events" 2>/dev/null | head -1)"
echo "=== limits: forker ==="
echo "forker tasks: $(wc -l < "$cg/forker.service/cgroup.procs")"
echo "forker pids.max: $(cat "$cg/forker.service/pids.max")"
echo "forker pids.events: $(cat "$cg/forker.service/pids.events")"
echo "=== limits: done ==="
cairnctl poweroff
