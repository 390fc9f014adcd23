#!/bin/sh
# SPDX-License-Identifier: MIT
# decrypt_sync.sh - the offline decrypt and sync benchmarks (`make bench`
# with TFS_BENCH_SUITE=decrypt or all; the read path is read.sh): decrypt
# big objects with twiliofs and with the baselines users have today, in the
# same run, and print time and peak memory as ratios (these machines are
# shared and noisy: compare ratios). Then a sync of a 1,000-item account.
#   CBC baseline: the seed guide's step 5, openssl pkeyutl + openssl enc -d.
#   GCM baseline: streaming python3-cryptography with tag check.
#   Floor: cat of the same ciphertext (page cache read speed).
# TFS_BENCH_MIB sets the plaintext size (default 1024), TFS_BENCH_RUNS the
# repetitions (default 3; the median is reported), TFS_BENCH_SYNC_ITEMS
# the bulk items of the sync case (default 1000). Results in
# build/bench/decrypt-sync.txt.
# The t_* variables are assigned through eval from the case names.
# shellcheck disable=SC2154
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
mib=${TFS_BENCH_MIB:-1024}
runs=${TFS_BENCH_RUNS:-3}
fx=$top/build/fixtures
out=$top/build/bench
bin=$top/twiliofs
PY=/usr/bin/python3
mkdir -p "$out"
res=$out/decrypt-sync.txt

bash tests/fixtures/mkfixtures.sh "$fx"
bash tests/fixtures/mkfixtures.sh --big "$fx" "$mib"
big=$fx/big
sid_a=$(sed -n 's/^A=//p' "$fx/sids")
key_a=$fx/keys/$sid_a.pem

# Unwrap the CBC key the guide's way, for the openssl baseline.
hdr() { sed -n "s/^$1: *//Ip" "$big/cbc.headers" | tr -d '\r'; }
hdr x-amz-meta-x-amz-key | base64 -d > "$out/wrapped"
cek=$(openssl pkeyutl -decrypt -inkey "$key_a" -in "$out/wrapped" |
	od -An -v -tx1 | tr -d ' \n')
iv=$(hdr x-amz-meta-x-amz-iv | base64 -d | od -An -v -tx1 | tr -d ' \n')
rm -f "$out/wrapped"

# measure NAME command... -> "seconds maxrss_kb" (median of $runs runs)
measure() {
	name=$1
	shift
	: > "$out/$name.times"
	i=0
	while [ $i -lt "$runs" ]; do
		/usr/bin/time -f '%e %M' -o "$out/$name.one" "$@" > /dev/null
		rm -f "$out/plain.out"	# the file cases' output
		cat "$out/$name.one" >> "$out/$name.times"
		i=$((i + 1))
	done
	sort -n "$out/$name.times" | sed -n "$(( (runs + 1) / 2 ))p"
}

cat "$big/cbc.enc" "$big/gcm.enc" > /dev/null	# warm the page cache
set -- \
	"cat-cbc" "cat $big/cbc.enc" \
	"openssl-cbc" "openssl enc -d -aes-256-cbc -K $cek -iv $iv -in $big/cbc.enc" \
	"openssl-cbc-file" "openssl enc -d -aes-256-cbc -K $cek -iv $iv -in $big/cbc.enc -out $out/plain.out" \
	"twiliofs-cbc-stdout" "$bin decrypt -k $key_a --headers $big/cbc.headers $big/cbc.enc" \
	"twiliofs-cbc-file" "$bin decrypt -k $key_a --headers $big/cbc.headers $big/cbc.enc $out/plain.out" \
	"python-gcm" "$PY tests/bench/gcm_baseline.py $key_a $big/gcm.details $big/gcm.enc" \
	"twiliofs-gcm-stdout" "$bin decrypt -k $key_a --details $big/gcm.details $big/gcm.enc" \
	"twiliofs-gcm-file" "$bin decrypt -k $key_a --details $big/gcm.details $big/gcm.enc $out/plain.out"
printf '%-22s %9s %12s\n' case seconds "peak RSS KiB" | tee "$res"
while [ $# -gt 0 ]; do
	# shellcheck disable=SC2086
	r=$(measure "$1" $2)
	eval "t_$(echo "$1" | tr - _)=\${r%% *}"
	printf '%-22s %9s %12s\n' "$1" "${r% *}" "${r#* }" | tee -a "$res"
	shift 2
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
echo "plaintext: $mib MiB; median of $runs runs" | tee -a "$res"
echo "twiliofs CBC to stdout / openssl enc -d: $(ratio "$t_twiliofs_cbc_stdout" "$t_openssl_cbc")x time" | tee -a "$res"
echo "twiliofs CBC to a file (verified, fsync'd, renamed) / openssl enc -d -out: $(ratio "$t_twiliofs_cbc_file" "$t_openssl_cbc_file")x time" | tee -a "$res"
echo "twiliofs GCM to stdout (verify, then decrypt) / python: $(ratio "$t_twiliofs_gcm_stdout" "$t_python_gcm")x time" | tee -a "$res"
echo "twiliofs GCM to file (one pass) / python: $(ratio "$t_twiliofs_gcm_file" "$t_python_gcm")x time" | tee -a "$res"


# ---- sync of a 1,000-item account ----------------------------------------
# The test account with 1,000 extra video recordings; the baseline makes
# the same API and media requests with a minimal keep-alive client and no
# catalog (tests/bench/sync_baseline.py).
items=${TFS_BENCH_SYNC_ITEMS:-1000}
envdir=$out/env
bash tests/env/start.sh "$envdir" --bulk "$items" > "$out/env.log" 2>&1 ||
	{ echo "bench: tests/env/start.sh failed; see $out/env.log" >&2; exit 1; }
trap 'bash tests/env/stop.sh "$envdir" >/dev/null 2>&1' EXIT
# shellcheck disable=SC1091
. "$envdir/env.sh"
# shellcheck disable=SC2317 # run through eval below
cold() { rm -rf "$out/cache"; "$bin" sync --cache-dir "$out/cache" > /dev/null 2>&1; }
set -- \
	"python-sync-requests" "$PY tests/bench/sync_baseline.py" \
	"twiliofs-sync-cold" "cold" \
	"twiliofs-sync-warm" "$bin sync --cache-dir $out/cache"
printf '%-22s %9s\n' case seconds | tee -a "$res"
while [ $# -gt 0 ]; do
	: > "$out/$1.times"
	i=0
	while [ $i -lt "$runs" ]; do
		s=$(date +%s.%N)
		eval "$2" > /dev/null 2>&1
		e=$(date +%s.%N)
		awk -v s="$s" -v e="$e" 'BEGIN { printf "%.2f\n", e - s }' >> "$out/$1.times"
		i=$((i + 1))
	done
	r=$(sort -n "$out/$1.times" | sed -n "$(( (runs + 1) / 2 ))p")
	eval "t_$(echo "$1" | tr - _)=\$r"
	printf '%-22s %9s\n' "$1" "$r" | tee -a "$res"
	shift 2
done
echo "sync of $items+ items, cold / the same requests from a bare client: $(ratio "$t_twiliofs_sync_cold" "$t_python_sync_requests")x time" | tee -a "$res"
echo "sync, warm (listing only, nothing new) / cold: $(ratio "$t_twiliofs_sync_warm" "$t_twiliofs_sync_cold")x time" | tee -a "$res"

echo "results in $res"
# Clean up here, not in the trap: dash would take the trap's last status.
trap - EXIT
bash tests/env/stop.sh "$envdir" >/dev/null 2>&1
exit 0
