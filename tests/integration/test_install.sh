#!/bin/sh
# SPDX-License-Identifier: MIT
# test_install.sh - make install / uninstall honour PREFIX and DESTDIR,
# install a working binary and the man page with its version filled in.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
dest=$(mktemp -d "${TMPDIR:-/tmp}/tfs-install.XXXXXX") || exit 1
trap 'rm -rf "$dest"' EXIT
fails=0
check() {	# description command...
	d=$1
	shift
	if "$@"; then echo "ok - $d"; else echo "not ok - $d"; fails=$((fails + 1)); fi
}

make -s -C "$top" install PREFIX=/opt/tfs DESTDIR="$dest" >/dev/null ||
	{ echo "not ok - make install failed"; exit 1; }
bin=$dest/opt/tfs/bin/twiliofs
man=$dest/opt/tfs/share/man/man1/twiliofs.1
version=$(sed -n 's/^VERSION = //p' "$top/config.mk")
check "binary installed under DESTDIR/PREFIX/bin" test -x "$bin"
check "installed binary reports version $version" \
	sh -c "'$bin' --version | grep -qx 'twiliofs $version'"
check "man page installed under DESTDIR/PREFIX/share/man/man1" test -f "$man"
check "man page carries the version" grep -q "^\.Os twiliofs $version\$" "$man"
check "bash completion installed" \
	test -f "$dest/opt/tfs/share/bash-completion/completions/twiliofs"
check "no VERSION placeholder left" sh -c "! grep -q VERSION '$man'"
check "nothing installed outside DESTDIR/PREFIX" \
	sh -c "[ -z \"\$(find '$dest' -mindepth 1 -maxdepth 1 ! -name opt)\" ]"
make -s -C "$top" uninstall PREFIX=/opt/tfs DESTDIR="$dest" >/dev/null
check "uninstall removes the binary, man page and completion" \
	sh -c "[ -z \"\$(find '$dest' -type f)\" ]"
[ $fails -eq 0 ]
