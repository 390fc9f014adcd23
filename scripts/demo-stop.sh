#!/bin/sh
# SPDX-License-Identifier: MIT
# demo-stop.sh - `make demo-stop`: unmount ./demo-mnt, wait for its twiliofs
# daemon to exit, and stop the demo account (nginx + API mock) by the PIDs
# scripts/demo.sh recorded. Safe to run when nothing is running.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
mnt=$top/demo-mnt
envdir=$top/build/demo-env
pidfile=$top/build/demo-twiliofs.pid

say() { echo "twiliofs demo: $*"; }
is_mounted() {
	awk -v m="$mnt" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo
}
ours() {	# PID: still the twiliofs that serves demo-mnt
	tr '\0' '\n' 2>/dev/null <"/proc/$1/cmdline" | grep -qxF -- "$mnt"
}

pid=$(cat "$pidfile" 2>/dev/null || true)
if is_mounted; then
	if ! err=$(fusermount3 -u "$mnt" 2>&1); then
		case $err in
		*busy*)
			say "./demo-mnt is busy: close what uses it (a shell cd'ed" \
			    "into it, a player), then run make demo-stop again"
			exit 1 ;;
		esac
		say "fusermount3 -u: $err; detaching it lazily"
		fusermount3 -uz "$mnt" || exit 1
	fi
	say "unmounted ./demo-mnt"
else
	say "./demo-mnt is not mounted"
fi
if [ -n "$pid" ] && ours "$pid"; then
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null && ours "$pid"; then
		say "twiliofs (pid $pid) still running 10 s after the unmount; stopping it"
		kill "$pid"
	fi
fi
rm -f "$pidfile"
rmdir "$mnt" 2>/dev/null || true

if ls "$envdir"/run/*.pid >/dev/null 2>&1; then
	bash tests/env/stop.sh "$envdir" && say "stopped the demo account (nginx, API mock)"
else
	say "the demo account is not running"
fi
exit 0
