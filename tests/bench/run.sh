#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh - `make bench`. A benchmark, never a timed test (not in make check).
#   TFS_BENCH_SUITE=read     (default) the read path through a mount against
#                            curl: read.sh, results in build/bench/results.md
#   TFS_BENCH_SUITE=decrypt  offline decrypt and sync against openssl and
#                            python: decrypt_sync.sh, build/bench/decrypt-sync.txt
#   TFS_BENCH_SUITE=scale    an account of TFS_BENCH_ITEMS (100,000) items:
#                            cold and warm sync against a bare client,
#                            first mount, ls -lR, daemon RSS, catalog
#                            size: scale.sh, build/bench/scale.md
#   TFS_BENCH_SUITE=all      all three
# Each script says its own settings (TFS_BENCH_RUNS and so on) at its top.
here=$(cd "$(dirname "$0")" && pwd)
case ${TFS_BENCH_SUITE:-read} in
read) exec bash "$here/read.sh" ;;
decrypt) exec sh "$here/decrypt_sync.sh" ;;
scale) exec bash "$here/scale.sh" ;;
all)
	rc=0
	bash "$here/read.sh" || rc=1
	sh "$here/decrypt_sync.sh" || rc=1
	bash "$here/scale.sh" || rc=1
	exit $rc
	;;
*)
	echo "bench: TFS_BENCH_SUITE must be read, decrypt, scale or all" >&2
	exit 1
	;;
esac
