#!/bin/sh
# SPDX-License-Identifier: MIT
# install-deps.sh - install the Debian packages twiliofs needs, only those
# missing. Usage: scripts/install-deps.sh [build|test|all]  (default: all)
# Called by make when a package is missing, and by .ci/run.
set -eu

build_pkgs="gcc make pkg-config libfuse3-dev libssl-dev libcurl4-openssl-dev
libsqlite3-dev"
# Test tools: an independent crypto implementation (openssl CLI, Debian's
# python3-cryptography) and /usr/bin/time for peak-memory checks; the test
# Twilio account (tests/env): nginx (secure_link), ffmpeg for real media, curl;
# the mount tests: fuse3 (fusermount3), rsync, attr (getfattr).
test_pkgs="openssl python3 python3-cryptography time fuse3 nginx ffmpeg curl
rsync attr"

case "${1:-all}" in
build) want=$build_pkgs ;;
test) want=$test_pkgs ;;
all) want="$build_pkgs $test_pkgs" ;;
*) echo "usage: $0 [build|test|all]" >&2; exit 1 ;;
esac

missing=
for p in $want; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "twiliofs: installing missing Debian packages:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
	sudo=
elif command -v sudo >/dev/null 2>&1; then
	sudo=sudo
else
	echo "twiliofs: packages missing:$missing; install them as root (apt-get install$missing)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
