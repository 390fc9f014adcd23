#!/bin/bash
# SPDX-License-Identifier: MIT
# test_load.sh - one mount of the test account under load (issue 10):
# 16 readers at once for TFS_LOAD_SECONDS (default 12) - 4 `cat` and 4
# `dd` with odd block sizes (whole files, SHA-256 against the manifest),
# 4 Python readers at random offsets and 4 more with two threads sharing
# one descriptor (os.pread, compared with the plaintext at the same
# offsets) - across every readable item (CBC recordings and
# compositions, the unencrypted one, GCM voice recordings and
# transcripts; four readers start on each of the first GCM objects, so
# first opens meet), while `ls -lRA`, status.json and `getfattr -R -d`
# go over the mount in a loop and the refresh thread syncs and swaps
# trees every 2 s. Readers drop the pages they read (fadvise
# DONTNEED), so every pass reaches the daemon.
#   - every byte read is checked; the count is printed
#   - no deadlock: a reader still running 45 s after the end is a hang;
#     the daemon's threads are dumped (gdb -batch, when installed), then
#     the mount is torn down so that every reader returns
#   - the daemon's peak memory (VmHWM) is printed and bounded (see
#     max_rss below)
#   - it unmounts and exits 0 (ASan: no leak; TSan: no report)
# TSan: TSAN_OPTIONS is set here (suppressions tests/tsan.supp, reports
# to $W/tsan.PID, exitcode 66); any report fails the test.
#
# Usage: TWILIOFS=/abs/twiliofs TFS_WORK=/abs/scratch bash test_load.sh
#   TWILIOFS_MEM=/abs/twiliofs  an optimised build: loaded 6 s more after
#                               the first, its peak memory bounded tight
#   TFS_LOAD_SECONDS=N          how long the readers read (default 12)
#   TFS_SEED=N                  the seed of the random reads (printed)
# Exits 0 (all passed), 1 (a case failed) or 77 (no FUSE here, or the
# test account cannot run: the reason is printed).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
TWILIOFS=${TWILIOFS:-$top/twiliofs}
# shellcheck source=tests/integration/account_lib.sh
. "$here/account_lib.sh"
scratch_dir load
PY=/usr/bin/python3
SECS=${TFS_LOAD_SECONDS:-12}
SEED=${TFS_SEED:-$(date +%s)}
GRACE=45	# after the end: a reader still reading is hung

fuse_needed
if [ ! -x "$TWILIOFS" ]; then
	echo "Bail out! $TWILIOFS is not there (make)"
	exit 1
fi

# The bound on the daemon's peak memory (VmHWM, MiB) for each build,
# from what 16 readers made it on the 2-core machine. Optimised: 17-32
# MiB; bound 64 = the 32 MiB window budget + 32 for the rest (libraries,
# SQLite, TLS, thread stacks). ASan: 190-305 MiB (less on a busier
# machine, which reads less), most of it the 256 MiB quarantine of
# freed memory (quarantine_size_mb: kept resident to catch use after
# free); bound 384 = that + 128. TSan: 150-230 MiB (shadow memory, a few
# times the program's own); bound 384. The test account's files are
# small (2.3 MB at most), so this catches memory that grows with the
# reads (a leak, a cache without a cap), not the window budget itself:
# `make bench` reads big items.
if grep -qa __tsan_init "$TWILIOFS"; then
	san=tsan max_rss=384
elif grep -qa __asan_init "$TWILIOFS"; then
	san=asan max_rss=384
else
	san=none max_rss=64
fi
max_rss=${TFS_LOAD_MAX_RSS_MIB:-$max_rss}
# Later options win: the caller's may add to these, not move the log.
tsan="exitcode=66 die_after_fork=0 second_deadlock_stack=1"
export TSAN_OPTIONS="$tsan suppressions=$top/tests/tsan.supp ${TSAN_OPTIONS:-} log_path=$W/tsan"

