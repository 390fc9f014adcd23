#!/bin/bash
# SPDX-License-Identifier: MIT
# test_decrypt.sh - black-box tests of "twiliofs decrypt" against fixtures
# encrypted by the openssl CLI and python3-cryptography
# (tests/fixtures/mkfixtures.sh; checked by tests/fixtures/selfcheck.sh).
#
# Usage:
#   TWILIOFS=/abs/twiliofs TFS_FIXTURES=/abs/fixtures TFS_WORK=/abs/scratch \
#       bash tests/integration/test_decrypt.sh
# TWILIOFS defaults to ./twiliofs at the top of the tree, TFS_WORK to a new
# temporary directory, TFS_FIXTURES to $TFS_WORK/fixtures (made or refreshed
# here with mkfixtures.sh, which is idempotent). TFS_BIG_MIB (default 256)
# sizes the bounded-memory cases (run with TWILIOFS_MEM, default TWILIOFS);
# 0 skips them. TFS_MAX_RSS_KB (default
# 65536) is the peak RSS they allow.
#
# Prints one TAP-like line per case; exits 0 if all passed, 1 if any failed,
# 77 if something required is missing (the reason is printed).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
fixdir="$top/tests/fixtures"

skip() { echo "SKIP: $*" >&2; exit 77; }
bail() { echo "Bail out! $*"; exit 1; }

TWILIOFS=${TWILIOFS:-$top/twiliofs}
[ -x "$TWILIOFS" ] || skip "no twiliofs binary at $TWILIOFS (run make, or set TWILIOFS)"
# The memory cases measure the binary users run: a sanitizer build's peak
# RSS says nothing about it. make check points this at ./twiliofs.
TWILIOFS_MEM=${TWILIOFS_MEM:-$TWILIOFS}
[ -x "$TWILIOFS_MEM" ] || skip "no twiliofs binary at $TWILIOFS_MEM (TWILIOFS_MEM)"
for t in sha256sum timeout stat od grep sed; do
	command -v "$t" >/dev/null 2>&1 || skip "missing tool: $t (coreutils/grep/sed)"
done
command -v openssl >/dev/null 2>&1 || skip "missing openssl (Debian package openssl)"
BIG_MIB=${TFS_BIG_MIB:-256}
MAX_RSS=${TFS_MAX_RSS_KB:-65536}
case $BIG_MIB in '' | *[!0-9]*) bail "TFS_BIG_MIB must be a number" ;; esac
if [ "$BIG_MIB" -gt 0 ] && [ ! -x /usr/bin/time ]; then
	skip "missing /usr/bin/time (Debian package time) for the memory cases; or set TFS_BIG_MIB=0"
fi

own_work=''
if [ -n "${TFS_WORK:-}" ]; then
	mkdir -p "$TFS_WORK" || bail "cannot create $TFS_WORK"
	W=$(cd "$TFS_WORK" && pwd)
else
	W=$(mktemp -d "${TMPDIR:-/tmp}/tfs-decrypt.XXXXXX") || bail "mktemp"
	own_work=1
fi
F=${TFS_FIXTURES:-$W/fixtures}

bash "$fixdir/mkfixtures.sh" "$F" 2>"$W/mkfixtures.log"
st=$?
[ $st -eq 77 ] && skip "$(tail -1 "$W/mkfixtures.log")"
[ $st -eq 0 ] || bail "mkfixtures.sh failed: $(tail -1 "$W/mkfixtures.log")"
F=$(cd "$F" && pwd)
V="$F/vectors"

# Keep the user's configuration and environment out of the way.
export HOME="$W/home" XDG_CONFIG_HOME="$W/home/.config" \
    XDG_CACHE_HOME="$W/home/.cache" LC_ALL=C
mkdir -p "$HOME"
unset TWILIOFS_KEYS TWILIOFS_ENDPOINT TWILIOFS_CACHE_DIR TWILIO_ACCOUNT_SID \
    TWILIO_API_KEY TWILIO_API_SECRET TWILIO_AUTH_TOKEN
# Output files must come out 0600 even under a permissive umask.
umask 022

sid() { sed -n "s/^$1=//p" "$F/sids"; }
SID_A=$(sid A) SID_B=$(sid B) SID_C=$(sid C)
SID_D=$(sid D) SID_E=$(sid E) SID_X=$(sid X)
meta() { sed -n "s/^$2=//p" "$V/$1.meta"; }
sha() { sha256sum | cut -d' ' -f1; }
PASS="$F/passphrase"
KEYS=(-k "$F/keys" --key-passphrase-file "$PASS")

