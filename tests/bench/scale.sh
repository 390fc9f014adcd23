#!/bin/bash
# SPDX-License-Identifier: MIT
# scale.sh - the scale benchmark (issue 12; `TFS_BENCH_SUITE=scale make
# bench`). A benchmark, never a timed test: it prints one table and writes
# it to build/bench/scale.md with the machine, the date and the commands.
#
# The account is tests/env's with TFS_BENCH_ITEMS bulk video recordings
# (tests/env/start.sh --bulk N). Measured, in this order:
#   - an empty account (no bulk items, its own env): catalog size and the
#     daemon's peak RSS after `ls -lR` and `find`, the baselines of the
#     per-item figures;
#   - how long the env takes to start with N items;
#   - cold `twiliofs sync` (fresh cache dir) vs tests/bench/sync_baseline.py,
#     a bare sequential client making the same requests, back to back in
#     each run: times and ratio (target: twiliofs <= 0.5x the client);
#   - a first mount of the never-synced account (-o refresh=0: the first
#     sync runs all the same): until findmnt shows it (target < 5 s), and
#     until status.json says the fill is done (sync null, last_sync set);
#   - warm `twiliofs sync` with nothing new, incremental (the default when
#     the last full listing is less than a day old; target < 2 s and a few
#     requests per kind) and --full; requests from the mock's stats;
#   - a mount of the synced catalog (-o refresh=0): `ls -lR` twice, then
#     `find | wc -l` (warm targets < 2 s and 0 HTTP requests: the mock's
#     stats and nginx's access log), then the daemon's VmHWM (target
#     < 64 MiB + 100 bytes per item); catalog.sqlite's size;
#   - the cold sync vs the bare client again, on an account whose API
#     answers every request TFS_BENCH_LATENCY_MS late (start.sh --latency;
#     the media store is not delayed), with TFS_BENCH_LATENCY_ITEMS items:
#     against the local mock both clients are CPU-bound on this machine,
#     against api.twilio.com each request costs a round trip, which is
#     what twiliofs's parallel probes are for.
# Every figure is the median of its runs; the header extrapolates to a
# million items from the per-item figures.
#
# Settings (environment):
#   TFS_BENCH_ITEMS=100000   bulk items
#   TFS_BENCH_RUNS=3         runs of the cheap figures (warm syncs, mounts)
#   TFS_BENCH_SYNC_RUNS=1    runs of the long ones (cold sync and its
#                            baseline, the first mount's fill)
#   TFS_BENCH_BIN=PATH       the twiliofs to measure (default ./twiliofs)
#   TFS_BENCH_LATENCY_MS=5   the API latency of the last case (a low real
#                            round trip); 0 leaves the case out
#   TFS_BENCH_LATENCY_ITEMS  its bulk items (default the smaller of
#                            TFS_BENCH_ITEMS and 2000: the sequential
#                            client's wait stays a few minutes); it runs
#                            TFS_BENCH_RUNS times
# Work files in build/bench/scale/, the table in build/bench/scale.md.
# At 100,000 items a run took ~40 min on the 2-core machine, loaded by
# others: the env starts in ~20 s, the cold sync and its baseline take
# 6-8 min each, the first mount's fill as long, each --full ~2.5 min (then
# the mock sorted the whole list for every page it served: N^2; it keeps
# its lists sorted now). The latency case, at 2,000 items and 5 ms, adds
# about a minute (the bare client ~13 s a run, twiliofs ~3 s).
# Exits 1 when a case failed (it shows as FAILED; the others still run).

# The case_* functions run only through run_case, which shellcheck cannot
# follow:
# shellcheck disable=SC2317
set -u
set -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cd "$top" || exit 1
PY=/usr/bin/python3
HELPER=("$PY" "$here/helper.py")
bin=${TFS_BENCH_BIN:-$top/twiliofs}
out=$top/build/bench
work=$out/scale
raw=$work/raw
mnt=$work/mnt
env0=$work/env-empty		# the account without bulk items
envdir=$work/env		# the account with $items bulk items
envlat=$work/env-latency	# $lat_items items, API latency $lat_ms ms
catalog=$work/catalog		# the cold sync's cache dir, mounted later
catalog0=$work/catalog-empty
catalog_lat=$work/catalog-latency
firstdir=$work/first		# the first mount's cache dir (never synced)
# The env's build (media, ciphertexts) is cached apart from the tests'
# (build/env-cache), as read.sh's is; bulk items need nothing built.
env_cache=$top/build/bench-env/cache-scale
MIB=1048576

items=${TFS_BENCH_ITEMS:-100000}
runs=${TFS_BENCH_RUNS:-3}
sync_runs=${TFS_BENCH_SYNC_RUNS:-1}
lat_ms=${TFS_BENCH_LATENCY_MS:-5}
lat_items=${TFS_BENCH_LATENCY_ITEMS:-$((items < 2000 ? items : 2000))}
# Generous bounds, so that a hung step fails its case, not the bench:
# 20 ms a item is 30 times what a cold sync took before issue 12.
long_timeout=$((1800 + items / 50))
walk_timeout=$((600 + items / 100))

note() { echo "bench: $*" >&2; }
die() { note "$*"; exit 1; }

