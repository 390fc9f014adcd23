#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh - run the libFuzzer targets of tests/fuzz (issue 10), built first
# (make fuzz-build: clang, ASan, UBSan, LeakSanitizer).
#
#   run.sh check               each target for TFS_FUZZ_SECONDS (3) seconds
#                              on a copy of its seed corpus (make check)
#   run.sh SECONDS [TARGET...] longer (make fuzz FUZZ_SECONDS=300); what is
#                              new is kept in build/fuzz/corpus/TARGET
#
# The committed seeds (tests/fuzz/corpus/TARGET) are only ever read.
# TFS_FUZZ_JOBS=N runs N targets at a time (default: one per CPU). Prints
# each target's executions and corpus size; exits 0, 1 when one crashed,
# leaked or broke one of its invariants (the input is in
# build/fuzz/artifacts, the log in build/fuzz/log), or 77 when clang or
# libFuzzer is missing.
set -u
cd "$(dirname "$0")/../.." || exit 1

out=build/fuzz
cc=${FUZZ_CC:-clang}

case ${1:-} in
check) secs=${TFS_FUZZ_SECONDS:-3} mode=check ;;
'' | *[!0-9]*)
	echo "usage: $0 check | SECONDS [TARGET...]" >&2
	exit 1 ;;
*) secs=$1 mode=long ;;
esac
shift

skip() {
	echo "fuzz: skipped: $*"
	exit 77
}

# libFuzzer and the sanitizers' runtimes are Debian's libclang-rt-dev, a
# package clang only recommends: try a link.
command -v "$cc" >/dev/null 2>&1 ||
	skip "no $cc; install it (apt-get install clang libclang-rt-dev)"
mkdir -p "$out/log" "$out/artifacts" || exit 1
probe=$out/probe-${cc##*/}	# once per compiler (and its updates)
if [ -z "$(find "$probe" -newer "$(command -v "$cc")" 2>/dev/null)" ]; then
	printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)
	{ (void)d; (void)n; return 0; }\n' >"$out/probe.c"
	"$cc" -fsanitize=fuzzer,address,undefined -o "$probe" "$out/probe.c" \
	    >"$out/log/probe.log" 2>&1 ||
		skip "$cc cannot link libFuzzer with ASan and UBSan" \
		    "(apt-get install libclang-rt-dev); see $out/log/probe.log"
fi
${MAKE:-make} -s fuzz-build || exit 1

if [ $# -eq 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do
		f=${f#tests/fuzz/fuzz_}
		set -- "$@" "${f%.c}"
	done
fi
# Scratch files of the targets (catalog, credentials): a tmpfs if there is
# one (ext4 writes a truncated file out on every close), removed after.
[ -n "${TMPDIR:-}" ] || { [ -w /dev/shm ] && TMPDIR=/dev/shm; }
TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/tfs-fuzz.XXXXXX") || exit 1
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
trap 'exit 1' HUP INT TERM

# fuzz NAME: run one target; its figures (or why it failed) on one line.
fuzz() {
	t=$1
	log=$out/log/$t.log
	[ -x "$out/fuzz_$t" ] || { echo "fuzz: $t: no such target"; return 1; }
	seeds=tests/fuzz/corpus/$t
	[ -d "$seeds" ] || seeds=
	if [ $mode = check ]; then
		corpus=$out/check/$t
		if ! { rm -rf "$corpus" && mkdir -p "$corpus" &&
		    { [ -z "$seeds" ] || cp -R "$seeds/." "$corpus"; }; }; then
			echo "fuzz: $t: cannot copy its corpus"
			return 1
		fi
		set -- "$corpus"
	else
		mkdir -p "$out/corpus/$t" || return 1
		set -- "$out/corpus/$t" ${seeds:+"$seeds"}
	fi
	"$out/fuzz_$t" -max_total_time="$secs" -timeout=20 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$out/artifacts/$t-" "$@" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	# "#1234 DONE cov: 56 ft: 78 corp: 30/2048b ...": inputs and bytes
	corp=$(sed -n 's/.* corp: \([0-9]*\)\/\([^ ]*\) .*/\1 inputs, \2/p' \
	    "$log" | tail -n 1)
	if [ $rc -eq 0 ]; then
		echo "fuzz: $t: ${runs:-?} executions (${rate:-?}/s)," \
		    "corpus ${corp:-?}: ok"
		return 0
	fi
	echo "fuzz: $t: FAILED (exit $rc) after ${runs:-?} executions; log $log"
	grep -E 'ERROR|SUMMARY|invariant failed|runtime error|Test unit' \
	    "$log" | head -n 8 | sed 's/^/fuzz:   /'
	return 1
}

jobs=${TFS_FUZZ_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}
failed=
while [ $# -gt 0 ]; do
	batch=
	n=0
	while [ $# -gt 0 ] && [ $n -lt "$jobs" ]; do
		batch="$batch ${1#fuzz_}"
		n=$((n + 1))
		shift
	done
	for t in $batch; do
		fuzz "$t" >"$out/log/$t.line" &
	done
	wait
	for t in $batch; do
		cat "$out/log/$t.line"
		grep -q ': ok$' "$out/log/$t.line" || failed="$failed $t"
	done
done
[ -z "$failed" ] || { echo "fuzz: failed:$failed"; exit 1; }
exit 0
