#!/usr/bin/env bash
# make demo: cairn's main job on an embedded default, printed as it happens.
#
# For now (until the VM tier lands) the demo boots cairn as PID 1 of a sandbox — a fresh PID
# and mount namespace — shows its processes, breaks two of them on purpose to show them come
# back, and powers off.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=target/debug
WORK=$(mktemp -d /tmp/cairn-demo.XXXXXX)
chmod 755 "$WORK"
CG="$(integration/scripts/cgroup2-mount)/cairn-demo-$$"
SOCK="$WORK/run/control"
ctl() { "$BIN/cairnctl" --socket "$SOCK" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
inside() { nsenter -t "$INIT" -m -p -- "$@"; }

cleanup() {
    [ -n "${INIT:-}" ] && kill -9 "$INIT" 2>/dev/null || true
    wait 2>/dev/null || true
    find "$CG" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

say "booting cairn-init as PID 1 of a fresh PID + mount namespace"
mkdir -p "$WORK/units"
unshare --pid --mount --fork --mount-proc "$BIN/cairn-init" --units "$WORK/units" \
    --runtime-dir "$WORK/run" --cgroup-root "$CG" >"$WORK/log" 2>&1 &
UNSHARE=$!
for _ in $(seq 100); do
    INIT=$(cat /proc/$UNSHARE/task/$UNSHARE/children 2>/dev/null | awk '{print $1}')
    [ -n "$INIT" ] && ctl component list >/dev/null 2>&1 && break
    sleep 0.05
done
ctl component list

say "SIGKILL the activator: the supervisor restarts it"
pid_of() { ctl component list -o json | awk -F': ' -v n="\"$1\"," '$2 == n {f=1} f && /"pid"/ {gsub(/,/,"",$2); print $2; exit}'; }
inside /bin/kill -9 "$(pid_of activator)"
sleep 0.5
ctl component list

say "SIGKILL the supervisor: pid1 restarts it and hands back its fd store"
inside /bin/kill -9 "$(pid_of supervisor)"
echo "(a client connecting now waits in the control socket's queue, kept by pid1)"
ctl version
sleep 0.5
ctl component list

say "poweroff"
ctl poweroff
set +e
wait "$UNSHARE"
st=$?
set -e
INIT=
echo "the sandbox ended: exit status $st ($(kill -l $((st - 128)) 2>/dev/null || echo none)): cairn-init called reboot(2) as PID 1 of its namespace"
say "what cairn logged"
cat "$WORK/log"
