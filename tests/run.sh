#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh - run every test of `make check`: the unit tests (under ASan and
# UBSan) and the command-line tests. A test exits 0 (pass), 77 (skip, with
# its reason printed) or anything else (fail). With TFS_NO_SKIP=1 (CI), a
# skip counts as a failure: CI has every dependency, so nothing may skip.
# Arguments run only the suites they name: a name (integration/mount), a
# prefix (unit, integration) or a pattern ('unit/test_c*'); the fixtures
# are made all the same. `make check T=integration/mount` passes T on.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

build=$top/build
fixtures=$build/fixtures
work=$build/work
export TFS_FIXTURES="$fixtures" TFS_WORK="$work"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

pass=0 fail=0 skip=0 failed=
only=$*

selected() {	# name: named by the arguments (all if none)?
	[ -z "$only" ] && return 0
	set -f	# the patterns are for names, not for files
	for pat in $only; do
		# shellcheck disable=SC2254 # a pattern, on purpose
		case $1 in
		$pat|${pat%/}/*) set +f; return 0 ;;
		esac
	done
	set +f
	return 1
}

run() {	# name command...
	name=$1
	shift
	selected "$name" || return 0
	printf '=== %s\n' "$name"
	"$@"
	rc=$?
	case $rc in
	0) pass=$((pass + 1)) ;;
	77)
		if [ "${TFS_NO_SKIP:-0}" = 1 ]; then
			echo "--- $name: skipped, but TFS_NO_SKIP=1: counted as failed"
			fail=$((fail + 1)) failed="$failed $name"
		else
			skip=$((skip + 1))
		fi ;;
	*) fail=$((fail + 1)) failed="$failed $name" ;;
	esac
}

rm -rf "$work"
mkdir -p "$work"
if ! bash tests/fixtures/mkfixtures.sh "$fixtures"; then
	echo "twiliofs: making the test fixtures failed; see above" >&2
	exit 1
fi
run fixtures-selfcheck bash tests/fixtures/selfcheck.sh "$fixtures"
run lint sh scripts/lint.sh

for t in build/asan/test_*; do
	[ -x "$t" ] || continue
	run "unit/$(basename "$t")" "$t"
done

run integration/install sh tests/integration/test_install.sh
TWILIOFS=$build/asan/twiliofs TWILIOFS_MEM=$top/twiliofs \
	run integration/decrypt bash tests/integration/test_decrypt.sh
# The test account: a real nginx over TLS and the API mock (tests/env).
run env/lifecycle bash tests/env/test_env.sh
TWILIOFS=$build/asan/twiliofs TFS_WORK=$work/account \
	run integration/account bash tests/integration/test_account.sh
TWILIOFS=$build/asan/twiliofs TFS_WORK=$work/outputs run integration/outputs bash tests/integration/test_outputs.sh
# Account setup with twiliofs alone: keys, encryption, profiles (issue 11).
TWILIOFS=$build/asan/twiliofs TFS_WORK=$work/setup \
	run integration/setup bash tests/integration/test_setup.sh
# Unattended runs: failures contained, visible, recoverable (issue 8).
TWILIOFS=$build/asan/twiliofs TFS_WORK=$work/failures \
	run integration/failures bash tests/integration/test_failures.sh
TFS_TEST_READER=$build/asan/test_reader TFS_WORK=$work/reader \
	run integration/reader bash tests/integration/test_reader.sh
# A real FUSE mount, read with ffprobe, ffmpeg, rsync, getfattr, pread.
TWILIOFS=$build/asan/twiliofs TWILIOFS_FAST=$top/twiliofs \
	TFS_WORK=$work/mount \
	run integration/mount bash tests/integration/test_mount.sh
# A media store that lies or stalls: checked, never trusted (issue 9 §7).
TWILIOFS=$build/asan/twiliofs TFS_WORK=$work/store \
	run integration/store bash tests/integration/test_store.sh

# libFuzzer targets, a few seconds each (issue 10; make fuzz for longer)
run fuzz make -s fuzz-check

# Load (16 readers + ls -lR) and crashes of the mount (issue 10): under
# ASan (then 6 s of the optimised build, for its peak memory) and TSan.
TWILIOFS=$build/asan/twiliofs TWILIOFS_MEM=$top/twiliofs TFS_WORK=$work/load \
	run integration/load bash tests/integration/test_load.sh
TWILIOFS=$build/tsan/twiliofs TFS_WORK=$work/load-tsan \
	run integration/load-tsan bash tests/integration/test_load.sh
TWILIOFS=$build/asan/twiliofs TFS_WORK=$work/crash \
	run integration/crash bash tests/integration/test_crash.sh

echo "summary: $pass passed, $fail failed, $skip skipped"
[ $((pass + fail + skip)) -gt 0 ] || { echo "no suite named: $only"; exit 1; }
[ "$fail" -eq 0 ] || { echo "failed:$failed"; exit 1; }
