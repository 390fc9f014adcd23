#!/bin/sh
# SPDX-License-Identifier: MIT
# test_install.sh - make install / uninstall honour PREFIX and DESTDIR,
# install a working binary and the man page with its version filled in;
# and what contrib/ ships: the systemd units pass `systemd-analyze verify`
# and agree with fstab.example; the installed bash completion completes
# commands, subcommands, options and -o names. Exits 77 (after every other
# check passed) if systemd-analyze is not installed: not a pass.
# shellcheck disable=SC2317 # functions run by check(), not unreachable
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
dest=$(mktemp -d "${TMPDIR:-/tmp}/tfs-install.XXXXXX") || exit 1
trap 'rm -rf "$dest"' EXIT
fails=0
skipped=
check() {	# description command...
	d=$1
	shift
	if "$@"; then echo "ok - $d"; else echo "not ok - $d"; fails=$((fails + 1)); fi
}

make -s -C "$top" install PREFIX=/opt/tfs DESTDIR="$dest" >/dev/null ||
	{ echo "not ok - make install failed"; exit 1; }
bin=$dest/opt/tfs/bin/twiliofs
man=$dest/opt/tfs/share/man/man1/twiliofs.1
completion=$dest/opt/tfs/share/bash-completion/completions/twiliofs
version=$(sed -n 's/^VERSION = //p' "$top/config.mk")
check "binary installed under DESTDIR/PREFIX/bin" test -x "$bin"
check "installed binary reports version $version" \
	sh -c "'$bin' --version | grep -qx 'twiliofs $version'"
check "man page installed under DESTDIR/PREFIX/share/man/man1" test -f "$man"
check "man page carries the version" grep -q "^\.Os twiliofs $version\$" "$man"
check "bash completion installed" test -f "$completion"
check "no VERSION placeholder left" sh -c "! grep -q VERSION '$man'"
check "nothing installed outside DESTDIR/PREFIX" \
	sh -c "[ -z \"\$(find '$dest' -mindepth 1 -maxdepth 1 ! -name opt)\" ]"

# --- The systemd units (contrib/). systemd-analyze verify loads a unit
# as systemd would: unknown sections or keys, bad values or specifiers,
# a mount unit named otherwise than its Where=, a Documentation= man page
# that man(1) cannot find, and an ExecStart= program that is not there.
# The units name /usr/local/bin/twiliofs (the default PREFIX), which this
# machine need not have: verify copies in which that path is the binary
# just installed. The man page is looked up in the one just installed.
# verify also prints warnings and still exits 0: any output fails.
scratch=$dest/scratch
units=$scratch/units
mkdir -p "$units" "$scratch/run"
chmod 700 "$scratch/run"
for u in mnt-twilio.mount mnt-twilio.automount twiliofs@.service; do
	sed "s|/usr/local/bin/twiliofs|$bin|g" "$top/contrib/$u" >"$units/$u"
done
verify() {	# [--user] verify UNIT...: exits 0 and prints nothing
	(cd "$units" && MANPATH="$dest/opt/tfs/share/man" \
	    XDG_RUNTIME_DIR="$scratch/run" systemd-analyze "$@") \
	    >"$scratch/verify.out" 2>&1 && [ ! -s "$scratch/verify.out" ] &&
	    return 0
	sed 's/^/# /' "$scratch/verify.out"
	return 1
}
# A misspelt key: verify warns, and exits 0 all the same.
misspelt_key_reported() {
	sed 's/^RestartSec=/RestartSecs=/' "$units/twiliofs@.service" \
	    >"$units/twiliofs-bad@.service"
	! verify --user verify twiliofs-bad@.service >/dev/null &&
	    grep -q "Unknown key 'RestartSecs'" "$scratch/verify.out"
	st=$?
	rm -f "$units/twiliofs-bad@.service"
	return "$st"
}
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "# systemd-analyze is not installed (Debian package systemd;" \
	    "make deps): the units were not verified"
	skipped=1
elif ! command -v man >/dev/null 2>&1; then
	echo "not ok - man(1) is missing: Documentation= cannot be verified"
	fails=$((fails + 1))
else
	check "mnt-twilio.mount and .automount pass systemd-analyze verify" \
		verify verify mnt-twilio.mount mnt-twilio.automount
	check "twiliofs@.service passes systemd-analyze --user verify" \
		verify --user verify twiliofs@.service
	check "systemd-analyze verify's warnings count (a misspelt key)" \
		misspelt_key_reported
fi
# The units agree with fstab.example, and hold no secret.
fstab_field() {	# N: field N of fstab.example's line
	awk -v n="$1" '!/^#/ && NF { print $n }' "$top/contrib/fstab.example"
}
unit_key() {	# FILE KEY: its value
	sed -n "s/^$2=//p" "$top/contrib/$1"
}
sorted_opts() { tr ',' '\n' | grep -vx noauto | sort; }
check "mount unit: What=, Where=, Type= are fstab.example's" test \
	"$(unit_key mnt-twilio.mount What) $(unit_key mnt-twilio.mount Where)
