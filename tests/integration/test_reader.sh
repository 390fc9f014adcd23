#!/bin/bash
# SPDX-License-Identifier: MIT
# test_reader.sh - the reader (src/reader.c) against the test account
# (tests/env: a real nginx over TLS and the API mock): starts the account,
# then runs the reader test program with TFS_ENV_SH set, which reads every
# item of the manifest through reader.h and compares it with the plaintext.
#
# Usage: [TFS_TEST_READER=build/asan/test_reader] [TFS_WORK=DIR]
#        bash tests/integration/test_reader.sh
# Exits 0 (all passed), 1 (a check failed) or 77 (the environment cannot
# run here: the reason is printed).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
prog=${TFS_TEST_READER:-$top/build/asan/test_reader}
case $prog in /*) ;; *) prog=$top/$prog ;; esac
[ -x "$prog" ] || { echo "Bail out! $prog is missing: make $prog"; exit 1; }
W=${TFS_WORK:-}
own=0
[ -n "$W" ] || { W=$(mktemp -d "${TMPDIR:-/tmp}/tfs-reader.XXXXXX") || exit 1; own=1; }
mkdir -p "$W"
W=$(cd "$W" && pwd)
E=$W/env
cleanup() {
	bash "$top/tests/env/stop.sh" "$E" >/dev/null 2>&1
	[ $own -eq 0 ] || rm -rf "$W"
}

bash "$top/tests/env/start.sh" "$E" >"$W/env-start.log" 2>&1
st=$?
if [ $st -eq 77 ]; then
	echo "SKIP: $(tail -1 "$W/env-start.log")"
	[ $own -eq 0 ] || rm -rf "$W"
	exit 77
fi
[ $st -eq 0 ] || { echo "Bail out! tests/env/start.sh failed:"; tail -5 "$W/env-start.log"; exit 1; }
trap cleanup EXIT
# shellcheck disable=SC1091
. "$E/env.sh"
export TFS_ENV_SH=$E/env.sh TFS_WORK=$W
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

cd "$top" || exit 1
timeout 600 "$prog"
rc=$?
[ $rc -eq 0 ] && echo "ok - reader against the test account"
exit $rc