# Every CEK (hex and base64) of every vector: none may ever show in stderr.
: >"$W/secrets"
for m in "$V"/*.meta; do
	h=$(sed -n 's/^cek=//p' "$m")
	echo "$h" >>"$W/secrets"
	# shellcheck disable=SC2059
	printf "$(sed 's/../\\x&/g' <<<"$h")" | openssl base64 -A >>"$W/secrets"
	echo >>"$W/secrets"
done

# ---- case machinery ------------------------------------------------------
n=0
fails=0
OUT='' ERR='' rc=0 D='' cname='' why='' vflag=''

case_begin() {
	cname=$1
	why=
	vflag=
	D="$W/case$((n + 1))"
	rm -rf "$D"
	mkdir -p "$D/o"
	OUT="$D/stdout"
	ERR="$D/stderr"
}
fail() { why="${why:+$why; }$*"; }
case_end() {
	if [ -s "$ERR" ] && grep -qiF -f "$W/secrets" "$ERR"; then
		fail "a CEK appears in stderr"
	fi
	n=$((n + 1))
	if [ -z "$why" ]; then
		echo "ok $n - $cname"
		rm -rf "$D"
	else
		fails=$((fails + 1))
		echo "not ok $n - $cname: $why"
		# keep the evidence, but not huge outputs
		find "$D" -type f -size +16M -delete 2>/dev/null
	fi
}
errline() { head -c 300 "$ERR" | tr '\n' '|'; }

# tfs [--pipe FILE | --stdin FILE] ARGS...: run twiliofs; rc, $OUT, $ERR.
# --pipe feeds FILE through a pipe (not seekable), --stdin redirects it.
TMO=${TFS_TIMEOUT:-120}
tfs() {
	local pipe='' in=/dev/null
	case ${1:-} in
	--pipe) pipe=$2; shift 2 ;;
	--stdin) in=$2; shift 2 ;;
	esac
	case " $* " in *" -v "*) vflag=1 ;; esac
	if [ -n "$pipe" ]; then
		cat "$pipe" | timeout "$TMO" "$TWILIOFS" "$@" >"$OUT" 2>"$ERR"
		rc=${PIPESTATUS[1]}
	else
		timeout "$TMO" "$TWILIOFS" "$@" <"$in" >"$OUT" 2>"$ERR"
		rc=$?
	fi
	[ "$rc" -eq 124 ] && fail "timed out after ${TMO}s"
	[ "$rc" -gt 128 ] && fail "killed by signal $((rc - 128))"
	return 0
}

want_rc() {
	[ "$rc" -eq "$1" ] || fail "exit $rc, want $1 (stderr: $(errline))"
}
want_fail() { [ "$rc" -ne 0 ] || fail "exit 0, want failure"; }
# exactly one line, "twiliofs: ..." (with -v, the last line must be it)
want_errline() {
	local lines last
	lines=$(wc -l <"$ERR")
	last=$(tail -c 1 "$ERR" | od -An -tx1 | tr -d ' \n')
	if [ -n "$vflag" ]; then
		tail -n 1 "$ERR" | grep -q '^twiliofs: ' ||
		    fail "last stderr line does not start 'twiliofs: '"
		return
	fi
	if [ "$lines" -ne 1 ] || [ "$last" != 0a ]; then
		fail "stderr is $lines lines, want exactly 1 (stderr: $(errline))"
	elif [ "$(head -c 10 "$ERR")" != "twiliofs: " ]; then
		fail "stderr does not start 'twiliofs: ' ($(errline))"
	fi
}
want_err() { # SUBSTRING (case-sensitive)
	grep -qF -- "$1" "$ERR" || fail "stderr lacks '$1' ($(errline))"
}
want_stdout_empty() {
	[ ! -s "$OUT" ] || fail "stdout has $(stat -c %s "$OUT") bytes, want none"
}
want_stdout() { # SHA256
	local got
	got=$(sha <"$OUT")
	[ "$got" = "$1" ] ||
	    fail "stdout sha256 $got ($(stat -c %s "$OUT") bytes) != plaintext's"
}
# a successful decryption to FILE (in $D/o): sha, mode 0600, nothing else
# beside it, nothing on stdout
want_file() { # FILE SHA256
	local f=$1 got m extra
	want_rc 0
	if [ ! -f "$f" ]; then
		fail "no output file"
		return
	fi
	got=$(sha <"$f")
	[ "$got" = "$2" ] ||
	    fail "output sha256 $got ($(stat -c %s "$f") bytes) != plaintext's"
	m=$(stat -c %a "$f")
	[ "$m" = 600 ] || fail "output mode $m, want 600"
	extra=''
	for x in "$(dirname "$f")"/* "$(dirname "$f")"/.*; do
		case ${x##*/} in . | .. | '*' | '.*') continue ;; esac
		[ "$x" = "$f" ] || extra="$extra ${x##*/}"
	done
	[ -z "$extra" ] || fail "left beside the output:$extra"
	want_stdout_empty
}
# a failed decryption to FILE: no such file, nothing else in its directory
want_no_file() { # FILE
	local left
	[ ! -e "$1" ] || fail "output file exists after failure"
	left=$(ls -A "$(dirname "$1")" | tr '\n' ' ')
	[ -z "$left" ] || fail "left in the output directory: $left"
}

# envelope arguments of vector $2 in form $1 -> array ENVA
envargs() {
	case $1 in
	headers) ENVA=(--headers "$V/$2.headers") ;;
	details-file) ENVA=(--details "$V/$2.details") ;;
	details-json) ENVA=(--details "$(cat "$V/$2.details")") ;;
	cek) ENVA=(--cek "$(meta "$2" wrapped)" --iv "$(meta "$2" iv_b64)") ;;
	*) bail "envargs: $1" ;;
	esac
}
plain() { meta "$1" sha256; }

GOOD="cbc256_A cbc256_B_nolen cbc128_D cbc_empty_A cbc_block_E
gcm_voice_A gcm_voice_C gcm_voice_cb_B gcm_intel_D gcm_empty_E"

# ---- every good vector, every envelope form, file and stdout -------------
for v in $GOOD; do
	forms=
	[ -f "$V/$v.headers" ] && forms="$forms headers"
	[ -f "$V/$v.details" ] && forms="$forms details-file details-json"
	forms="$forms cek"
	for form in $forms; do
		envargs "$form" "$v"
		case_begin "$v: --$form, to a file"
		tfs decrypt "${KEYS[@]}" "${ENVA[@]}" "$V/$v.enc" "$D/o/out"
		want_file "$D/o/out" "$(plain "$v")"
		case_end

		case_begin "$v: --$form, to stdout"
		tfs decrypt "${KEYS[@]}" "${ENVA[@]}" "$V/$v.enc"
		want_rc 0
		want_stdout "$(plain "$v")"
		case_end
	done
done

case_begin "cbc256_A: OUTPUT '-' is stdout"
tfs decrypt "${KEYS[@]}" --headers "$V/cbc256_A.headers" "$V/cbc256_A.enc" -
want_rc 0
want_stdout "$(plain cbc256_A)"
[ ! -e ./- ] && [ ! -e "$D/o/-" ] || fail "made a file named '-'"
case_end

# ---- INPUT '-' ------------------------------------------------------------
for v in cbc256_A cbc256_B_nolen cbc128_D cbc_empty_A cbc_block_E; do
	case_begin "$v: from a pipe (INPUT -) to a file"
	tfs --pipe "$V/$v.enc" decrypt "${KEYS[@]}" --headers "$V/$v.headers" - "$D/o/out"
	want_file "$D/o/out" "$(plain "$v")"
	case_end

	case_begin "$v: from a pipe (INPUT -) to stdout"
	tfs --pipe "$V/$v.enc" decrypt "${KEYS[@]}" --headers "$V/$v.headers" -
	want_rc 0
	want_stdout "$(plain "$v")"
	case_end
done
for v in gcm_voice_A gcm_voice_C gcm_voice_cb_B gcm_intel_D gcm_empty_E; do
	if [ -f "$V/$v.details" ]; then envargs details-file "$v"; else envargs headers "$v"; fi
	case_begin "$v: from a pipe (INPUT -) to a file"
	tfs --pipe "$V/$v.enc" decrypt "${KEYS[@]}" "${ENVA[@]}" - "$D/o/out"
	want_file "$D/o/out" "$(plain "$v")"
	case_end
done

case_begin "gcm_voice_A: from a pipe to stdout is refused, no plaintext"
tfs --pipe "$V/gcm_voice_A.enc" decrypt "${KEYS[@]}" --details "$V/gcm_voice_A.details" -
want_fail
want_errline
want_stdout_empty
case_end

case_begin "gcm_voice_A: stdin redirected from a (seekable) file to stdout"
tfs --stdin "$V/gcm_voice_A.enc" decrypt "${KEYS[@]}" --details "$V/gcm_voice_A.details" -
want_rc 0
want_stdout "$(plain gcm_voice_A)"
case_end

