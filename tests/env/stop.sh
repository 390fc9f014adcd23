#!/bin/bash
# SPDX-License-Identifier: MIT
# stop.sh - stop what tests/env/start.sh started in DIR: by the PIDs in
# DIR/run/*.pid only (each checked to still be that process: its command
# line names DIR), TERM first, KILL after 10 s, and wait until each has
# exited. nginx's worker processes are waited for too.
#
# Usage: stop.sh DIR      Exits 0 when nothing of DIR's is left running.
set -u

note() { echo "tfs-env: $*" >&2; }
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 1; }
[ -d "$1" ] || { note "stop: no directory $1"; exit 0; }
dir=$(cd "$1" && pwd) || exit 1

alive() { # PID: running and not a zombie
	local st
	st=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}

ours() { # PID: its command line mentions DIR (guards against PID reuse)
	local cmd
	cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
	case $cmd in *"$dir/"*) return 0 ;; *) return 1 ;; esac
}

children() { # PID -> the PIDs whose parent it is
	local f st
	for f in /proc/[0-9]*/stat; do
		read -r st 2>/dev/null <"$f" || continue
		# field 4 (ppid) after the ")" that closes the command name
		st=${st##*) }
		set -- $st
		[ "${2:-}" = "$want" ] && { f=${f#/proc/}; echo "${f%/stat}"; }
	done
}

wait_gone() { # SECONDS PID...
	local n=$(($1 * 20)) p left
	shift
	while [ "$n" -gt 0 ]; do
		left=
		for p in "$@"; do alive "$p" && left="$left $p"; done
		[ -z "$left" ] && return 0
		sleep 0.05
		n=$((n - 1))
	done
	return 1
}

rc=0
for name in mock nginx; do
	pidfile=$dir/run/$name.pid
	[ -f "$pidfile" ] || continue
	pid=$(cat "$pidfile" 2>/dev/null)
	case $pid in '' | *[!0-9]*) rm -f "$pidfile"; continue ;; esac
	if ! alive "$pid" || ! ours "$pid"; then
		rm -f "$pidfile"
		continue
	fi
	want=$pid
	kids=$(children)
	kill -TERM "$pid" 2>/dev/null
	# shellcheck disable=SC2086
	if ! wait_gone 10 "$pid" $kids; then
		note "stop: $name (pid $pid) ignores TERM; killing it"
		# shellcheck disable=SC2086
		kill -KILL "$pid" $kids 2>/dev/null
		# shellcheck disable=SC2086
		wait_gone 5 "$pid" $kids || { note "stop: $name (pid $pid) is still there"; rc=1; continue; }
	fi
	rm -f "$pidfile"
done
exit $rc
