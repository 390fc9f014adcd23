#!/bin/bash
# SPDX-License-Identifier: MIT
# test_setup.sh - account setup with twiliofs alone (issue 11), against the
# test account's mock (tests/env): a newcomer's path from nothing to
# encryption on, then each command's refusals. The key pair is checked with
# the openssl CLI (an implementation independent of ours); what the API
# received is read back from the mock's /__control/account.
#
# Usage: TWILIOFS=/abs/twiliofs TFS_WORK=/abs/scratch bash test_setup.sh
# Exits 0 (all passed), 1 (a case failed) or 77 (cannot run here).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
TWILIOFS=${TWILIOFS:-$top/twiliofs}
W=${TFS_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/tfs-setup.XXXXXX")}
mkdir -p "$W"
W=$(cd "$W" && pwd)
E=$W/env
PY=/usr/bin/python3
# shellcheck source=tests/integration/account_lib.sh
. "$here/account_lib.sh"

account_start
trap 'bash "$top/tests/env/stop.sh" "$E" >/dev/null 2>&1' EXIT
account_use
FIXKEYS=$TWILIOFS_KEYS
unset TWILIOFS_KEYS

tfs() {	# ARGS... -> rc, $W/out, $W/err (stdin: nothing, not a terminal)
	timeout 120 "$TWILIOFS" "$@" >"$W/out" 2>"$W/err" </dev/null
	rc=$?
}
has() { grep -q -- "$1" "$2" || fail "$3: no '$1' in: $(head -c 400 "$2")"; }
state() {	# PYTHON-EXPRESSION on s (the mock's account state): printed
	curl -sf --cacert "$TWILIOFS_CAFILE" "$TFS_CONTROL/account" |
	    $PY -c 'import json,sys
s = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1"
}
posts() {	# PATH-SUBSTRING: POST requests the mock saw to it
	curl -sf --cacert "$TWILIOFS_CAFILE" "$TFS_CONTROL/stats" |
	    $PY -c 'import json,sys
rs = json.load(sys.stdin)["requests"]
print(sum(1 for r in rs if r.get("method") == "POST" and sys.argv[1] in r["path"]))' "$1"
}
mode() { stat -c %a "$1"; }

# ==== the newcomer's path ======================================================
K=$W/newkey KD=$W/keys K2=$W/second
rm -rf "$K" "$KD" "$K2" "$W/home/.config"
mkdir -p "$K"
tfs keys generate --out "$K"
[ $rc -eq 0 ] || fail "exit $rc: $(cat "$W/err")"
[ "$(mode "$K/private_key.pem")" = 600 ] || fail "private key mode $(mode "$K/private_key.pem")"
head -1 "$K/private_key.pem" | grep -q 'BEGIN PRIVATE KEY' || fail "not PKCS#8"
[ "$(openssl pkey -in "$K/private_key.pem" -noout -text 2>/dev/null | sed -n 's/.*Private-Key: (\([0-9]*\) bit.*/\1/p')" = 2048 ] ||
	fail "not an RSA-2048 key by openssl"
openssl pkey -in "$K/private_key.pem" -pubout 2>/dev/null | cmp -s - "$K/public_key.pem" ||
	fail "public_key.pem is not the private key's public half (openssl pkey -pubout)"
case_end "keys generate: RSA-2048, PKCS#8 0600, public half as openssl writes it"

sum0=$(sha256sum <"$K/private_key.pem")
tfs keys generate --out "$K" --bits 4096
[ $rc -eq 1 ] || fail "exit $rc, want 1"
has "exists; not replaced" "$W/err" "stderr"
[ "$(sha256sum <"$K/private_key.pem")" = "$sum0" ] || fail "the key was replaced"
tfs keys generate --out "$K" --bits 1024
[ $rc -eq 1 ] || fail "--bits 1024: exit $rc, want 1"
case_end "keys generate refuses to overwrite and refuses weak sizes"

before=$(posts /PublicKeys)
tfs keys register "$K/private_key.pem"
[ $rc -eq 2 ] || fail "without -k: exit $rc, want 2"
has "no keys directory" "$W/err" "stderr"
[ "$(posts /PublicKeys)" = "$before" ] || fail "registered although it could not install"
case_end "keys register without a keys directory: refused before any request"

# Not one key file: refused before the key is registered.
before=$(posts /PublicKeys)
tfs keys register -k "$KD" "$K"
[ $rc -eq 1 ] || fail "a directory: exit $rc, want 1"
[ "$(posts /PublicKeys)" = "$before" ] || fail "registered a directory's key"
[ ! -e "$KD" ] || rmdir "$KD"
# $KD does not exist yet: register makes it.
tfs keys register --name "laptop key" -k "$KD" "$K/private_key.pem"
[ $rc -eq 0 ] || fail "exit $rc: $(cat "$W/err")"
SID=$(head -1 "$W/out")
[[ $SID =~ ^CR[0-9a-f]{32}$ ]] || fail "stdout '$SID' is not a Public Key SID"
[ "$(mode "$KD/$SID.pem")" = 600 ] || fail "installed key mode $(mode "$KD/$SID.pem" 2>&1)"
cmp -s "$KD/$SID.pem" "$K/private_key.pem" || fail "installed key differs"
got=$(state "[k.get('public_key','') for k in s['public_keys'] if k['sid'] == '$SID'][0].strip()")
[ "$got" = "$(cat "$K/public_key.pem")" ] || fail "the API got another public key: $got"
[ "$(state "[k['friendly_name'] for k in s['public_keys'] if k['sid'] == '$SID'][0]")" = "laptop key" ] ||
	fail "friendly name not sent"
case_end "keys register: the public half posted, CR SID printed, private key installed as CR<sid>.pem 0600"

tfs keys list -k "$KD:$FIXKEYS"
[ $rc -eq 0 ] || fail "exit $rc: $(cat "$W/err")"
grep -q "^$SID  local " "$W/out" || fail "new key not listed as local: $(cat "$W/out")"
[ "$(grep -c '^CR' "$W/out")" = "$(state "len(s['public_keys'])")" ] ||
	fail "$(grep -c '^CR' "$W/out") keys listed, the account has $(state "len(s['public_keys'])")"
grep -q "  -  " "$W/out" || fail "no key listed as not local: $(cat "$W/out")"
case_end "keys list: every Public Key, 'local' where a private key is here"

tfs encryption enable video-compositions --key "$SID" -k "$KD"
[ $rc -eq 0 ] || fail "exit $rc: $(cat "$W/err")"
[ "$(state "s['composition_settings']['encryption_key_sid']")" = "$SID" ] ||
	fail "the API has key $(state "s['composition_settings']['encryption_key_sid']")"
[ "$(state "s['composition_settings']['encryption_enabled']")" = True ] || fail "not enabled"
tfs encryption enable video-recordings --key "$SID" -k "$KD"
[ $rc -eq 0 ] || fail "recordings: exit $rc: $(cat "$W/err")"
has "cannot be composed" "$W/err" "stderr"
tfs encryption status -k "$KD"
[ $rc -eq 0 ] || fail "status: exit $rc: $(cat "$W/err")"
grep -q "^video-recordings .*on, key $SID, private key here" "$W/out" ||
	fail "status: $(cat "$W/out")"
grep -q "^video-compositions .*on, key $SID" "$W/out" || fail "status: $(cat "$W/out")"
grep -q "^voice .*Console" "$W/out" || fail "status says nothing of voice"
tfs encryption status --region ie1
[ $rc -eq 0 ] || fail "ie1: exit $rc: $(cat "$W/err")"
grep -q "^video-recordings .*not offered in region ie1" "$W/out" ||
	fail "ie1: $(cat "$W/out")"
control product '{"product":"video","status":403}'
control product '{"product":"intelligence","status":404}'
tfs encryption status
[ $rc -eq 5 ] || fail "video 403, intelligence 404: exit $rc, want 5"
grep -q "HTTP 404" "$W/err" || fail "the 404 is not said: $(cat "$W/err")"
control product '{"product":"video","status":null}'
control product '{"product":"intelligence","status":null}'
case_end "encryption enable video-compositions and -recordings, then status: on with the new key; regions without a product; each product's own error"

# The setting a POST leaves out is kept: the AWS storage fields are sent back.
curl -sf --cacert "$TWILIOFS_CAFILE" -X POST -d '{"settings_post":"replace"}' \
    "$TFS_CONTROL/account" >/dev/null || fail "control settings_post"
tfs encryption disable video-compositions
[ $rc -eq 0 ] || fail "exit $rc: $(cat "$W/err")"
[ "$(state "s['composition_settings']['encryption_enabled']")" = False ] || fail "still on"
case_end "encryption disable video-compositions: off"

# ==== intelligence and voice =====================================================
tfs encryption enable intelligence --key "$SID" -k "$KD"
[ $rc -eq 1 ] || fail "two services, no --service: exit $rc, want 1"
has "name one with --service" "$W/err" "stderr"
GA=$(state "[v['sid'] for v in s['services'] if v['data_logging']][0]")
tfs encryption enable intelligence --service "$GA" --key "$SID" -k "$KD"
[ $rc -eq 0 ] || fail "exit $rc: $(cat "$W/err")"
has "data logging on" "$W/err" "stderr"
[ "$(state "[v['encryption_credential_sid'] for v in s['services'] if v['sid'] == '$GA'][0]")" = "$SID" ] ||
	fail "service key not set"
tfs encryption disable intelligence --service "$GA"
[ $rc -eq 0 ] || fail "disable: exit $rc: $(cat "$W/err")"
[ "$(state "[v['encryption_credential_sid'] for v in s['services'] if v['sid'] == '$GA'][0]")" = None ] ||
	fail "service key not cleared"
case_end "intelligence: --service needed among two; data logging warned; enable and disable"

tfs encryption enable voice --key "$SID"
[ $rc -eq 1 ] || fail "exit $rc, want 1"
has "Console only" "$W/err" "stderr"
has "$SID" "$W/err" "stderr"
case_end "encryption enable voice: says it is the Console's, with the key to choose"

# ==== refusals ==================================================================
tfs encryption enable video-recordings --key CR00000000000000000000000000000000 -k "$KD" --force
[ $rc -eq 2 ] || fail "unknown key: exit $rc, want 2"
has "no Public Key CR0000" "$W/err" "stderr"
A=$(state "[k['sid'] for k in s['public_keys'] if k.get('letter') == 'X'][0]")
tfs encryption enable video-recordings --key "$A" -k "$KD"
[ $rc -eq 2 ] || fail "no local key: exit $rc, want 2"
has "no private key for $A" "$W/err" "stderr"
tfs encryption enable video-recordings --key "$A" -k "$KD" --force
[ $rc -eq 0 ] || fail "--force: exit $rc: $(cat "$W/err")"
case_end "encryption enable: unknown key refused; a key with no private key here refused unless --force"

control fault '{"status":500,"path":"/PublicKeys","method":"POST"}'
before=$(posts /PublicKeys)
mkdir -p "$K2"
tfs keys generate --out "$K2"
tfs keys register -k "$KD" "$K2/private_key.pem"
[ $rc -eq 3 ] || fail "exit $rc, want 3"
[ "$(posts /PublicKeys)" = $((before + 1)) ] || fail "a failed POST was sent $(( $(posts /PublicKeys) - before )) times"
[ "$(find "$KD" -type f | wc -l)" = 1 ] || fail "a key was installed without a SID"
case_end "keys register when the API answers 500: exit 3, the POST not repeated, nothing installed"

tfs keys remove "$SID"
[ $rc -eq 1 ] || fail "no terminal, no --yes: exit $rc, want 1"
has "add --yes" "$W/err" "stderr"
tfs keys remove --yes "$SID"
[ $rc -eq 0 ] || fail "exit $rc: $(cat "$W/err")"
[ "$(state "len([k for k in s['public_keys'] if k['sid'] == '$SID'])")" = 0 ] || fail "still registered"
[ -f "$KD/$SID.pem" ] || fail "the local private key was deleted"
tfs keys remove --yes "$SID"
[ $rc -eq 2 ] || fail "again: exit $rc, want 2"
tfs keys remove --yes "RT?x"
[ $rc -eq 1 ] || fail "not a SID: exit $rc, want 1"
case_end "keys remove: asks (--yes without a terminal), deletes, keeps the private key; unknown or bad SIDs refused"

# ==== the config file ===========================================================
CFG=$W/home/.config/twiliofs
mkdir -p "$CFG"
{
	echo "# a profile with everything, credentials included"
	echo "[test]"
	echo "account_sid = $TWILIO_ACCOUNT_SID"
	echo "endpoint = $TWILIOFS_ENDPOINT"
	echo "cafile = $TWILIOFS_CAFILE"
	echo "api_key = $TWILIO_API_KEY"
	echo "api_secret = $TWILIO_API_SECRET"
	echo "keys = $KD"
} >"$CFG/config"
chmod 600 "$CFG/config"
clean_env=(env -u TWILIO_ACCOUNT_SID -u TWILIOFS_ENDPOINT -u TWILIOFS_CAFILE
	-u TWILIO_API_KEY -u TWILIO_API_SECRET)
clean() {	# ENV-ASSIGNMENTS... -- ARGS...: twiliofs without the env's account
	local vars=()
	while [ "$1" != -- ]; do vars+=("$1"); shift; done
	shift
	"${clean_env[@]}" "${vars[@]}" timeout 60 "$TWILIOFS" "$@" \
	    >"$W/out" 2>"$W/err" </dev/null
	rc=$?
}
clean -- keys list --profile test
[ $rc -eq 0 ] || fail "--profile test: exit $rc: $(cat "$W/err")"
grep -q '^CR' "$W/out" || fail "nothing listed"
clean TWILIOFS_PROFILE=test -- keys list
[ $rc -eq 0 ] || fail "TWILIOFS_PROFILE=test: $(cat "$W/err")"
# The command line wins over the environment, which wins over the file.
clean TWILIOFS_ENDPOINT=https://127.0.0.1:1 -- keys list --profile test
[ $rc -eq 3 ] || fail "the environment's endpoint did not win over the file's"
clean TWILIOFS_ENDPOINT=https://127.0.0.1:1 -- keys list --profile test \
    --endpoint "$TWILIOFS_ENDPOINT"
[ $rc -eq 0 ] || fail "the command line's endpoint did not win: $(cat "$W/err")"
chmod 640 "$CFG/config"
clean -- keys list --profile test
[ $rc -eq 2 ] || fail "a secret readable by group: not refused"
has "chmod 600" "$W/err" "stderr"
chmod 600 "$CFG/config"
tfs keys list --profile nosuch
[ $rc -eq 2 ] || fail "unknown profile: exit $rc, want 2"
has "no \[nosuch\] profile" "$W/err" "stderr"
clean -- keys list --prof test
[ $rc -eq 1 ] || fail "--prof (an abbreviation find_profile does not see): exit $rc, want 1"
# The secret's name with a dash is the same secret.
sed -i 's/^api_secret/api-secret/' "$CFG/config"
chmod 644 "$CFG/config"
clean -- keys list --profile test
[ $rc -eq 2 ] || fail "api-secret readable by others: exit $rc, want 2"
# Settings others may change could send credentials elsewhere.
sed -i '/^api[-_]/d' "$CFG/config"
chmod 664 "$CFG/config"
clean -- keys list --profile test
[ $rc -eq 2 ] || fail "a config others may write: exit $rc, want 2"
has "chmod go-w" "$W/err" "stderr"
chmod 600 "$CFG/config"
case_end "config file profiles: --profile and TWILIOFS_PROFILE; command line > environment > file; secrets refused when others may read"

# Progress of a long download, on a terminal only (script(1) gives one).
RT=$($PY -c 'import json,sys
for e in json.load(open(sys.argv[1])):
    if e["name"] == "rt_video_A" and e["part"] == 0: print(e["sid"], e["plain_sha256"])' "$TFS_MANIFEST")
TWILIOFS_KEYS=$FIXKEYS script -qec "$TWILIOFS get ${RT% *} $W/rt.mkv" /dev/null >"$W/tty" 2>&1
rc=$?
[ $rc -eq 0 ] || fail "on a terminal: exit $rc: $(tr '\r' '\n' <"$W/tty" | tail -3)"
grep -q "MiB downloaded" "$W/tty" || fail "no progress on a terminal: $(head -c 300 "$W/tty")"
[ "$(sha256sum <"$W/rt.mkv" | cut -d' ' -f1)" = "${RT#* }" ] || fail "wrong bytes"
rm -f "$W/rt.mkv"
TWILIOFS_KEYS=$FIXKEYS tfs get "${RT% *}" "$W/rt.mkv"
[ $rc -eq 0 ] || fail "off a terminal: exit $rc: $(cat "$W/err")"
! grep -q "MiB downloaded" "$W/err" || fail "progress drawn into a file: $(cat "$W/err")"
rm -f "$W/rt.mkv"
case_end "get shows its progress on a terminal, and only there"

tfs --version
[ $rc -eq 0 ] || fail "exit $rc"
for lib in libfuse OpenSSL libcurl SQLite; do has "$lib [0-9]" "$W/out" "--version"; done
case_end "--version names the libraries in use"

echo "1..$n"
[ "$fails" -eq 0 ]