# ---- ways of giving keys ---------------------------------------------------
# keyfile LETTER -> path
keyfile() {
	case $1 in
	A) echo "$F/keys/$SID_A.pem" ;;
	B) echo "$F/keys/$SID_B.key" ;;
	C) echo "$F/keys/$SID_C.pem" ;;
	D) echo "$F/keys/$SID_D.der" ;;
	E) echo "$F/keys/unnamed.der" ;;
	X) echo "$F/stranger.pem" ;;
	esac
}
one_key_case() { # NAME VECTOR KEYARGS... (envelope: headers, else details)
	local name=$1 v=$2
	shift 2
	if [ -f "$V/$v.headers" ]; then envargs headers "$v"; else envargs details-file "$v"; fi
	case_begin "$name"
	tfs decrypt "$@" "${ENVA[@]}" "$V/$v.enc" "$D/o/out"
	want_file "$D/o/out" "$(plain "$v")"
	case_end
}
one_key_case "key A alone (PKCS#1 PEM) opens cbc256_A" cbc256_A -k "$(keyfile A)"
one_key_case "key A alone (PKCS#1 PEM) opens gcm_voice_A (OAEP)" gcm_voice_A -k "$(keyfile A)"
one_key_case "key B alone (PKCS#8 PEM, RSA-3072) opens gcm_voice_cb_B" gcm_voice_cb_B -k "$(keyfile B)"
one_key_case "key B alone (PKCS#8 PEM, RSA-3072) opens cbc256_B_nolen" cbc256_B_nolen -k "$(keyfile B)"
one_key_case "key C alone (encrypted PKCS#8) + passphrase opens gcm_voice_C" gcm_voice_C -k "$(keyfile C)" --key-passphrase-file "$PASS"
one_key_case "--key_passphrase_file spelling" gcm_voice_C -k "$(keyfile C)" --key_passphrase_file "$PASS"
one_key_case "key D alone (PKCS#1 DER) opens cbc128_D" cbc128_D -k "$(keyfile D)"
one_key_case "key D alone (PKCS#1 DER) opens gcm_intel_D" gcm_intel_D -k "$(keyfile D)"
one_key_case "key E alone (unnamed.der, PKCS#8 DER) opens cbc_block_E" cbc_block_E -k "$(keyfile E)"
one_key_case "key E alone (unnamed.der, PKCS#8 DER) opens gcm_empty_E" gcm_empty_E -k "$(keyfile E)"
one_key_case "--keys long option" cbc256_A --keys "$(keyfile A)"
one_key_case "a ':' list of files (the right one last)" gcm_voice_A -k "$(keyfile B):$(keyfile D):$(keyfile A)"
one_key_case "a ':' list of a file and the directory" cbc_stranger_X -k "$(keyfile X):$F/keys" --key-passphrase-file "$PASS"
one_key_case "the directory opens a CBC vector of key E (unnamed file)" cbc_block_E -k "$F/keys" --key-passphrase-file "$PASS"

case_begin "TWILIOFS_KEYS names the directory (no -k)"
TWILIOFS_KEYS="$F/keys" tfs decrypt --key-passphrase-file "$PASS" --headers "$V/cbc256_A.headers" "$V/cbc256_A.enc" "$D/o/out"
want_file "$D/o/out" "$(plain cbc256_A)"
case_end

case_begin "TWILIOFS_KEYS holds a ':' list (no -k)"
TWILIOFS_KEYS="$(keyfile D):$(keyfile B)" tfs decrypt --details "$V/gcm_voice_cb_B.details" "$V/gcm_voice_cb_B.enc" "$D/o/out"
want_file "$D/o/out" "$(plain gcm_voice_cb_B)"
case_end

case_begin "-k wins over TWILIOFS_KEYS"
TWILIOFS_KEYS="$(keyfile X)" tfs decrypt -k "$(keyfile A)" --headers "$V/cbc256_A.headers" "$V/cbc256_A.enc" "$D/o/out"
want_file "$D/o/out" "$(plain cbc256_A)"
case_end

# ---- passphrases -----------------------------------------------------------
case_begin "encrypted key without a passphrase: exit 2, says passphrase"
tfs decrypt -k "$(keyfile C)" --details "$V/gcm_voice_C.details" "$V/gcm_voice_C.enc" "$D/o/out"
want_rc 2
want_errline
want_err passphrase
want_no_file "$D/o/out"
case_end

case_begin "keyring directory with an encrypted key, no passphrase, its vector: fails, says passphrase"
tfs decrypt -k "$F/keys" --details "$V/gcm_voice_C.details" "$V/gcm_voice_C.enc" "$D/o/out"
want_fail
want_errline
want_err passphrase
want_no_file "$D/o/out"
case_end

case_begin "encrypted key with a wrong passphrase: exit 2"
echo "not the passphrase" >"$D/wrongpass"
chmod 600 "$D/wrongpass"
tfs decrypt -k "$(keyfile C)" --key-passphrase-file "$D/wrongpass" --details "$V/gcm_voice_C.details" "$V/gcm_voice_C.enc" "$D/o/out"
want_rc 2
want_errline
want_no_file "$D/o/out"
case_end

case_begin "passphrase file mode 0644: exit 2"
cp "$PASS" "$D/pass"
chmod 644 "$D/pass"
tfs decrypt -k "$(keyfile C)" --key-passphrase-file "$D/pass" --details "$V/gcm_voice_C.details" "$V/gcm_voice_C.enc" "$D/o/out"
want_rc 2
want_errline
want_no_file "$D/o/out"
case_end

# ---- key file problems -----------------------------------------------------
case_begin "key file mode 0644: exit 2, readable by group or others"
cp "$(keyfile A)" "$D/$SID_A.pem"
chmod 644 "$D/$SID_A.pem"
tfs decrypt -k "$D/$SID_A.pem" --headers "$V/cbc256_A.headers" "$V/cbc256_A.enc" "$D/o/out"
want_rc 2
want_errline
want_err "readable by group or others"
want_no_file "$D/o/out"
case_end

case_begin "key file mode 0640: exit 2, readable by group or others"
cp "$(keyfile A)" "$D/$SID_A.pem"
chmod 640 "$D/$SID_A.pem"
tfs decrypt -k "$D/$SID_A.pem" --headers "$V/cbc256_A.headers" "$V/cbc256_A.enc" "$D/o/out"
want_rc 2
want_errline
want_err "readable by group or others"
case_end

case_begin "a 0644 key inside a keyring directory: exit 2"
mkdir "$D/ring"
cp "$(keyfile A)" "$(keyfile B)" "$D/ring/"
chmod 600 "$D/ring/"*
chmod 644 "$D/ring/$SID_B.key"
tfs decrypt -k "$D/ring" --headers "$V/cbc256_A.headers" "$V/cbc256_A.enc" "$D/o/out"
want_rc 2
want_errline
want_err "readable by group or others"
case_end

case_begin "a key file that is not a key: exit 2"
printf 'this is not a key\n' >"$D/junk.pem"
chmod 600 "$D/junk.pem"
tfs decrypt -k "$D/junk.pem" --headers "$V/cbc256_A.headers" "$V/cbc256_A.enc" "$D/o/out"
want_rc 2
want_errline
want_no_file "$D/o/out"
case_end

case_begin "a key path that does not exist: exit 2"
tfs decrypt -k "$D/nonexistent.pem" --headers "$V/cbc256_A.headers" "$V/cbc256_A.enc" "$D/o/out"
want_rc 2
want_errline
case_end

