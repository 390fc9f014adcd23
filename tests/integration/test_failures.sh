#!/bin/bash
# SPDX-License-Identifier: MIT
# test_failures.sh - unattended runs: a failure is contained to what
# failed, visible (exit status, stderr, status.json) and recoverable on
# the next run. The test account's mock is switched to behave as the real
# API does where our old mock did not, and to fail in the ways issue 8
# lists (tests/env/README.md, /__control).
#
# Usage: TWILIOFS=/abs/twiliofs TFS_WORK=/abs/scratch bash test_failures.sh
# Exits 0 (all passed), 1 (a case failed) or 77 (cannot run here).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
TWILIOFS=${TWILIOFS:-$top/twiliofs}
W=${TFS_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/tfs-failures.XXXXXX")}
mkdir -p "$W"
W=$(cd "$W" && pwd)
E=$W/env
PY=/usr/bin/python3
MNT=$W/mnt
# shellcheck source=tests/integration/account_lib.sh
. "$here/account_lib.sh"

account_start
trap 'fusermount3 -uz "$MNT" 2>/dev/null; bash "$top/tests/env/stop.sh" "$E" >/dev/null 2>&1' EXIT
account_use
mkdir -p "$MNT"

tfs() {	# ARGS... -> rc, $W/out, $W/err
	timeout 300 "$TWILIOFS" "$@" >"$W/out" 2>"$W/err"
	rc=$?
}
fresh() { rm -rf "$W/cache"; CACHE=$W/cache; }
sync_() { tfs sync --cache-dir "$CACHE" --page-size 2 "$@"; }
reset() { control reset '{}'; }
sid_of() {	# NAME
	$PY -c 'import json,sys
for e in json.load(open(sys.argv[1])):
    if e["name"] == sys.argv[2]: print(e["sid"]); break' "$TFS_MANIFEST" "$1"
}
man() {	# NAME FIELD
	$PY -c 'import json,sys
for e in json.load(open(sys.argv[1])):
    if e["name"] == sys.argv[2] and e["part"] == 0: print(e[sys.argv[3]]); break' \
	    "$TFS_MANIFEST" "$1" "$2"
}
q() {	# SQL: one value from the catalog (Python's sqlite3, not ours)
	$PY -c 'import sqlite3,sys
r = sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()
print("" if r is None or r[0] is None else r[0])' "$CACHE/catalog.sqlite" "$1"
}
requests() {	# PYTHON-CONDITION on r (a logged request): how many
	curl -sf --cacert "$TWILIOFS_CAFILE" "$TFS_CONTROL/stats" |
	    $PY -c 'import json,sys
rs = json.load(sys.stdin)["requests"]
print(sum(1 for r in rs if eval(sys.argv[1])))' "$1"
}
has() { grep -q -- "$1" "$2" || fail "$3: no '$1' in: $(head -c 400 "$2")"; }
hasnt() { ! grep -q -- "$1" "$2" || fail "$3: '$1' in: $(head -c 400 "$2")"; }

RT_A=$(sid_of rt_video_A)
RT_NOLEN=$(sid_of rt_audio_C_nolen)
RE_A=$(sid_of re_A_docsget)
RE_D=$(sid_of re_D_oai)
GT_A=$(sid_of gt_A)

# ==== products: a 403 on one, the others sync ================================
fresh
control product '{"product":"video","status":403}'
sync_
[ $rc -eq 5 ] || fail "exit $rc, want 5 (partial)"
has "Video failed" "$W/err" "stderr"
has "HTTP 403" "$W/err" "stderr"
hasnt "refused the credentials" "$W/err" "stderr"
[ "$(q "SELECT count(*) FROM items WHERE kind = 3 AND media_known = 1")" -ge 3 ] ||
	fail "voice recordings not synced"
[ "$(q "SELECT count(*) FROM items WHERE kind = 4 AND media_known = 1")" -ge 2 ] ||
	fail "transcripts not synced"
[ "$(q "SELECT class FROM products WHERE product = 0")" = forbidden ] ||
	fail "products: video class '$(q "SELECT class FROM products WHERE product = 0")'"
case_end "Video answers 403: exit 5, 'Video failed … HTTP 403', not 'credentials'; voice and transcripts synced"

control product '{"product":"video","status":null}'
sync_
[ $rc -eq 0 ] || fail "exit $rc: $(head -c 300 "$W/err")"
[ "$(q "SELECT count(*) FROM items WHERE kind = 1 AND media_known = 1")" -ge 4 ] ||
	fail "video recordings not synced after the 403 went away"
[ "$(q "SELECT class FROM products WHERE product = 0")" = "" ] ||
	fail "products: video still failed"
case_end "the next sync after the 403 is gone: exit 0, video synced, product state cleared"

fresh
control product '{"product":"intelligence","status":404}'
sync_
[ $rc -eq 5 ] || fail "exit $rc, want 5"
has "Intelligence failed" "$W/err" "stderr"
[ "$(q "SELECT class FROM products WHERE product = 2")" = unavailable ] ||
	fail "intelligence class '$(q "SELECT class FROM products WHERE product = 2")'"
[ "$(q "SELECT count(*) FROM items WHERE kind = 1 AND media_known = 1")" -ge 4 ] ||
	fail "video not synced"
case_end "Intelligence answers 404: reported as unavailable, exit 5, the others synced"
reset

# A region without Video or Intelligence (ie1): only Voice is asked for.
fresh
sync_ --region ie1
[ $rc -eq 0 ] || fail "exit $rc: $(head -c 300 "$W/err")"
has "Twilio offers no Video in region ie1" "$W/err" "stderr"
has "Twilio offers no Intelligence in region ie1" "$W/err" "stderr"
[ "$(requests '"/video/" in r["path"] or "/intelligence/" in r["path"]')" = 0 ] ||
	fail "asked Video or Intelligence in ie1"
[ "$(q "SELECT count(*) FROM items WHERE kind = 3 AND media_known = 1")" -ge 3 ] ||
	fail "voice not synced"
case_end "region ie1: Video and Intelligence skipped as not offered (exit 0), Voice synced"
reset

# ==== one item's media fails for good: the others are probed ===============
fresh
control media_fail "{\"sid\":\"$RE_A\",\"status\":500}"
sync_
[ $rc -eq 5 ] || fail "exit $rc, want 5"
has "voice recordings: 1 item failed (network, first $RE_A)" "$W/err" "stderr"
[ "$(q "SELECT media_known FROM items WHERE sid = '$RE_D'")" = 1 ] ||
	fail "a later voice item was not probed"
[ "$(q "SELECT class FROM failures WHERE sid = '$RE_A'")" = network ] ||
	fail "failure not recorded: '$(q "SELECT class FROM failures WHERE sid = '$RE_A'")'"
case_end "one voice item's media answers 500 for good: exit 5, recorded, the others probed"

control media_fail "{\"sid\":\"$RE_A\",\"status\":null}"
sync_
[ $rc -eq 0 ] || fail "exit $rc: $(head -c 300 "$W/err")"
[ "$(q "SELECT media_known FROM items WHERE sid = '$RE_A'")" = 1 ] ||
	fail "not probed again"
[ "$(q "SELECT count(*) FROM failures")" = 0 ] || fail "failure not cleared"
case_end "the next sync probes it again: exit 0, failure cleared"
reset

# Failures spread among successes do not stop a product's probing, and the
# items after them are probed at the first sync.
fresh
RE_C=$(sid_of re_C_docstable_stereo)
RE_B=$(sid_of re_B_tampered)
for s in "$RE_A" "$RE_C" "$RE_B"; do
	control media_fail "{\"sid\":\"$s\",\"status\":500}"
done
sync_
[ $rc -eq 5 ] || fail "exit $rc, want 5"
[ "$(q "SELECT count(*) FROM failures WHERE class = 'network'")" = 3 ] ||
	fail "$(q "SELECT count(*) FROM failures") failures recorded, want 3"
[ "$(q "SELECT media_known FROM items WHERE sid = '$RE_D'")" = 1 ] ||
	fail "an item after the failed ones was not probed"
[ "$(q "SELECT class FROM products WHERE product = 1")" = "" ] ||
	fail "Voice marked failed: $(q "SELECT detail FROM products WHERE product = 1")"
case_end "three voice items fail, the others succeed: all probed, Voice itself fine"
reset

# One operator result's object is missing while the sentences and the
# other part are fine: that part is recorded on its own and probed again.
fresh
control shape "{\"missing_part\":{\"$GT_A\":1}}"
sync_
[ $rc -eq 5 ] || fail "exit $rc, want 5"
[ "$(q "SELECT media_known FROM items WHERE sid = '$GT_A' AND part = 0") $(q "SELECT media_known FROM items WHERE sid = '$GT_A' AND part = 2")" = "1 1" ] ||
	fail "sentences or part 2 not probed"
[ "$(q "SELECT class FROM failures WHERE sid = '$GT_A' AND part = 1")" = notfound ] ||
	fail "part 1's failure: '$(q "SELECT part || ' ' || class FROM failures WHERE sid = '$GT_A'")'"
control shape '{"missing_part":null}'
sync_
[ $rc -eq 0 ] || fail "second sync: exit $rc: $(head -c 300 "$W/err")"
[ "$(q "SELECT media_known FROM items WHERE sid = '$GT_A' AND part = 1")" = 1 ] ||
	fail "part 1 not probed at the next sync"
[ "$(q "SELECT count(*) FROM failures")" = 0 ] || fail "failures left"
case_end "one operator result missing: the others served, that part retried and probed next sync"

# Counting a transcript's operator results fails: the transcript is
# probed again next time (its parts are unknown until then).
fresh
control media_fail "{\"sid\":\"$GT_A\",\"status\":500,\"only\":\"/OperatorResults\"}"
sync_
[ $rc -eq 5 ] || fail "exit $rc, want 5"
[ "$(q "SELECT class FROM failures WHERE sid = '$GT_A' AND part = 0")" = network ] ||
	fail "not recorded: '$(q "SELECT class FROM failures WHERE sid = '$GT_A'")'"
control media_fail "{\"sid\":\"$GT_A\",\"status\":null}"
sync_
[ $rc -eq 0 ] || fail "second sync: exit $rc: $(head -c 300 "$W/err")"
[ "$(q "SELECT count(*) FROM items WHERE sid = '$GT_A' AND media_known = 1")" = 3 ] ||
	fail "sentences and operator results not all probed at the next sync"
case_end "operator results cannot be counted: recorded, the transcript probed whole next sync"
reset

# ==== the real API's shapes ==================================================
# Voice media as a 200 with the WAV (Twilio's documented answer).
fresh
control shape '{"voice_media":"body"}'
sync_
[ $rc -eq 0 ] || fail "sync: exit $rc: $(head -c 300 "$W/err")"
[ "$(q "SELECT plaintext_size FROM items WHERE sid = '$RE_A'")" = "$(man re_A_docsget plain_size)" ] ||
	fail "size from a 200 body: $(q "SELECT plaintext_size FROM items WHERE sid = '$RE_A'")"
tfs get --cache-dir "$CACHE" "$RE_A" "$W/re.wav"
[ $rc -eq 0 ] || fail "get: exit $rc: $(head -c 300 "$W/err")"
[ "$(sha256sum <"$W/re.wav" | cut -d' ' -f1)" = "$(man re_A_docsget plain_sha256)" ] ||
	fail "get: wrong bytes"
[ "$(requests '".wav" in r["path"] and r["had_auth"]')" -gt 0 ] ||
	fail "the .wav was never fetched from the API with credentials"
case_end "voice media answered 200 with the body: sync sizes it, get decrypts it"
reset

# Unencrypted transcripts: never asked for /Encrypted, held, not retried.
fresh
control shape "{\"unencrypted\":[\"$GT_A\"]}"
sync_
[ $rc -eq 0 ] || fail "exit $rc: $(head -c 300 "$W/err")"
[ "$(requests "'$GT_A' in r['path'] and 'Encrypted' in r['path']")" = 0 ] ||
	fail "an unencrypted transcript was probed through /Encrypted"
[ "$(q "SELECT media_hold FROM items WHERE sid = '$GT_A'")" = unencrypted ] ||
	fail "hold '$(q "SELECT media_hold FROM items WHERE sid = '$GT_A'")'"
has "1 unencrypted" "$W/out" "summary"
case_end "an unencrypted transcript (encryption_credential_sid null): not probed, counted unencrypted"
reset

# Media in the customer's own bucket: counted external, never retried.
fresh
control shape "{\"external\":{\"$RT_A\":\"https://customer-bucket.s3.amazonaws.com/rec/$RT_A\"}}"
sync_
[ $rc -eq 0 ] || fail "exit $rc: $(head -c 300 "$W/err")"
sync_
[ "$(requests "'$RT_A/Media' in r['path']")" = 0 ] ||
	fail "external media was asked for"
[ "$(q "SELECT media_hold FROM items WHERE sid = '$RT_A'")" = external ] ||
	fail "hold '$(q "SELECT media_hold FROM items WHERE sid = '$RT_A'")'"
has "1 external" "$W/out" "summary"
hasnt "$RT_A" "$W/err" "stderr (no warning every sync)"
case_end "media_external_location set: counted external, never probed, no warning on every sync"
reset

# A store that ignores Range (200 to the probe): the size still comes out.
fresh
control shape "{\"norange\":[\"$RT_NOLEN\"]}"
sync_
[ $rc -eq 0 ] || fail "exit $rc: $(head -c 300 "$W/err")"
[ "$(q "SELECT plaintext_size FROM items WHERE sid = '$RT_NOLEN'")" = "$(man rt_audio_C_nolen plain_size)" ] ||
	fail "size '$(q "SELECT plaintext_size FROM items WHERE sid = '$RT_NOLEN'")'"
case_end "a probe answered 200 instead of 206: the exact size from the whole body's padding"
reset

# ==== what the API sends is not trusted ======================================
fresh
control shape '{"next_page":{"kind":"video_recording","mode":"foreign"}}'
sync_
[ $rc -eq 5 ] || fail "exit $rc, want 5"
has "https://localhost:" "$W/err" "stderr names the foreign origin"
has "not followed" "$W/err" "stderr"
[ "$(requests '"Foreign=1" in r["path"]')" = 0 ] ||
	fail "the foreign link was followed"
[ "$(q "SELECT count(*) FROM items WHERE kind = 3 AND media_known = 1")" -ge 3 ] ||
	fail "voice not synced"
case_end "a next-page link to another origin: not followed, named, exit 5, others synced"
reset

for mode in self cycle; do
	fresh
	control shape "{\"next_page\":{\"kind\":\"composition\",\"mode\":\"$mode\"}}"
	sync_
	[ $rc -eq 5 ] || fail "exit $rc, want 5"
	has "loop back to a page already read" "$W/err" "stderr"
	[ "$(requests '"/Compositions" in r["path"] and r["class"] == "list"')" -le 3 ] ||
		fail "paged $(requests '"/Compositions" in r["path"] and r["class"] == "list"') times"
	case_end "next-page links that loop ($mode): listing stops with a clear error, exit 5"
	reset
done

fresh
control shape '{"next_page":{"kind":"video_recording","mode":"twilio_host"}}'
sync_
[ $rc -eq 0 ] || fail "exit $rc: $(head -c 300 "$W/err")"
[ "$(q "SELECT count(*) FROM items WHERE kind = 1")" -ge 5 ] ||
	fail "only $(q "SELECT count(*) FROM items WHERE kind = 1") video recordings"
case_end "a next-page link on Twilio's own host: rewritten onto the configured endpoint"
reset

fresh
control shape '{"malformed":{"kind":"video_recording","records":[{"sid":12345,"status":"completed"},"a string",{"sid":"RT../../etc/passwd","status":"completed"}]}}'
sync_
[ $rc -eq 5 ] || fail "exit $rc, want 5"
has "has no sid string; skipped" "$W/err" "stderr"
[ "$(q "SELECT count(*) FROM items WHERE kind = 1 AND status = 'completed'")" -ge 5 ] ||
	fail "the rest of the page was not kept"
[ "$(q "SELECT count(*) FROM items WHERE sid LIKE '%/%'")" = 0 ] ||
	fail "a SID with / was stored"
case_end "malformed records: skipped and reported, the rest of the page kept, exit 5"
reset

# ==== stuck states recover ====================================================
fresh
env -u TWILIOFS_KEYS -u TWILIOFS_KEY_PASSPHRASE_FILE timeout 300 "$TWILIOFS" \
    sync --cache-dir "$CACHE" --page-size 2 >"$W/out" 2>"$W/err"
rc=$?
[ $rc -eq 5 ] || fail "without keys: exit $rc, want 5"
[ "$(q "SELECT class FROM failures WHERE sid = '$RT_NOLEN'")" = nokey ] ||
	fail "without keys: class '$(q "SELECT class FROM failures WHERE sid = '$RT_NOLEN'")'"
[ "$(q "SELECT media_known FROM items WHERE sid = '$RT_NOLEN'")" = 0 ] ||
	fail "stored with an unknown size"
sync_
[ $rc -eq 0 ] || fail "with keys: exit $rc: $(head -c 300 "$W/err")"
[ "$(q "SELECT plaintext_size FROM items WHERE sid = '$RT_NOLEN'")" = "$(man rt_audio_C_nolen plain_size)" ] ||
	fail "with keys: size '$(q "SELECT plaintext_size FROM items WHERE sid = '$RT_NOLEN'")'"
case_end "CBC without a length header probed with no key: not stored sizeless; sized once keys are given"

# ==== the mount tells the user ================================================
mount_bg() {	# ARGS...: a daemon mount of $CACHE on $MNT
	timeout 120 "$TWILIOFS" mount --cache-dir "$CACHE" "$@" "$MNT" \
	    >"$W/mount.out" 2>"$W/mount.err"
	rc=$?
}
unmount() { fusermount3 -u "$MNT" 2>/dev/null; }

# A first mount while one product answers 403: mounts, with the others.
fresh
control product '{"product":"video","status":403}'
mount_bg
[ $rc -eq 0 ] || fail "exit $rc: $(cat "$W/mount.err")"
has "Video: .*HTTP 403" "$W/mount.err" "stderr"
# The first sync fills the mount in the background: until status.json
# says it is done, then voice is there and Video's 403 is in status.json.
filled=0
for _ in $(seq 1800); do
	$PY -c 'import json,sys
s = json.load(open(sys.argv[1]))
sys.exit(0 if s["sync"] is None and s["last_sync"] else 1)' \
	    "$MNT/.twiliofs/status.json" 2>/dev/null && { filled=1; break; }
	sleep 0.1
done
[ $filled = 1 ] || fail "the first sync did not end within 180 s"
[ -n "$(find "$MNT/voice/recordings" -name '*.wav' 2>/dev/null)" ] ||
	fail "no voice recordings in the mount"
[ "$($PY -c 'import json,sys
print(json.load(open(sys.argv[1]))["products"]["video"]["error"]["class"])' \
    "$MNT/.twiliofs/status.json" 2>&1)" = forbidden ] ||
	fail "status.json does not say Video is forbidden"
unmount
control product '{"product":"video","status":null}'
sync_
[ $rc -eq 0 ] || fail "sync: exit $rc"
case_end "a first mount while Video answers 403: mounts, says why, fills in with voice and transcripts, status.json names Video forbidden"

# Refused credentials on an existing catalog: an error, not EACCES later.
TWILIO_API_SECRET=wrong mount_bg
[ $rc -eq 2 ] || { fail "exit $rc, want 2"; unmount; }
has "refused the credentials" "$W/mount.err" "stderr"
has "TWILIO_API_KEY" "$W/mount.err" "stderr"
mountpoint -q "$MNT" && { fail "mounted anyway"; unmount; }
case_end "mount with refused credentials: exit 2 naming the credentials, nothing mounted"

TWILIO_API_SECRET=wrong mount_bg -o offline
[ $rc -eq 0 ] || fail "offline: exit $rc: $(cat "$W/mount.err")"
mountpoint -q "$MNT" || fail "offline: not mounted"
ls "$MNT/voice/recordings" >/dev/null 2>&1 || fail "offline: no listing"
unmount
case_end "offline mount: no credentials check, serves the catalog"

# No key opens anything: said at start.
env -u TWILIOFS_KEYS -u TWILIOFS_KEY_PASSPHRASE_FILE timeout 120 \
    "$TWILIOFS" mount --cache-dir "$CACHE" "$MNT" >"$W/mount.out" 2>"$W/mount.err"
rc=$?
[ $rc -eq 0 ] || fail "exit $rc: $(cat "$W/mount.err")"
has "no private keys given" "$W/mount.err" "stderr"
unmount
case_end "mount without keys over encrypted items: a warning at start"

# An object whose ETag changed upstream: EIO once, then re-probed by the
# refresh, then read again (no deleting the catalog).
mount_bg -o refresh=1
[ $rc -eq 0 ] || fail "mount: exit $rc: $(cat "$W/mount.err")"
f=$(find "$MNT/video/recordings" -name "$RT_A.*" | head -1)
control retag "{\"sid\":\"$RT_A\"}"
dd if="$f" of=/dev/null bs=64k count=1 skip=3 2>"$W/dd.err" &&
	fail "read after the ETag changed did not fail"
ok=0
for _ in $(seq 1 120); do
	if [ "$(sha256sum <"$f" 2>/dev/null | cut -d' ' -f1)" = \
	    "$(man rt_video_A plain_sha256)" ]; then ok=1; break; fi
	sleep 0.5
done
[ $ok = 1 ] || fail "still unreadable 60 s after the ETag changed"
unmount
case_end "an object's ETag changed upstream: EIO, then re-probed by the refresh and readable again"
reset

# The kernel keeps the tree: a second ls -lR asks the daemon for no
# entry, listing, link or xattr (the mount's -d log counts its
# requests). A refresh that adds and deletes items drops exactly that:
# the new item shows, the deleted one and its room link are gone.
fresh
sync_
[ $rc -eq 0 ] || fail "sync: exit $rc: $(head -c 300 "$W/err")"
timeout 300 "$TWILIOFS" mount -d --cache-dir "$CACHE" -o refresh=1,full_refresh=1 "$MNT" \
    >"$W/debug.log" 2>&1 &
dpid=$!
for _ in $(seq 1 600); do is_mounted && break; sleep 0.1; done
is_mounted || fail "not mounted: $(tail -3 "$W/debug.log")"
ops() {	# FROM-LINE: the FUSE requests logged after that line, by name
	tail -n +"$1" "$W/debug.log" | grep -o 'opcode: [A-Z_]*' |
	    sort | uniq -c | awk '{printf "%s=%s ", $3, $1}'
}
ls -lR "$MNT" >/dev/null 2>"$W/ls1.err" || fail "ls -lR: $(head -3 "$W/ls1.err")"
from=$(($(wc -l <"$W/debug.log") + 1))
ls -lR "$MNT" >"$W/ls2" 2>"$W/ls2.err" || fail "ls -lR again: $(head -3 "$W/ls2.err")"
asked=$(ops "$from")
for op in LOOKUP READDIR READDIRPLUS READLINK; do
	case " $asked" in *" $op="*) fail "a warm ls -lR asked $op: $asked" ;; esac
done
xattrs=$(echo "$asked" | grep -o 'GETXATTR=[0-9]*' | cut -d= -f2)
[ "${xattrs:-0}" -le 4 ] || fail "a warm ls -lR asked $xattrs xattrs (ls should stop at EOPNOTSUPP): $asked"
getfattr -n security.selinux "$MNT/video" 2>&1 | grep -q 'Operation not supported' ||
	fail "security.selinux: $(getfattr -n security.selinux "$MNT/video" 2>&1)"
gone=$(find "$MNT/video/recordings" -name "$RT_A.*" | head -1)
link=$(find "$MNT/video/rooms" -name "$(basename "$gone")" | head -1)
if [ -z "$gone" ] || ! [ -L "$link" ] || ! [ -s "$link" ]; then
	fail "no $RT_A file with a room link: '$gone' '$link'"
fi
new=$(sid_of rt_reserve_B)
control add "{\"sid\":\"$new\"}"
control delete "{\"sid\":\"$RT_A\"}"
shown=0
for _ in $(seq 1 1200); do
	if [ -n "$(find "$MNT/video/recordings" -name "$new.*")" ] &&
	    ! [ -e "$gone" ]; then shown=1; break; fi
	sleep 0.1
done
[ $shown = 1 ] || fail "120 s on: $new not shown or $RT_A still there"
[ -L "$link" ] && fail "the deleted item's room link is still there: $link"
stat "$gone" >/dev/null 2>&1 && fail "stat of the deleted file succeeds"
[ -n "$(find "$MNT/video/rooms" -name "$new.*")" ] ||
	fail "the new item has no room link"
fusermount3 -u "$MNT" || fail "unmount"
wait "$dpid"
case_end "kernel caching: a warm ls -lR asks the daemon nothing; a refresh shows an added item, drops a deleted one and its room link"
reset

# status.json says what is wrong, by class, with the SIDs.
control product '{"product":"intelligence","status":403}'
control media_fail "{\"sid\":\"$RE_D\",\"status\":500}"
fresh
sync_
[ $rc -eq 5 ] || fail "sync: exit $rc, want 5"
mount_bg -o offline
[ $rc -eq 0 ] || fail "mount: exit $rc: $(cat "$W/mount.err")"
$PY - "$MNT/.twiliofs/status.json" "$RE_D" "$(sid_of re_X_nokey)" \
    "$(man re_X_nokey public_key_sid)" "$(sid_of re_failed_16104)" \
    >"$W/status.txt" 2>&1 <<'EOF' || fail "status.json: $(cat "$W/status.txt")"
import json, sys
path, re_d, re_x, re_x_key, re_failed = sys.argv[1:6]
s = json.load(open(path))
bad = []
if s.get("schema") != 2: bad.append("schema %r" % s.get("schema"))
p = s["products"]["intelligence"]
if not p["error"] or p["error"]["class"] != "forbidden": bad.append("intelligence %r" % p)
if s["products"]["voice"]["last_ok"] is None: bad.append("voice last_ok null")
e = s["errors"]
if e["auth"]["products"] != [{"product": "intelligence", "class": "forbidden"}]:
    bad.append("auth %r" % e["auth"])
if re_d not in [i["sid"] for i in e["network"]["items"]]: bad.append("network %r" % e["network"])
nk = {i["sid"]: i["public_key_sid"] for i in e["no_key"]["items"]}
if nk.get(re_x) != re_x_key: bad.append("no_key %r" % e["no_key"])
fu = {i["sid"]: i["status"] for i in e["failed_upstream"]["items"]}
if fu.get(re_failed) != "failed 16104": bad.append("failed_upstream %r" % fu)
if s["kinds"]["voice_recordings"]["failing"] != 1: bad.append("kinds %r" % s["kinds"])
if bad:
    print("; ".join(bad)); sys.exit(1)
EOF
unmount
case_end "status.json: products (403 as forbidden), network, no_key with the key SID, failed upstream"
reset

# Hostile identifiers and dates (issue 10): what would be a URL's query, a
# path, a cut-short SID, a terminal escape or a year-0 directory is never
# used; the records around them are kept.
hex=0123456789abcdef0123456789abcd
fresh
control shape "{\"malformed\":{\"kind\":\"video_recording\",\"records\":[
 {\"sid\":\"RT?Page=1#x\",\"status\":\"completed\"},
 {\"sid\":\"RT${hex}e1\\u0000?x\",\"status\":\"completed\"},
 {\"sid\":\"RT${hex}e2\",\"status\":\"completed\",\"date_created\":\"0000-01-01T00:00:00Z\"},
 {\"sid\":\"RT${hex}e3\",\"status\":\"completed\",\"date_created\":\"garbage\"},
 {\"sid\":\"RT${hex}e4\",\"status\":\"completed\",\"date_created\":\"2024-05-01T10:00:00Z\",
  \"room_sid\":\"../../../x\",\"grouping_sids\":{\"room_sid\":\"RM${hex}00\\u001b[31m\\n\"}}]}}"
sync_
[ $rc -eq 5 ] || fail "exit $rc, want 5"
has "record 0 has a sid that is not RT" "$W/err" "stderr"
[ "$(q "SELECT max(skipped) FROM products")" = 4 ] ||
	fail "skipped: $(q "SELECT max(skipped) FROM products"), want 4"
[ "$(q "SELECT count(*) FROM items WHERE sid GLOB '*[^A-Za-z0-9]*' OR length(sid) <> 34")" = 0 ] ||
	fail "a SID that is not a SID was stored"
[ "$(q "SELECT count(*) FROM items WHERE sid IN ('RT${hex}e1', 'RT${hex}e2', 'RT${hex}e3')")" = 0 ] ||
	fail "a record with a cut-short SID or no date was stored"
[ "$(q "SELECT count(*) FROM items WHERE sid = 'RT${hex}e4' AND room_sid = ''")" = 1 ] ||
	fail "the record with a bad room SID was not kept, or kept its room SID"
[ "$(q "SELECT count(*) FROM items WHERE kind = 1 AND status = 'completed'")" -ge 5 ] ||
	fail "the rest of the page was not kept"
mount_bg -o offline
[ $rc -eq 0 ] || fail "mount: exit $rc: $(cat "$W/mount.err")"
bad=$(find "$MNT" -mindepth 1 \( -name '*[[:cntrl:]?#]*' -o -name '0-*' \) -print 2>&1 | head -3)
[ -z "$bad" ] || fail "odd names in the tree: $bad"
bad=$(find "$MNT/video/recordings" "$MNT/voice/recordings" -mindepth 1 -maxdepth 1 -type d \
    ! -regex '.*/[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]' -print | head -3)
[ -z "$bad" ] || fail "day directories that are not dates: $bad"
unmount
case_end "hostile SIDs, room SIDs and dates: records skipped or their bad member left out, the tree clean"
reset

echo "1..$n"
[ "$fails" -eq 0 ]
