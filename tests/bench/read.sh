#!/bin/bash
# SPDX-License-Identifier: MIT
# read.sh - the read path's benchmark (issue 9; `make bench`). A benchmark,
# never a timed test: it prints one table of figures, each a ratio against
# a baseline measured in the same run (the median of TFS_BENCH_RUNS runs,
# default 3; these machines are shared and noisy), and writes it to
# build/bench/results.md with the machine, the date and the commands.
#
# The media store is the test account's real nginx over TLS (tests/env),
# with benchmark items asked for through build.py's opt-ins; the baselines
# are curl (and the guide's curl | openssl enc -d) against the same nginx.
# Every twiliofs measurement is on a fresh mount (an empty page cache for
# the file); bytes and requests come from the nginx access log.
#
# Settings (environment):
#   TFS_BENCH_RUNS=3          runs per figure (the median is reported)
#   TFS_BENCH_MOUNT_MIB=256   the sequential CBC file (rt_big)
#   TFS_BENCH_GCM_MIB=128     the GCM voice recording (re_big)
#   TFS_BENCH_MANY=8x64       the concurrent readers' files (rt_many_*)
#   TFS_BENCH_LONG_MIN=30     the real video for ffmpeg -ss (rt_long)
#   TFS_BENCH_CAPPED="20m 20" the capped store: bytes/s per request and
#                             requests/s (tests/env TFS_ENV_CAPPED); "" skips
#   TFS_BENCH_STREAMS=N       passed as -o streams=N when set
#   TFS_BENCH_CASES="..."     only these cases (default: all, in order)
#   TFS_BENCH_BIN=PATH        the twiliofs to measure (default ./twiliofs),
#                             e.g. a copy of an older build to compare
# Exits 1 when a case failed (it shows as FAILED; the others still run).

# Most functions run only through "case_$name", measure, timed or together,
# which shellcheck cannot follow:
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
raw=$out/raw
mnt=$out/mnt
envdir=$out/env-read
catalog=$out/catalog		# synced once per env start, copied per mount
MIB=1048576

runs=${TFS_BENCH_RUNS:-3}
seq_mib=${TFS_BENCH_MOUNT_MIB:-256}
gcm_mib=${TFS_BENCH_GCM_MIB:-128}
many=${TFS_BENCH_MANY:-8x64}
long_min=${TFS_BENCH_LONG_MIN:-30}
capped=${TFS_BENCH_CAPPED-20m 20}
streams=${TFS_BENCH_STREAMS:-}
all_cases="sequential random skip ffmpeg gcm concurrent capped"
cases=${TFS_BENCH_CASES:-$all_cases}
read_timeout=900	# a hung read fails its case, not the whole bench
nrandom=50		# random 64 KiB reads per run
rlen=65536
# The benchmark items live in a cache of their own, one per set of sizes,
# so that a smaller run while developing does not rebuild the full one.
env_cache=$top/build/bench-env/cache-$seq_mib-$gcm_mib-$many-$long_min

note() { echo "bench: $*" >&2; }
die() { note "$*"; exit 1; }

for v in "$runs" "$seq_mib" "$gcm_mib" "$long_min"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "TFS_BENCH_RUNS, _MOUNT_MIB, _GCM_MIB and _LONG_MIN must be positive whole numbers"
done
[[ $many =~ ^[1-9][0-9]*x[1-9][0-9]*$ ]] || die "TFS_BENCH_MANY must be COUNTxMIB, e.g. 8x64"
[ -z "$streams" ] || [[ $streams =~ ^[1-9][0-9]*$ ]] || die "TFS_BENCH_STREAMS must be a positive whole number"
[ -x "$bin" ] || die "no $bin: run make twiliofs first"
for tool in curl openssl ffmpeg ffprobe fusermount3 findmnt pgrep timeout; do
	command -v "$tool" >/dev/null || die "missing tool: $tool"
done

# ---- numbers -----------------------------------------------------------------
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.6f\n", e - s }'; }
calc() { awk -v a="$2" -v b="${3:-0}" "BEGIN { printf \"%.6f\n\", $1 }"; }

# Why a case failed: said on stderr and kept for its FAILED row.
why() { note "$*"; echo "$*" >>"$out/case.why"; }

# timed CMD...: run it with its output thrown away; print the wall time.
timed() {
	local s rc
	s=$(now)
	"$@" >/dev/null
	rc=$?
	[ "$rc" -eq 0 ] || { why "exit $rc: $*"; return 1; }
	since "$s"
}

# A bounded read: a hung mount fails the case instead of the bench.
# --foreground keeps the reader in our process group, for Ctrl-C.
rd() { timeout --foreground -k 5 "$read_timeout" "$@"; }

record() { echo "$2" >>"$raw/$1"; }	# NAME VALUE: one run's value
med() { "${HELPER[@]}" median <"$raw/$1"; }