# ---- Public Key SIDs ---------------------------------------------------------
sid_case() { # NAME VECTOR SID KEYARGS...
	local name=$1 v=$2 s=$3
	shift 3
	case_begin "$name"
	tfs decrypt "$@" --cek "$(meta "$v" wrapped)" --iv "$(meta "$v" iv_b64)" --public-key-sid "$s" "$V/$v.enc" "$D/o/out"
	want_file "$D/o/out" "$(plain "$v")"
	case_end
}
sid_case "--public-key-sid A picks key A (CBC)" cbc256_A "$SID_A" "${KEYS[@]}"
sid_case "--public-key-sid C picks key C (GCM)" gcm_voice_C "$SID_C" "${KEYS[@]}"
sid_case "--public-key-sid E (file not named by SID) found by trial" gcm_empty_E "$SID_E" "${KEYS[@]}"
sid_case "wrong --public-key-sid (B for an A vector): other keys tried" cbc256_A "$SID_B" "${KEYS[@]}"
sid_case "wrong --public-key-sid (D for an A vector, GCM): other keys tried" gcm_voice_A "$SID_D" "${KEYS[@]}"

case_begin "file named CR<A> holds another key: falls back to trial"
mkdir "$D/ring"
cp "$(keyfile B)" "$D/ring/$SID_A.pem"
cp "$(keyfile A)" "$D/ring/$SID_B.key"
chmod 600 "$D/ring/"*
tfs decrypt -k "$D/ring" --cek "$(meta cbc256_A wrapped)" --iv "$(meta cbc256_A iv_b64)" --public-key-sid "$SID_A" "$V/cbc256_A.enc" "$D/o/out"
want_file "$D/o/out" "$(plain cbc256_A)"
case_end

case_begin "details name key B but the file named CR<B> holds key A: trial (GCM)"
mkdir "$D/ring"
cp "$(keyfile A)" "$D/ring/$SID_B.key"
cp "$(keyfile B)" "$D/ring/other.pem"
chmod 600 "$D/ring/"*
tfs decrypt -k "$D/ring" --details "$V/gcm_voice_cb_B.details" "$V/gcm_voice_cb_B.enc" "$D/o/out"
want_file "$D/o/out" "$(plain gcm_voice_cb_B)"
case_end

# ---- no key opens the CEK ----------------------------------------------------
stranger_checks() { # [SID]
	want_rc 4
	want_errline
	want_err "no key in the keyring opens"
	[ -z "${1:-}" ] || want_err "$1"
}
case_begin "gcm_stranger_X (details name X): exit 4, names $SID_X"
tfs decrypt "${KEYS[@]}" --details "$V/gcm_stranger_X.details" "$V/gcm_stranger_X.enc" "$D/o/out"
stranger_checks "$SID_X"
want_no_file "$D/o/out"
case_end

case_begin "gcm_stranger_X to stdout: exit 4, nothing written"
tfs decrypt "${KEYS[@]}" --details "$(cat "$V/gcm_stranger_X.details")" "$V/gcm_stranger_X.enc"
stranger_checks "$SID_X"
want_stdout_empty
case_end

case_begin "cbc_stranger_X (headers, no SID): exit 4"
tfs decrypt "${KEYS[@]}" --headers "$V/cbc_stranger_X.headers" "$V/cbc_stranger_X.enc" "$D/o/out"
stranger_checks
want_no_file "$D/o/out"
case_end

case_begin "cbc_stranger_X (--cek/--iv --public-key-sid X): exit 4, names $SID_X"
tfs decrypt "${KEYS[@]}" --cek "$(meta cbc_stranger_X wrapped)" --iv "$(meta cbc_stranger_X iv_b64)" --public-key-sid "$SID_X" "$V/cbc_stranger_X.enc" "$D/o/out"
stranger_checks "$SID_X"
want_no_file "$D/o/out"
case_end

case_begin "cbc_stranger_X to stdout: exit 4, nothing written"
tfs decrypt "${KEYS[@]}" --headers "$V/cbc_stranger_X.headers" "$V/cbc_stranger_X.enc"
stranger_checks
want_stdout_empty
case_end

case_begin "cbc256_A with only key B in the keyring: exit 4"
tfs decrypt -k "$(keyfile B)" --headers "$V/cbc256_A.headers" "$V/cbc256_A.enc" "$D/o/out"
stranger_checks
want_no_file "$D/o/out"
case_end

# ---- GCM tag -------------------------------------------------------------
tag_checks() { want_rc 4; want_errline; want_err "authentication tag does not match"; }
case_begin "gcm_tampered_A to a file: exit 4, no output"
tfs decrypt "${KEYS[@]}" --details "$V/gcm_tampered_A.details" "$V/gcm_tampered_A.enc" "$D/o/out"
tag_checks
want_no_file "$D/o/out"
case_end

case_begin "gcm_tampered_A to stdout: exit 4, stdout empty"
tfs decrypt "${KEYS[@]}" --details "$V/gcm_tampered_A.details" "$V/gcm_tampered_A.enc"
tag_checks
want_stdout_empty
case_end

case_begin "gcm_tampered_A from a pipe to a file: exit 4, no output"
tfs --pipe "$V/gcm_tampered_A.enc" decrypt "${KEYS[@]}" --details "$V/gcm_tampered_A.details" - "$D/o/out"
tag_checks
want_no_file "$D/o/out"
case_end

case_begin "gcm_tampered_A via --cek/--iv: exit 4"
tfs decrypt "${KEYS[@]}" --cek "$(meta gcm_tampered_A wrapped)" --iv "$(meta gcm_tampered_A iv_b64)" "$V/gcm_tampered_A.enc" "$D/o/out"
tag_checks
want_no_file "$D/o/out"
case_end

case_begin "GCM ciphertext with one bit flipped in the middle: exit 4, stdout empty"
cp "$V/gcm_voice_A.enc" "$D/flip.enc"
printf '\x5a' | dd of="$D/flip.enc" bs=1 seek=150000 conv=notrunc status=none
[ "$(sha <"$D/flip.enc")" != "$(sha <"$V/gcm_voice_A.enc")" ] || printf '\xa5' |
    dd of="$D/flip.enc" bs=1 seek=150000 conv=notrunc status=none
tfs decrypt "${KEYS[@]}" --details "$V/gcm_voice_A.details" "$D/flip.enc"
tag_checks
want_stdout_empty
case_end

# ---- CBC padding -------------------------------------------------------------
pad_checks() { want_rc 4; want_errline; want_err "bad padding"; }
case_begin "cbc_badpad_A to a file: exit 4, no output"
tfs decrypt "${KEYS[@]}" --headers "$V/cbc_badpad_A.headers" "$V/cbc_badpad_A.enc" "$D/o/out"
pad_checks
want_no_file "$D/o/out"
case_end

case_begin "cbc_badpad_A to stdout (seekable input): exit 4, stdout empty"
tfs decrypt "${KEYS[@]}" --headers "$V/cbc_badpad_A.headers" "$V/cbc_badpad_A.enc"
pad_checks
want_stdout_empty
case_end

