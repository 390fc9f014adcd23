#!/bin/bash
# SPDX-License-Identifier: MIT
# test_outputs.sh - `twiliofs get SID OUTPUT` against the test account
# (tests/env) when OUTPUT is not a plain file: a character device (/dev/null)
# and a FIFO are written in place, never replaced; a symlink is written
# through; a tampered item gives a FIFO's reader nothing at all.
#
# Usage: TWILIOFS=/abs/twiliofs TFS_WORK=/abs/scratch bash test_outputs.sh
# Exits 0 (all passed), 1 (a case failed) or 77 (the environment cannot
# run here: the reason is printed).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
TWILIOFS=${TWILIOFS:-$top/twiliofs}
W=${TFS_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/tfs-outputs.XXXXXX")}
mkdir -p "$W"
W=$(cd "$W" && pwd)
E=$W/env
PY=/usr/bin/python3
# shellcheck source=tests/integration/account_lib.sh
. "$here/account_lib.sh"

account_start
trap 'bash "$top/tests/env/stop.sh" "$E" >/dev/null 2>&1' EXIT
account_use
CACHE=$W/cache
O=$W/o

# manifest NAME FIELD
manifest() {
	$PY - "$TFS_MANIFEST" "$1" "$2" <<'EOF'
import json, sys
for e in json.load(open(sys.argv[1])):
    if e["name"] == sys.argv[2] and e["part"] == 0:
        print(e[sys.argv[3]])
        break
EOF
}
tfs() {	# ARGS... -> rc, $W/out, $W/err
	timeout 120 "$TWILIOFS" "$@" >"$W/out" 2>"$W/err"
	rc=$?
}
get() { tfs get --cache-dir "$CACHE" "$@"; }
sha() { sha256sum 2>/dev/null <"$1" | cut -d' ' -f1; }
fresh() { rm -rf "$O"; mkdir -p "$O"; }
only() {	# NAMES...: exactly these in $O
	local want=''
	[ $# -eq 0 ] || want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
	[ "$(cd "$O" && ls -A | sort | tr '\n' ' ')" = "$want" ] ||
	    fail "in the output directory: $(ls -A "$O" | tr '\n' ' ')"
}
# fifo_get SID: get SID into the FIFO $O/fifo, read by cat into $W/got
fifo_get() {
	local pid
	mkfifo "$O/fifo"
	cat "$O/fifo" >"$W/got" &
	pid=$!
	get "$1" "$O/fifo"
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null
		fail "the FIFO's reader never saw end of file"
	fi
	wait "$pid" 2>/dev/null
	[ -p "$O/fifo" ] || fail "the FIFO was replaced"
}

RT=$(manifest rt_video_A sid)
RE=$(manifest re_A_docsget sid)
BAD=$(manifest re_B_tampered sid)
[ -n "$RT" ] && [ -n "$RE" ] && [ -n "$BAD" ] ||
    { echo "Bail out! items missing from $TFS_MANIFEST"; exit 1; }

# ---- a character device: written in place ---------------------------------
# A private node first: a binary that replaces device nodes must not get to
# replace the real /dev/null.
fresh
devok=
if mknod "$O/null" c 1 3 2>/dev/null; then
	get "$RT" "$O/null"
	[ $rc -eq 0 ] || fail "exit $rc: $(head -c 200 "$W/err")"
	[ -c "$O/null" ] || fail "the device node was replaced"
	only null
	[ -z "$why" ] && devok=1
	case_end "get (CBC) to a character device (a private /dev/null): written in place"
else
	echo "ok $((n + 1)) - get to a private character device # SKIP mknod not permitted"
	n=$((n + 1))
fi

if [ "$(id -u)" = 0 ] && [ -z "$devok" ]; then
	fail "not tried as root: a private device node was not kept (case above)"
else
	get "$RE" /dev/null
	[ $rc -eq 0 ] || fail "exit $rc: $(head -c 200 "$W/err")"
	[ ! -s "$W/out" ] || fail "wrote to stdout"
	if [ ! -c /dev/null ]; then
		fail "/dev/null is no longer a character device"
		# Put the system's back, or every later command suffers.
		[ "$(id -u)" = 0 ] && rm -f /dev/null && mknod -m 666 /dev/null c 1 3
	fi
fi
case_end "get (GCM) to /dev/null: exit 0, /dev/null still the character device"

# ---- a FIFO: streamed into, after verification ------------------------------
for name in re_A_docsget rt_video_A; do
	fresh
	fifo_get "$(manifest "$name" sid)"
	[ $rc -eq 0 ] || fail "exit $rc: $(head -c 200 "$W/err")"
	[ "$(sha "$W/got")" = "$(manifest "$name" plain_sha256)" ] ||
	    fail "the reader got $(stat -c %s "$W/got") bytes, not the plaintext"
	only fifo
	case_end "get $name to a FIFO: the reader gets the plaintext, the FIFO kept"
done

fresh
fifo_get "$BAD"
[ $rc -eq 4 ] || fail "exit $rc, want 4"
grep -q 'authentication tag does not match' "$W/err" || fail "message: $(cat "$W/err")"
[ "$(wc -l <"$W/err")" -eq 1 ] || fail "stderr is not one line"
[ ! -s "$W/got" ] || fail "the reader got $(stat -c %s "$W/got") bytes"
only fifo
case_end "get re_B_tampered to a FIFO: exit 4, the reader gets 0 bytes"

# ---- a symlink: written through --------------------------------------------
for target in real new; do
	fresh
	mkdir -p "$W/t"
	rm -f "$W/t/real" "$W/t/new"
	[ "$target" = real ] && echo old >"$W/t/real"
	ln -s ../t/$target "$O/link"
	get "$RE" "$O/link"
	[ $rc -eq 0 ] || fail "exit $rc: $(head -c 200 "$W/err")"
	[ -L "$O/link" ] || fail "the link was replaced"
	[ "$(readlink "$O/link")" = "../t/$target" ] || fail "the link points elsewhere"
	[ "$(sha "$W/t/$target")" = "$(manifest re_A_docsget plain_sha256)" ] ||
	    fail "the link's target does not hold the plaintext"
	[ "$(stat -c %a "$W/t/$target" 2>/dev/null)" = 600 ] || fail "target not 0600"
	[ "$(ls -A "$W/t")" = "$target" ] || fail "left beside the target: $(ls -A "$W/t" | tr '\n' ' ')"
	only link
	what="to an existing file"
	[ "$target" = new ] && what="dangling"
	case_end "get to a symlink ($what): written through, link kept"
done

# ---- a directory: refused ---------------------------------------------------
fresh
get "$RE" "$O"
[ $rc -eq 1 ] || fail "exit $rc, want 1"
grep -q "^twiliofs: $O: is a directory" "$W/err" || fail "message: $(cat "$W/err")"
[ "$(wc -l <"$W/err")" -eq 1 ] || fail "stderr is not one line"
only
case_end "get to a directory: exit 1, one line naming it, nothing written"

echo "1..$n"
[ $fails -eq 0 ] || { echo "# $fails of $n failed; evidence in $W"; exit 1; }
exit 0
