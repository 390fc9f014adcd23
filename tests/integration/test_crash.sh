#!/bin/bash
# SPDX-License-Identifier: MIT
# test_crash.sh - SIGKILL at the worst moments (issue 10), then recovery:
#   (a) the mount's daemon, killed -9
#       1. during a GCM object's first download: the voice recording's
#          media come from tests/env/badstore.py in mode `slow` (4 KiB/s),
#          and the kill waits until the daemon holds the download's temp
#          file and the store is sending the body
#       2. with the download verified and held open by a reader (its name
#          is given only when the last holder lets go)
#       3. with the object named in the cache and open again
#     after each: the dead mount is cleaned up (fusermount3 -u), every
#     named object in the cache is the verified ciphertext (SHA-256 of
#     the manifest's object), the catalog passes PRAGMA integrity_check;
#     a new mount reads the right bytes (from the cache once it is named:
#     no request to the store)
#   (b) `twiliofs sync`, killed -9 while a list page is being fetched
#       (the mock delays it: /__control fault) and again while media are
#       being probed; then a sync exits 0, the catalog is intact, and a
#       mount lists every item as it should (mount/mnt.py tree) and reads
#       each with the right bytes (mnt.py sha)
# The integrity check is Python's sqlite3 (not ours): the sqlite3 CLI is
# not a test dependency.
#
# Usage: TWILIOFS=/abs/twiliofs TFS_WORK=/abs/scratch bash test_crash.sh
# Exits 0 (all passed), 1 (a case failed) or 77 (cannot run here).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
TWILIOFS=${TWILIOFS:-$top/twiliofs}
# shellcheck source=tests/integration/account_lib.sh
. "$here/account_lib.sh"
scratch_dir crash
S=$W/store	# the bad store's state: pid, port, control.json, requests.log
PY=/usr/bin/python3

fuse_needed

ours() {	# PID WORD: that process is alive and its argv holds WORD
	[ -n "$1" ] && tr '\0' '\n' 2>/dev/null <"/proc/$1/cmdline" |
	    grep -qxF -- "$2"
}
store_set() {	# JSON: the whole control file of the bad store
	printf '%s\n' "$1" >"$S/control.json.tmp" &&
	    mv "$S/control.json.tmp" "$S/control.json"
}
bpid='' mpid='' spid='' hpid=''
cleanup() {
	[ -d "$S" ] && store_set '{}'	# a slow answer ends at once
	[ -n "$hpid" ] && touch "$W/release"
	if is_mounted; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
	fi
	ours "$mpid" "$MNT" && kill "$mpid" 2>/dev/null
	ours "$spid" sync && kill "$spid" 2>/dev/null
	ours "$bpid" "$S" && kill "$bpid" 2>/dev/null
	bash "$top/tests/env/stop.sh" "$E" >/dev/null 2>&1
	[ -z "$own" ] || rm -rf "$own"
}

is_mounted && fusermount3 -uz "$MNT"	# left by a run that was killed
rm -rf "${W:?}/mnt" "${W:?}/store" "${W:?}"/cache* "${W:?}/home" \
    "${W:?}/release" "${W:?}/held"
mkdir -p "$MNT" "$S"
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
t0=$(date +%s)
account_start
account_use

# ---- the bad store ------------------------------------------------------
store_set '{}'
$PY -u "$top/tests/env/badstore.py" "$E" "$S" </dev/null \
    >"$W/badstore.log" 2>&1 &