for v in "$items" "$runs" "$sync_runs" "$lat_items"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "TFS_BENCH_ITEMS, _RUNS, _SYNC_RUNS and _LATENCY_ITEMS must be positive whole numbers"
done
[[ $lat_ms =~ ^(0|[1-9][0-9]{0,3})$ ]] || die "TFS_BENCH_LATENCY_MS must be a whole number of milliseconds, 0 to 9999"
[ -x "$bin" ] || die "no $bin: run make twiliofs first"
[ -x /usr/bin/time ] || die "missing tool: /usr/bin/time (Debian package time)"
for tool in curl fusermount3 findmnt pgrep timeout find; do
	command -v "$tool" >/dev/null || die "missing tool: $tool"
done

# ---- numbers -----------------------------------------------------------------
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.6f\n", e - s }'; }
calc() { awk -v a="$2" -v b="${3:-0}" -v c="${4:-0}" "BEGIN { printf \"%.6f\n\", $1 }"; }

# Why a case failed: said on stderr and kept for its FAILED row.
why() { note "$*"; echo "$*" >>"$work/case.why"; }

record() { echo "$2" >>"$raw/$1"; }	# NAME VALUE: one run's value
med() { [ -s "$raw/$1" ] && "${HELPER[@]}" median <"$raw/$1"; }
has() { [ -s "$raw/$1" ]; }
# pratio A B: the median over the runs of A's run / B's run.
pratio() { "${HELPER[@]}" ratio "$raw/$1" "$raw/$2"; }
range() { # NAME: " (min–max)" when there were several runs
	[ "$(wc -l <"$raw/$1")" -gt 1 ] || return 0
	sort -g "$raw/$1" | awk 'NR == 1 { a = $1 } { b = $1 }
		END { printf " (%.3g–%.3g)", a, b }'
}

# Formats for the table.
fs() { # seconds: 3 significant digits below 100 s, else whole
	awk -v v="$1" 'BEGIN {
		if (v >= 100) printf "%.0f s", v
		else if (v >= 10) printf "%.1f s", v
		else printf "%.3f s", v }'
}
fmin() { # seconds, as hours or minutes when long
	awk -v v="$1" 'BEGIN {
		if (v >= 7200) printf "%.1f h", v / 3600
		else if (v >= 120) printf "%.0f min", v / 60
		else printf "%.0f s", v }'
}
fbytes() {
	awk -v v="$1" 'BEGIN {
		if (v >= 1073741824) printf "%.2f GiB", v / 1073741824
		else if (v >= 1048576) printf "%.1f MiB", v / 1048576
		else if (v >= 1024) printf "%.1f KiB", v / 1024
		else printf "%d B", v }'
}
fint() { awk -v v="$1" 'BEGIN { printf "%d", v + 0.5 }'; }
# met OK: the table's last column
met() { if [ "$1" = 1 ]; then echo yes; else echo "**no**"; fi; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b) ? 1 : 0 }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? 1 : 0 }'; }

# row FIGURE TWILIOFS BASELINE RATIO TARGET MET: one line of the table.
row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@" >>"$work/rows.md"; }

# timed CMD...: run it with its output thrown away; print the wall time.
timed() {
	local s rc
	s=$(now)
	rc=0
	"$@" >/dev/null || rc=$?
	[ "$rc" -eq 0 ] || { why "exit $rc: $*"; return 1; }
	since "$s"
}

# wait_for SECONDS CMD...: poll CMD until it succeeds; 1 if it never does.
wait_for() {
	local end
	end=$(calc 'a + b' "$(now)" "$1")
	shift
	until "$@"; do
		awk -v n="$(now)" -v e="$end" 'BEGIN { exit !(n > e) }' && return 1
		sleep 0.02
	done
}

# ---- the test accounts ---------------------------------------------------------
# env_up DIR BULK [LATENCY_MS]: start an account; prints the seconds
# start.sh took.
env_up() {
	local t
	note "starting the test account in $1 with $2 bulk items, API latency ${3:-0} ms (the first start builds its media: a minute or two)"
	t=$(TFS_ENV_CACHE=$env_cache timed bash tests/env/start.sh "$1" --bulk "$2" --latency "${3:-0}" 2>>"$work/env.log") ||
		{ note "tests/env/start.sh failed; see $work/env.log"; return 1; }
	echo "$t"
}

env_down() { # DIR
	[ -e "$1/run" ] || return 0
	bash tests/env/stop.sh "$1" >/dev/null 2>&1 && rm -rf "$1/run"
}

use_env() { # DIR: its variables, for twiliofs, curl and the baseline
	# shellcheck disable=SC1091
	. "$1/env.sh"
}

curl_s() { curl -sS --fail --cacert "$TWILIOFS_CAFILE" "$@"; }
stats() { curl_s -o "$1" "$TFS_CONTROL/stats"; }	# FILE: the mock's counters
log_lines() { wc -l <"$TFS_NGINX_ACCESS_LOG"; }

