#!/bin/sh
# SPDX-License-Identifier: MIT
# demo.sh - `make demo`: a demo account's encrypted objects, made the way
# Twilio makes them (openssl CLI and python3-cryptography, not twiliofs),
# each decrypted with `twiliofs decrypt` and checked by SHA-256. The files
# stay in build/demo so you can try the commands it prints.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
demo=$top/build/demo
bin=$top/twiliofs

bash tests/fixtures/mkfixtures.sh "$demo" 2>/dev/null
keys=$demo/keys
pass=$demo/passphrase
v=$demo/vectors
status=0

try() {	# label vector envelope-flag envelope-file
	label=$1 name=$2 flag=$3 env=$4
	want=$(sha256sum < "$v/$name.plain" | cut -d' ' -f1)
	got=$("$bin" decrypt -k "$keys" --key-passphrase-file "$pass" \
		"$flag" "$env" "$v/$name.enc" | sha256sum | cut -d' ' -f1)
	if [ "$got" = "$want" ]; then
		printf '  ok    %-44s sha256 %.16s… matches\n' "$label" "$got"
	else
		printf '  FAIL  %-44s\n' "$label"
		status=1
	fi
}
refuse() {	# label vector envelope-flag envelope-file
	rc=0
	msg=$("$bin" decrypt -k "$keys" --key-passphrase-file "$pass" "$3" \
		"$4" "$v/$2.enc" 2>&1 >/dev/null) || rc=$?
	if [ "$rc" -eq 4 ]; then
		printf '  ok    %-44s refused (exit 4): %.50s…\n' "$1" \
			"${msg##*: }"
	else
		printf '  FAIL  %-44s exit %s, not 4\n' "$1" "$rc"
		status=1
	fi
}

echo "twiliofs demo: keys in $keys (PKCS#1 PEM, PKCS#8, encrypted PKCS#8, DER)"
try "video recording, AES-256-CBC, headers" cbc256_A --headers "$v/cbc256_A.headers"
try "older account, AES-128-CBC" cbc128_D --headers "$v/cbc128_D.headers"
try "voice recording, AES-256-GCM, details" gcm_voice_A --details "$v/gcm_voice_A.details"
try "voice, encrypted PKCS#8 key + passphrase" gcm_voice_C --details "$v/gcm_voice_C.details"
try "transcript, AES-256-GCM, headers" gcm_intel_D --headers "$v/gcm_intel_D.headers"
refuse "tampered voice recording" gcm_tampered_A --details "$v/gcm_tampered_A.details"
refuse "recording for a key you do not hold" gcm_stranger_X --details "$v/gcm_stranger_X.details"

cat <<EOT

Try it yourself:
  $bin decrypt -v -k $keys --key-passphrase-file $pass \\
      --details $v/gcm_voice_A.details $v/gcm_voice_A.enc | sha256sum
  $bin decrypt -k $keys --headers $v/cbc256_A.headers $v/cbc256_A.enc /tmp/out.bin
  man ./man/twiliofs.1
The mount (ls, ffprobe, rsync on ./demo-mnt) comes in a later version.
EOT
exit $status