# measure NAME CMD...: time CMD once and record it under NAME.
measure() {
	local name=$1 t
	shift
	t=$(timed "$@") || return 1
	record "$name" "$t"
}

# CPU accounting, in clock ticks (USER_HZ): where a run's time went on a
# machine whose cores nginx, the client and the daemon share.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
pid_ticks() { # PID...: their user + system time; a gone one counts 0
	local p t=0 f
	for p in "$@"; do
		# fields after the ")" that ends comm: utime is the 12th, stime the 13th
		f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
		t=$((t + $(awk '{ print $12 + $13 }' <<<"$f")))
	done
	echo "$t"
}
nginx_pids() { local m; m=$(cat "$envdir/run/nginx.pid") && { echo "$m"; pgrep -P "$m"; }; }
hz=$(getconf CLK_TCK)

# measure_cpu NAME CMD...: measure, and record the CPU seconds of the whole
# machine (NAME.cpu_all), of nginx (NAME.cpu_nginx) and, when a daemon is
# mounted, of the daemon (NAME.cpu_daemon) during it.
measure_cpu() {
	local name=$1 b0 n0 d0 ng=()
	shift
	mapfile -t ng < <(nginx_pids)
	b0=$(busy_ticks) n0=$(pid_ticks "${ng[@]}") d0=$(pid_ticks ${daemon:+"$daemon"})
	measure "$name" "$@" || return 1
	record "$name.cpu_all" "$(calc 'a / b' "$(($(busy_ticks) - b0))" "$hz")"
	record "$name.cpu_nginx" "$(calc 'a / b' "$(($(pid_ticks "${ng[@]}") - n0))" "$hz")"
	[ -z "$daemon" ] ||
		record "$name.cpu_daemon" "$(calc 'a / b' "$(($(pid_ticks "$daemon") - d0))" "$hz")"
}

# Formats for the table.
fs() { awk -v v="$1" 'BEGIN { printf "%.3f s", v }'; }
fms() { awk -v v="$1" 'BEGIN { printf "%.2f ms", v * 1000 }'; }
frate() { awk -v v="$1" 'BEGIN { printf "%.0f MiB/s", v / 1048576 }'; }
fbytes() {
	awk -v v="$1" 'BEGIN {
		if (v >= 1048576) printf "%.1f MiB", v / 1048576
		else if (v >= 1024) printf "%.1f KiB", v / 1024
		else printf "%d B", v }'
}
fratio() { # A B: A / B, with two significant digits when small
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (b <= 0) printf "-"
		else if (a / b < 0.1) printf "%.2g", a / b
		else printf "%.2f", a / b }'
}
# pratio A B: the median over the runs of A's run / B's run. Each run
# measures both back to back, so a neighbour's load hits both; the ratio
# of the two medians would mix a quiet run's figure with a loaded one's.
pratio() { "${HELPER[@]}" ratio "$raw/$1" "$raw/$2"; }

# row FIGURE TWILIOFS BASELINE RATIO TARGET: one line of the table.
row() { printf '| %s | %s | %s | %s | %s |\n' "$@" >>"$out/rows.md"; }