mpid=''
daemon_ours() {	# the daemon is alive and still ours (names $MNT)
	[ -n "$mpid" ] && tr '\0' '\n' 2>/dev/null <"/proc/$mpid/cmdline" |
	    grep -qxF -- "$MNT"
}
pids=''	# the readers and the ls loop
cleanup() {
	local p
	touch "$W/stop" 2>/dev/null
	if is_mounted; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
	fi
	daemon_ours && kill "$mpid" 2>/dev/null
	for p in $pids; do kill "$p" 2>/dev/null; done
	bash "$top/tests/env/stop.sh" "$E" >/dev/null 2>&1
	[ -z "$own" ] || rm -rf "$own"
}

is_mounted && fusermount3 -uz "$MNT"	# left by a run that was killed
rm -rf "${W:?}/mnt" "${W:?}/cache" "${W:?}/home" "${W:?}"/r[0-9]* \
    "${W:?}"/tsan.* "${W:?}/stop" "${W:?}"/ls.* "${W:?}"/gdb-*.txt
mkdir -p "$MNT"
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
account_start
account_use

oneline() { tail -c 300 "$1" | tr '\n' '|'; }
elapsed() {	# START [END]: seconds between, one decimal
	$PY -c 'import sys, time
print("%.1f" % (float(sys.argv[2] if len(sys.argv) > 2 else time.time())
                - float(sys.argv[1])))' "$@"
}

# What may be read, and what each read must give: "relpath size sha256
# plainfile scheme", GCM items first so that the readers' first opens
# meet on them (one download per object, the others waiting for it).
$PY - "$TFS_MANIFEST" >"$W/files" <<'EOF'
import json, sys
rows = []
for e in json.load(open(sys.argv[1])):
    if not e["listed"] or e["expect"] != "ok":
        continue
    d, s, k = e["date_created"][:10], e["sid"], e["kind"]
    if k == "video_recording":
        p = "video/recordings/%s/%s.%s" % (d, s, e["container"])
    elif k == "composition":
        p = "video/compositions/%s/%s.%s" % (d, s, e["container"])
    elif k == "voice_recording":
        p = "voice/recordings/%s/%s.wav" % (d, s)
    elif e["part"] == 0:
        p = "intelligence/transcripts/%s/%s/sentences.json" % (d, s)
    else:
        p = "intelligence/transcripts/%s/%s/operator-results/%d.json" % (
            d, s, e["part"])
    rows.append((e["scheme"] != "gcm", p, e["plain_size"], e["plain_sha256"],
                 e["plain"], e["scheme"]))
for r in sorted(rows):
    print(*r[1:])
