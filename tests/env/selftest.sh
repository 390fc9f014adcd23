#!/bin/bash
# SPDX-License-Identifier: MIT
# selftest.sh - check a running test account (tests/env/start.sh DIR) with
# curl, the openssl CLI and /usr/bin/python3 (+ tests/fixtures/encrypt.py)
# only, never twiliofs: auth, paging, /Media redirects, Range, x-amz-meta-*
# headers, link expiry, signatures, faults, control, every object decrypted
# against the manifest, the nginx access log. See README.md here.
#
# Usage: selftest.sh DIR     Exit 0 all passed, 1 some failed, 77 no curl.
set -u
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 1; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: no curl (Debian package curl)" >&2; exit 77; }
[ -f "$1/env.sh" ] || { echo "tfs-env: $1: not started (no env.sh)" >&2; exit 1; }
exec /usr/bin/python3 "$here/selftest.py" "$1"