# ---- the test account ------------------------------------------------------------
env_up() { # [CAPPED]: start the account (benchmark items), sync the catalog
	note "starting the test account${1:+ (capped store: $1)}; building its media, when not cached, takes a minute or two"
	TFS_ENV_CACHE=$env_cache TFS_ENV_BIG_MIB=$seq_mib \
		TFS_ENV_BIG_GCM_MIB=$gcm_mib TFS_ENV_MANY=$many \
		TFS_ENV_LONG_MIN=$long_min TFS_ENV_CAPPED=${1:-} \
		bash tests/env/start.sh "$envdir" >>"$out/env.log" 2>&1 ||
		{ note "tests/env/start.sh failed; see $out/env.log"; return 1; }
	# shellcheck disable=SC1091
	. "$envdir/env.sh"
	nginx_port=${TFS_MEDIA_BASE##*:}
	# Keep the objects in the page cache: the first baseline should not
	# pay for the disk.
	cat "$env_cache"/objects/*/* >/dev/null 2>&1
	rm -rf "$catalog"
	"$bin" sync --cache-dir "$catalog" >>"$out/sync.log" 2>&1
	local rc=$?
	# 5: some items failed, as the account's nokey and tampered ones do
	[ $rc -eq 0 ] || [ $rc -eq 5 ] ||
		{ note "twiliofs sync failed (exit $rc); see $out/sync.log"; return 1; }
}

env_down() {
	[ -e "$envdir/run" ] || return 0
	bash tests/env/stop.sh "$envdir" >/dev/null 2>&1 && rm -rf "$envdir/run"
}

# item NAME: "SID PATH ENC_SIZE PLAIN_SIZE PLAIN SHA256" (helper.py)
item() { "${HELPER[@]}" item "$TFS_MANIFEST" "$1"; }

# ---- the baselines: curl against the same nginx ----------------------------------
curl_s() { curl -sS --fail --cacert "$TWILIOFS_CAFILE" "$@"; }

api_media_url() { # SID: the API URL that answers 302 to its signed URL
	case $1 in
	RE*) echo "$TWILIOFS_ENDPOINT/api/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID/Recordings/$1.wav" ;;
	*) echo "$TWILIOFS_ENDPOINT/video/v1/Recordings/$1/Media" ;;
	esac
}

# resolve SID: "SIGNED_URL SECONDS", what any client does first.
resolve() {
	local code url t
	read -r code url t < <(curl -sS --cacert "$TWILIOFS_CAFILE" \
		-u "$TWILIO_API_KEY:$TWILIO_API_SECRET" -o /dev/null \
		-w '%{http_code} %{redirect_url} %{time_total}\n' \
		"$(api_media_url "$1")")
	if [ "${code:-}" != 302 ] || [ -z "${url:-}" ]; then
		why "resolving $1 answered ${code:-nothing}"
		return 1
	fi
	echo "$url $t"
}

signed_url() { local r; r=$(resolve "$1") || return 1; echo "${r% *}"; }

curl_get() { # SID: the whole ciphertext, as `curl -o` would fetch it
	local url
	url=$(signed_url "$1") || return 1
	curl_s -o /dev/null "$url"
}

guide_pipeline() { # SID CEK IV: the Twilio guide's curl | openssl enc -d
	local url
	url=$(signed_url "$1") || return 1
	curl_s "$url" | openssl enc -d -aes-256-cbc -K "$2" -iv "$3"
}

# cbc_key SID KEYFILE: "CEK IV" in hex, unwrapped the guide's way (curl -D,
# openssl pkeyutl); done once, outside the timing, which favours the guide.
cbc_key() {
	local url hdr cek iv
	url=$(signed_url "$1") || return 1
	hdr=$(curl_s -D - -o /dev/null -r 0-15 "$url" | tr -d '\r') || return 1
	cek=$(sed -n 's/^x-amz-meta-x-amz-key: *//Ip' <<<"$hdr" | base64 -d |
		openssl pkeyutl -decrypt -inkey "$2" | od -An -v -tx1 | tr -d ' \n')
	iv=$(sed -n 's/^x-amz-meta-x-amz-iv: *//Ip' <<<"$hdr" | base64 -d |
		od -An -v -tx1 | tr -d ' \n')
	if [ ${#cek} -ne 64 ] || [ ${#iv} -ne 32 ]; then
		why "no AES-256 key or IV from $1's headers"
		return 1
	fi
	echo "$cek $iv"
}

# curl_ttfb SID: seconds to the first byte, resolve included (curl's own
# time_total and time_starttransfer, so curl's start-up is not counted).
curl_ttfb() {
	local url tr ts
	read -r url tr < <(resolve "$1") || return 1
	ts=$(curl_s -o /dev/null -r 0-0 -w '%{time_starttransfer}' "$url") ||
		return 1
	calc 'a + b' "$tr" "$ts"
}

# curl_ranges URL LEN OFFSET...: each range's time_total, one a line; one
# curl, so one kept-alive connection, as a good client would have.
curl_ranges() {
	local url=$1 len=$2 args=() off
	shift 2
	for off in "$@"; do
		args+=(--next -sS --fail --cacert "$TWILIOFS_CAFILE" -o /dev/null
			-w '%{time_total}\n' -r "$off-$((off + len - 1))" "$url")
	done
	curl "${args[@]:1}"
}

# together FUNCTION ARG...: FUNCTION ARG for each ARG, all at once.
together() {
	local fn=$1 a pid rc=0 pids=()
	shift
	for a in "$@"; do
		"$fn" "$a" >/dev/null &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do
		wait "$pid" || rc=1
	done
	return "$rc"
}

# ---- the mount -----------------------------------------------------------------------
daemon=		# the pid of the mounted twiliofs

mounted() { [ "$(findmnt -n -o FSTYPE --mountpoint "$mnt" 2>/dev/null)" = fuse.twiliofs ]; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
gone() { ! alive "$1"; }

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

# The daemon: after `twiliofs mount` returns, the process whose command
# line names the mountpoint and which is twiliofs.
find_daemon() {
	local p
	for p in $(pgrep -f -- "$mnt"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = twiliofs ] && { echo "$p"; return 0; }
	done
	return 1
}

# mount_fresh CACHE_DIR: a new mount, so a new page cache for every file.
mount_fresh() {
	local opts=(-o refresh=0)
	[ -z "$streams" ] || opts+=(-o "streams=$streams")
	mounted && unmount
	mkdir -p "$mnt"
	"$bin" mount --cache-dir "$1" --log-file "$out/twiliofs.log" \
		"${opts[@]}" "$mnt" 2>>"$out/mount.log" ||
		{ why "twiliofs mount failed; see $out/mount.log, $out/twiliofs.log"; return 1; }
	wait_for 10 mounted || { why "$mnt is not a twiliofs mount"; return 1; }
	daemon=$(find_daemon) || { why "no twiliofs daemon for $mnt"; return 1; }
}

# nginx has sent its last byte and logged every request once no TLS
# connection to it is left (the daemon's close when it exits).
nginx_idle() {
	command -v ss >/dev/null || return 0
	[ -z "$(ss -Htn state established "( sport = :$nginx_port )")" ]
}

# unmount: and wait until the daemon has exited and nginx logged its
# requests, so the next measurement starts clean. Cleanup: it never fails
# (a mount it could not remove makes the next mount_fresh fail).
unmount() {
	if mounted; then
		[ -n "$daemon" ] || daemon=$(find_daemon) || daemon=
		fusermount3 -u "$mnt" 2>/dev/null ||
			fusermount3 -uz "$mnt" 2>/dev/null || note "cannot unmount $mnt"
	fi
	if alive "$daemon" && ! wait_for 30 gone "$daemon"; then
		note "the daemon $daemon outlived its mount by 30 s; killing it"
		kill -KILL "$daemon" 2>/dev/null || true
	fi
	daemon=
	wait_for 10 nginx_idle || note "nginx still has connections open"
}

peak_rss_kib() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$daemon/status"; }

# fresh_cache DIR: the synced catalog without any cached object, for a
# GCM first open that has to download.
fresh_cache() {
	rm -rf "$1"
	mkdir -m 700 "$1"	# twiliofs refuses a cache others may read
	find "$catalog" -maxdepth 1 -type f -exec cp {} "$1/" \;
}

log_mark() { stat -c %s "$TFS_NGINX_ACCESS_LOG"; }
log_since() { "${HELPER[@]}" log "$TFS_NGINX_ACCESS_LOG" "$1"; }	# REQUESTS BYTES

# The log has stopped growing (read-ahead in flight has ended).
log_settled() {
	local a b
	a=$(log_mark)
	for _ in $(seq 50); do
		sleep 0.1
		b=$(log_mark)
		[ "$a" = "$b" ] && return 0
		a=$b
	done
}

check_sha() { # FILE SHA256: a benchmark of wrong bytes is no benchmark
	local got
	got=$(sha256sum <"$1" | cut -d' ' -f1)
	[ "$got" = "$2" ] || { why "$1: sha256 $got, want $2"; return 1; }
}

# ---- the cases -----------------------------------------------------------------------
# Each case records its runs under raw/, then adds its rows. Baselines and
# twiliofs alternate within a run, so a noisy neighbour hits both.

case_sequential() {
	local sid path enc size plain sha cek iv i mark t warm_req
	read -r sid path enc size plain sha < <(item rt_big)
	read -r cek iv < <(cbc_key "$sid" "$TWILIOFS_KEYS/$(key_a)")
	for i in $(seq "$runs"); do
		note "sequential $i/$runs"
		measure_cpu seq.curl curl_get "$sid"
		measure seq.guide guide_pipeline "$sid" "$cek" "$iv"
		mount_fresh "$catalog"
		measure_cpu seq.cat rd cat "$mnt/$path"
		# warm re-read: the same file again in the same mount
		log_settled
		mark=$(log_mark)
		measure warm.cat rd cat "$mnt/$path"
		log_settled
		read -r warm_req _ < <(log_since "$mark")
		record warm.requests "$warm_req"
		[ "$i" -gt 1 ] || check_sha "$mnt/$path" "$sha"
		unmount
		mount_fresh "$catalog"
		measure seq.dd rd dd if="$mnt/$path" of=/dev/null bs=1M status=none
		unmount
		mount_fresh "$catalog"
		t=$(rd "${HELPER[@]}" first-byte "$mnt/$path")
		record ttfb.tfs "$t"
		unmount
		t=$(curl_ttfb "$sid")
		record ttfb.curl "$t"
	done
	local c g cat dd w
	c=$(med seq.curl) g=$(med seq.guide) cat=$(med seq.cat) dd=$(med seq.dd) w=$(med warm.cat)
	row "sequential cold \`cat\` of $seq_mib MiB CBC vs \`curl -o /dev/null\` of its ciphertext" \
		"$(fs "$cat")" "$(fs "$c")" "$(pratio seq.curl seq.cat)" ">= 1.0 (never < 0.9)"
	row "the same vs the guide's \`curl | openssl enc -d\`" \
		"$(fs "$cat")" "$(fs "$g")" "$(pratio seq.guide seq.cat)" "> 1.0"
	row "sequential cold \`dd bs=1M\` vs curl" \
		"$(fs "$dd")" "$(fs "$c")" "$(pratio seq.curl seq.dd)" ">= 1.0"
	row "time to first byte (open + 1-byte read, fresh mount) vs curl's resolve + time_starttransfer" \
		"$(fms "$(med ttfb.tfs)")" "$(fms "$(med ttfb.curl)")" \
		"$(pratio ttfb.curl ttfb.tfs)" "within a few ms"
	# Where the time went: on 2 cores, curl + nginx alone can fill the
	# machine; the mount does curl's work and more (decrypt, FUSE, cat).
	row "CPU seconds, all processes, during the cold \`cat\` vs during curl (cores busy x wall; ratio: curl / cat)" \
		"$(fs "$(med seq.cat.cpu_all)")" "$(fs "$(med seq.curl.cpu_all)")" \
		"$(pratio seq.curl.cpu_all seq.cat.cpu_all)" "-"
	row "of which nginx (sending the same ciphertext)" \
		"$(fs "$(med seq.cat.cpu_nginx)")" "$(fs "$(med seq.curl.cpu_nginx)")" "-" "-"
	row "the daemon's CPU vs curl's (curl's: all − nginx, during curl)" \
		"$(fs "$(med seq.cat.cpu_daemon)")" \
		"$(fs "$(calc 'a - b' "$(med seq.curl.cpu_all)" "$(med seq.curl.cpu_nginx)")")" "-" "-"
	row "cores busy (of $(nproc)): CPU seconds / wall time" \
		"$(calc 'a / b' "$(med seq.cat.cpu_all)" "$cat" | cut -c1-4)" \
		"$(calc 'a / b' "$(med seq.curl.cpu_all)" "$c" | cut -c1-4)" "-" "-"
	row "warm re-read (\`cat\` again, same mount) vs the cold \`cat\`" \
		"$(fs "$w")" "$(fs "$cat")" "$(pratio seq.cat warm.cat)" "page-cache speed"
	row "HTTP requests during the warm re-read (nginx log)" \
		"$(med warm.requests | cut -d. -f1)" "0" "-" "0"
}

key_a() { # the file name of key A in the keyring (CR<sid>.pem, PKCS#1)
	sed -n 's/^A=//p' "$env_cache/fixtures/sids" | sed 's/$/.pem/'
}

# The same 50 offsets for every run and for both readers.
offsets_for() { "${HELPER[@]}" offsets "$1" "$nrandom" "$rlen" | tr '\n' ' '; }

case_random() {
	local sid path enc size plain sha i mark offs url n bytes
	read -r sid path enc size plain sha < <(item rt_big)
	offs=$(offsets_for "$size")
	for i in $(seq "$runs"); do
		note "random $i/$runs"
		url=$(signed_url "$sid")
		# shellcheck disable=SC2086 # the offsets are words
		curl_ranges "$url" "$rlen" $offs >"$out/ranges.t"
		record random.curl "$("${HELPER[@]}" median <"$out/ranges.t")"
		mount_fresh "$catalog"
		mark=$(log_mark)
		# shellcheck disable=SC2086
		rd "${HELPER[@]}" pread "$mnt/$path" "$rlen" $offs >"$out/pread.t"
		record random.tfs "$("${HELPER[@]}" median <"$out/pread.t")"
		unmount
		read -r n bytes < <(log_since "$mark")
		record random.bytes "$((bytes / nrandom))"
		record random.requests "$n"
	done
	row "random 64 KiB reads at $nrandom offsets (fresh mount): median latency vs \`curl -r\` of the same ranges (one kept-alive curl)" \
		"$(fms "$(med random.tfs)")" "$(fms "$(med random.curl)")" \
		"$(pratio random.curl random.tfs)" "-"
	row "bytes fetched per random 64 KiB read (nginx log; ratio: fetched / asked, lower is better)" \
		"$(fbytes "$(med random.bytes)")" "64.0 KiB" \
		"$(fratio "$(med random.bytes)" "$rlen")" "<= 256 KiB"
}

case_skip() {
	local sid path enc size plain sha i b t
	read -r sid path enc size plain sha < <(item rt_big)
	for i in $(seq "$runs"); do
		note "skip $i/$runs"
		mount_fresh "$catalog"
		read -r b t < <(rd "${HELPER[@]}" stride "$mnt/$path" 16 4)
		record skip.rate "$(awk -v b="$b" -v t="$t" 'BEGIN { printf "%d", b / t }')"
		unmount
		mount_fresh "$catalog"
		read -r b t < <(rd "${HELPER[@]}" stride "$mnt/$path" 16 0)
		[ "$b" -eq "$size" ] || { why "sequential read gave $b of $size bytes"; return 1; }
		record skip.seqrate "$(awk -v b="$b" -v t="$t" 'BEGIN { printf "%d", b / t }')"
		unmount
	done
	row "skip pattern (read 16 MiB, skip 4 MiB, to the end; 1 MiB reads) vs sequential 1 MiB reads: throughput" \
		"$(frate "$(med skip.rate)")" "$(frate "$(med skip.seqrate)")" \
		"$(pratio skip.rate skip.seqrate)" ">= 0.8"
}

case_ffmpeg() {
	local sid path enc size plain sha dur ss i mark n bytes ff
	read -r sid path enc size plain sha < <(item rt_long)
	dur=$(ffprobe -v error -show_entries format=duration -of default=nw=1:nk=1 "$plain")
	ss=$(calc 'a * 0.9' "$dur")
	ff=(ffmpeg -nostdin -v error -ss "$ss" -i)
	for i in $(seq "$runs"); do
		note "ffmpeg -ss $i/$runs"
		measure ff.local rd "${ff[@]}" "$plain" -map 0:v:0 -frames:v 10 -f null -
		mount_fresh "$catalog"
		mark=$(log_mark)
		measure ff.tfs rd "${ff[@]}" "$mnt/$path" -map 0:v:0 -frames:v 10 -f null -
		unmount
		read -r n bytes < <(log_since "$mark")
		record ff.bytes "$bytes"
		record ff.requests "$n"
	done
	row "\`ffmpeg -ss\` to 90 % of a $long_min min recording, 10 frames: bytes fetched vs file size (lower is better)" \
		"$(fbytes "$(med ff.bytes)")" "$(fbytes "$size")" \
		"$(fratio "$(med ff.bytes)" "$size")" "-"
	row "the same: time vs ffmpeg on the plaintext on local disk" \
		"$(fs "$(med ff.tfs)")" "$(fs "$(med ff.local)")" \
		"$(pratio ff.local ff.tfs)" "-"
}

case_gcm() {
	local sid path enc size plain sha i mark offs url n bytes gcache=$out/gcm-cache
	read -r sid path enc size plain sha < <(item re_big)
	offs=$(offsets_for "$size")
	for i in $(seq "$runs"); do
		note "gcm $i/$runs"
		measure_cpu gcm.curl curl_get "$sid"
		fresh_cache "$gcache"
		mount_fresh "$gcache"
		measure_cpu gcm.first rd cat "$mnt/$path"
		[ "$i" -gt 1 ] || check_sha "$mnt/$path" "$sha"
		unmount
		# later reads: a fresh mount, the verified object in the cache
		mount_fresh "$gcache"
		mark=$(log_mark)
		# shellcheck disable=SC2086
		rd "${HELPER[@]}" pread "$mnt/$path" "$rlen" $offs >"$out/pread.t"
		record gcm.random "$("${HELPER[@]}" median <"$out/pread.t")"
		unmount
		read -r n bytes < <(log_since "$mark")
		record gcm.random_bytes "$bytes"
		url=$(signed_url "$sid")
		# shellcheck disable=SC2086
		curl_ranges "$url" "$rlen" $offs >"$out/ranges.t"
		record gcm.random_curl "$("${HELPER[@]}" median <"$out/ranges.t")"
	done
	row "GCM $gcm_mib MiB first read (download, verify, read; empty cache) vs curl of its ciphertext" \
		"$(fs "$(med gcm.first)")" "$(fs "$(med gcm.curl)")" \
		"$(pratio gcm.curl gcm.first)" ">= 0.83"
	row "CPU seconds, all processes, during the GCM first read vs during curl (of which the daemon: $(fs "$(med gcm.first.cpu_daemon)"))" \
		"$(fs "$(med gcm.first.cpu_all)")" "$(fs "$(med gcm.curl.cpu_all)")" \
		"$(pratio gcm.curl.cpu_all gcm.first.cpu_all)" "-"
	row "GCM later random 64 KiB reads (verified object cached, fresh mount): median latency vs \`curl -r\`" \
		"$(fms "$(med gcm.random)")" "$(fms "$(med gcm.random_curl)")" \
		"$(pratio gcm.random_curl gcm.random)" "-"
	row "bytes fetched by those $nrandom later GCM reads" \
		"$(fbytes "$(med gcm.random_bytes)")" "0 B" "-" "0"
}

case_concurrent() {
	local count=${many%x*} mib=${many#*x} i k sids=() paths=() s p
	local sid path enc size plain sha third
	for k in $(seq "$count"); do
		read -r s p _ < <(item "rt_many_$k")
		sids+=("$s") paths+=("$p")
	done
	read -r sid path enc size plain sha < <(item rt_big)
	third=$(( (size + 3 * MIB - 1) / (3 * MIB) ))	# MiB per reader
	read_one() { rd cat "$mnt/$1"; }
	read_third() { rd dd if="$mnt/$path" of=/dev/null bs=1M status=none skip=$(($1 * third)) count="$third"; }
	curl_third() { # K: ciphertext bytes of the K-th third
		local a=$(($1 * third * MIB)) b=$((($1 + 1) * third * MIB - 1))
		[ "$b" -lt "$enc" ] || b=$((enc - 1))
		curl_s -o /dev/null -r "$a-$b" "$url"
	}
	three_curls() { url=$(signed_url "$sid") && together curl_third 0 1 2; }
	for i in $(seq "$runs"); do
		note "concurrent $i/$runs"
		measure many.curl together curl_get "${sids[@]}"
		mount_fresh "$catalog"
		measure many.tfs together read_one "${paths[@]}"
		record many.rss "$(peak_rss_kib)"
		unmount
		measure three.curl three_curls
		mount_fresh "$catalog"
		measure three.tfs together read_third 0 1 2
		record three.rss "$(peak_rss_kib)"
		unmount
	done
	local total=$((count * mib * MIB))
	row "$count readers of $count files ($many MiB) at once vs $count curls at once: throughput" \
		"$(frate "$(calc 'a / b' "$total" "$(med many.tfs)")")" \
		"$(frate "$(calc 'a / b' "$total" "$(med many.curl)")")" \
		"$(pratio many.curl many.tfs)" "-"
	row "one $seq_mib MiB file read at 3 offsets at once (dd bs=1M) vs 3 \`curl -r\` at once: throughput" \
		"$(frate "$(calc 'a / b' "$size" "$(med three.tfs)")")" \
		"$(frate "$(calc 'a / b' "$size" "$(med three.curl)")")" \
		"$(pratio three.curl three.tfs)" "-"
	row "daemon peak RSS (VmHWM) with $count files being read at once" \
		"$(fbytes "$(calc 'a * 1024' "$(med many.rss)")")" "-" "-" "< 64 MiB"
	row "daemon peak RSS with one file read at 3 offsets" \
		"$(fbytes "$(calc 'a * 1024' "$(med three.rss)")")" "-" "-" "< 64 MiB"
}

# The sequential and GCM first reads again, against nginx capped like S3
# over the internet (tests/env TFS_ENV_CAPPED): twiliofs vs one curl stream.
case_capped() {
	[ -n "$capped" ] || { note "capped: TFS_BENCH_CAPPED is empty, skipped"; return 0; }
	local sid path gsid gpath i gcache=$out/gcm-cache
	env_down
	env_up "$capped" || { why "the capped store did not start"; return 1; }
	read -r sid path _ < <(item rt_big)
	read -r gsid gpath _ < <(item re_big)
	for i in $(seq "$runs"); do
		note "capped $i/$runs"
		measure cap.curl curl_get "$sid"
		mount_fresh "$catalog"
		measure cap.cat rd cat "$mnt/$path"
		unmount
		measure cap.gcm_curl curl_get "$gsid"
		fresh_cache "$gcache"
		mount_fresh "$gcache"
		measure cap.gcm rd cat "$mnt/$gpath"
		unmount
	done
	row "capped store ($capped): sequential cold \`cat\` of $seq_mib MiB CBC vs one curl stream" \
		"$(fs "$(med cap.cat)")" "$(fs "$(med cap.curl)")" \
		"$(pratio cap.curl cap.cat)" ">= 2.0"
	row "capped store: GCM $gcm_mib MiB first read vs one curl stream" \
		"$(fs "$(med cap.gcm)")" "$(fs "$(med cap.gcm_curl)")" \
		"$(pratio cap.gcm_curl cap.gcm)" ">= 2.0"
}

# ---- running the cases ----------------------------------------------------------------
failed=0
case_pid=

# run_case NAME: in a subshell with errexit, so that any failed step ends
# the case (shown as FAILED) and the next case still runs; the subshell
# unmounts on its way out. It runs in the background only so that a signal
# to this script is handled at once (bash would wait for a foreground one).
run_case() {
	local name=$1 rc
	: >"$out/case.why"
	: >"$out/case.err"
	(
		set -eE
		trap 'echo "line $LINENO: $BASH_COMMAND (exit $?)" >>"$out/case.err"' ERR
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
		row "**$name: FAILED** ($(cat "$out/case.why" "$out/case.err" | head -n 1 | tr '|' '/'))" \
			"FAILED" "-" "-" "-"
	fi
	mounted && unmount	# should the subshell have been killed
}

machine() {
	local model
	model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
	echo "- machine: $(nproc) CPUs, ${model:-unknown CPU}, $(awk '/^MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo); kernel $(uname -r)"
}

write_results() {
	local f=$out/results.md name
	{
		echo "# twiliofs read-path benchmark (issue 9)"
		echo
		echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(sed 's/^\([^ ]* [^ ]* [^ ]*\).*/load average \1/' /proc/loadavg) at the end (it was $load0 at the start)"
		machine
		echo "- twiliofs: $bin_info"
		echo "- each figure: the median of $runs runs$( [ "$runs" -ge 3 ] || echo ' (fewer than 3: indicative only)'); streams: ${streams:-the default}"
		echo "- ratio: for times, baseline time / twiliofs time (higher is better), the median of the per-run ratios (each run measures both back to back), so it can differ from the ratio of the two medians; for bytes, twiliofs / baseline (lower is better)"
		echo
		echo "| figure | twiliofs | baseline | ratio | target |"
		echo "|---|---|---|---|---|"
		cat "$out/rows.md"
		echo
		echo "## Raw medians"
		echo
		echo "Seconds, except: bytes (*.bytes), requests (*.requests), KiB (*.rss), bytes/s (*rate)."
		echo
		echo "| measurement | median | runs |"
		echo "|---|---|---|"
		for name in "$raw"/*; do
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
	cat <<EOF
## Commands

Sizes: rt_big $seq_mib MiB CBC-256, re_big $gcm_mib MiB GCM, rt_many_* $many MiB CBC, rt_long a $long_min min VP8 .mkv; the media store is tests/env's nginx over TLS (TFS_ENV_CACHE=$env_cache).

    # the account, and a catalog synced once (copied for GCM first reads)
    TFS_ENV_BIG_MIB=$seq_mib TFS_ENV_BIG_GCM_MIB=$gcm_mib TFS_ENV_MANY=$many TFS_ENV_LONG_MIN=$long_min bash tests/env/start.sh $envdir
    twiliofs sync --cache-dir $catalog
    # every twiliofs measurement: a fresh mount, then fusermount3 -u MNT; CACHE is
    # the catalog, or for a GCM first read a copy of it without objects ($out/gcm-cache)
    twiliofs mount --cache-dir CACHE --log-file $out/twiliofs.log -o refresh=0${streams:+ -o streams=$streams} $mnt
    # resolve (in every curl baseline's time): the API's 302 to the signed URL
    curl -sS --cacert \$TWILIOFS_CAFILE -u \$TWILIO_API_KEY:\$TWILIO_API_SECRET -o /dev/null -w '%{redirect_url}' \$TWILIOFS_ENDPOINT/video/v1/Recordings/SID/Media
    #   (voice: \$TWILIOFS_ENDPOINT/api/2010-04-01/Accounts/AC.../Recordings/SID.wav)
    curl -sS --fail --cacert \$TWILIOFS_CAFILE -o /dev/null URL
    curl -sS --fail --cacert \$TWILIOFS_CAFILE URL | openssl enc -d -aes-256-cbc -K CEK -iv IV >/dev/null
    #   (CEK and IV beforehand: curl -D of the headers, openssl pkeyutl -decrypt)
    cat MNT/PATH >/dev/null                      # cold; then again in the same mount (warm)
    dd if=MNT/PATH of=/dev/null bs=1M
    helper.py first-byte MNT/PATH                # open + read(1), timed inside python
    curl ... -o /dev/null -r 0-0 -w '%{time_starttransfer}' URL   # plus the resolve's time_total
    helper.py pread MNT/PATH $rlen OFFSETS       # $nrandom offsets, helper.py offsets (seed 9)
    curl -r A-B -w '%{time_total}' URL --next ... # the same ranges, one curl, one connection
    helper.py stride MNT/PATH 16 4               # vs helper.py stride MNT/PATH 16 0
    ffmpeg -nostdin -v error -ss T -i MNT/PATH -map 0:v:0 -frames:v 10 -f null -   # T = 90 % of the duration; also on the plaintext
    cat MNT/voice/.../RE....wav >/dev/null       # GCM, empty object cache; then helper.py pread on a fresh mount
    cat MNT/F1 & ... cat MNT/F$((${many%x*})) & wait         # vs (resolve; curl) x ${many%x*} at once; VmHWM of the daemon from /proc/PID/status
    dd if=MNT/PATH bs=1M skip=K*N count=N x 3 at once   # vs one resolve, then curl -r x 3 at once
    TFS_ENV_CAPPED="$capped" bash tests/env/start.sh ...  # nginx: limit_rate, limit_req_zone rate=Nr/s, limit_req burst=1000 (no nodelay)

Bytes fetched and requests: the nginx access log lines (\$body_bytes_sent) logged during the measurement, counted after the unmount.
EOF
}

cleanup() {
	[ -z "$case_pid" ] || kill -TERM "$case_pid" 2>/dev/null
	mounted && { fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null; }
	local p
	p=$(find_daemon) && kill -TERM "$p" 2>/dev/null
	env_down
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mkdir -p "$out"
rm -rf "$raw" "$out/rows.md" "$out/results.md"
mkdir -p "$raw"
: >"$out/rows.md"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
# Said as it was at the start: a rebuild during the run would change it.
bin_info="$bin, tree $(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown), built $(date -u -r "$bin" '+%Y-%m-%d %H:%M:%S UTC'), sha256 $(sha256sum <"$bin" | cut -c1-12)"
mounted && die "$mnt is mounted already (another bench?); fusermount3 -u $mnt"
for c in $cases; do
	case " $all_cases " in *" $c "*) ;; *) die "unknown case $c (cases: $all_cases)" ;; esac
done
env_up || exit 1
# In their own order whatever TFS_BENCH_CASES says: capped, which restarts
# the store capped, comes last.
for c in $all_cases; do
	case " $cases " in *" $c "*) run_case "$c" ;; esac
done
write_results
[ "$failed" -eq 0 ] || { note "some cases FAILED"; exit 1; }
exit 0
