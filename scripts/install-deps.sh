#!/bin/sh
# SPDX-License-Identifier: MIT
# install-deps.sh - the Debian packages twiliofs needs.
# Usage: scripts/install-deps.sh [build|test|all]  (default: all)
#          install those of the set that are missing, and only those
#          (apt-get, as root or through sudo): `make deps` (all), `make
#          check` and `make bench` (test), `make demo` and .ci/run (all).
#        scripts/install-deps.sh check
#          install nothing: print one line naming the Debian packages of
#          the libraries pkg-config cannot find, and exit 1; print nothing
#          and exit 0 if all are there. Plain `make` runs this: the build
#          never installs anything. PKG_CONFIG, PKGS (pkg-config names)
#          and CC come from make.
set -eu

build_pkgs="gcc make pkg-config libfuse3-dev libssl-dev libcurl4-openssl-dev
libsqlite3-dev"
# Test tools: an independent crypto implementation (openssl CLI, Debian's
# python3-cryptography) and /usr/bin/time for peak-memory checks; the test
# Twilio account (tests/env): nginx (secure_link), ffmpeg for real media, curl;
# the mount tests: fuse3 (fusermount3), rsync, attr (getfattr); for make
# lint, shellcheck; for the contrib/ units (tests/integration/
# test_install.sh), systemd-analyze verify from systemd (it installs and
# runs in a container whose PID 1 is not systemd).
test_pkgs="openssl python3 python3-cryptography time fuse3 nginx ffmpeg curl
rsync attr shellcheck systemd clang libclang-rt-dev gdb"

# check: pkg-config name -> Debian package.
deb_of() {
	case $1 in
	fuse3) echo libfuse3-dev ;;
	openssl) echo libssl-dev ;;
	libcurl) echo libcurl4-openssl-dev ;;
	sqlite3) echo libsqlite3-dev ;;
	*) echo "$1.pc" ;;	# not known here: the package holding it
	esac
}

if [ "${1:-}" = check ]; then
	pc=${PKG_CONFIG:-pkg-config}
	libs=${PKGS:-fuse3 openssl libcurl sqlite3}
	cc=${CC:-cc}
	missing=
	command -v "${cc%% *}" >/dev/null 2>&1 || missing=" gcc"
	# shellcheck disable=SC2086 # $libs: one argument per library
	if ! command -v "$pc" >/dev/null 2>&1; then
		# Without pkg-config, ask dpkg which -dev packages are there.
		missing="$missing pkg-config"
		for l in $libs; do
			p=$(deb_of "$l")
			st=$(dpkg-query -W -f='${db:Status-Status}' "$p" \
			    2>/dev/null || true)
			[ "$st" = installed ] || missing="$missing $p"
		done
	elif ! "$pc" --exists $libs 2>/dev/null; then
		for l in $libs; do
			"$pc" --exists "$l" 2>/dev/null ||
			    missing="$missing $(deb_of "$l")"
		done
	fi
	[ -z "$missing" ] && exit 0
	echo "twiliofs: missing Debian packages:$missing; run 'make deps'" \
	    "(as root or with sudo)"
	exit 1
fi

case "${1:-all}" in
build) want=$build_pkgs ;;
test) want=$test_pkgs ;;
all) want="$build_pkgs $test_pkgs" ;;
*) echo "usage: $0 [build|test|all|check]" >&2; exit 1 ;;
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