case_begin "cbc_badpad_A from a pipe to a file: exit 4, no output"
tfs --pipe "$V/cbc_badpad_A.enc" decrypt "${KEYS[@]}" --headers "$V/cbc_badpad_A.headers" - "$D/o/out"
pad_checks
want_no_file "$D/o/out"
case_end

case_begin "cbc_badpad_A from a pipe to stdout: exit 4"
tfs --pipe "$V/cbc_badpad_A.enc" decrypt "${KEYS[@]}" --headers "$V/cbc_badpad_A.headers" -
pad_checks
case_end

case_begin "cbc_badpad_A via --cek/--iv: exit 4"
tfs decrypt "${KEYS[@]}" --cek "$(meta cbc_badpad_A wrapped)" --iv "$(meta cbc_badpad_A iv_b64)" "$V/cbc_badpad_A.enc" "$D/o/out"
pad_checks
want_no_file "$D/o/out"
case_end

# ---- truncation ------------------------------------------------------------
cut_file() { # SRC NBYTES DEST
	head -c $(($(stat -c %s "$1") - $2)) "$1" >"$3"
}
trunc_checks() { want_rc 4; want_errline; want_err truncated; }

case_begin "cbc256_B_nolen cut by 7 bytes (no length header): exit 4, truncated"
cut_file "$V/cbc256_B_nolen.enc" 7 "$D/t.enc"
tfs decrypt "${KEYS[@]}" --headers "$V/cbc256_B_nolen.headers" "$D/t.enc" "$D/o/out"
trunc_checks
want_no_file "$D/o/out"
case_end

case_begin "cbc256_A cut by 7 bytes: exit 4, truncated, stdout empty"
cut_file "$V/cbc256_A.enc" 7 "$D/t.enc"
tfs decrypt "${KEYS[@]}" --headers "$V/cbc256_A.headers" "$D/t.enc"
trunc_checks
want_stdout_empty
case_end

case_begin "cbc256_A cut by one whole block (headers give the length): exit 4, truncated"
cut_file "$V/cbc256_A.enc" 16 "$D/t.enc"
tfs decrypt "${KEYS[@]}" --headers "$V/cbc256_A.headers" "$D/t.enc" "$D/o/out"
trunc_checks
want_no_file "$D/o/out"
case_end

case_begin "cbc256_A cut by one whole block, to stdout: exit 4, truncated, stdout empty"
cut_file "$V/cbc256_A.enc" 16 "$D/t.enc"
tfs decrypt "${KEYS[@]}" --headers "$V/cbc256_A.headers" "$D/t.enc"
trunc_checks
want_stdout_empty
case_end

case_begin "cbc256_A cut by 7 bytes from a pipe: exit 4, truncated, no output"
cut_file "$V/cbc256_A.enc" 7 "$D/t.enc"
tfs --pipe "$D/t.enc" decrypt "${KEYS[@]}" --headers "$V/cbc256_A.headers" - "$D/o/out"
trunc_checks
want_no_file "$D/o/out"
case_end

case_begin "cbc128_D cut by 7 bytes via --cek/--iv: exit 4, truncated"
cut_file "$V/cbc128_D.enc" 7 "$D/t.enc"
tfs decrypt "${KEYS[@]}" --cek "$(meta cbc128_D wrapped)" --iv "$(meta cbc128_D iv_b64)" "$D/t.enc" "$D/o/out"
trunc_checks
want_no_file "$D/o/out"
case_end

case_begin "empty CBC input: exit 4, truncated"
: >"$D/t.enc"
tfs decrypt "${KEYS[@]}" --headers "$V/cbc_empty_A.headers" "$D/t.enc" "$D/o/out"
trunc_checks
want_no_file "$D/o/out"
case_end

case_begin "GCM input shorter than a tag (10 bytes): exit 4, truncated"
head -c 10 "$V/gcm_voice_A.enc" >"$D/t.enc"
tfs decrypt "${KEYS[@]}" --details "$V/gcm_voice_A.details" "$D/t.enc" "$D/o/out"
trunc_checks
want_no_file "$D/o/out"
case_end

case_begin "GCM input shorter than a tag, to stdout: exit 4, stdout empty"
head -c 10 "$V/gcm_voice_A.enc" >"$D/t.enc"
tfs decrypt "${KEYS[@]}" --details "$V/gcm_voice_A.details" "$D/t.enc"
want_rc 4
want_errline
want_stdout_empty
case_end

case_begin "gcm_voice_A cut by 7 bytes: exit 4, no output"
cut_file "$V/gcm_voice_A.enc" 7 "$D/t.enc"
tfs decrypt "${KEYS[@]}" --details "$V/gcm_voice_A.details" "$D/t.enc" "$D/o/out"
want_rc 4
want_errline
want_no_file "$D/o/out"
case_end

case_begin "gcm_intel_D with 5 extra bytes: exit 4, no output"
cp "$V/gcm_intel_D.enc" "$D/t.enc"
printf 'extra' >>"$D/t.enc"
tfs decrypt "${KEYS[@]}" --headers "$V/gcm_intel_D.headers" "$D/t.enc" "$D/o/out"
want_rc 4
want_errline
want_no_file "$D/o/out"
case_end

# ---- bad envelopes -------------------------------------------------------
case_begin "--cek that is not base64: exit 4, not valid base64"
tfs decrypt "${KEYS[@]}" --cek 'not*valid*base64!' --iv "$(meta cbc256_A iv_b64)" "$V/cbc256_A.enc" "$D/o/out"
want_rc 4
want_errline
want_err "not valid base64"
want_no_file "$D/o/out"
case_end

case_begin "--iv that is not base64: exit 4, not valid base64"
tfs decrypt "${KEYS[@]}" --cek "$(meta cbc256_A wrapped)" --iv '@@@@####' "$V/cbc256_A.enc" "$D/o/out"
want_rc 4
want_errline
want_err "not valid base64"
want_no_file "$D/o/out"
case_end

case_begin "header dump without x-amz-meta-x-amz-key: exit 4, no encryption envelope"
grep -vi '^x-amz-meta-x-amz-key:' "$V/cbc256_A.headers" >"$D/h"
tfs decrypt "${KEYS[@]}" --headers "$D/h" "$V/cbc256_A.enc" "$D/o/out"
want_rc 4
want_errline
want_err "no encryption envelope"
want_no_file "$D/o/out"
case_end

case_begin "header dump of an unencrypted object (no x-amz-meta at all): exit 4, no encryption envelope"
grep -vi '^x-amz-meta-' "$V/cbc256_A.headers" >"$D/h"
tfs decrypt "${KEYS[@]}" --headers "$D/h" "$V/cbc256_A.enc"
want_rc 4
want_errline
want_err "no encryption envelope"
want_stdout_empty
case_end

case_begin "envelope only in the 302 of a redirect dump does not count: exit 4"
# the object's own response (the last one) has no key; the 302 has one
{
	printf 'HTTP/1.1 302 Found\r\nx-amz-meta-x-amz-key: %s\r\nx-amz-meta-x-amz-iv: %s\r\nLocation: https://example.invalid/x\r\n\r\n' \
	    "$(meta cbc256_A wrapped)" "$(meta cbc256_A iv_b64)"
	grep -vi '^x-amz-meta-' "$V/cbc256_A.headers"
} >"$D/h"
tfs decrypt "${KEYS[@]}" --headers "$D/h" "$V/cbc256_A.enc" "$D/o/out"
want_rc 4
want_errline
want_no_file "$D/o/out"
case_end