$(unit_key mnt-twilio.mount Type)" = "$(fstab_field 1) $(fstab_field 2)
$(fstab_field 3)"
check "mount unit: Options= are fstab.example's, less noauto" test \
	"$(unit_key mnt-twilio.mount Options | sorted_opts)" = \
	"$(fstab_field 4 | sorted_opts)"
check "automount: Where= is the mount's" test \
	"$(unit_key mnt-twilio.automount Where)" = \
	"$(unit_key mnt-twilio.mount Where)"
check "user service: credentials from a file, none in Environment=" \
	sh -c "grep -q '^ExecStart=.* --credentials ' \
	    '$top/contrib/twiliofs@.service' &&
	    ! grep -q '^Environment' '$top/contrib/twiliofs@.service' \
	    '$top/contrib/mnt-twilio.mount'"

# --- The installed bash completion, called as bash calls it: COMP_WORDS
# split at blanks and at '=' and ':' (COMP_WORDBREAKS), COMP_CWORD,
# COMP_LINE and COMP_POINT. No bash-completion package needed.
mkdir -p "$scratch/cwd/dir1" "$scratch/cwd/keys"
: >"$scratch/cwd/creds"
cat >"$scratch/completion.bash" <<'EOF'
. "$1" || exit 1
cd "$2" || exit 1
n=0
# complete WORD...: call _twiliofs as bash would for the line of these
# words (the last one is completed): blanks between them, none around
# '=' and ':', which bash splits into words of their own.
complete_words() {
	local w glue=1
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMP_LINE=
	for w in "$@"; do
		if [[ $glue == 1 || $w == [=:] ]]; then
			COMP_LINE+=$w
		else
			COMP_LINE+=" $w"
		fi
		glue=0
		[[ $w == [=:] ]] && glue=1
	done
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_twiliofs
}
# expect WANT WORD...: the completions are WANT (joined by blanks).
expect() {
	local want=$1
	shift
	complete_words "$@"
	if [[ "${COMPREPLY[*]}" == "$want" ]]; then
		echo "ok - completion: '$COMP_LINE' -> '$want'"
	else
		echo "not ok - completion: '$COMP_LINE' -> '${COMPREPLY[*]}'," \
		    "not '$want'"
		n=$((n + 1))
	fi
}
# has WANT WORD...: WANT is among the completions.
has() {
	local want=$1
	shift
	complete_words "$@"
	if [[ " ${COMPREPLY[*]} " == *" $want "* ]]; then
		echo "ok - completion: '$COMP_LINE' offers $want"
	else
		echo "not ok - completion: '$COMP_LINE' -> '${COMPREPLY[*]}'," \
		    "no $want"
		n=$((n + 1))
	fi
}
expect keys twiliofs ke
for c in decrypt sync get mount keys encryption help; do
	has "$c" twiliofs ""
done
has --profile twiliofs --
has register twiliofs keys ""
expect "generate register list remove" twiliofs keys ""
expect "status enable disable" twiliofs encryption ""
expect "video-recordings video-compositions intelligence voice" \
	twiliofs encryption enable ""
has --key twiliofs encryption enable voice --
expect mount twiliofs --profile work mo
expect "2048 3072 4096" twiliofs keys generate --bits ""
has --yes twiliofs keys remove --
has --name twiliofs keys register --
expect --incremental twiliofs sync --inc
has --full twiliofs sync --
has --part twiliofs get --
has -f twiliofs mount -
has --public-key-sid twiliofs decrypt --
expect "--headers --help" twiliofs decrypt --he
expect streams= twiliofs mount -o str
expect offline,read_timeout= twiliofs mount -o offline,read_t
has max_threads= twiliofs mount -o ""
has account_sid= twiliofs mount -o ""
expect "" twiliofs sync -o allow
expect allow_other twiliofs AC00000000000000000000000000000000 /mnt -o allow
expect "us1 ie1 au1" twiliofs sync --region ""
expect dir1 twiliofs mount --cache-dir d
expect creds twiliofs sync --credentials = cr
expect dir1 twiliofs mount -o cache_dir = d
expect keys twiliofs sync -k creds : ke
exit $n
EOF
if command -v bash >/dev/null 2>&1; then
	bash "$scratch/completion.bash" "$completion" "$scratch/cwd"
	fails=$((fails + $?))
else
	echo "not ok - bash is missing"
	fails=$((fails + 1))
fi

make -s -C "$top" uninstall PREFIX=/opt/tfs DESTDIR="$dest" >/dev/null
rm -rf "$scratch"
check "uninstall removes the binary, man page and completion" \
	sh -c "[ -z \"\$(find '$dest' -type f)\" ]"
[ $fails -eq 0 ] || exit 1
if [ -n "$skipped" ]; then
	echo "SKIP: systemd-analyze is not installed (package systemd)"
	exit 77
fi
exit 0
