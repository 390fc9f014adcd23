#!/bin/bash
# SPDX-License-Identifier: MIT
# test_env.sh - the test account's own test: start.sh, selftest.sh, start.sh
# again on the same DIR (the first instance must be gone), stop.sh (nothing
# left, checked with ps), a start that fails midway (nothing left), and
# --bulk 1000. Only 127.0.0.1 listens. Exits 0 / 1 / 77 (a dependency is
# missing).
#
# Usage: test_env.sh [WORKDIR]     (default: a fresh mktemp directory)
set -u
here=$(cd "$(dirname "$0")" && pwd)

n=0 fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1${2:+: $2}"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else notok "$d"; fi; }

if [ $# -ge 1 ]; then
	mkdir -p "$1" && W=$(cd "$1" && pwd) || exit 1
	own=
else
	W=$(mktemp -d "${TMPDIR:-/tmp}/tfs-env-test.XXXXXX") || exit 1
	own=1
fi
D=$W/env
trap 'bash "$here/stop.sh" "$D" >/dev/null 2>&1; [ -n "$own" ] && rm -rf "$W"' EXIT

pids_of() { cat "$D/run/nginx.pid" "$D/run/mock.pid" 2>/dev/null | tr '\n' ' '; }
alive() {
	local st
	st=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}
none_alive() { local p; for p in "$@"; do alive "$p" && return 1; done; return 0; }
all_alive() { local p; for p in "$@"; do alive "$p" || return 1; done; return 0; }
# processes whose command line names the env directory (nginx master, mock)
# or whose parent is one of PIDS (nginx workers)
leftovers() { # PIDS...
	local pat
	pat=$(printf '%s|' "$@")
	ps -eo pid=,ppid=,stat=,args= | awk -v d="$D/" -v p="|${pat}" '
	    $3 !~ /^Z/ && (index($0, d) || index(p, "|" $2 "|")) { print }' |
	    grep -v -e 'awk -v d=' -e "ps -eo" || true
}
# listening TCP sockets of PORT: every one must be 127.0.0.1
only_loopback() { # PORT
	local hex
	hex=$(printf '%04X' "$1")
	# /proc/net/tcp: local_address is HEXIP:HEXPORT, state 0A = LISTEN
	awk -v p=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { print $2 }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null | {
		local any=0 a
		while read -r a; do
			any=1
			[ "$a" = "0100007F:$hex" ] || return 1
		done
		[ $any = 1 ]
	}
}

# ---- start, selftest ---------------------------------------------------------
t0=$(date +%s.%N)
bash "$here/start.sh" "$D"
rc=$?
[ $rc -eq 77 ] && exit 77
t1=$(date +%s.%N)
if [ $rc -ne 0 ]; then notok "start.sh" "exit $rc"; exit 1; fi
ok "start.sh ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f s", b - a }'))"
first=$(pids_of)
# shellcheck disable=SC2086
check "nginx and the mock run (pids $first)" all_alive $first
# shellcheck disable=SC1091
. "$D/env.sh"
api_port=${TWILIOFS_ENDPOINT##*:}
media_port=${TFS_MEDIA_BASE##*:}
check "the API listens on 127.0.0.1 only" only_loopback "$api_port"
check "nginx listens on 127.0.0.1 only" only_loopback "$media_port"
if bash "$here/selftest.sh" "$D" >"$W/selftest.out" 2>&1; then
	ok "selftest.sh: $(tail -n 1 "$W/selftest.out")"
else
	sed 's/^/    /' "$W/selftest.out"
	notok "selftest.sh" "$(tail -n 1 "$W/selftest.out")"
fi

# ---- start again on the same DIR -----------------------------------------------
nginx_master=$(cat "$D/run/nginx.pid")
workers=$(ps -eo pid=,ppid= | awk -v m="$nginx_master" '$2 == m { print $1 }' | tr '\n' ' ')
if bash "$here/start.sh" "$D" 2>"$W/start2.err"; then
	second=$(pids_of)
	# shellcheck disable=SC2086
	check "start.sh again: the first instance ($first $workers) is gone" \
		none_alive $first $workers
	# shellcheck disable=SC2086
	check "start.sh again: a new instance runs ($second)" all_alive $second
else
	notok "start.sh again" "$(cat "$W/start2.err")"
	second=
fi
nginx_master=$(cat "$D/run/nginx.pid" 2>/dev/null)
workers=$(ps -eo pid=,ppid= | awk -v m="$nginx_master" '$2 == m { print $1 }' | tr '\n' ' ')

# ---- stop ------------------------------------------------------------------------
bash "$here/stop.sh" "$D"
check "stop.sh exits 0" test $? -eq 0
# shellcheck disable=SC2086
check "stop.sh: nginx master, workers and mock have exited" \
	none_alive $first $second $workers
# shellcheck disable=SC2086
left=$(leftovers $first $second $workers)
[ -z "$left" ] && ok "ps shows nothing left" || notok "ps shows nothing left" "$left"
check "stop.sh removes the pid files" test ! -e "$D/run/nginx.pid" -a ! -e "$D/run/mock.pid"
bash "$here/stop.sh" "$D"
check "stop.sh twice is harmless" test $? -eq 0

# ---- a start that fails midway leaves nothing running ------------------------------
for at in nginx mock; do
	TFS_ENV_FAIL_AFTER=$at bash "$here/start.sh" "$D" 2>"$W/fail.err"
	rc=$?
	left=$(leftovers)
	if [ $rc -ne 0 ] && [ -z "$left" ] && grep -q 'cleaning up' "$W/fail.err"; then
		ok "start.sh failing after $at exits $rc and leaves nothing running"
	else
		notok "start.sh failing after $at" "exit $rc; left: $left"
	fi
done

# ---- --bulk 1000 -------------------------------------------------------------------
t0=$(date +%s.%N)
if bash "$here/start.sh" "$D" --bulk 1000 2>"$W/bulk.err"; then
	t1=$(date +%s.%N)
	# shellcheck disable=SC1091
	. "$D/env.sh"
	count=$(curl -sS --cacert "$TWILIOFS_CAFILE" -K - \
		"$TWILIOFS_ENDPOINT/video/v1/Recordings?PageSize=1000" <<EOF |
user = "$TWILIO_API_KEY:$TWILIO_API_SECRET"
EOF
		/usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
n = len(j["recordings"])
print(n if j["meta"]["next_page_url"] else -n)')
	want=$(/usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
print(len({e["sid"] for e in m if e["kind"] == "video_recording" and e["listed"]}))' "$TFS_MANIFEST")
	# 1000 bulk + the fixtures: more than one page of 1000
	[ "$count" = 1000 ] && [ "$want" -gt 1000 ] &&
		ok "--bulk 1000: $want video recordings, first page of 1000 has a next page ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f s", b - a }'))" ||
		notok "--bulk 1000" "first page $count, manifest $want"
else
	notok "start.sh --bulk 1000" "$(cat "$W/bulk.err")"
fi
bash "$here/stop.sh" "$D"
left=$(leftovers)
[ -z "$left" ] && ok "nothing left at the end" || notok "nothing left at the end" "$left"

echo "$((n - fails)) passed, $fails failed"
[ $fails -eq 0 ]