# CPU accounting, in clock ticks (USER_HZ), as read.sh does it: where a
# run's time went on a machine the client, the mock and nginx share.
hz=$(getconf CLK_TCK)
pid_ticks() { # PID...: their user + system time; a gone one counts 0
	local p t=0 f
	for p in "$@"; do
		# fields after the ")" that ends comm: utime is the 12th, stime the 13th
		f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
		t=$((t + $(awk '{ print $12 + $13 }' <<<"$f")))
	done
	echo "$t"
}
server_pids() { # the mock, nginx's master and workers
	local m
	cat "$TFS_ENV_DIR/run/mock.pid"
	m=$(cat "$TFS_ENV_DIR/run/nginx.pid") && { echo "$m"; pgrep -P "$m"; }
}
ticks_s() { calc 'a / b' "$1" "$hz"; }
# api_requests BEFORE AFTER: "TOTAL VIDEO_REC COMPOSITIONS VOICE TRANSCRIPTS OTHER"
api_requests() { "${HELPER[@]}" stats "$1" "$2"; }

# The mock logs its first 100,000 requests one by one (the per-kind counts
# come from that list) and counts the rest only; reset empties the list.
# It also rebuilds the bulk items (the same ones) and rewrites the manifest.
mock_reset() { curl_s -X POST -d '{}' -o /dev/null "$TFS_CONTROL/reset"; }

# ---- the mount -----------------------------------------------------------------------
daemon=		# the pid of the mounted twiliofs