case_begin "--details with malformed JSON: exit 4"
tfs decrypt "${KEYS[@]}" --details '{"type": "rsa-aes", "encrypted_cek": ' "$V/gcm_voice_A.enc" "$D/o/out"
want_rc 4
want_errline
want_no_file "$D/o/out"
case_end

# ---- local files -----------------------------------------------------------
case_begin "INPUT does not exist: exit 1"
tfs decrypt "${KEYS[@]}" --headers "$V/cbc256_A.headers" "$D/nonexistent.enc" "$D/o/out"
want_rc 1
want_errline
want_no_file "$D/o/out"
case_end

case_begin "OUTPUT directory does not exist: exit 1, the message names it"
tfs decrypt "${KEYS[@]}" --headers "$V/cbc256_A.headers" "$V/cbc256_A.enc" "$D/o/missing/out"
want_rc 1
want_errline
want_err "directory $D/o/missing does not exist"
case_end

case_begin "--headers FILE does not exist: exit 1"
tfs decrypt "${KEYS[@]}" --headers "$D/nonexistent.headers" "$V/cbc256_A.enc" "$D/o/out"
want_rc 1
want_errline
want_no_file "$D/o/out"
case_end

# ---- usage -------------------------------------------------------------
usage_case() { # NAME ARGS...
	local name=$1
	shift
	case_begin "usage: $name: exit 1"
	tfs "$@"
	want_rc 1
	want_errline
	want_stdout_empty
	case_end
}
usage_case "no INPUT" decrypt "${KEYS[@]}" --headers "$V/cbc256_A.headers"
usage_case "unknown option" decrypt "${KEYS[@]}" --frobnicate --headers "$V/cbc256_A.headers" "$V/cbc256_A.enc"
usage_case "--cek without --iv" decrypt "${KEYS[@]}" --cek "$(meta cbc256_A wrapped)" "$V/cbc256_A.enc"
usage_case "--iv without --cek" decrypt "${KEYS[@]}" --iv "$(meta cbc256_A iv_b64)" "$V/cbc256_A.enc"
usage_case "too many operands" decrypt "${KEYS[@]}" --headers "$V/cbc256_A.headers" "$V/cbc256_A.enc" "$W/x" "$W/y"
usage_case "option missing its argument" decrypt "${KEYS[@]}" --headers
usage_case "no subcommand" 
usage_case "unknown subcommand" frobnicate

case_begin "--help: exit 0, mentions decrypt"
tfs --help
want_rc 0
grep -q decrypt "$OUT" || fail "stdout does not mention decrypt"
case_end

case_begin "decrypt --help: exit 0, mentions decrypt and --headers"
tfs decrypt --help
want_rc 0
grep -q decrypt "$OUT" || fail "stdout does not mention decrypt"
grep -q -- --headers "$OUT" || fail "stdout does not mention --headers"
case_end

case_begin "--version: exit 0, prints a version"
tfs --version
want_rc 0
grep -q '[0-9]' "$OUT" || fail "stdout has no version number ($(head -c 100 "$OUT"))"
case_end

# ---- -v never shows a CEK (case_end checks every case's stderr) ------------
case_begin "-v, CBC success: no CEK in stderr"
tfs decrypt -v "${KEYS[@]}" --headers "$V/cbc256_A.headers" "$V/cbc256_A.enc" "$D/o/out"
want_file "$D/o/out" "$(plain cbc256_A)"
case_end

case_begin "-v, GCM success via --cek/--iv: no CEK in stderr"
tfs decrypt -v "${KEYS[@]}" --cek "$(meta gcm_voice_C wrapped)" --iv "$(meta gcm_voice_C iv_b64)" "$V/gcm_voice_C.enc" "$D/o/out"
want_file "$D/o/out" "$(plain gcm_voice_C)"
case_end

case_begin "-v, GCM tag failure: no CEK in stderr"
tfs decrypt -v "${KEYS[@]}" --details "$V/gcm_tampered_A.details" "$V/gcm_tampered_A.enc" "$D/o/out"
want_rc 4
want_errline
want_no_file "$D/o/out"
case_end

case_begin "-v, CBC bad padding: no CEK in stderr"
tfs decrypt -v "${KEYS[@]}" --headers "$V/cbc_badpad_A.headers" "$V/cbc_badpad_A.enc"
want_rc 4
want_errline
want_stdout_empty
case_end

# ---- a length header that disagrees with the padding -----------------------
# cbc256_A is 1048581 bytes; 1048580 needs the same number of blocks, so
# only the padding can tell. From a file (checked before output) and from
# a pipe (checked at the end): exit 4, no output either way.
for how in file pipe; do
	case_begin "CBC, unencrypted length one byte short of the padding's, from a $how: exit 4"
	sed 's/^\(x-amz-meta-x-amz-unencrypted-content-length:\) 1048581/\1 1048580/' \
	    "$V/cbc256_A.headers" >"$D/h"
	grep -q 'content-length: 1048580' "$D/h" || fail "could not edit the headers"
	if [ "$how" = file ]; then
		tfs decrypt "${KEYS[@]}" --headers "$D/h" "$V/cbc256_A.enc" "$D/o/out"
	else
		tfs --pipe "$V/cbc256_A.enc" decrypt "${KEYS[@]}" --headers "$D/h" - "$D/o/out"
	fi
	want_rc 4
	want_errline
	want_err "headers say 1048580"
	want_no_file "$D/o/out"
	case_end
done

# ---- outputs that are not plain files: written in place or through -------
# A device or FIFO is written in place (never replaced), a symlink written
# through, the input itself, a directory refused; as cp and curl -o do.

# fifo_read FIFO DEST: a background reader of FIFO; fifo_wait stops it.
fifo_read() {
	cat "$1" >"$2" &
	fpid=$!
}
fifo_wait() {
	for _ in $(seq 50); do
		kill -0 "$fpid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$fpid" 2>/dev/null; then
		kill "$fpid" 2>/dev/null
		fail "the FIFO's reader never saw end of file"
	fi
	wait "$fpid" 2>/dev/null
}
# only NAMES... in $D/o, nothing else
want_only() {
	local left
	left=$(cd "$D/o" && ls -A | sort | tr '\n' ' ')
	[ "$left" = "$(printf '%s\n' "$@" | sort | tr '\n' ' ')" ] ||
	    fail "in the output directory: $left, want: $*"
}

# A private /dev/null first: a binary that replaces device nodes must not
# get to replace the real one.
devok=
case_begin "cbc256_A to a character device (a private /dev/null): written in place"
if mknod "$D/o/null" c 1 3 2>/dev/null; then
	tfs decrypt "${KEYS[@]}" --headers "$V/cbc256_A.headers" "$V/cbc256_A.enc" "$D/o/null"
	want_rc 0
	want_stdout_empty
	[ -c "$D/o/null" ] || fail "the device node was replaced"
	want_only null
	[ -z "$why" ] && devok=1
