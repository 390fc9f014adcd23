#!/bin/bash
# SPDX-License-Identifier: MIT
# test_mount.sh - `twiliofs mount` on a real FUSE mount of the test account
# (tests/env: a real nginx over TLS and the API mock), checked with real
# clients (cat, rsync, ffprobe, ffmpeg, getfattr, Python's os.pread)
# against the manifest's originals. The checks on the tree live in
# tests/integration/mount/mnt.py.
#
# Usage: TWILIOFS=/abs/twiliofs TFS_WORK=/abs/scratch bash test_mount.sh
#   TWILIOFS_FAST=/abs/twiliofs  an optimised build for the mount whose
#                                speed is measured (default: $TWILIOFS)
#   TFS_SEED=N                   the seed of the random reads (printed)
# Exits 0 (all passed), 1 (a case failed) or 77 (no FUSE here, or the
# test account cannot run: the reason is printed).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
TWILIOFS=${TWILIOFS:-$top/twiliofs}
TWILIOFS_FAST=${TWILIOFS_FAST:-$TWILIOFS}
W=${TFS_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/tfs-mount.XXXXXX")}
mkdir -p "$W"
W=$(cd "$W" && pwd)
E=$W/env
MNT=$W/mnt
DEST=$W/dest
PY=/usr/bin/python3
SEED=${TFS_SEED:-$(date +%s)}

# ---- what this test needs -------------------------------------------------
if [ ! -c /dev/fuse ]; then
	echo "SKIP: /dev/fuse is missing (no FUSE in this kernel or container;" \
	    "a container needs --device /dev/fuse --cap-add SYS_ADMIN)"
	exit 77
fi
if ! command -v fusermount3 >/dev/null 2>&1; then
	echo "SKIP: fusermount3 is missing (Debian package fuse3:" \
	    "sh scripts/install-deps.sh test)"
	exit 77
fi
for t in rsync getfattr ffprobe ffmpeg mountpoint curl; do
	command -v $t >/dev/null 2>&1 && continue
	echo "Bail out! $t is missing: sh scripts/install-deps.sh test"
	exit 1
done
if ! "$TWILIOFS" mount --help >"$W/help" 2>&1; then
	echo "Bail out! '$TWILIOFS mount' is not available: $(head -1 "$W/help")"
	exit 1
fi

is_mounted() {	# non-blocking, unlike stat on a hung FUSE mount
	awk -v m="$MNT" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo
}
# A mount left by an earlier run that was killed.
if is_mounted; then fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"; fi
[ -d "$DEST" ] && chmod -R u+w "$DEST"
rm -rf "${W:?}/cache" "${W:?}/cache3" "${W:?}/home" "${W:?}/dest" "${W:?}/mnt"
mkdir -p "$MNT"
touch "$W/start.stamp"

# shellcheck source=tests/integration/account_lib.sh
. "$here/account_lib.sh"
account_start

pids=''	# the twiliofs processes this test started (or found as its daemon)
# shellcheck disable=SC2317
cleanup() {
	if is_mounted; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
	fi
	for p in $pids; do
		# Only if it is still ours: its command line names our mount point.
		tr '\0' '\n' 2>/dev/null <"/proc/$p/cmdline" | grep -qxF -- "$MNT" &&
		    kill "$p" 2>/dev/null
	done
	bash "$top/tests/env/stop.sh" "$E" >/dev/null 2>&1
	[ -d "$DEST" ] && chmod -R u+w "$DEST"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
account_use
stats() {	# list+media+fetch+encrypted requests the mock has answered
	curl -sf --cacert "$TWILIOFS_CAFILE" "$TFS_CONTROL/stats" | $PY -c "
import json,sys; s=json.load(sys.stdin)
print(s['list']+s['media']+s['fetch']+s['encrypted'], s['media'])"
}
# mnt COMMAND ARGS...: a check of mount/mnt.py; its problems become the
# case's failure, its '# ' lines are printed.
mnt() {
	timeout -k 10 300 $PY "$here/mount/mnt.py" "$@" >"$W/mnt.out" 2>&1
	local rc=$?
	grep '^# ' "$W/mnt.out"
	[ $rc -eq 0 ] || fail "$(grep -v '^# ' "$W/mnt.out" | head -12 | tr '\n' '|')"
	return $rc
}
field() {	# NAME FIELD [PART]: one manifest field
	$PY -c "
import json,sys
for e in json.load(open('$TFS_MANIFEST')):
    if e['name'] == sys.argv[1] and e['part'] == int(sys.argv[3]):
        print(e[sys.argv[2]]); break" "$1" "$2" "${3:-0}"
}
path() { echo "$MNT/$($PY "$here/mount/mnt.py" path "$@")"; }

mpid='' mlog=''
wait_mounted() {	# up to 180 s (a first mount syncs first)
	local i
	for i in $(seq 1800); do
		is_mounted && return 0
		if [ -n "$mpid" ] && ! kill -0 "$mpid" 2>/dev/null; then
			fail "twiliofs exited before mounting: $(tail -3 "$mlog" | tr '\n' '|')"
			return 1
		fi
		sleep 0.1
	done
	fail "not mounted after 180 s"
	return 1
}
mount_fg() {	# LOG ARGS...: twiliofs mount -f ARGS MNT, in the background
	mlog=$1
	shift
	"$TWILIOFS" mount -f "$@" "$MNT" >"$mlog" 2>&1 &
	mpid=$!
	pids="$pids $mpid"
	wait_mounted
}
unmount() {	# fusermount3 -u; the process exits (status 0 if our child)
	local i=0 st
	fusermount3 -u "$MNT" 2>"$W/umount.err" ||
	    fail "fusermount3 -u: $(cat "$W/umount.err")"
	while kill -0 "$mpid" 2>/dev/null && [ $i -lt 200 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$mpid" 2>/dev/null; then
		fail "twiliofs (pid $mpid) still running 20 s after fusermount3 -u"
		kill "$mpid"
	elif [ "${1:-child}" = child ]; then
		wait "$mpid"
		st=$?
		[ $st -eq 0 ] || fail "twiliofs exited with $st: $(tail -2 "$mlog" | tr '\n' '|')"
	fi
	if is_mounted; then
		fail "still mounted"
		fusermount3 -uz "$MNT" 2>/dev/null
	fi
	mpid=''
}
elapsed() { $PY -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$@"; }
now() { date +%s.%N; }

echo "# seed $SEED; evidence in $W"
big=$($PY -c "
import json
c=[e for e in json.load(open('$TFS_MANIFEST')) if e['listed'] and e['expect']=='ok' and e['scheme']=='cbc']
print(max(c, key=lambda e: e['plain_size'])['name'])")
big_sid=$(field "$big" sid)
big_size=$(field "$big" plain_size)

# ==== 1. the first mount: a never-synced catalog, 1 s links ==================
# Links live 1 s from here until the mid-read check is done, so that one
# is really read across an expiry.
control ttl '{"max":1}'
mount_fg "$W/mount1.log" --cache-dir "$W/cache" --page-size 2
[ -f "$W/cache/catalog.sqlite" ] || fail "no catalog in the cache dir"
case_end "mount -f on a never-synced catalog: syncs, then mounts"
is_mounted || { echo "Bail out! nothing mounted; log: $mlog"; exit 1; }

# Checked at once: the tree is complete when the mount appears.
mnt tree "$MNT" 400 500
case_end "tree: every completed item at its path, exact st_size, st_mtime = date_created, 0400/0500, owner; rooms symlinks relative and resolving"

# One 64 KiB read in the middle of the largest CBC file, on a fresh mount
# with a fresh cache: nginx sends about 64 KiB, not the file.
off=$((big_size / 2 / 4096 * 4096))
mark=$(stat -c %s "$TFS_NGINX_ACCESS_LOG")
mnt read "$(path "$big")" "$big" $off 65536
sleep 1	# any read-ahead finishes, nginx writes its log lines
mnt nginx-bytes "$TFS_NGINX_ACCESS_LOG" "$mark" "$big_sid" 262144
case_end "64 KiB read at $off of $big ($big_size bytes, CBC): right bytes, nginx sent < 256 KiB"

read -r net media < <(stats)
media0=$media
mark=$(stat -c %s "$TFS_NGINX_ACCESS_LOG")
mnt ttlread "$(path "$big")" "$big" 262144 2
read -r net media < <(stats)
echo "# during the read: $((media - media0)) /Media resolves, $(tail -c +$((mark + 1)) "$TFS_NGINX_ACCESS_LOG" | grep "$big_sid" | grep -c '" 403 ') expired links used (403)"
control ttl '{"max":null}'
case_end "1 s link lifetime: read 256 KiB, sleep 2 s, read the rest: right bytes"

mnt hidden "$MNT"
case_end "processing and failed items are not shown"

t=$(path rt_video_D_cbc128)
link=$MNT/video/rooms/$(field rt_video_D_cbc128 room_sid)/$(basename "$t")
[ -L "$link" ] || fail "$link is not a symlink"
[ "$(sha256sum <"$link" | cut -d' ' -f1)" = "$(field rt_video_D_cbc128 plain_sha256)" ] ||
    fail "reading through $link: wrong bytes"
case_end "reading through a rooms symlink gives the recording"

mnt inodes "$MNT" "$W/inodes1.json"
case_end "st_ino distinct for every entry"

mnt sha "$MNT"
case_end "SHA-256 of every file equals the original's"

mnt pread "$MNT" 100 "$SEED"
case_end "100 random preads per file equal the originals' slices"

mnt parallel "$MNT" "$SEED"
case_end "8 threads reading one shared descriptor and other files at once"

# ---- real clients: ffprobe, ffmpeg -ss ---------------------------------------
media=$($PY -c "
import json
for e in json.load(open('$TFS_MANIFEST')):
    if e['listed'] and e['expect'] == 'ok' and e['container'] != 'json':
        print(e['name'], e['container'], e['plain'])")
while read -r name cont orig; do
	f=$(path "$name")
	a=$(timeout 120 ffprobe -v error -show_entries format=duration -of default=nw=1:nk=1 "$f" 2>&1)
	b=$(ffprobe -v error -show_entries format=duration -of default=nw=1:nk=1 "$orig" 2>&1)
	case $a in ''|N/A|*[!0-9.]*) fail "$name: ffprobe says '$a'" ;; esac
	[ "$a" = "$b" ] || fail "$name: duration '$a', original '$b'"
done <<<"$media"
case_end "ffprobe reads every media file's duration (= the original's)"

while read -r name cont orig; do
	case $cont in mkv|mp4|webm) ;; *) continue ;; esac
	f=$(path "$name")
	mid=$(ffprobe -v error -show_entries format=duration -of default=nw=1:nk=1 "$orig" |
	    awk '{ printf "%.3f", $1 / 2 }')
	timeout 120 ffmpeg -nostdin -v error -ss "$mid" -i "$f" -frames:v 5 -f framemd5 - \
	    >"$W/fm.mount" 2>"$W/fm.err" || fail "$name: ffmpeg: $(head -2 "$W/fm.err")"
	ffmpeg -nostdin -v error -ss "$mid" -i "$orig" -frames:v 5 -f framemd5 - \
	    >"$W/fm.orig" 2>/dev/null
	[ "$(grep -vc '^#' "$W/fm.orig")" -ge 5 ] || fail "$name: original gives < 5 frames"
	cmp -s "$W/fm.mount" "$W/fm.orig" || fail "$name: framemd5 at $mid s differs"
	echo "# $name: ffmpeg -ss $mid: $(grep -vc '^#' "$W/fm.mount") packets, same md5s"
done <<<"$media"
case_end "ffmpeg -ss <middle> -frames:v 5 -f framemd5: same as on the original"

# ---- rsync -a twice ------------------------------------------------------------
# Items that cannot be read (tampered, no key) are left out: rsync would
# (rightly) exit 23 on them.
excl=()
for s in $($PY -c "
import json
for e in json.load(open('$TFS_MANIFEST')):
    if e['listed'] and e['expect'] in ('tampered', 'nokey'): print(e['sid'])"); do
	excl+=("--exclude=$s.*")
done
timeout 300 rsync -a --stats "${excl[@]}" "$MNT/" "$DEST/" >"$W/rsync1.out" 2>&1 ||
    fail "rsync exit $?: $(grep -v '^$' "$W/rsync1.out" | head -3 | tr '\n' '|')"
mnt sha "$DEST"
echo "# first rsync: $(grep 'regular files transferred' "$W/rsync1.out")"
case_end "rsync -a MNT/ DEST/: every file copied, right bytes"

timeout 300 rsync -a --itemize-changes --stats "${excl[@]}" "$MNT/" "$DEST/" >"$W/rsync2.out" 2>&1 ||
    fail "rsync exit $?: $(head -3 "$W/rsync2.out" | tr '\n' '|')"
grep -q '^Number of regular files transferred: 0$' "$W/rsync2.out" ||
    fail "$(grep 'regular files transferred' "$W/rsync2.out"): $(grep '^[<>ch]f' "$W/rsync2.out" | head -5 | tr '\n' '|')"
grep -q '^[<>]f' "$W/rsync2.out" && fail "itemized transfers: $(grep '^[<>]f' "$W/rsync2.out" | head -5 | tr '\n' '|')"
other=$(grep -E '^[.ch][dfLDS]' "$W/rsync2.out" | head -5 | tr '\n' '|')
[ -n "$other" ] && echo "# second rsync still itemized (no transfer): $other"
case_end "rsync -a again: transfers no file"

# ---- xattrs ----------------------------------------------------------------------
mnt xattrs "$MNT"
sid=$(field re_A_docsget sid)
got=$(getfattr --absolute-names --only-values -n user.twilio.sid "$(path re_A_docsget)" 2>&1)
[ "$got" = "$sid" ] || fail "getfattr -n user.twilio.sid: '$got'"
case_end "getfattr shows the SIDs, kind, room SID, encryption, public key SID"

# ---- failures: tampered GCM, unknown key ----------------------------------------------
mnt fails "$(path re_B_tampered)" EIO any
case_end "tampered GCM recording: EIO (twice), not one byte"

mnt status "$MNT" re_B_tampered
case_end "status.json: valid JSON, version, last sync, counts; an integrity failure naming the SID"

mnt status-size "$MNT"
case_end "status.json: st_size equals what a read returns, also right after it changed"

mnt fails "$(path re_X_nokey)" EACCES open
mnt fails "$(path rt_video_X_nokey)" EACCES open
ksid=$(field re_X_nokey public_key_sid)
grep -qi "$ksid" "$mlog" || fail "no log line names the key SID $ksid"
case_end "no key for it (GCM and CBC): open fails with EACCES, no byte; the log names the key SID"

mnt erofs "$MNT" rt_audio_E
case_end "writes, creates, renames, chmod, setxattr... fail with EROFS"

mnt enoent "$MNT"
case_end "unknown paths: ENOENT"

# Plaintext in whatever the daemon holds open (deleted temporary files too).
fds=()
for fd in /proc/"$mpid"/fd/*; do
	[ -f "$fd" ] && fds+=(--file "$fd")
done
mnt scan "$W/start.stamp" "${fds[@]}"
case_end "no plaintext in the files twiliofs holds open (${#fds[@]} of them)"

unmount
case_end "fusermount3 -u: unmounted, the process exits 0"

# ==== 2. remount offline (and allow_other, where the user may) ====================
fmode=400 dmode=500 ao=''
if [ "$(id -u)" -eq 0 ] || grep -q '^[[:space:]]*user_allow_other' /etc/fuse.conf 2>/dev/null; then
	fmode=444 dmode=555 ao=,allow_other
fi
read -r net0 media < <(stats)
log0=$(stat -c %s "$TFS_NGINX_ACCESS_LOG")
mount_fg "$W/mount2.log" --cache-dir "$W/cache" -o "offline$ao"
mnt tree "$MNT" $fmode $dmode
case_end "offline${ao} remount lists everything (modes 0$fmode/0$dmode)"

mnt inodes "$MNT" "$W/inodes2.json" "$W/inodes1.json"
case_end "inodes equal across a remount"

gcm=$($PY -c "
import json
print(' '.join(sorted({e['name'] for e in json.load(open('$TFS_MANIFEST'))
    if e['listed'] and e['expect'] == 'ok' and e['scheme'] == 'gcm'})))")
# shellcheck disable=SC2086
mnt sha "$MNT" $gcm
case_end "offline: verified GCM items read from the cache, right bytes"

mnt fails "$(path cj_webm_A)" EIO any
case_end "offline: a CBC item (never cached) fails with EIO, no byte"

read -r net media < <(stats)
[ "$net" -eq "$net0" ] || fail "$((net - net0)) API requests while offline"
[ "$(stat -c %s "$TFS_NGINX_ACCESS_LOG")" -eq "$log0" ] || fail "nginx was asked while offline"
unmount
case_end "offline: no request to the API or nginx; unmounts cleanly"

# ==== 3. the mount.fuse3 / fstab form, as a daemon ===========================================
# Everything in -o, nothing from TWILIOFS_* (credentials stay in the
# environment). Links live 1 s, so the network check below cannot be
# served from a link the sync resolved.
control ttl '{"max":1}'
opts="cache_dir=$W/cache3,endpoint=$TWILIOFS_ENDPOINT,cafile=$TWILIOFS_CAFILE"
opts="$opts,keys=$TWILIOFS_KEYS,key_passphrase_file=$TWILIOFS_KEY_PASSPHRASE_FILE,refresh=0"
(
	unset TWILIOFS_ENDPOINT TWILIOFS_CAFILE TWILIOFS_KEYS TWILIOFS_KEY_PASSPHRASE_FILE
	exec timeout 300 "$TWILIOFS_FAST" "$TWILIO_ACCOUNT_SID" "$MNT" -o "$opts"
) >"$W/mount3.log" 2>&1
st=$?
[ $st -eq 0 ] || fail "exit $st: $(tail -2 "$W/mount3.log" | tr '\n' '|')"
mlog=$W/mount3.log mpid=''
wait_mounted
for p in /proc/[0-9]*; do
	[ "${p#/proc/}" = $$ ] && continue
	tr '\0' '\n' 2>/dev/null <"$p/cmdline" | grep -qxF -- "$MNT" || continue
	tr '\0' '\n' 2>/dev/null <"$p/cmdline" | grep -qxF -- "$TWILIO_ACCOUNT_SID" || continue
	mpid=${p#/proc/}
done
[ -n "$mpid" ] || fail "no twiliofs daemon serving $MNT"
pids="$pids $mpid"
is_mounted && mnt tree "$MNT" 400 500
case_end "twiliofs ACCOUNT MNT -o cache_dir=...,keys=...: daemonizes, mounts the whole tree"

if is_mounted; then
	sleep 2	# every link resolved so far has expired
	f=$(path cj_webm_A)
	control fault '{"status":500,"count":400,"class":"media"}'
	t0=$(now)
	mnt fails "$f" EIO any
	t1=$(now)
	ls -lR "$MNT" >"$W/ls.out" 2>&1 || fail "ls -lR failed while the network is down"
	grep -q "$(field rt_audio_E sid)" "$W/ls.out" || fail "ls -lR lists nothing"
	control fault '{"clear":true}'
	mnt sha "$MNT" cj_webm_A
	echo "# EIO after $(elapsed "$t0" "$t1") s of retries"
else
	fail "not mounted"
fi
control ttl '{"max":null}'
case_end "server down (500s on /Media): EIO; listing still works; reads work again after"

# Measured, not asserted: a cold cat through the mount against curl of
# the same ciphertext from the same nginx.
if is_mounted; then
	f=$(path "$big")
	t0=$(now)
	# shellcheck disable=SC2002 # cat is the client measured
	got=$(cat "$f" | sha256sum | cut -d' ' -f1)
	t1=$(now)
	[ "$got" = "$(field "$big" plain_sha256)" ] || fail "cat: wrong bytes"
	url=$(curl -s --cacert "$TWILIOFS_CAFILE" -u "$TWILIO_API_KEY:$TWILIO_API_SECRET" \
	    "$TWILIOFS_ENDPOINT/video/v1/Recordings/$big_sid/Media" |
	    $PY -c "import json,sys; print(json.load(sys.stdin)['redirect_to'])")
	t2=$(now)
	curl -sf --cacert "$TWILIOFS_CAFILE" -o /dev/null "$url" || fail "curl of the ciphertext failed"
	t3=$(now)
	a=$(elapsed "$t0" "$t1") b=$(elapsed "$t2" "$t3")
	echo "# timing: $big ($big_size bytes, CBC), $(basename "$TWILIOFS_FAST"):" \
	    "cold cat through the mount ${a} s ($($PY -c "print('%.1f' % ($big_size / 1e6 / max($a, 1e-6)))") MB/s)," \
	    "curl of the ciphertext ${b} s ($($PY -c "print('%.1f' % ($big_size / 1e6 / max($b, 1e-6)))") MB/s)"
else
	fail "not mounted"
fi
case_end "cold cat of $big through the mount: right bytes (time printed)"

unmount daemon
case_end "fusermount3 -u: the daemon exits, nothing left mounted"

# ==== 4. no plaintext on disk ===================================================
mnt scan "$W/start.stamp" --expect-hit "$DEST"
case_end "plaintext scan finds the rsync copy (positive control)"

mnt scan "$W/start.stamp" "$W/cache" "$W/cache3" "$XDG_CACHE_HOME"
case_end "no plaintext under the cache dirs and \$XDG_CACHE_HOME"

# Shared places: directories called env-cache are tests/env's build
# caches (of this or another checkout), which hold the originals; files
# named like mounted ones are clients' copies (another test's rsync).
mnt scan "$W/start.stamp" --exclude "$DEST" --exclude "$MNT" \
    --exclude "$TFS_ENV_CACHE" --skip-name env-cache --ignore-copies \
    "${TMPDIR:-/tmp}" /tmp /var/tmp /dev/shm
case_end "no plaintext written under /tmp, /var/tmp, /dev/shm during the test"

echo "1..$n"
[ $fails -eq 0 ] || { echo "# $fails of $n failed; evidence in $W"; exit 1; }
exit 0