mounted() { [ "$(findmnt -n -o FSTYPE --mountpoint "$mnt" 2>/dev/null)" = fuse.twiliofs ]; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
gone() { ! alive "$1"; }

# The daemon: the twiliofs process whose command line names the mountpoint
# (its comm: the binary's name, cut to 15 bytes; TFS_BENCH_BIN may have
# another).
bin_comm=$(basename "$bin" | cut -c1-15)
find_daemon() {
	local p
	for p in $(pgrep -f -- "$mnt"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$bin_comm" ] && { echo "$p"; return 0; }
	done
	return 1
}

# mount_at CACHE_DIR: mount it with -o refresh=0 (no refresh to disturb
# the measurements; a never-synced catalog is filled all the same). Prints
# the seconds from the command's start until findmnt shows the mount.
mount_at() {
	local s t
	mounted && unmount
	mkdir -p "$mnt"
	s=$(now)
	"$bin" mount --cache-dir "$1" --log-file "$work/twiliofs.log" \
		-o refresh=0 "$mnt" 2>>"$work/mount.log" ||
		{ why "twiliofs mount failed; see $work/mount.log, $work/twiliofs.log"; return 1; }
	wait_for 60 mounted || { why "$mnt is not a twiliofs mount 60 s after twiliofs mount"; return 1; }
	t=$(since "$s")
	daemon=$(find_daemon) || { why "no twiliofs daemon for $mnt"; return 1; }
	echo "$daemon" >"$work/daemon.pid"	# for the callers in $(...)
	echo "$t"
}

# unmount: and wait until the daemon has exited. Cleanup: it never fails.
unmount() {
	[ -n "$daemon" ] || daemon=$(cat "$work/daemon.pid" 2>/dev/null) || daemon=
	if mounted; then
		fusermount3 -u "$mnt" 2>/dev/null ||
			fusermount3 -uz "$mnt" 2>/dev/null || note "cannot unmount $mnt"
	fi
	if alive "$daemon" && ! wait_for 60 gone "$daemon"; then
		note "the daemon $daemon outlived its mount by 60 s; killing it"
		kill -KILL "$daemon" 2>/dev/null || true
	fi
	daemon=
	rm -f "$work/daemon.pid"
}

peak_rss_kib() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$daemon/status"; }

bounded() { timeout --foreground -k 5 "$walk_timeout" "$@"; }
ls_lr() { bounded ls -lR "$mnt" >/dev/null; }
shape=/dev/shm/twiliofs-bench-shape.$$	# the mount's tree on tmpfs
ls_lr_shape() { bounded ls -lR "$shape" >/dev/null; }
# The mount's tree copied onto tmpfs: same names, sizes (sparse, no data),
# links and mtimes: what ls -lR of the same tree costs without FUSE.
copy_shape() {
	rm -rf "$shape"
	"$PY" - "$mnt" "$shape" <<'PYEOF'
import os, sys
src, dst = sys.argv[1], sys.argv[2]
for root, dirs, files in os.walk(src):
    d = os.path.join(dst, os.path.relpath(root, src))
    os.makedirs(d, exist_ok=True)
    for f in files:
        p, q = os.path.join(root, f), os.path.join(d, f)
        st = os.lstat(p)
        if os.path.islink(p):
            os.symlink(os.readlink(p), q)
            continue
        with open(q, "wb") as fh:
            fh.truncate(st.st_size)
        os.utime(q, (st.st_mtime, st.st_mtime))
PYEOF
}
find_count() { bounded find "$mnt" >"$work/find.out" && wc -l <"$work/find.out" >"$work/find.count"; }

# walk PREFIX CACHE_DIR: one run of the mount measurements: a fresh mount,
# `ls -lR` (cold, the mount's first), `ls -lR` again and `find | wc -l`
# (warm, counting the HTTP requests during them), the daemon's VmHWM.
walk() {
	local p=$1 t s0 s1 l0 n
	t=$(mount_at "$2") || return 1
	daemon=$(cat "$work/daemon.pid")
	record "$p.appear" "$t"
	t=$(timed ls_lr) || { why "ls -lR failed or took over $walk_timeout s"; return 1; }
	record "$p.ls_cold" "$t"
	s0=$work/stats.0 s1=$work/stats.1
	stats "$s0"
	l0=$(log_lines)
	t=$(timed ls_lr) || { why "ls -lR failed or took over $walk_timeout s"; return 1; }
	record "$p.ls_warm" "$t"
	t=$(timed find_count) || { why "find failed or took over $walk_timeout s"; return 1; }
	record "$p.find" "$t"
	record "$p.entries" "$(cat "$work/find.count")"
	stats "$s1"
	read -r n _ < <(api_requests "$s0" "$s1")
	record "$p.warm_api" "$n"
	record "$p.warm_store" "$(($(log_lines) - l0))"
	record "$p.rss" "$(peak_rss_kib)"
	copy_shape || { why "copying the tree onto tmpfs failed"; return 1; }
	timed ls_lr_shape >/dev/null	# warm the dentry cache
	t=$(timed ls_lr_shape) || { why "ls -lR on tmpfs failed"; return 1; }
	record "$p.ls_tmpfs" "$t"
	rm -rf "$shape"
	unmount
}

catalog_bytes() { # DIR: catalog.sqlite and its WAL
	local f b=0
	for f in "$1/catalog.sqlite" "$1/catalog.sqlite-wal"; do
		[ -e "$f" ] && b=$((b + $(stat -c %s "$f")))
	done
	echo "$b"
}

sync_ok() { # CACHE_DIR [ARG...]: twiliofs sync; 5 (some items failed) is fine
	local dir=$1 rc
	shift
	rc=0	# (the cases run with errexit)
	timeout --foreground -k 10 "$long_timeout" /usr/bin/time -f '%U %S' -o "$work/cpu.out" \
		"$bin" sync --cache-dir "$dir" "$@" >"$work/sync.out" 2>>"$work/sync.log" || rc=$?
	cat "$work/sync.out" >>"$work/sync.log"
	# 5: some items failed, as the account's nokey ones may
	[ "$rc" -eq 0 ] || [ "$rc" -eq 5 ] ||
		{ why "twiliofs sync $* failed (exit $rc); see $work/sync.log"; return 1; }
}

# ---- the cases -----------------------------------------------------------------------

# The empty account: the baseline of the per-item figures.
case_empty() {
	local t i
	t=$(env_up "$env0" 0) || { why "the empty account did not start"; return 1; }
	record env0.start "$t"
	use_env "$env0"
	rm -rf "$catalog0"
	sync_ok "$catalog0"
	record empty.catalog "$(catalog_bytes "$catalog0")"
	for i in $(seq "$runs"); do
		note "empty account: mount $i/$runs"
		walk e "$catalog0"
	done
	env_down "$env0"
}

# The bare client, its CPU in cpu.out, how many objects it probed in
# probed.out.
baseline_sync() {
	timeout --foreground -k 10 "$long_timeout" /usr/bin/time -f '%U %S' -o "$work/cpu.out" \
		"$PY" "$here/sync_baseline.py" >"$work/probed.out" 2>>"$work/baseline.log" ||
		{ why "sync_baseline.py failed; see $work/baseline.log"; return 1; }
}

# measure_sync P CMD...: run CMD (a sync that leaves its CPU in cpu.out)
# on the account in use, the servers' pids in srv; record P (seconds),
# P_cpu, P_cpu_servers, P_api (requests to the mock), P_store (to nginx).
measure_sync() {
	local p=$1 s0 l0 c0 t k
	shift
	stats "$work/stats.0"
	l0=$(log_lines)
	c0=$(pid_ticks "${srv[@]}")
	s0=$(now)
	"$@" || return 1
	t=$(since "$s0")
	record "$p" "$t"
	record "${p}_cpu" "$(awk '{ print $1 + $2 }' "$work/cpu.out")"
	record "${p}_cpu_servers" "$(ticks_s "$(($(pid_ticks "${srv[@]}") - c0))")"
	stats "$work/stats.1"
	read -r k _ < <(api_requests "$work/stats.0" "$work/stats.1")
	record "${p}_api" "$k"
	record "${p}_store" "$(($(log_lines) - l0))"
}

# cold_run P N CACHE_DIR WHAT: one run of the cold sync vs the bare client
# on the account in use (N items), back to back; figures as P.base* and
# P.tfs*. WHAT says which run it is.
cold_run() {
	local p=$1 n=$2 dir=$3 what=$4 probed srv=()
	mapfile -t srv < <(server_pids)
	note "$what: the bare client ($n items)"
	measure_sync "$p.base" baseline_sync || return 1
	probed=$(cat "$work/probed.out")
	[ "$probed" -ge "$n" ] || { why "the bare client probed $probed objects, fewer than $n"; return 1; }
	note "$what: twiliofs sync"
	rm -rf "$dir"
	measure_sync "$p.tfs" sync_ok "$dir" || return 1
	note "$what: $(fs "$(tail -n 1 "$raw/$p.tfs")"), the bare client $(fs "$(tail -n 1 "$raw/$p.base")")"
}

# Cold sync vs the bare client, back to back in each run.
case_cold() {
	local i
	for i in $(seq "$sync_runs"); do
		cold_run cold "$items" "$catalog" "cold sync $i/$sync_runs"
		record catalog "$(catalog_bytes "$catalog")"
	done
}

# The same on an account of its own whose API answers lat_ms late.
case_latency() {
	local i t
	t=$(env_up "$envlat" "$lat_items" "$lat_ms") ||
		{ why "the account with $lat_ms ms API latency did not start"; return 1; }
	note "the account with $lat_items items and $lat_ms ms API latency started in $(fs "$t")"
	use_env "$envlat"
	# the bare client waits out every request's latency in turn (about
	# 2 API requests an item, more for transcripts: 4 is generous)
	long_timeout=$((long_timeout + lat_items * lat_ms * 4 / 1000))
	for i in $(seq "$runs"); do
		cold_run lat "$lat_items" "$catalog_lat" "cold sync at $lat_ms ms latency $i/$runs"
	done
	env_down "$envlat"
}

# A first mount of the never-synced account: until it appears, until the
# fill is done. status.json is polled every 0.25 s; its progress goes to
# first-fill.log.
case_first() {
	local i t s done_t p
	for i in $(seq "$sync_runs"); do
		note "first mount $i/$sync_runs"
		rm -rf "$firstdir"
		s=$(now)
		t=$(mount_at "$firstdir") || return 1
		daemon=$(cat "$work/daemon.pid")
		record first.appear "$t"
		echo "run $i: mounted after $t s" >>"$work/first-fill.log"
		"${HELPER[@]}" wait-status "$mnt/.twiliofs/status.json" "$long_timeout" 0.25 \
			>"$work/fill.log" ||
			{ cat "$work/fill.log" >>"$work/first-fill.log"; why "status.json did not say the first sync was done within $long_timeout s (with -o refresh=0); see $work/first-fill.log"; return 1; }
		done_t=$(since "$s")
		cat "$work/fill.log" >>"$work/first-fill.log"
		record first.done "$done_t"
		# when status.json first said "probing": the listing's end
		p=$(sed -n 's/^phase probing //p' "$work/fill.log")
		[ -z "$p" ] || record first.listing "$(calc 'a + b' "$t" "$p")"
		record first.rss "$(peak_rss_kib)"
		record first.rss_now "$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$daemon/status")"
		record first.cpu "$(ticks_s "$(pid_ticks "$daemon")")"
		note "first mount $i/$sync_runs: appeared after $(fs "$t"), filled after $(fs "$done_t")"
		unmount
	done
	# The next cases count requests per kind from the mock's request log,
	# which the cold syncs filled.
	mock_reset
}

# Warm syncs, nothing new: incremental (the default) and --full.
case_warm() {
	local i t mode n vr cj re gt other l0 c0 srv=()
	mapfile -t srv < <(server_pids)
	for i in $(seq "$runs"); do
		for mode in incr full; do
			note "warm sync ($mode) $i/$runs"
			stats "$work/stats.0"
			l0=$(log_lines)
			c0=$(pid_ticks "${srv[@]}")
			if [ "$mode" = incr ]; then
				t=$(timed sync_ok "$catalog") || return 1
			else
				t=$(timed sync_ok "$catalog" --full) || return 1
			fi
			record "$mode.tfs" "$t"
			record "$mode.tfs_cpu" "$(awk '{ print $1 + $2 }' "$work/cpu.out")"
			record "$mode.tfs_cpu_servers" "$(ticks_s "$(($(pid_ticks "${srv[@]}") - c0))")"
			stats "$work/stats.1"
			read -r n vr cj re gt other < <(api_requests "$work/stats.0" "$work/stats.1")
			[ "$vr" -ge 0 ] || { why "the mock's request log is full: no counts per kind"; return 1; }
			record "$mode.api" "$n"
			record "$mode.max_kind" "$(printf '%s\n' "$vr" "$cj" "$re" "$gt" | sort -n | tail -n 1)"
			echo "$vr $cj $re $gt $other" >"$work/$mode.kinds"
			record "$mode.store" "$(($(log_lines) - l0))"
			if [ "$mode" = incr ] && ! grep -q 'stopped early' "$work/sync.out"; then
				# Nothing stopped early when every list fits on a page.
				[ "$items" -le 100 ] || { why "the warm sync listed everything; it was not incremental"; return 1; }
			fi
		done
	done
}

case_mount() {
	local i
	for i in $(seq "$runs"); do
		note "mount of the synced catalog $i/$runs"
		walk m "$catalog"
	done
}

# ---- running the cases ----------------------------------------------------------------
failed=0
case_pid=

# run_case NAME: in a subshell with errexit (read.sh's way), so that a
# failed step ends the case (shown as FAILED) and the next case runs.
run_case() {
	local name=$1 rc
	: >"$work/case.why"
	: >"$work/case.err"
	(
		set -eE
		trap 'echo "line $LINENO: $BASH_COMMAND (exit $?)" >>"$work/case.err"' ERR
		trap unmount EXIT
		"case_$name"
	) &
	case_pid=$!
	wait "$case_pid"
	rc=$?
	case_pid=
	if [ $rc -ne 0 ]; then
		failed=1
		note "case $name FAILED"
		echo "$name: $(cat "$work/case.why" "$work/case.err" | head -n 1 | tr '|' '/')" >>"$work/failed"
	fi
	unmount	# should the subshell have been killed
}

# ---- the table --------------------------------------------------------------------------
failed_row() { # CASE: its FAILED row, when it failed
	local r
	r=$(grep "^$1: " "$work/failed" 2>/dev/null) || return 1
	row "**$1: FAILED** (${r#*: })" FAILED - - - -
}

# cold_rows PREFIX TITLE WHAT: a cold sync vs the bare client (time and
# ratio, requests, CPU), from the raw figures PREFIX.*
cold_rows() {
	local p=$1 what=$3 r
	r=$(pratio "$p.tfs" "$p.base")
	row "$2" "$(fs "$(med "$p.tfs")")$(range "$p.tfs")" \
		"$(fs "$(med "$p.base")")$(range "$p.base")" "${r}x" "<= 0.5x" "$(met "$(le "$r" 0.5)")"
	row "requests of $what: API (mock) + media store (nginx)" \
		"$(med "$p.tfs_api") + $(med "$p.tfs_store")" "$(med "$p.base_api") + $(med "$p.base_store")" - - -
	row "CPU seconds during $what: the client's process (user + system); the mock and nginx serving it" \
		"$(fs "$(med "$p.tfs_cpu")"); servers $(fs "$(med "$p.tfs_cpu_servers")")" \
		"$(fs "$(med "$p.base_cpu")"); servers $(fs "$(med "$p.base_cpu_servers")")" \
		"$(pratio "$p.tfs_cpu" "$p.base_cpu")x" - -
}

rows() {
	local t b r per n k
	failed_row cold || if has cold.tfs; then
		cold_rows cold "cold \`twiliofs sync\` of $items items (fresh cache dir) vs the bare sequential client (sync_baseline.py); ratio: twiliofs / client, median of $sync_runs run(s)" \
			"the cold sync"
	fi
	failed_row latency || if has lat.tfs; then
		cold_rows lat "**with $lat_ms ms API latency** (start.sh --latency $lat_ms: every API request answered that late, the media store not), **$lat_items items**: cold \`twiliofs sync\` vs the bare client; ratio, median of $runs run(s)" \
			"that cold sync ($lat_ms ms, $lat_items items)"
	fi
	failed_row first || if has first.done; then
		t=$(med first.appear)
		row "first mount of the never-synced account (-o refresh=0): until findmnt shows it" \
			"$(fs "$t")$(range first.appear)" - - "< 5 s" "$(met "$(lt "$t" 5)")"
		t=$(med first.done)
		if has cold.tfs; then
			b="$(fs "$(med cold.tfs)") (cold sync)" r="$(calc 'a / b' "$t" "$(med cold.tfs)" | cut -c1-4)x"
		else
			b=- r=-
		fi
		k=
		! has first.listing || k=" (listing until $(fs "$(med first.listing)"), then probing)"
		row "the same: until status.json says the fill is done (\"sync\" null, \"last_sync\" set; the first sync ran with refresh=0)" \
			"$(fs "$t")$(range first.done)$k" "$b" "$r" - -
		t=$(calc 'a * 1024' "$(med first.rss)")
		n=$(calc 'a + b * 100' "$((64 * MIB))" "$items")
		row "daemon peak RSS (VmHWM) at the end of that fill (VmRSS then; the daemon's CPU seconds)" \
			"$(fbytes "$t") ($(fbytes "$(calc 'a * 1024' "$(med first.rss_now)")"); $(fs "$(med first.cpu)") CPU)" - - \
			"< 64 MiB + 100 B/item = $(fbytes "$n")" "$(met "$(lt "$t" "$n")")"
	fi
	failed_row warm || if has incr.tfs; then
		t=$(med incr.tfs) k=$(tr ' ' '/' <"$work/incr.kinds")
		row "warm \`twiliofs sync\`, nothing new (incremental, the default)" \
			"$(fs "$t")$(range incr.tfs)" - - "< 2 s" "$(met "$(lt "$t" 2)")"
		n=$(med incr.max_kind)
		row "its API requests per kind (video recordings/compositions/voice/transcripts/other; last run) and media-store requests" \
			"$k; store $(med incr.store)" - - "a few per kind (<= 3)" "$(met "$(le "$n" 3)")"
		t=$(med full.tfs) k=$(tr ' ' '/' <"$work/full.kinds")
		row "warm \`twiliofs sync --full\`, nothing new (lists everything; CPU seconds: twiliofs, the mock and nginx)" \
			"$(fs "$t")$(range full.tfs) (CPU $(fs "$(med full.tfs_cpu)"); servers $(fs "$(med full.tfs_cpu_servers)"))" - - - -
		row "its API requests per kind, and media-store requests" \
			"$k; store $(med full.store)" - - - -
	fi
	failed_row mount || if has m.rss; then
		t=$(med m.appear)
		row "mount of the synced catalog (-o refresh=0): until findmnt shows it" \
			"$(fs "$t")$(range m.appear)" - - - -
		if has e.rss; then
			b=$(calc 'a * 1024' "$(med e.rss)")
			per=$(calc '(a - b) * 1024 / c' "$(med m.rss)" "$(med e.rss)" "$items")
			b="$(fbytes "$b") (empty account)"
			per="$(fint "$per") B/item over it"
		else
			b=- per=-
		fi
		t=$(calc 'a * 1024' "$(med m.rss)")
		n=$(calc 'a + b * 100' "$((64 * MIB))" "$items")
		row "daemon peak RSS (VmHWM) after \`ls -lR\` x2 and \`find\` of the mount" \
			"$(fbytes "$t")" "$b" "$per" "< 64 MiB + 100 B/item = $(fbytes "$n")" "$(met "$(lt "$t" "$n")")"
		row "\`ls -lR MNT\`, the mount's first (cold)" \
			"$(fs "$(med m.ls_cold)")$(range m.ls_cold)" - - - -
		t=$(med m.ls_warm)
		row "warm \`ls -lR MNT >/dev/null\` (second, same mount) vs the same tree copied onto tmpfs (names, sizes, links, mtimes; warm); ratio" \
			"$(fs "$t")$(range m.ls_warm)" "$(fs "$(med m.ls_tmpfs)") (tmpfs)" "$(pratio m.ls_warm m.ls_tmpfs)x" "< 2 s" "$(met "$(lt "$t" 2)")"
		t=$(med m.find)
		row "warm \`find MNT | wc -l\` ($(med m.entries) entries)" \
			"$(fs "$t")$(range m.find)" - - "< 2 s" "$(met "$(lt "$t" 2)")"
		n=$(med m.warm_api) k=$(med m.warm_store)
		row "HTTP requests during the warm \`ls -lR\` and \`find\`: API (mock stats) + media store (nginx log)" \
			"$n + $k" - - 0 "$(met "$([ "$((n + k))" -eq 0 ] && echo 1)")"
	fi
	if has catalog; then
		t=$(med catalog)
		if has empty.catalog; then
			b="$(fbytes "$(med empty.catalog)") (empty account)"
			per="$(fint "$(calc '(a - b) / c' "$t" "$(med empty.catalog)" "$items")") B/item"
		else
			b=- per=-
		fi
		row "catalog.sqlite (and its WAL) after the cold sync" "$(fbytes "$t")" "$b" "$per" - -
	fi
	failed_row empty || true
	if has env.start; then
		row "tests/env/start.sh --bulk $items (the env's build cached)" \
			"$(fs "$(med env.start)")" "$(fs "$(med env0.start)") (no bulk items; the first start builds the media)" - - -
	fi
}

# What a million items would cost, linearly from this run's figures.
million() {
	local M=1000000 per
	echo "- **a million items**, extrapolated linearly from these per-item figures:"
	if has cold.tfs; then
		per=$(calc 'a / b' "$(med cold.tfs)" "$items")
		echo "  - cold sync: $(awk -v p="$per" 'BEGIN { printf "%.2f ms", p * 1000 }')/item: ~$(fmin "$(calc 'a * b' "$per" "$M")") (the bare client: ~$(fmin "$(calc 'a / b * c' "$(med cold.base)" "$items" "$M")"))"
	fi
	if has lat.tfs; then
		per=$(calc 'a / b' "$(med lat.tfs)" "$lat_items")
		echo "  - cold sync with $lat_ms ms API latency: $(awk -v p="$per" 'BEGIN { printf "%.2f ms", p * 1000 }')/item: ~$(fmin "$(calc 'a * b' "$per" "$M")") (the bare client: ~$(fmin "$(calc 'a / b * c' "$(med lat.base)" "$lat_items" "$M")"))"
	fi
	if has full.tfs; then
		echo "  - warm full sync: ~$(fmin "$(calc 'a / b * c' "$(med full.tfs)" "$items" "$M")"); the incremental one stays at a page per kind (~$(fs "$(med incr.tfs)"))"
	fi
	if has m.rss && has e.rss; then
		per=$(calc '(a - b) * 1024 / c' "$(med m.rss)" "$(med e.rss)" "$items")
		echo "  - daemon RSS: $(fint "$per") B/item over the empty account's $(fbytes "$(calc 'a * 1024' "$(med e.rss)")"): ~$(fbytes "$(calc 'a * 1024 + b * c' "$(med e.rss)" "$per" "$M")") (target $(fbytes "$(calc 'a + 100 * b' "$((64 * MIB))" "$M")"))"
	fi
	if has m.ls_warm; then
		echo "  - warm \`ls -lR\`: ~$(fs "$(calc 'a / b * c' "$(med m.ls_warm)" "$items" "$M")"), \`find\`: ~$(fs "$(calc 'a / b * c' "$(med m.find)" "$items" "$M")")"
	fi
	if has first.done; then
		echo "  - a first mount: appears in the same time (it does not wait for the sync); filled after ~$(fmin "$(calc 'a / b * c' "$(med first.done)" "$items" "$M")")"
	fi
	if has catalog && has empty.catalog; then
		per=$(calc '(a - b) / c' "$(med catalog)" "$(med empty.catalog)" "$items")
		echo "  - catalog.sqlite: $(fint "$per") B/item: ~$(fbytes "$(calc 'a * b' "$per" "$M")")"
	fi
}

machine() {
	local model
	model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
	echo "- machine: $(nproc) CPUs, ${model:-unknown CPU}, $(awk '/^MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo); kernel $(uname -r)"
}

write_results() {
	local f=$out/scale.md name
	{
		echo "# twiliofs scale benchmark (issue 12): $items bulk items"
		echo
		echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(sed 's/^\([^ ]* [^ ]* [^ ]*\).*/load average \1/' /proc/loadavg) at the end (it was $load0 at the start)"
		machine
		echo "- twiliofs: $bin_info"
		echo "- the account: tests/env with $items bulk video recordings (--bulk $items) besides its ~20 items; $(med m.entries 2>/dev/null || echo '?') entries in the mount"
		[ "$lat_ms" -eq 0 ] ||
			echo "- with API latency: tests/env with $lat_items bulk video recordings and $lat_ms ms API latency (--bulk $lat_items --latency $lat_ms; TFS_BENCH_LATENCY_ITEMS, TFS_BENCH_LATENCY_MS)"
		echo "- runs: the cold sync, its baseline and the first mount's fill $sync_runs (TFS_BENCH_SYNC_RUNS$( [ "$sync_runs" -ge 3 ] || echo '; fewer than 3: indicative only')), every other figure$( [ "$lat_ms" -eq 0 ] || echo ' (the cold sync with latency too)') the median of $runs (TFS_BENCH_RUNS); (min–max) when more than one"
		million
		echo
		echo "| figure | twiliofs | baseline | ratio / per item | target | met |"
		echo "|---|---|---|---|---|---|"
		cat "$work/rows.md"
		echo
		echo "## Raw figures"
		echo
		echo "Seconds, except: *.rss KiB, *catalog bytes, *.api, *.store and *.max_kind requests, *.entries lines."
		echo
		echo "| measurement | median | runs |"
		echo "|---|---|---|"
		for name in "$raw"/*; do
			[ -e "$name" ] || continue
			name=${name##*/}
			echo "| $name | $(med "$name") | $(tr '\n' ' ' <"$raw/$name")|"
		done
		echo
		commands
	} >"$f"
	cat "$f"
	note "written to $f"
}