else
	cname="$cname # SKIP mknod not permitted"
fi
case_end

case_begin "gcm_voice_A to /dev/null: exit 0, /dev/null still the character device"
if [ "$(id -u)" = 0 ] && [ -z "$devok" ]; then
	fail "not tried as root: a private device node was not kept (case above)"
else
	tfs decrypt "${KEYS[@]}" --details "$V/gcm_voice_A.details" "$V/gcm_voice_A.enc" /dev/null
	want_rc 0
	want_stdout_empty
	if [ ! -c /dev/null ]; then
		fail "/dev/null is no longer a character device"
		# Put the system's back, or every later command suffers.
		[ "$(id -u)" = 0 ] && rm -f /dev/null && mknod -m 666 /dev/null c 1 3
	fi
fi
case_end

for v in gcm_voice_A cbc256_A; do
	if [ -f "$V/$v.details" ]; then envargs details-file "$v"; else envargs headers "$v"; fi
	case_begin "$v to a FIFO: streamed into it, the FIFO kept"
	mkfifo "$D/o/fifo"
	fifo_read "$D/o/fifo" "$D/got"
	tfs decrypt "${KEYS[@]}" "${ENVA[@]}" "$V/$v.enc" "$D/o/fifo"
	fifo_wait
	want_rc 0
	[ "$(sha <"$D/got")" = "$(plain "$v")" ] ||
	    fail "the reader got $(stat -c %s "$D/got") bytes, not the plaintext"
	[ -p "$D/o/fifo" ] || fail "the FIFO was replaced"
	want_only fifo
	case_end
done

for v in gcm_tampered_A cbc_badpad_A; do
	if [ -f "$V/$v.details" ]; then envargs details-file "$v"; else envargs headers "$v"; fi
	case_begin "$v to a FIFO: exit 4, the reader gets 0 bytes"
	mkfifo "$D/o/fifo"
	fifo_read "$D/o/fifo" "$D/got"
	tfs decrypt "${KEYS[@]}" "${ENVA[@]}" "$V/$v.enc" "$D/o/fifo"
	fifo_wait
	want_rc 4
	want_errline
	[ ! -s "$D/got" ] || fail "the reader got $(stat -c %s "$D/got") bytes"
	[ -p "$D/o/fifo" ] || fail "the FIFO was replaced"
	want_only fifo
	case_end
done

case_begin "gcm_voice_A from a pipe to a FIFO: refused, the reader gets 0 bytes"
mkfifo "$D/o/fifo"
fifo_read "$D/o/fifo" "$D/got"
tfs --pipe "$V/gcm_voice_A.enc" decrypt "${KEYS[@]}" --details "$V/gcm_voice_A.details" - "$D/o/fifo"
fifo_wait
want_rc 1
want_errline
want_err "$D/o/fifo"
[ ! -s "$D/got" ] || fail "the reader got $(stat -c %s "$D/got") bytes"
case_end

# symlink_case NAME TARGET: OUTPUT $D/o/link -> TARGET (relative to $D/o)
symlink_case() {
	case_begin "$1"
	mkdir -p "$D/t"
	ln -s "$2" "$D/o/link"
	tfs decrypt "${KEYS[@]}" --details "$V/gcm_voice_C.details" "$V/gcm_voice_C.enc" "$D/o/link"
	want_rc 0
	want_stdout_empty
	[ -L "$D/o/link" ] || fail "the link was replaced"
	[ "$(readlink "$D/o/link")" = "$2" ] || fail "the link now points elsewhere"
	[ "$(sha <"$D/o/link")" = "$(plain gcm_voice_C)" ] ||
	    fail "the link's target does not hold the plaintext"
	[ "$(stat -L -c %a "$D/o/link")" = 600 ] || fail "target mode $(stat -L -c %a "$D/o/link"), want 600"
	case_end
}
symlink_case "symlink OUTPUT to an existing file: written through, link kept" ../t/real
: >"$W/real-existing"
symlink_case "symlink OUTPUT, absolute, to an existing file" "$W/real-existing"
rm -f "$W/real-existing"
symlink_case "dangling symlink OUTPUT: its target created, link kept" ../t/new

case_begin "symlink OUTPUT: no temp file left in the target's directory"
mkdir -p "$D/t"
echo old >"$D/t/real"
ln -s ../t/real "$D/o/link"
tfs decrypt "${KEYS[@]}" --headers "$V/cbc256_A.headers" "$V/cbc256_A.enc" "$D/o/link"
want_rc 0
[ "$(ls -A "$D/t")" = real ] || fail "in the target's directory: $(ls -A "$D/t" | tr '\n' ' ')"
want_only link
[ "$(sha <"$D/t/real")" = "$(plain cbc256_A)" ] || fail "target does not hold the plaintext"
case_end

# protected_symlinks, kept although we follow links by hand: another
# user's link in a sticky world-writable directory is not followed.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	case_begin "another user's symlink in a sticky dir: not followed, exit 1, its target unchanged"
	mkdir -p "$D/sticky" "$D/t"
	chmod 1777 "$D/sticky"
	echo victim >"$D/t/victim"
	ln -s "$D/t/victim" "$D/sticky/out"
	chown -h nobody "$D/sticky/out"
	tfs decrypt "${KEYS[@]}" --headers "$V/cbc256_A.headers" "$V/cbc256_A.enc" "$D/sticky/out"
	want_rc 1
	[ "$(cat "$D/t/victim")" = victim ] || fail "the link's target was replaced"
	[ -L "$D/sticky/out" ] || fail "the link is gone"
	grep -q "sticky world-writable directory; not followed" "$ERR" ||
	    fail "no protected_symlinks message: $(errline)"
	case_end
fi

# /dev/stdout on a pipe, and >(cmd): magic links with no path behind them.
case_begin "OUTPUT /dev/stdout on a pipe, and a process substitution: the plaintext"
got=$("$TWILIOFS" decrypt "${KEYS[@]}" --headers "$V/cbc256_A.headers" \
    "$V/cbc256_A.enc" /dev/stdout 2>"$ERR" | sha)
[ "$got" = "$(plain cbc256_A)" ] || fail "/dev/stdout | sha256sum: $(errline)"
"$TWILIOFS" decrypt "${KEYS[@]}" --headers "$V/cbc256_A.headers" \
    "$V/cbc256_A.enc" >(sha >"$D/subst.sha") 2>"$ERR" || fail ">(cmd): $(errline)"
for _ in $(seq 1 100); do [ -s "$D/subst.sha" ] && break; sleep 0.1; done
[ "$(cat "$D/subst.sha" 2>/dev/null)" = "$(plain cbc256_A)" ] || fail ">(sha256sum) got other bytes"
case_end

