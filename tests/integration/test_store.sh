#!/bin/bash
# SPDX-License-Identifier: MIT
# test_store.sh - safe against a broken media store (issue 9 §7). CBC has
# no MAC: a wrong range decrypts to wrong bytes with no error, so the
# mount must check what the store sends. A misbehaving store of our own
# (tests/env/badstore.py) serves the test account's objects; the mock's
# shape "media_origin" points chosen items' signed URLs at it; its
# control file picks a misbehaviour per object (tests/env/README.md).
# One case (or more) per row of the issue's table:
#   a 206 whose Content-Range is not the range asked      -> EIO
#   media that changes and has no ETag                    -> no mixing
#   headers, then a stall; 9 readers                      -> others go on,
#       EIO in bounded time (-o read_timeout), interruptible
#   a length header of 2^63-1, or one the ciphertext denies -> integrity
#       failure at sync, no 8 EiB file, no crash
#   every open of a CBC file                              -> one signed URL
# Decrypted bytes are compared in memory (Python) with the manifest's
# originals, never written under $W.
#
# Usage: TWILIOFS=/abs/twiliofs TFS_WORK=/abs/scratch bash test_store.sh
# Exits 0 (all passed), 1 (a case failed) or 77 (cannot run here).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
TWILIOFS=${TWILIOFS:-$top/twiliofs}
# shellcheck source=tests/integration/account_lib.sh
. "$here/account_lib.sh"
scratch_dir store
S=$W/store	# the bad store's state: pid, port, control.json, requests.log
PY=/usr/bin/python3

fuse_needed

daemon_pid() {	# the twiliofs whose command line names $MNT (ours), or ''
	local p
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = $$ ] && continue
		tr '\0' '\n' 2>/dev/null <"$p/cmdline" | grep -qxF -- "$MNT" &&
		    { echo "${p#/proc/}"; return; }
	done
}
store_set() {	# JSON: the whole control file of the bad store
	printf '%s\n' "$1" >"$S/control.json.tmp" &&
	    mv "$S/control.json.tmp" "$S/control.json"
}
bpid=''
cleanup() {
	local p
	[ -d "$S" ] && store_set '{}'	# ends every stall: readers return
	if is_mounted; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
	fi
	p=$(daemon_pid)	# a daemon still there is ours: it names $MNT
	[ -n "$p" ] && kill "$p" 2>/dev/null
	if [ -n "$bpid" ] && tr '\0' '\n' 2>/dev/null <"/proc/$bpid/cmdline" |
	    grep -qxF -- "$S"; then
		kill "$bpid" 2>/dev/null
	fi
	bash "$top/tests/env/stop.sh" "$E" >/dev/null 2>&1
	[ -z "$own" ] || rm -rf "$own"
}

trap cleanup EXIT
trap 'exit 1' INT TERM HUP
account_start
account_use
is_mounted && fusermount3 -uz "$MNT"	# left by a run that was killed
rm -rf "${W:?}/mnt" "${W:?}/store" "${W:?}"/cache-*
mkdir -p "$MNT" "$S"

# ---- the bad store ------------------------------------------------------
store_set '{}'
$PY -u "$top/tests/env/badstore.py" "$E" "$S" </dev/null \
    >"$W/badstore.log" 2>&1 &
bpid=$!
echo "$bpid" >"$S/badstore.pid"
for _ in $(seq 200); do
	[ -s "$S/port" ] && (exec 3<>"/dev/tcp/127.0.0.1/$(cat "$S/port")") \
	    2>/dev/null && break
	kill -0 "$bpid" 2>/dev/null || break
	sleep 0.05
done
[ -s "$S/port" ] || { echo "Bail out! badstore.py did not start:" \
    "$(tail -3 "$W/badstore.log")"; exit 1; }
BAD=https://127.0.0.1:$(cat "$S/port")