commands() {
	local lat=
	[ "$lat_ms" -eq 0 ] || lat="
    # with API latency, each run as cold above (the account started after the others are done with)
    TFS_ENV_CACHE=$env_cache bash tests/env/start.sh $envlat --bulk $lat_items --latency $lat_ms
    /usr/bin/python3 tests/bench/sync_baseline.py
    rm -rf $catalog_lat; twiliofs sync --cache-dir $catalog_lat"
	cat <<EOF
## Commands

The account: tests/env (a real nginx over TLS, the API mock), its build cached in $env_cache.

    TFS_ENV_CACHE=$env_cache bash tests/env/start.sh $env0 --bulk 0        # the empty account
    TFS_ENV_CACHE=$env_cache bash tests/env/start.sh $envdir --bulk $items   # timed
    # cold, each run: the bare client, then twiliofs with a fresh cache dir
    /usr/bin/python3 tests/bench/sync_baseline.py
    rm -rf $catalog; twiliofs sync --cache-dir $catalog
    # first mount, never synced: until findmnt -n -o FSTYPE --mountpoint MNT says fuse.twiliofs,
    # then until MNT/.twiliofs/status.json has "sync": null and "last_sync" set (polled every 0.25 s)
    rm -rf $firstdir; twiliofs mount --cache-dir $firstdir --log-file $work/twiliofs.log -o refresh=0 $mnt
    # warm, nothing new (after a mock reset, which empties its request log)
    twiliofs sync --cache-dir $catalog            # incremental: the last full listing is < 1 day old
    twiliofs sync --cache-dir $catalog --full
    # the synced catalog (and the empty account's, for the RSS and catalog baselines)
    twiliofs mount --cache-dir $catalog --log-file $work/twiliofs.log -o refresh=0 $mnt
    ls -lR MNT >/dev/null; ls -lR MNT >/dev/null; find MNT | wc -l
    grep VmHWM /proc/DAEMON/status; fusermount3 -u MNT
    stat -c %s $catalog/catalog.sqlite{,-wal}$lat

Requests: the mock's /__control/stats "total" before and after (per kind from its request log), and the lines added to nginx's access log.
EOF
}

