# SPDX-License-Identifier: MIT
# account_lib.sh - sourced by the tests that run against the test account
# (tests/env): starting it, taking its environment, and the TAP-like case
# machinery. Needs $top (the tree), $W (scratch) and $E (the env's DIR).

# FUSE here, and fusermount3: else exit 77 with the reason (removing $own,
# the scratch directory the caller made for itself, if any).
fuse_needed() {
	local why=''
	if [ ! -c /dev/fuse ]; then
		why="/dev/fuse is missing (no FUSE in this kernel or container; a container needs --device /dev/fuse --cap-add SYS_ADMIN)"
	elif ! command -v fusermount3 >/dev/null 2>&1; then
		why="fusermount3 is missing (Debian package fuse3: sh scripts/install-deps.sh test)"
	fi
	[ -z "$why" ] && return 0
	echo "SKIP: $why"
	[ -z "${own:-}" ] || rm -rf "$own"
	exit 77
}

# The scratch directory: $TFS_WORK, or one of our own under $TMPDIR
# (named in $own, for the caller's trap and fuse_needed's skip to remove).
# Sets W (absolute), E (the test account's DIR) and MNT.
# shellcheck disable=SC2034 # the callers' variables
scratch_dir() {	# NAME: tfs-NAME.XXXXXX
	own=''
	[ -n "${TFS_WORK:-}" ] ||
		own=$(mktemp -d "${TMPDIR:-/tmp}/tfs-$1.XXXXXX") || exit 1
	W=${TFS_WORK:-$own}
	mkdir -p "$W"
	W=$(cd "$W" && pwd)
	E=$W/env
	MNT=$W/mnt
}

# Whether something is mounted on PATH (default $MNT): non-blocking,
# unlike stat on a hung FUSE mount.
# shellcheck disable=SC2120 # PATH is optional
is_mounted() {
	awk -v m="${1:-$MNT}" '$5 == m { n++ } END { exit n == 0 }' /proc/self/mountinfo
}

# Start the test account; exit 77 (with the reason) if it cannot run
# here, 1 if it failed. The caller sets the trap that stops it.
account_start() {
	bash "$top/tests/env/start.sh" "$E" >"$W/env-start.log" 2>&1
	st=$?
	if [ $st -eq 77 ]; then
		echo "SKIP: $(tail -1 "$W/env-start.log")"
		exit 77
	fi
	[ $st -eq 0 ] || { echo "Bail out! tests/env/start.sh failed:"
		tail -5 "$W/env-start.log"; exit 1; }
}

# Its variables, with nothing of the user's credentials or caches around.
account_use() {
	# shellcheck disable=SC1091
	. "$E/env.sh"
	unset TWILIO_AUTH_TOKEN TWILIO_REGION TWILIO_EDGE TWILIOFS_CACHE_DIR
	export HOME="$W/home" XDG_CACHE_HOME="$W/home/.cache"
	mkdir -p "$HOME"
}

n=0 fails=0 why=''
fail() { why="${why:+$why; }$*"; }
case_end() {	# NAME
	n=$((n + 1))
	if [ -z "$why" ]; then echo "ok $n - $1"; else
		fails=$((fails + 1)); echo "not ok $n - $1: $why"; fi
	why=''
}
control() {	# OP JSON: a /__control switch of the mock
	curl -sf --cacert "$TWILIOFS_CAFILE" -X POST -d "$2" \
	    "$TFS_CONTROL/$1" >/dev/null || fail "control $1 $2 failed"
}