# ---- helpers ----------------------------------------------------------------
oneline() {	# FILE: its last 300 bytes on one line
	tail -c 300 "$1" | tr '\n' '|'
}
tfs() {	# ARGS... -> rc, $W/out, $W/err
	timeout 300 "$TWILIOFS" "$@" >"$W/out" 2>"$W/err"
	rc=$?
}
man() {	# NAME FIELD: from the manifest (part 0)
	$PY -c 'import json,sys
for e in json.load(open(sys.argv[1])):
    if e["name"] == sys.argv[2] and e["part"] == 0: print(e[sys.argv[3]]); break' \
	    "$TFS_MANIFEST" "$1" "$2"
}
q() {	# SQL: one value from $CACHE's catalog (Python's sqlite3, not ours)
	$PY -c 'import sqlite3,sys
r = sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()
print("" if r is None or r[0] is None else r[0])' "$CACHE/catalog.sqlite" "$1"
}
requests() {	# PYTHON-CONDITION on r (a request the mock logged): how many
	curl -sf --cacert "$TWILIOFS_CAFILE" "$TFS_CONTROL/stats" |
	    $PY -c 'import json,sys
rs = json.load(sys.stdin)["requests"]
print(sum(1 for r in rs if eval(sys.argv[1])))' "$1"
}
served() {	# PYTHON-CONDITION on r (a line of the bad store's log): how many
	$PY -c 'import json,sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    n += bool(eval(sys.argv[2]))
print(n)' "$S/requests.log" "$1" 2>/dev/null || echo 0
}
sync_() {	# CACHE-NAME: a fresh catalog, synced
	CACHE=$W/cache-$1
	rm -rf "$CACHE"
	tfs sync --cache-dir "$CACHE"
}
mounted=0 mounts=0
mount_() {	# OPTIONS: a daemon mount of $CACHE on $MNT; its log: $mlog
	mounted=0 mounts=$((mounts + 1))
	mlog=$W/mount-$mounts.log
	timeout 120 "$TWILIOFS" mount --cache-dir "$CACHE" \
	    -o "$1,log_file=$mlog" "$MNT" >"$W/mount.out" 2>"$W/mount.err"
	rc=$?
	if [ $rc -ne 0 ] || ! is_mounted; then
		fail "mount -o $1: exit $rc: $(oneline "$W/mount.err")"
		return 1
	fi
	mounted=1
}
unmount() {	# and the daemon is gone within 20 s
	local p
	[ $mounted = 1 ] || return 0
	p=$(daemon_pid)
	fusermount3 -u "$MNT" 2>"$W/umount.err" || {
		fail "fusermount3 -u: $(cat "$W/umount.err")"
		fusermount3 -uz "$MNT" 2>/dev/null
	}
	for _ in $(seq 200); do
		if [ -z "$p" ] || ! kill -0 "$p" 2>/dev/null; then break; fi
		sleep 0.1
	done
	if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
		fail "twiliofs (pid $p) still running 20 s after fusermount3 -u"
		kill "$p" 2>/dev/null
	fi
	mounted=0
}
file_of() {	# SID: its path in the mount
	find "$MNT/video" "$MNT/voice" -name "$1.*" -type f 2>/dev/null | head -1
}
now() { date +%s.%N; }
elapsed() { $PY -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$@"; }
# rd COMMAND ARGS...: a read check (the Python below) on the mount; its
# "problem:" lines become the case's failure, its "# " lines are printed.
rd() {
	timeout -k 5 120 $PY -c "$READPY" "$@" >"$W/rd.out" 2>&1
	rd_report $? "$1"
}
rd_report() {	# STATUS COMMAND [PATTERN]: the problems (matching PATTERN)
	grep '^# ' "$W/rd.out"
	grep '^problem: ' "$W/rd.out" | grep -q -- "${3:-}" &&
	    fail "$(sed -n 's/^problem: //p' "$W/rd.out" | grep -- "${3:-}" |
	    head -8 | tr '\n' '|')"
	[ "$1" -eq 0 ] || [ "$1" -eq 3 ] ||
	    fail "rd $2: exit $1: $(grep -v '^# ' "$W/rd.out" | tail -3 | tr '\n' '|')"
}
READPY='
import errno, json, os, sys, threading, time

def problem(msg):
    global bad
    bad = True
    print("problem: " + msg)

def plain(name):
    with open(name, "rb") as f:
        return f.read()