EOF
nfiles=$(grep -c . "$W/files")
read -r ngcm ncbc < <(awk '$5 == "gcm" { g++ } $5 == "cbc" { c++ }
    END { print g + 0, c + 0 }' "$W/files")
# What ls -lR must list at every pass: the files, status.json, the links.
want_files=$($PY -c 'import json,sys
print(sum(1 for e in json.load(open(sys.argv[1]))
          if e["listed"] and e["expect"] != "hidden") + 1)' "$TFS_MANIFEST")
want_links=$($PY -c 'import json,sys
print(sum(1 for e in json.load(open(sys.argv[1])) if e["listed"] and
          e["expect"] != "hidden" and e["room_sid"] and
          e["kind"] in ("video_recording", "composition")))' "$TFS_MANIFEST")

echo "# $san build, $SECS s, seed $SEED, $nfiles files ($ngcm GCM," \
    "$ncbc CBC); evidence in $W"

# ---- the readers -----------------------------------------------------------
# seqreader N cat|dd: whole files in turn, SHA-256 against the manifest.
seqreader() {
	local i=$1 mode=$2 k=$(($1 % 4)) n=0 bytes=0 bad=0 bs sum rel size sha
	local bss=(4096 13000 65536 1048576 131071)
	set -o pipefail
	# one pass at least, however late a loaded machine started us
	while [ $((n + bad)) -eq 0 ] || [ "$(date +%s)" -lt "$end" ]; do
		read -r rel size sha _ < <(sed -n "$((k % nfiles + 1))p" "$W/files")
		k=$((k + 1))
		bs=${bss[(i + k) % ${#bss[@]}]}
		if [ "$mode" = cat ]; then
			sum=$(timeout -k 5 "$opmax" cat "$MNT/$rel" | sha256sum) ||
			    sum="failed"
		else
			sum=$(timeout -k 5 "$opmax" dd if="$MNT/$rel" bs="$bs" \
			    iflag=nocache status=none | sha256sum) || sum="failed"
		fi
		if [ "${sum%% *}" != "$sha" ]; then
			bad=$((bad + 1))
			echo "problem: $mode $rel: ${sum%% *}, want $sha"
		else
			n=$((n + 1)) bytes=$((bytes + size))
		fi
		# its pages go: the next pass reads through the daemon again
		timeout -k 5 "$opmax" dd if="$MNT/$rel" iflag=nocache count=0 \
		    status=none
	done
	echo "reads $n bytes $bytes bad $bad"
}

# python3 -c "$RANDPY" MNT FILES END SEED FIRST THREADS: random preads.
RANDPY='
import errno, os, random, sys, threading, time

mnt, files, end, seed, first, threads = sys.argv[1], sys.argv[2], \
    float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
rows = [l.split() for l in open(files)]
plains = {}
stats = {"reads": 0, "bytes": 0, "bad": 0}
lock = threading.Lock()

def plain(row):
    if row[0] not in plains:
        with open(row[3], "rb") as f:
            plains[row[0]] = f.read()
    return plains[row[0]]

def problem(msg):
    with lock:
        stats["bad"] += 1
    print("problem: " + msg, flush=True)

def preads(fd, row, p, rng, count):
    size = len(p)
    for _ in range(count):
        n = rng.choice((1, 17, 4096, 65536, 131072 + 3, 300000))
        off = rng.randrange(0, max(1, size - 1))
        if rng.random() < 0.2:
            off = max(0, size - rng.randrange(1, 40))    # the tail
        try:
            got = os.pread(fd, n, off)
        except OSError as e:
            problem("%s: pread %d at %d: %s" % (row[0], n, off,
                    errno.errorcode.get(e.errno, e.errno)))
            continue
        if got != p[off:off + n]:
            problem("%s: pread %d at %d: %d bytes, not the plaintext" % (
                row[0], n, off, len(got)))
            continue
        with lock:
            stats["reads"] += 1
            stats["bytes"] += len(got)

rng = random.Random(seed)
k = first
once = True     # one batch at least, however late a loaded machine started us
while once or time.time() < end:
    once = False
    row = rows[k % len(rows)]
    k += 1 + rng.randrange(len(rows))
    p = plain(row)
    try:
        fd = os.open(os.path.join(mnt, row[0]), os.O_RDONLY)
    except OSError as e:
        problem("%s: open: %s" % (row[0], errno.errorcode.get(e.errno,
                e.errno)))
        continue
    ts = [threading.Thread(target=preads, args=(fd, row, p,
          random.Random(rng.random()), 24)) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
print("reads %d bytes %d bad %d" % (stats["reads"], stats["bytes"],
      stats["bad"]))
'

# ls -lRA of the whole mount in a loop, until $W/stop; each pass also
# reads status.json (made while the refresh may swap trees) and dumps
# every xattr (getfattr -R).
lsloop() {
	local n=0 bad=0 f l
	while [ ! -e "$W/stop" ]; do
		if ! timeout -k 5 "$opmax" ls -lRA "$MNT" >"$W/ls.out" \
		    2>"$W/ls.err"; then
			bad=$((bad + 1))
			echo "problem: ls -lRA: $(oneline "$W/ls.err")"
		fi
		if ! timeout -k 5 "$opmax" $PY -c 'import json, sys
json.load(open(sys.argv[1]))' "$MNT/.twiliofs/status.json" 2>"$W/ls.err"; then
			bad=$((bad + 1))
			echo "problem: status.json: $(oneline "$W/ls.err")"
		fi
		if ! timeout -k 5 "$opmax" getfattr -R -d "$MNT" \
		    >"$W/ls.xattr" 2>"$W/ls.err" ||
		    ! grep -q 'user.twilio.sid' "$W/ls.xattr"; then
			bad=$((bad + 1))
			echo "problem: getfattr -R -d: $(oneline "$W/ls.err")"
		fi
		f=$(grep -c '^-' "$W/ls.out") l=$(grep -c '^l' "$W/ls.out")
		if [ "$f" -ne "$want_files" ] || [ "$l" -ne "$want_links" ]; then
			bad=$((bad + 1))
			echo "problem: ls -lRA listed $f files and $l links," \
			    "want $want_files and $want_links"
		fi
		n=$((n + 1))
	done
	echo "lists $n bad $bad"
}

# ---- one load -----------------------------------------------------------------
# load BINARY SECONDS BOUND-MIB LABEL: mount, 16 readers and ls -lRA for
# SECONDS, check, unmount. Foreground, so that $! is the daemon. The
# cache is shared between loads (a later one starts with the GCM objects
# cached); the refresh thread syncs again every 2 s and swaps the tree
# under the readers and ls.
load() {
	local bin=$1 secs=$2 bound=$3 label=$4 t0 t1 p i th alive hung=''
	local reads=0 bytes=0 nr b nb nls lsbad hwm st lspid readers=''
	rm -f "$W/stop" "$W"/r[0-9]*.out "$W"/r[0-9]*.err "$W"/ls.*
	t0=$(date +%s.%N)
	"$bin" mount -f --cache-dir "$W/cache" -o refresh=2 "$MNT" \
	    >"$W/mount-$label.log" 2>&1 &
	mpid=$!
	for _ in $(seq 1200); do
		is_mounted && break
		kill -0 "$mpid" 2>/dev/null || break
		sleep 0.1
	done
	if ! is_mounted; then
		echo "Bail out! $label: not mounted:" \
		    "$(oneline "$W/mount-$label.log")"
		exit 1
	fi
	# Every file listed (the tree comes from the catalog)
	for _ in $(seq 600); do
		[ "$(find "$MNT" -type f 2>/dev/null | grep -c .)" -ge \
		    "$want_files" ] && break
		sleep 0.1
	done
	echo "# $label: mounted in $(elapsed "$t0") s, pid $mpid"

	end=$(($(date +%s) + secs))
	opmax=$((secs + GRACE + 60))	# per read: never before the watchdog
	for i in 0 1 2 3; do
		seqreader $i cat >"$W/r$i.out" 2>"$W/r$i.err" &
		readers="$readers $!"
	done
	for i in 4 5 6 7; do
		seqreader $i dd >"$W/r$i.out" 2>"$W/r$i.err" &
		readers="$readers $!"
	done
	for i in 8 9 10 11 12 13 14 15; do
		th=1
		[ $i -ge 12 ] && th=2
		timeout -k 5 "$opmax" $PY -c "$RANDPY" "$MNT" "$W/files" \
		    "$end" "$((SEED + i))" $((i % 4)) $th \
		    >"$W/r$i.out" 2>"$W/r$i.err" &
		readers="$readers $!"
	done
	lsloop >"$W/ls.result" 2>&1 &
	lspid=$!
	pids="$readers $lspid"

	# The watchdog: the readers end by themselves by end + GRACE, or hang.
	until [ "$(date +%s)" -ge $((end + GRACE)) ]; do
		alive=''
		for p in $readers; do
			kill -0 "$p" 2>/dev/null && alive="$alive $p"
		done
		[ -z "$alive" ] && break
		sleep 0.2
	done
	for p in $readers; do kill -0 "$p" 2>/dev/null && hung="$hung $p"; done
	touch "$W/stop"
	t1=$(date +%s.%N)
	if [ -n "$hung" ]; then
		fail "readers still reading $GRACE s after the end (hung):$hung"
		if command -v gdb >/dev/null 2>&1 && daemon_ours; then
			timeout 120 gdb -batch -p "$mpid" \
			    -ex 'thread apply all bt' >"$W/gdb-$label.txt" 2>&1
			echo "# the daemon's threads (gdb; all of it in" \
			    "$W/gdb-$label.txt):"
			grep -E '^(Thread|#)' "$W/gdb-$label.txt" | head -150 |
			    sed 's/^/#   /'
		else
			echo "# no gdb here (or the daemon is gone): no thread dump"
		fi
		# Tearing the mount down returns every read (ENOTCONN).
		fusermount3 -uz "$MNT" 2>/dev/null
		daemon_ours && kill -9 "$mpid"
	fi
	for _ in $(seq 300); do
		kill -0 "$lspid" 2>/dev/null || break
		sleep 0.1
	done

	for i in $(seq 0 15); do
		if ! read -r _ nr _ b _ nb < <(grep '^reads ' "$W/r$i.out"); then
			fail "reader $i gave no result: $(oneline "$W/r$i.err")"
			continue
		fi
		reads=$((reads + nr)) bytes=$((bytes + b))
		if [ "$nb" -ne 0 ] || grep -q '^problem' "$W/r$i.out"; then
			fail "reader $i: $(grep '^problem' "$W/r$i.out" | head -3 |
			    tr '\n' '|')"
		fi
		[ "$nr" -gt 0 ] || fail "reader $i read nothing"
	done
	echo "# $label: $reads reads checked, $bytes bytes" \
	    "($((bytes / 1048576)) MiB) in $secs s; wall time $(elapsed "$t0" "$t1") s"
	case_end "$label: 16 readers (cat, dd, pread at random offsets, 2 threads on one descriptor) for $secs s: every byte right"

	if read -r _ nls _ lsbad < <(grep '^lists ' "$W/ls.result"); then
		echo "# $label: ls -lRA: $nls passes"
		[ "$lsbad" -eq 0 ] ||
		    fail "$(grep '^problem' "$W/ls.result" | head -3 | tr '\n' '|')"
		[ "$nls" -gt 0 ] || fail "ls -lRA never finished"
	else
		fail "the ls -lRA loop gave no result: $(oneline "$W/ls.result")"
	fi
	case_end "$label: ls -lRA in a loop meanwhile (refresh every 2 s): $want_files files and $want_links links at every pass"

	[ -z "$hung" ] || fail "hung readers (above)"
	case_end "$label: no deadlock: every reader done within $GRACE s of the end"

	if daemon_ours; then
		hwm=$(awk '/^VmHWM:/ { print int($2 / 1024) }' "/proc/$mpid/status")
		echo "# $label: the daemon's peak memory (VmHWM): $hwm MiB" \
		    "(bound $bound MiB)"
		[ "${hwm:-0}" -le "$bound" ] ||
		    fail "VmHWM $hwm MiB, over the bound of $bound MiB"
	else
		fail "the daemon is gone: $(oneline "$W/mount-$label.log")"
	fi
	case_end "$label: the daemon's peak memory under $bound MiB"

	if daemon_ours && is_mounted; then
		fusermount3 -u "$MNT" 2>"$W/umount.err" ||
		    fail "fusermount3 -u: $(oneline "$W/umount.err")"
		for _ in $(seq 600); do
			kill -0 "$mpid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$mpid" 2>/dev/null; then
			fail "twiliofs still running 60 s after fusermount3 -u"
			kill -9 "$mpid"
		fi
	fi
	wait "$mpid" 2>/dev/null
	st=$?
	[ $st -eq 0 ] || fail "twiliofs exited $st: $(oneline "$W/mount-$label.log")"
	if ls "$W"/tsan.* >/dev/null 2>&1; then
		fail "ThreadSanitizer reports: $(ls "$W"/tsan.*)"
		grep -hE '^(WARNING|SUMMARY|  (Write|Read|Previous|Mutex|Location|Thread)|    #)' \
		    "$W"/tsan.* | head -150 | sed 's/^/# /'
	fi
	case_end "$label: fusermount3 -u: the daemon exits 0; no sanitizer report"
	mpid=''
}

# The catalog first: a mount of a never-synced account fills in as it
# syncs, and the readers need the whole tree from the start.
t0=$(date +%s.%N)
timeout 300 "$TWILIOFS" sync --cache-dir "$W/cache" >"$W/sync.log" 2>&1 || {
	echo "Bail out! sync: exit $?: $(oneline "$W/sync.log")"
	exit 1
}
echo "# synced in $(elapsed "$t0") s"
load "$TWILIOFS" "$SECS" "$max_rss" "$san"
if [ -n "${TWILIOFS_MEM:-}" ]; then
	load "$TWILIOFS_MEM" 6 64 optimised
fi

echo "1..$n"
[ "$fails" -eq 0 ]