cleanup() {
	[ -z "$case_pid" ] || kill -TERM "$case_pid" 2>/dev/null
	[ -z "$case_pid" ] || wait "$case_pid" 2>/dev/null
	mounted && { fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null; }
	local p
	p=$(find_daemon) && kill -TERM "$p" 2>/dev/null
	env_down "$env0"
	env_down "$envdir"
	env_down "$envlat"
	rm -rf "$shape"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mounted && die "$mnt is mounted already (another bench?); fusermount3 -u $mnt"
mkdir -p "$work"
rm -rf "$raw" "$work/rows.md" "$work/failed" "$work"/*.log "$out/scale.md"
mkdir -p "$raw"
: >"$work/rows.md"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
# Said as it was at the start: a rebuild during the run would change it.
bin_info="$bin, tree $(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown), built $(date -u -r "$bin" '+%Y-%m-%d %H:%M:%S UTC'), sha256 $(sha256sum <"$bin" | cut -c1-12)"

run_case empty
t=$(env_up "$envdir" "$items") || die "the account with $items items did not start"
record env.start "$t"
note "the account with $items bulk items started in $(fs "$t")"
use_env "$envdir"
run_case cold
run_case first
if has cold.tfs; then
	run_case warm
	run_case mount
else
	echo "warm: no catalog: the cold sync failed" >>"$work/failed"
	echo "mount: no catalog: the cold sync failed" >>"$work/failed"
	failed=1
fi
if [ "$lat_ms" -gt 0 ]; then
	env_down "$envdir"	# done with: its memory back for the next
	run_case latency
fi
rows
write_results
[ "$failed" -eq 0 ] || { note "some cases FAILED"; exit 1; }
exit 0