def pread(path, off, n):
    """(bytes, None) or (None, errno name), with its own open."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        return None, errno.errorcode.get(e.errno, str(e.errno))
    try:
        return os.pread(fd, n, off), None
    except OSError as e:
        return None, errno.errorcode.get(e.errno, str(e.errno))
    finally:
        os.close(fd)

def judge(what, got, err, want_plain, off, allow_eio=True):
    """A read must give the original bytes or EIO; say what else came."""
    if err is not None:
        if err != "EIO" or not allow_eio:
            problem("%s: %s, want EIO" % (what, err))
        return err
    if got == want_plain[off:off + len(got)] and got:
        return "original bytes"
    for d in (-16, 16):
        if off + d >= 0 and got == want_plain[off + d:off + d + len(got)]:
            problem("%s: %d bytes served, the original plaintext at %+d "
                    "(wrong bytes, no error)" % (what, len(got), d))
            return "shifted"
    problem("%s: %d bytes served that are not the original (no error)" % (
        what, len(got)))
    return "wrong"

bad = False
cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "eio":            # FILE PLAIN OFF LEN: that read must fail EIO
    f, p, off, n = args[0], plain(args[1]), int(args[2]), int(args[3])
    got, err = pread(f, off, n)
    out = judge("read of %d at %d" % (n, off), got, err, p, off)
    if err is None and out == "original bytes":
        problem("read of %d at %d: the original bytes, want EIO (the store "
                "cannot have sent them)" % (n, off))
    print("# read of %d bytes at %d: %s" % (n, off, out))
elif cmd == "mix":          # FILE PLAIN CONTROL JSON-AFTER: no mixing in one open
    f, p, ctl, after = args[0], plain(args[1]), args[2], args[3]
    fd = os.open(f, os.O_RDONLY)
    try:
        first, err = os.pread(fd, 65536, 0), None
    except OSError as e:
        first, err = None, errno.errorcode.get(e.errno, str(e.errno))
    if first != p[:65536]:
        problem("the first 64 KiB, before the change: %s, want the original"
                % (err or "other bytes"))
    with open(ctl + ".tmp", "w") as c:
        c.write(after + "\n")
    os.rename(ctl + ".tmp", ctl)
    for off in (1 << 20, 2 << 20):
        try:
            got, err = os.pread(fd, 65536, off), None
        except OSError as e:
            got, err = None, errno.errorcode.get(e.errno, str(e.errno))
        print("# after the change, 64 KiB at %d in the same open: %s" % (
            off, judge("read at %d after the change" % off, got, err, p, off)))
    os.close(fd)
elif cmd == "scan":         # FILE PLAIN: the whole file, 64 KiB at a time
    f, p = args[0], plain(args[1])
    seen = {}
    for off in range(0, len(p), 65536):
        got, err = pread(f, off, 65536)
        r = judge("read at %d" % off, got, err, p, off)
        seen[r] = seen.get(r, 0) + 1
    print("# %d reads of 64 KiB: %s" % (sum(seen.values()), seen))
elif cmd == "reopen":       # FILE PLAIN N: open, read all, close; N times
    f, p, n = args[0], plain(args[1]), int(args[2])
    for i in range(n):
        data = b""
        try:
            fd = os.open(f, os.O_RDONLY)
            try:
                while True:
                    b = os.read(fd, 1 << 20)
                    if not b:
                        break
                    data += b
                # drop its pages: the next open reaches twiliofs again
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
        except OSError as e:
            problem("open %d of %d: %s" % (i + 1, n, errno.errorcode.get(
                e.errno, str(e.errno))))
            break
        if data != p:
            problem("open %d of %d: not the original bytes" % (i + 1, n))
            break
elif cmd == "stall":        # FILE PLAIN N STEP HEALTHY HEALTHY-PLAIN LOG
    f, p, n, step = args[0], plain(args[1]), int(args[2]), int(args[3])
    hf, hp, log = args[4], plain(args[5]), args[6]
    res = {}
    t0 = time.time()
    def reader(k):
        got, err = pread(f, k * step, 4096)
        res[k] = (time.time() - t0, got, err)
    for k in range(n):
        threading.Thread(target=reader, args=(k,), daemon=True).start()
    def stalls():
        try:
            return sum(1 for l in open(log) if json.loads(l).get("stalled"))
        except OSError:
            return 0
    while stalls() == 0 and len(res) < n and time.time() - t0 < 10:
        time.sleep(0.05)
    s1 = stalls()
    t1 = time.time()    # give the other readers up to 1 s to stall too
    while stalls() < n and len(res) < n and time.time() - t1 < 1:
        time.sleep(0.05)
    print("# %d readers of the stalled object; %d requests stalled at the "
          "store before the healthy read (%d after 0 s)" % (n, stalls(), s1))
    if s1 == 0:
        problem("no read reached the store (none stalled in 10 s); "
                "%d readers returned" % len(res))
    h = {}
    def healthy():
        t = time.time()
        try:
            with open(hf, "rb") as fh:
                data = fh.read()
            h["ok"] = data == hp
        except OSError as e:
            h["err"] = errno.errorcode.get(e.errno, str(e.errno))
        h["s"] = time.time() - t
    th = threading.Thread(target=healthy, daemon=True)
    th.start()
    th.join(15)
    if "s" not in h:
        problem("a healthy file (another object) not read 15 s into the stall")
    elif h.get("err") or not h.get("ok"):
        problem("the healthy file: %s" % (h.get("err") or "wrong bytes"))
    elif h["s"] >= 5:
        problem("the healthy file took %.1f s during the stall, want < 5 s" %
                h["s"])
    else:
        print("# the healthy file (%d bytes) read whole in %.2f s during the "
              "stall" % (len(hp), h["s"]))
    while len(res) < n and time.time() - t0 < 20:
        time.sleep(0.1)
    late = [k for k in range(n) if k not in res]
    if late:
        problem("%d of %d stalled reads still blocked 20 s after they began" %
                (len(late), n))
    for k, (t, got, err) in sorted(res.items()):
        r = judge("stalled read %d" % k, got, err, p, k * step)
        if r == "original bytes":
            problem("stalled read %d: the original bytes from a store that "
                    "sent none" % k)
    ts = sorted(t for t, _, _ in res.values())
    if ts:
        print("# stalled reads returned after %.1f..%.1f s: %s" % (
            ts[0], ts[-1], sorted(set(e or "data" for _, _, e in
                                      res.values()))))
    print("done")     # threads may stay blocked: the shell ends the stall
    sys.stdout.flush()
    os._exit(3 if bad else 0)
sys.exit(3 if bad else 0)
'

RT_A=$(man rt_video_A sid)	# 2.3 MB: room for reads well away from its end
RT_D=$(man rt_video_D_cbc128 sid)
RT_E=$(man rt_audio_E sid)
RT_C=$(man rt_audio_C_nolen sid)
CJ_B=$(man cj_mp4_B sid)
CJ_W=$(man cj_webm_A sid)
RE_A=$(man re_A_docsget sid)
O_A=$(man rt_video_A object)
O_D=$(man rt_video_D_cbc128 object)
O_E=$(man rt_audio_E object)
O_B=$(man cj_mp4_B object)
O_W=$(man cj_webm_A object)
O_R=$(man re_A_docsget object)
P_A=$(man rt_video_A plain)
P_D=$(man rt_video_D_cbc128 plain)
P_C=$(man rt_audio_C_nolen plain)
to_bad() {	# SID...: their media from the bad store
	local s j=''
	for s in "$@"; do j="$j${j:+,}\"$s\":\"$BAD\""; done
	control shape "{\"media_origin\":{$j}}"
}
echo "# bad store $BAD; evidence in $W"

# ==== a catalog made through a store that behaves =============================
to_bad "$RT_A" "$RT_D" "$CJ_B" "$RE_A"
store_set '{}'
sync_ good
[ $rc -eq 0 ] || fail "sync: exit $rc: $(oneline "$W/err")"
[ "$(q "SELECT count(*) FROM items WHERE sid IN ('$RT_A','$RT_D','$CJ_B','$RE_A') AND media_known = 1")" = 4 ] ||
	fail "the bad store's items not probed"
[ "$(served "r['uri'] == '$O_A' and r['status'] == 206")" -gt 0 ] ||
	fail "the probe never reached the bad store (media_origin not followed?)"
case_end "sync with items on the bad store (behaving): exit 0, probed there"

# ==== 1. a 206 whose Content-Range is not the range asked =====================
store_set "{\"$O_A\":\"wrong_range\",\"$O_B\":\"wrong_total\"}"
if mount_ refresh=0,read_timeout=3; then
	rd eio "$(file_of "$RT_A")" "$P_A" 1048576 65536
	[ "$(served "r['uri'] == '$O_A' and r['mode'] == 'wrong_range' and r['status'] == 206")" -gt 0 ] ||
		fail "no shifted 206 was served (the read never reached the bad store)"
fi
case_end "a 206 for the range 16 bytes before the one asked (Content-Range says so): EIO, never those bytes"

if [ $mounted = 1 ]; then
	rd eio "$(file_of "$CJ_B")" "$(man cj_mp4_B plain)" 65536 4096
	[ "$(served "r['uri'] == '$O_B' and r['mode'] == 'wrong_total'")" -gt 0 ] ||
		fail "no wrong /total was served"
else
	fail "not mounted"
fi
case_end "a 206 with the right bytes but another /total in Content-Range: EIO"

# A transforming proxy's 203 with all of the object: never taken for the
# range asked (CBC has no MAC: those bytes would decrypt to garbage).
if [ $mounted = 1 ]; then
	store_set "{\"$O_D\":\"status_203\"}"
	rd eio "$(file_of "$RT_D")" "$P_D" 65536 4096
	[ "$(served "r['uri'] == '$O_D' and r['status'] == 203")" -gt 0 ] ||
		fail "no 203 was served (the read never reached the bad store)"
else
	fail "not mounted"
fi
case_end "a 203 with the whole object to a ranged GET: EIO, never those bytes"

# ==== 5. every open of a CBC file: one signed URL, reused =====================
# rt_audio_C_nolen is on nginx; its pages are dropped after every read so
# that each open reaches twiliofs.
if [ $mounted = 1 ]; then
	m0=$(requests "'$RT_C/Media' in r['path']")
	o0=$(grep -c "$(man rt_audio_C_nolen object)" "$TFS_NGINX_ACCESS_LOG")
	rd reopen "$(file_of "$RT_C")" "$P_C" 20
	m1=$(requests "'$RT_C/Media' in r['path']")
	o1=$(grep -c "$(man rt_audio_C_nolen object)" "$TFS_NGINX_ACCESS_LOG")
	echo "# 20 opens: $((m1 - m0)) /Media calls, $((o1 - o0)) requests to the store"
	[ $((m1 - m0)) -le 2 ] ||
		fail "$((m1 - m0)) /Media calls for 20 opens of one file, want <= 2"
else
	fail "not mounted"
fi
case_end "the same CBC file opened and read 20 times: at most 2 /Media calls (one signed URL, reused)"
unmount

# ==== 3. headers, then a stall ==============================================
# 9 readers of rt_video_A (256 KiB apart, so 9 requests at least today)
# while a healthy file on the same store is read whole.
store_set "{\"$O_A\":\"stall\"}"
if mount_ refresh=0,read_timeout=3; then
	timeout -k 5 120 $PY -c "$READPY" stall "$(file_of "$RT_A")" "$P_A" 9 \
	    262144 "$(file_of "$RT_D")" "$P_D" "$S/requests.log" \
	    >"$W/rd.out" 2>&1 &
	rpid=$!
	for _ in $(seq 600); do
		if ! kill -0 $rpid 2>/dev/null || grep -q '^done' "$W/rd.out"
		then break; fi
		sleep 0.1
	done
	store_set '{}'	# the stall ends: whatever is still blocked returns
	for _ in $(seq 300); do kill -0 $rpid 2>/dev/null || break; sleep 0.1; done
	kill -0 $rpid 2>/dev/null && { fail "the readers did not return"; kill $rpid; }
	wait $rpid
	st=$?
	grep -q '^done' "$W/rd.out" || fail "the readers' check did not finish"
	rd_report $st stall 'healthy\|reached'
	case_end "9 readers stalled on one object: a read of another file on the same store ends in < 5 s"
	grep -v '^# ' "$W/rd.out" >"$W/rd.out2"; mv "$W/rd.out2" "$W/rd.out"
	rd_report $st stall 'stalled read'
	case_end "stalled reads end with EIO within 20 s (-o read_timeout=3)"
else
	case_end "9 readers stalled on one object: a read of another file on the same store ends in < 5 s"
	fail "not mounted"
	case_end "stalled reads end with EIO within 20 s (-o read_timeout=3)"
fi
unmount

# Interruptible: with a long read_timeout, only the signal can end them.
# A CBC file (its read waits for the store) and a GCM file (its first
# open downloads the object), both stalled.
term_cat() {	# FILE -> $cpid: timeout -s TERM 3 cat FILE, in the background
	timeout -s TERM 3 cat "$1" >/dev/null 2>>"$W/cat.err" &
	cpid=$!
}
term_check() {	# PID START END: it ended by the TERM, within 10 s
	local st
	if [ -z "$3" ]; then
		fail "timeout -s TERM 3 cat still there after 15 s"
		return
	fi
	wait "$1"
	st=$?
	echo "# timeout -s TERM 3 cat: exit $st after $(elapsed "$2" "$3") s"
	[ $st -eq 124 ] || fail "cat ended with $st before the TERM: $(oneline "$W/cat.err")"
	$PY -c "import sys; sys.exit(not $3 - $2 < 10)" ||
		fail "cat returned $(elapsed "$2" "$3") s after it began, want < 10 s (TERM at 3 s)"
}
store_set "{\"$O_A\":\"stall\",\"$O_R\":\"stall\"}"
c1='' c2=''
if mount_ refresh=0,read_timeout=60; then
	: >"$W/cat.err"
	nA=$(served "r.get('stalled') and r['uri'] == '$O_A'")
	nR=$(served "r.get('stalled') and r['uri'] == '$O_R'")
	t0=$(now)
	term_cat "$(file_of "$RT_A")"; c1=$cpid
	term_cat "$(file_of "$RE_A")"; c2=$cpid
	e1='' e2=''
	for _ in $(seq 150); do
		[ -z "$e1" ] && ! kill -0 $c1 2>/dev/null && e1=$(now)
		[ -z "$e2" ] && ! kill -0 $c2 2>/dev/null && e2=$(now)
		[ -n "$e1" ] && [ -n "$e2" ] && break
		sleep 0.1
	done
	term_check $c1 "$t0" "$e1"
	[ "$(served "r.get('stalled') and r['uri'] == '$O_A'")" -gt "$nA" ] ||
		fail "cat never reached the stall"
fi
case_end "a CBC read stalled (read_timeout=60) is interruptible: timeout -s TERM 3 cat returns in < 10 s"
if [ $mounted = 1 ]; then
	term_check $c2 "$t0" "$e2"
	[ "$(served "r.get('stalled') and r['uri'] == '$O_R'")" -gt "$nR" ] ||
		fail "cat never reached the stall"
else
	fail "not mounted"
fi
case_end "a GCM first open stalled (read_timeout=60) is interruptible: timeout -s TERM 3 cat returns in < 10 s"
store_set '{}'
for p in ${c1:-} ${c2:-}; do
	for _ in $(seq 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	wait "$p" 2>/dev/null
done
unmount

# ==== 2. media that changes and has no ETag =================================
# Version 2 (every byte XOR 1, Last-Modified 1 h later) can never decrypt
# to the original; whatever was read from version 1 must not be mixed
# with it, and a catalog made from version 1 must not serve version 2.
to_bad "$RT_A"
store_set "{\"$O_A\":{\"mode\":\"no_etag_changes\",\"after\":1000000}}"
sync_ noetag
[ $rc -eq 0 ] || fail "sync: exit $rc: $(oneline "$W/err")"
if mount_ refresh=0,read_timeout=3; then
	rd mix "$(file_of "$RT_A")" "$P_A" "$S/control.json" \
	    "{\"$O_A\":{\"mode\":\"no_etag_changes\",\"after\":0}}"
	echo "# If-Range sent $(served "r['uri'] == '$O_A' and r['if_range']") times;" \
	    "$(served "r['uri'] == '$O_A' and r['status'] == 200") answers 200 (an If-Range that did not match)"
fi
case_end "an object without ETag changes between two reads of one open: the second is EIO or the first version, never a mix"
unmount

# A catalog of its own: the one above may know of the change by now.
store_set "{\"$O_A\":{\"mode\":\"no_etag_changes\",\"after\":1000000}}"
sync_ noetag2
[ $rc -eq 0 ] || fail "sync: exit $rc: $(oneline "$W/err")"
store_set "{\"$O_A\":{\"mode\":\"no_etag_changes\",\"after\":0}}"
if mount_ refresh=0,read_timeout=3; then
	f=$(file_of "$RT_A")
	[ -n "$f" ] || fail "rt_video_A is not in the mount"
	[ -z "$f" ] || rd scan "$f" "$P_A"
fi
case_end "a catalog made from the first version, the store has the second (no ETag, same size): every read EIO, never its bytes"
unmount

# ==== 4. a length header that lies ==========================================
# The probe asks for the last 32 bytes (IV + last block): its first bytes
# instead, Content-Range saying so, must not become the item's size.
to_bad "$RT_D"
store_set "{\"$O_D\":\"wrong_suffix\"}"
sync_ suffix
[ $rc -eq 5 ] || fail "sync: exit $rc, want 5 (partial): $(oneline "$W/err")"
[ "$(q "SELECT count(*) FROM items WHERE sid = '$RT_D' AND media_known = 1")" = 0 ] ||
	fail "$RT_D probed from the wrong bytes"
[ "$(served "r['uri'] == '$O_D' and r['mode'] == 'wrong_suffix' and r['status'] == 206")" -gt 0 ] ||
	fail "no wrong suffix was served"
case_end "a probe's last bytes answered with the first (Content-Range says so): that item fails (exit 5), no size from them"

to_bad "$RT_E" "$CJ_W"
store_set "{\"$O_E\":\"huge_length\",\"$O_W\":\"wrong_length\"}"
sync_ length
[ $rc -eq 5 ] || fail "sync: exit $rc, want 5 (partial): $(oneline "$W/err")"
for s in "$RT_E" "$CJ_W"; do
	[ "$(q "SELECT class FROM failures WHERE sid = '$s'")" = integrity ] ||
		fail "$s: failure '$(q "SELECT class FROM failures WHERE sid = '$s'")', want integrity"
done
[ "$(q "SELECT count(*) FROM items WHERE plaintext_size >= 9223372036854775807")" = 0 ] ||
	fail "a size of 2^63-1 in the catalog"
[ "$(q "SELECT count(*) FROM items WHERE sid = '$CJ_W' AND media_known = 1 AND plaintext_size != $(man cj_webm_A plain_size)")" = 0 ] ||
	fail "the lying length kept as $CJ_W's size"
[ "$(q "SELECT count(*) FROM items WHERE sid IN ('$RT_A','$RT_D','$CJ_B') AND media_known = 1")" = 3 ] ||
	fail "the other video items not probed"
case_end "length header 2^63-1, or plaintext size + 1000: sync exits 5, those two are integrity failures, the rest synced"

if mount_ refresh=0,read_timeout=3; then
	ls -lR "$MNT" >"$W/ls.out" 2>"$W/ls.err" ||
		fail "ls -lR: $(oneline "$W/ls.err")"
	for s in rt_audio_E cj_webm_A; do	# absent, or their real size
		f=$(file_of "$(man $s sid)")
		[ -z "$f" ] && continue
		sz=$(stat -c %s "$f" 2>/dev/null)
		[ "$sz" = "$(man $s plain_size)" ] ||
			fail "$s is $sz bytes in the mount, want $(man $s plain_size) or absent"
		head -c 4096 "$f" >/dev/null 2>&1
	done
	if [ -z "$(daemon_pid)" ]; then
		fail "the daemon died (log $mlog: $(oneline "$mlog"))"
	else
		rd reopen "$(file_of "$RT_D")" "$P_D" 1
		$PY - "$MNT/.twiliofs/status.json" "$RT_E" "$CJ_W" \
		    >"$W/status.txt" 2>&1 <<'EOF' || fail "$(oneline "$W/status.txt")"
import json, sys
s = json.load(open(sys.argv[1]))
got = [i["sid"] for i in s["errors"]["integrity"]["items"]]
missing = [x for x in sys.argv[2:] if x not in got]
if missing:
    print("status.json integrity items %r lack %r" % (got, missing))
    sys.exit(1)
EOF
	fi
fi
case_end "the mount after that sync: no 8 EiB file, the tree lists, the daemon lives, status.json names both as integrity"
unmount

echo "1..$n"
[ "$fails" -eq 0 ]