bpid=$!
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
oneline() { tail -c 300 "$1" | tr '\n' '|'; }
man() {	# NAME FIELD: from the manifest (part 0)
	$PY -c 'import json,sys
for e in json.load(open(sys.argv[1])):
    if e["name"] == sys.argv[2] and e["part"] == 0: print(e[sys.argv[3]]); break' \
	    "$TFS_MANIFEST" "$1" "$2"
}
served() {	# PYTHON-CONDITION on r (a line of the bad store's log): how many
	$PY -c 'import json,sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    n += bool(eval(sys.argv[2]))
print(n)' "$S/requests.log" "$1" 2>/dev/null || echo 0
}
stat_() {	# KEY: one counter of the mock's stats
	curl -sf --cacert "$TWILIOFS_CAFILE" "$TFS_CONTROL/stats" |
	    $PY -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
q() {	# CACHE SQL: one value from that catalog (Python's sqlite3, not ours)
	$PY -c 'import sqlite3,sys
c = sqlite3.connect(sys.argv[1], timeout=10)
r = c.execute(sys.argv[2]).fetchone()
print("" if r is None or r[0] is None else r[0])' "$1/catalog.sqlite" "$2"
}
catalog_ok() {	# CACHE: PRAGMA integrity_check says ok
	local got
	got=$(q "$1" 'PRAGMA integrity_check' 2>&1)
	[ "$got" = ok ] || fail "catalog: integrity_check: $got"
}
# objects_ok CACHE [SID...]: every named object in CACHE/objects is the
# ciphertext the manifest names (SHA-256), and the SIDs given have none.
objects_ok() {
	$PY - "$TFS_MANIFEST" "$@" >"$W/objects.out" 2>&1 <<'EOF'
import hashlib, json, os, sys
man, cache, absent = sys.argv[1], sys.argv[2], sys.argv[3:]
enc = {}
for e in json.load(open(man)):
    if e.get("enc_file"):
        enc[(e["sid"], e["part"])] = e["enc_file"]
d = os.path.join(cache, "objects")
names = sorted(os.listdir(d)) if os.path.isdir(d) else []
n = 0
for name in names:
    if name.startswith("."):
        print("# a temp file left (no O_TMPFILE here?): %s" % name)
        continue
    sid, part = name.split(".")[0], name.split(".")[1]
    if sid in absent:
        print("problem: %s is named in the cache (it never verified)" % name)
    want = enc.get((sid, int(part) if part.isdigit() else -1))
    if want is None:
        print("problem: %s: no such object in the manifest" % name)
        continue
    with open(os.path.join(d, name), "rb") as f:
        got = hashlib.sha256(f.read()).hexdigest()
    with open(want, "rb") as f:
        if got != hashlib.sha256(f.read()).hexdigest():
            print("problem: %s: not the verified ciphertext" % name)
            continue
    n += 1
print("# %d named object(s), each the verified ciphertext: %s" % (
    n, " ".join(x.split(".")[0][:8] for x in names if x[0] != ".")))
EOF
	grep '^# ' "$W/objects.out"
	grep -q '^problem' "$W/objects.out" &&
	    fail "$(grep '^problem' "$W/objects.out" | head -4 | tr '\n' '|')"
	grep -q '^# ' "$W/objects.out" || fail "objects: $(oneline "$W/objects.out")"
}
mounts=0
mount_() {	# CACHE: twiliofs mount -f, in the background ($mpid)
	mounts=$((mounts + 1))
	mlog=$W/mount-$mounts.log
	"$TWILIOFS" mount -f --cache-dir "$1" -o refresh=0 "$MNT" \
	    >"$mlog" 2>&1 &
	mpid=$!
	for _ in $(seq 1200); do
		is_mounted && return 0
		kill -0 "$mpid" 2>/dev/null || break
		sleep 0.1
	done
	fail "not mounted: $(oneline "$mlog")"
	return 1
}
unmount() {	# fusermount3 -u; the daemon exits 0 within 60 s
	local st
	fusermount3 -u "$MNT" 2>"$W/umount.err" ||
	    fail "fusermount3 -u: $(oneline "$W/umount.err")"
	for _ in $(seq 600); do kill -0 "$mpid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$mpid" 2>/dev/null; then
		fail "twiliofs still running 60 s after fusermount3 -u"
		kill -9 "$mpid"
	fi
	wait "$mpid"
	st=$?
	[ $st -eq 0 ] || fail "twiliofs exited $st: $(oneline "$mlog")"
	mpid=''
}
kill9() {	# the daemon dies; its mount is dead (ENOTCONN)
	kill -9 "$mpid"
	wait "$mpid" 2>/dev/null
	if stat "$MNT" >/dev/null 2>"$W/stat.err" ||
	    ! grep -q 'not connected' "$W/stat.err"; then
		fail "after kill -9, stat of the mount: '$(oneline "$W/stat.err")', want ENOTCONN"
	fi
}
dead_unmount() {	# once its clients closed: unmounted as a user would
	fusermount3 -u "$MNT" 2>"$W/umount.err" || {
		fail "fusermount3 -u of the dead mount: $(oneline "$W/umount.err")"
		fusermount3 -uz "$MNT" 2>/dev/null
	}
	is_mounted && fail "still mounted after fusermount3 -u"
	mpid=''
}
wait_for() {	# SECONDS COMMAND...: poll it every 0.1 s
	local n=$(($1 * 10))
	shift
	while [ $n -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
tmp_held() {	# the daemon holds a download's temp file in CACHE/objects
	local fd l
	for fd in /proc/"$mpid"/fd/*; do
		l=$(readlink "$fd" 2>/dev/null) || continue
		case $l in
		"$1/objects/"*"(deleted)"|"$1/objects/.tmp-"*) return 0 ;;
		esac
	done
	return 1
}
# hold FILE...: open each, read it whole (SHA-256 checked), keep them
# open until $W/release; "held" in $W/held once all were read. $hpid.
hold() {
	rm -f "$W/release" "$W/held"
	$PY - "$TFS_MANIFEST" "$W" "$@" >"$W/hold.out" 2>&1 <<'EOF' &
import hashlib, json, os, sys, time
man, w, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
sha = {e["sid"]: e["plain_sha256"] for e in json.load(open(man))
       if e["part"] == 0}
fds = []
for p in paths:
    fd = os.open(p, os.O_RDONLY)
    data = b""
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        data += b
    sid = os.path.basename(p).split(".")[0]
    if hashlib.sha256(data).hexdigest() != sha[sid]:
        print("problem: %s: wrong bytes" % p)
    fds.append(fd)
open(os.path.join(w, "held"), "w").close()
end = time.time() + 120
while not os.path.exists(os.path.join(w, "release")) and time.time() < end:
    time.sleep(0.05)
for fd in fds:
    try:
        os.close(fd)
    except OSError:
        pass
EOF
	hpid=$!
}
held_or_gone() { [ -e "$W/held" ] || ! kill -0 "$hpid" 2>/dev/null; }
unhold() {	# let the holder go; its problems become the case's
	touch "$W/release"
	for _ in $(seq 300); do kill -0 "$hpid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$hpid" 2>/dev/null && { fail "the holder did not exit"; kill "$hpid"; }
	wait "$hpid" 2>/dev/null
	hpid=''
	grep -q '^problem' "$W/hold.out" &&
	    fail "$(grep '^problem' "$W/hold.out" | head -3 | tr '\n' '|')"
	grep -q 'Traceback' "$W/hold.out" && fail "holder: $(oneline "$W/hold.out")"
}
# Both objects held open (verified, not yet named), the daemon killed -9:
# the dead mount cleaned up, the cache and the catalog checked.
kill_holding() {
	hold "$P_RE" "$P_RE2"
	wait_for 60 held_or_gone
	[ -e "$W/held" ] || fail "the holder did not read both: $(oneline "$W/hold.out")"
	kill9
	unhold
	dead_unmount
	objects_ok "$C"
	catalog_ok "$C"
}
sha_() {	# NAME...: mnt.py sha on the mount, its problems the case's
	timeout -k 5 120 $PY "$here/mount/mnt.py" sha "$MNT" "$@" \
	    >"$W/mnt.out" 2>&1 || fail "$(grep -v '^# ' "$W/mnt.out" | head -4 | tr '\n' '|')"
}
nginx_hits() {	# OBJECT-URI: requests nginx logged for it
	grep -c -- "$1" "$TFS_NGINX_ACCESS_LOG"
}
named() {	# CACHE SID: an object of SID is named in CACHE/objects
	local f
	for f in "$1/objects/$2".*; do [ -e "$f" ] && return 0; done
	return 1
}

# ==== (a) the mount's daemon =====================================================
RE=$(man re_C_docstable_stereo sid)	# GCM, 96 KB: from the bad store
O_RE=$(man re_C_docstable_stereo object)
RE2=$(man re_D_oai sid)			# GCM, from nginx
O_RE2=$(man re_D_oai object)
P_RE=$MNT/voice/recordings/$(man re_C_docstable_stereo date_created | cut -c1-10)/$RE.wav
P_RE2=$MNT/voice/recordings/$(man re_D_oai date_created | cut -c1-10)/$RE2.wav
C=$W/cache
control shape "{\"media_origin\":{\"$RE\":\"$BAD\"}}"
timeout 300 "$TWILIOFS" sync --cache-dir "$C" >"$W/sync0.out" 2>&1 ||
	fail "the first sync: exit $?: $(oneline "$W/sync0.out")"
echo "# bad store $BAD; $RE ($O_RE) is there; evidence in $W"

# 1. during the first download
downloading() {	# the store sends RE slowly, the daemon has its temp file
	[ "$(served "r.get('slow') and r['uri'] == '$O_RE'")" -gt 0 ] &&
	    tmp_held "$C"
}
store_set "{\"$O_RE\":{\"mode\":\"slow\",\"rate\":4096}}"
if mount_ "$C"; then
	timeout -k 5 120 cat "$P_RE" >/dev/null 2>"$W/cat.err" &
	cpid=$!
	if wait_for 60 downloading; then
		kill9
		wait "$cpid" && fail "cat read the file whole before the kill (too fast to test)"
		echo "# killed with $(served "r.get('slow') and r['uri'] == '$O_RE'") slow answer(s) under way, the temp file open; cat: $(oneline "$W/cat.err")"
	else
		fail "no download under way in 60 s (slow answers: $(served "r.get('slow')"))"
		kill9
		wait "$cpid"
	fi
	dead_unmount
	objects_ok "$C" "$RE"
	catalog_ok "$C"
fi
case_end "daemon killed -9 during a GCM first download (store at 4 KiB/s): the dead mount unmounts; nothing of it named in the cache; catalog intact"

# 2. verified, held open, not named yet
store_set '{}'
if mount_ "$C"; then
	kill_holding
fi
case_end "daemon killed -9 with two verified downloads held open: every named object verifies; catalog intact"

# 3. named, then open again when killed
if mount_ "$C"; then
	sha_ re_C_docstable_stereo re_D_oai
	unmount
fi
objects_ok "$C"
if ! named "$C" "$RE" || ! named "$C" "$RE2"; then
	fail "not both named in the cache after a clean unmount"
fi
case_end "after the kills, a new mount reads both with the right bytes; a clean unmount names them in the cache"

b0=$(served "r['uri'] == '$O_RE' and r['method'] == 'GET'") n0=$(nginx_hits "$O_RE2")
if mount_ "$C"; then
	kill_holding
fi
if mount_ "$C"; then
	sha_ re_C_docstable_stereo re_D_oai
	unmount
fi
b1=$(served "r['uri'] == '$O_RE' and r['method'] == 'GET'") n1=$(nginx_hits "$O_RE2")
if [ "$b1" -ne "$b0" ] || [ "$n1" -ne "$n0" ]; then
	fail "fetched again: $((b1 - b0)) GETs at the bad store, $((n1 - n0)) at nginx"
fi
case_end "daemon killed -9 with cached objects open: they still verify; the next mount reads them from the cache (no request), right bytes"

# ==== (b) twiliofs sync ===============================================================
C=$W/cache-sync
sync_bg() {	# twiliofs sync in the background ($spid)
	"$TWILIOFS" sync --cache-dir "$C" --page-size 2 >"$W/sync.out" 2>&1 &
	spid=$!
}
listed=$($PY -c 'import json,sys
print(sum(1 for e in json.load(open(sys.argv[1])) if e["listed"] and e["part"] == 0))' \
    "$TFS_MANIFEST")
items() {	# [WHERE]: items (part 0) in the catalog
	[ -f "$C/catalog.sqlite" ] &&
	    q "$C" "SELECT count(*) FROM items WHERE part = 0 ${1:+AND $1}" \
	    2>/dev/null || echo 0
}

taken() {	# N: the mock served N more faults, or the sync ended
	[ "$(stat_ faults_served)" -ge $((f0 + $1)) ] || ! kill -0 "$spid" 2>/dev/null
}

# 1. while the third list page is fetched (the mock holds it 30 s; the
# faults queue in order: two list requests pass, the third waits)
f0=$(stat_ faults_served)
control fault '{"delay":0,"count":2,"class":"list"}'
control fault '{"delay":30,"count":1,"class":"list"}'
sync_bg
if wait_for 60 taken 3 && kill -0 "$spid" 2>/dev/null; then
	echo "# killed with $(items) of $listed items in the catalog, a page under way"
	kill -9 "$spid"
else
	fail "the sync never reached the delayed page: $(oneline "$W/sync.out")"
fi
wait "$spid" 2>/dev/null
spid=''
catalog_ok "$C"
case_end "sync killed -9 while a list page is fetched: catalog intact"

# 2. while media are probed (the listing is done): every probe held
f0=$(stat_ faults_served)
control fault '{"delay":30,"count":100,"class":"media"}'
sync_bg
if wait_for 60 taken 1 && kill -0 "$spid" 2>/dev/null; then
	echo "# killed with $(items) of $listed items listed," \
	    "$(items 'media_known = 1') probed"
	kill -9 "$spid"
else
	fail "the sync never reached the delayed probe: $(oneline "$W/sync.out")"
fi
wait "$spid" 2>/dev/null
spid=''
catalog_ok "$C"
case_end "sync killed -9 while media are probed: catalog intact"

control fault '{"clear":true}'
timeout 300 "$TWILIOFS" sync --cache-dir "$C" --page-size 2 >"$W/sync.out" 2>&1
st=$?
[ $st -eq 0 ] || fail "sync after the kills: exit $st: $(oneline "$W/sync.out")"
catalog_ok "$C"
case_end "sync after the kills: exit 0, catalog intact"

if mount_ "$C"; then
	timeout -k 5 120 $PY "$here/mount/mnt.py" tree "$MNT" 600 700 \
	    >"$W/mnt.out" 2>&1 || fail "$(grep -v '^# ' "$W/mnt.out" | head -6 | tr '\n' '|')"
	grep '^# ' "$W/mnt.out"
	sha_
	grep '^# ' "$W/mnt.out"
	unmount
fi
case_end "then a mount lists every item at its path with its size and date (mnt.py tree) and reads each with the right bytes"

echo "# $(($(date +%s) - t0)) s"
echo "1..$n"
[ "$fails" -eq 0 ]