# same_case NAME OUTPUT [--stdin]: INPUT $D/o/in, a copy of cbc256_A.enc
same_case() {
	local name=$1 out=$2 before
	shift 2
	case_begin "OUTPUT is the input ($name): exit 1, input unchanged"
	cp "$V/cbc256_A.enc" "$D/o/in"
	case $out in
	link) ln -s in "$D/o/link" ;;
	hard) ln "$D/o/in" "$D/o/hard" ;;
	esac
	before=$(sha <"$D/o/in")
	if [ "${1:-}" = --stdin ]; then
		tfs --stdin "$D/o/in" decrypt "${KEYS[@]}" --headers "$V/cbc256_A.headers" - "$D/o/$out"
	else
		tfs decrypt "${KEYS[@]}" --headers "$V/cbc256_A.headers" "$D/o/in" "$D/o/$out"
	fi
	want_rc 1
	want_errline
	want_err "$D/o/$out: is the same file as the input"
	want_stdout_empty
	[ "$(sha <"$D/o/in")" = "$before" ] || fail "the input was changed"
	[ -L "$D/o/in" ] && fail "the input became a link"
	case $out in
	link) [ -L "$D/o/link" ] || fail "the link was replaced"; want_only in link ;;
	hard) want_only in hard ;;
	*) want_only in ;;
	esac
	case_end
}
same_case "same path" in
same_case "via a symlink" link
same_case "via a hard link" hard
same_case "stdin redirected from it" in --stdin

case_begin "GCM: OUTPUT is the input: exit 1, input unchanged"
cp "$V/gcm_voice_A.enc" "$D/o/in"
tfs decrypt "${KEYS[@]}" --details "$V/gcm_voice_A.details" "$D/o/in" "$D/o/in"
want_rc 1
want_errline
want_err "same file as the input"
[ "$(sha <"$D/o/in")" = "$(sha <"$V/gcm_voice_A.enc")" ] || fail "the input was changed"
want_only in
case_end

# dir_case NAME OUTPUT WANT: OUTPUT is under $D/o; nothing written there
dir_case() {
	case_begin "OUTPUT $1: exit 1, one clear line, nothing written"
	mkdir -p "$D/o/sub"
	ln -s sub "$D/o/dirlink"
	tfs decrypt "${KEYS[@]}" --headers "$V/cbc256_A.headers" "$V/cbc256_A.enc" "$D/o/$2"
	want_rc 1
	want_errline
	want_err "$D/o/$2: $3"
	want_stdout_empty
	[ -z "$(ls -A "$D/o/sub")" ] || fail "written into the directory: $(ls -A "$D/o/sub")"
	want_only sub dirlink
	[ -L "$D/o/dirlink" ] || fail "the link was replaced"
	[ "$(ls -A "$D" | tr '\n' ' ')" = "o stderr stdout " ] ||
	    fail "left beside it: $(ls -A "$D" | tr '\n' ' ')"
	case_end
}
dir_case "is a directory" sub "is a directory; give a file name"
dir_case "is a directory, with a trailing /" sub/ "is a directory; give a file name"
dir_case "is a symlink to a directory" dirlink "is a directory; give a file name"
dir_case "ends in / but does not exist" new/ "ends in '/'"

# ---- killed mid-way: nothing left behind -----------------------------------
# Feed part of an object through a FIFO, let twiliofs write some plaintext,
# then SIGKILL it: no OUTPUT and no temp file may remain in the directory.
case_begin "killed mid-way (SIGKILL): no output, no temp file left behind"
mkfifo "$D/fifo"
"$TWILIOFS" decrypt "${KEYS[@]}" --headers "$V/cbc256_A.headers" - "$D/o/out" \
    <"$D/fifo" >"$OUT" 2>"$ERR" &
pid=$!
{ head -c 600000 "$V/cbc256_A.enc"; sleep 30; } >"$D/fifo" &
wpid=$!
written=0
for _ in $(seq 100); do
	for fd in /proc/$pid/fd/*; do
		case $(readlink "$fd" 2>/dev/null) in
		"$D/o/"*) written=$(stat -L -c %s "$fd" 2>/dev/null || echo 0) ;;
		esac
	done
	[ "$written" -gt 0 ] && break
	sleep 0.1
done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
kill "$wpid" 2>/dev/null
wait "$wpid" 2>/dev/null
[ "$written" -gt 0 ] || fail "twiliofs never wrote plaintext to its output before the kill"
left=$(ls -A "$D/o")
[ -z "$left" ] || fail "left behind in the output directory: $left"
case_end

# ---- bounded memory on big files -------------------------------------------
rss_of() { sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$1"; }
big_case() { # SCHEME (cbc|gcm) WHERE (file|stdout)
	local s=$1 where=$2 env rss got
	if [ "$s" = cbc ]; then env=(--headers "$F/big/cbc.headers"); else env=(--details "$F/big/gcm.details"); fi
	case_begin "big $s, $BIG_MIB MiB, to $where: sha256 and peak RSS < $MAX_RSS kB"
	if [ "$where" = file ]; then
		timeout 1200 /usr/bin/time -v -o "$D/time" "$TWILIOFS_MEM" decrypt -k "$(keyfile A)" "${env[@]}" "$F/big/$s.enc" "$D/o/out" \
		    </dev/null >"$OUT" 2>"$ERR"
		rc=$?
		want_rc 0
		if [ -f "$D/o/out" ]; then
			got=$(sha <"$D/o/out")
			rm -f "$D/o/out"
		else
			got="(no output file)"
		fi
	else
		got=$(timeout 1200 /usr/bin/time -v -o "$D/time" "$TWILIOFS_MEM" decrypt -k "$(keyfile A)" "${env[@]}" "$F/big/$s.enc" \
		    </dev/null 2>"$ERR" | sha; exit "${PIPESTATUS[0]}")
		rc=$?
		want_rc 0
	fi
	[ "$got" = "$(cat "$F/big/$s.plain.sha256")" ] || fail "sha256 $got != plaintext's"
	rss=$(rss_of "$D/time")
	if [ -z "$rss" ]; then
		fail "no 'Maximum resident set size' from /usr/bin/time"
	else
		cname="$cname (max RSS $rss kB)"
		[ "$rss" -lt "$MAX_RSS" ] || fail "max RSS $rss kB >= $MAX_RSS kB"
	fi
	case_end
}
if [ "$BIG_MIB" -gt 0 ]; then
	echo "# making $BIG_MIB MiB fixtures (once)" >&2
	if ! bash "$fixdir/mkfixtures.sh" --big "$F" "$BIG_MIB" 2>>"$W/mkfixtures.log"; then
		n=$((n + 1)); fails=$((fails + 1))
		echo "not ok $n - big fixtures: mkfixtures.sh --big failed ($(tail -1 "$W/mkfixtures.log"))"
	else
		big_case cbc file
		big_case cbc stdout
		big_case gcm file
		big_case gcm stdout
	fi
else
	echo "# TFS_BIG_MIB=0: bounded-memory cases skipped"
fi

echo "1..$n"
if [ "$fails" -gt 0 ]; then
	echo "# $fails of $n failed; evidence kept in $W/case*"
	exit 1
fi
# a scratch directory we made ourselves goes when everything passed
[ -z "$own_work" ] || rm -rf "$W"
exit 0
