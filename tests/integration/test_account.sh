#!/bin/bash
# SPDX-License-Identifier: MIT
# test_account.sh - `twiliofs sync` and `twiliofs get` against the test
# account (tests/env: a real nginx over TLS and the API mock), compared
# with the manifest's ground truth.
#
# Usage: TWILIOFS=/abs/twiliofs TFS_WORK=/abs/scratch bash test_account.sh
# Exits 0 (all passed), 1 (a case failed) or 77 (the environment cannot
# run here: the reason is printed).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
TWILIOFS=${TWILIOFS:-$top/twiliofs}
W=${TFS_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/tfs-account.XXXXXX")}
mkdir -p "$W"
W=$(cd "$W" && pwd)
E=$W/env
PY=/usr/bin/python3
# shellcheck source=tests/integration/account_lib.sh
. "$here/account_lib.sh"

account_start
trap 'bash "$top/tests/env/stop.sh" "$E" >/dev/null 2>&1' EXIT
account_use
CACHE=$W/cache

stat_of() {	# COUNTER
	curl -sf --cacert "$TWILIOFS_CAFILE" "$TFS_CONTROL/stats" |
	    $PY -c "import json,sys; print(json.load(sys.stdin)['$1'])"
}
# manifest NAME FIELD [PART]
manifest() {
	$PY - "$TFS_MANIFEST" "$1" "$2" "${3:-0}" <<'EOF'
import json, sys
m, name, field, part = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
for e in json.load(open(m)):
    if e["name"] == name and e["part"] == part:
        print(e[field])
        break
EOF
}
tfs() {	# ARGS... -> rc, $W/out, $W/err
	timeout 300 "$TWILIOFS" "$@" >"$W/out" 2>"$W/err"
	rc=$?
}
sync_() { tfs sync --cache-dir "$CACHE" --page-size 2 "$@"; }

# ---- sync: every completed item, and only those, with the right facts ----
sync_
[ $rc -eq 0 ] || fail "exit $rc: $(head -c 300 "$W/err")"
[ "$(wc -l <"$W/out")" -eq 4 ] || fail "want 4 summary lines, got: $(cat "$W/out")"
case_end "sync: exit 0, one summary line per kind"

# The catalog against the manifest (read with Python's sqlite3: not ours).
check_catalog() {	# what
	$PY - "$TFS_MANIFEST" "$CACHE/catalog.sqlite" "$1" <<'EOF' >"$W/catalog.txt" 2>&1
import json, sqlite3, sys, calendar, time
manifest, db, what = sys.argv[1], sys.argv[2], sys.argv[3]
kinds = {"video_recording": 1, "composition": 2, "voice_recording": 3,
         "transcript": 4}
schemes = {"none": 0, "cbc": 1, "gcm": 2}
con = sqlite3.connect(db)
rows = {(r[0], r[1]): r for r in con.execute(
    "SELECT sid, part, kind, status, date_created, enc_scheme, "
    "plaintext_size, ciphertext_size, public_key_sid, media_known "
    "FROM items")}
visible = json.load(open(manifest + ".visible")) if what != "start" else None
bad = []
want_completed = set()
for e in json.load(open(manifest)):
    listed = e["listed"] if visible is None else visible.get(e["name"], e["listed"])
    key = (e["sid"], e["part"])
    if not listed:
        if key in rows:
            bad.append("%s: not listed upstream but in the catalog" % e["name"])
        continue
    r = rows.get(key)
    if r is None:
        bad.append("%s part %d: missing" % (e["name"], e["part"]))
        continue
    if r[2] != kinds[e["kind"]]:
        bad.append("%s: kind %d" % (e["name"], r[2]))
    when = calendar.timegm(time.strptime(e["date_created"], "%Y-%m-%dT%H:%M:%SZ"))
    if r[4] != when:
        bad.append("%s: date %d, want %d" % (e["name"], r[4], when))
    if e["expect"] == "hidden":
        if r[3] == "completed":
            bad.append("%s: hidden item shows as completed" % e["name"])
        continue
    want_completed.add(key)
    if r[3] != "completed" or r[9] != 1:
        bad.append("%s: status %s media_known %d" % (e["name"], r[3], r[9]))
        continue
    if r[5] != schemes[e["scheme"]]:
        bad.append("%s: scheme %d, want %s" % (e["name"], r[5], e["scheme"]))
    if r[7] != e["enc_size"]:
        bad.append("%s: ciphertext size %d, want %d" % (e["name"], r[7], e["enc_size"]))
    # A CBC object without a length header and without our key: unknown.
    unknown_ok = (e["expect"] == "nokey" and e["scheme"] == "cbc"
                  and not e["has_length_header"])
    if r[6] != e["plain_size"] and not (unknown_ok and r[6] == -1):
        bad.append("%s part %d: plaintext size %d, want %d" % (e["name"], e["part"], r[6], e["plain_size"]))
    if e["kind"] == "voice_recording" and r[8].lower() != (e["public_key_sid"] or "").lower():
        bad.append("%s: public key SID %s" % (e["name"], r[8]))
got_completed = {k for k, r in rows.items() if r[3] == "completed"}
extra = got_completed - want_completed
if extra:
    bad.append("completed in the catalog but not upstream: %s" % sorted(extra))
print("\n".join(bad) if bad else "ok: %d rows" % len(rows))
sys.exit(1 if bad else 0)
EOF
}
check_catalog start || fail "$(head -c 600 "$W/catalog.txt")"
case_end "sync: catalog holds every listed item with kind, date, envelope, exact sizes; only completed ones as completed"

mode=$(stat -c %a "$CACHE")
[ "$mode" = 700 ] || fail "cache dir mode $mode"
mode=$(stat -c %a "$CACHE/catalog.sqlite")
[ "$mode" = 600 ] || fail "catalog mode $mode"
case_end "cache dir 0700, catalog 0600"

grep -v '"-" rt=' "$TFS_NGINX_ACCESS_LOG" | grep -q . &&
    fail "a request to nginx carried an Authorization header"
[ -s "$TFS_NGINX_ACCESS_LOG" ] || fail "nginx logged nothing"
case_end "credentials never sent to the media host (nginx log)"

# ---- get: every item, to a file and to stdout ------------------------------
names=$($PY -c "
import json,sys
for e in json.load(open('$TFS_MANIFEST')):
    if e['listed']: print(e['name'], e['part'], e['sid'], e['expect'])")
while read -r name part sid expect; do
	partarg=()
	[ "$part" -gt 0 ] && partarg=(--part "$part")
	want=$(manifest "$name" plain_sha256 "$part")
	rm -f "$W/o.bin"
	tfs get --cache-dir "$CACHE" "${partarg[@]}" "$sid" "$W/o.bin"
	case $expect in
	ok)
		[ $rc -eq 0 ] || fail "exit $rc: $(head -c 200 "$W/err")"
		got=$(sha256sum <"$W/o.bin" 2>/dev/null | cut -d' ' -f1)
		[ "$got" = "$want" ] || fail "file sha256 differs"
		[ "$(stat -c %a "$W/o.bin" 2>/dev/null)" = 600 ] || fail "output not 0600"
		tfs get --cache-dir "$CACHE" "${partarg[@]}" "$sid" -
		got=$(sha256sum <"$W/out" | cut -d' ' -f1)
		[ $rc -eq 0 ] && [ "$got" = "$want" ] || fail "stdout: exit $rc, sha256 differs"
		;;
	tampered)
		[ $rc -eq 4 ] || fail "exit $rc, want 4"
		grep -q 'authentication tag does not match' "$W/err" || fail "message: $(cat "$W/err")"
		[ ! -e "$W/o.bin" ] || fail "output file left behind"
		tfs get --cache-dir "$CACHE" "$sid"
		[ $rc -eq 4 ] && [ ! -s "$W/out" ] || fail "stdout: exit $rc, $(stat -c %s "$W/out") bytes"
		;;
	nokey)
		[ $rc -eq 4 ] || fail "exit $rc, want 4"
		grep -q 'no key in the keyring opens' "$W/err" || fail "message: $(cat "$W/err")"
		if [ "$(manifest "$name" kind)" = voice_recording ]; then
			grep -qi "$(manifest "$name" public_key_sid)" "$W/err" ||
			    fail "message does not name the key SID"
		fi
		[ ! -e "$W/o.bin" ] || fail "output file left behind"
		;;
	hidden)
		[ $rc -ne 0 ] && [ ! -e "$W/o.bin" ] || fail "exit $rc for a $(manifest "$name" status) item"
		grep -q "only completed items" "$W/err" || fail "message: $(cat "$W/err")"
		;;
	esac
	[ "$(wc -l <"$W/err")" -le 1 ] || fail "stderr is more than one line"
	case_end "get $name${part:+ part $part} ($expect)"
done <<<"$names"

# ---- credentials ------------------------------------------------------------
TWILIO_API_SECRET=wrong-secret tfs sync --cache-dir "$CACHE"
[ $rc -eq 2 ] || fail "exit $rc, want 2"
grep -q TWILIO_API_KEY "$W/err" || fail "message does not name TWILIO_API_KEY: $(cat "$W/err")"
case_end "bad credentials: exit 2, message names TWILIO_API_KEY"

( unset TWILIO_API_KEY TWILIO_API_SECRET
  TWILIO_AUTH_TOKEN=$TFS_AUTH_TOKEN tfs sync --cache-dir "$CACHE"; exit $rc )
[ $? -eq 0 ] || fail "sync with ACCOUNT_SID:AUTH_TOKEN failed"
( unset TWILIO_API_KEY TWILIO_API_SECRET; tfs sync --cache-dir "$CACHE"
  [ $rc -eq 2 ] && grep -q 'no credentials' "$W/err" )
[ $? -eq 0 ] || fail "no credentials at all: want exit 2 and 'no credentials'"
case_end "auth token works; no credentials: exit 2"

printf 'TWILIO_API_KEY=%s\nTWILIO_API_SECRET=%s\n' "$TWILIO_API_KEY" \
    "$TWILIO_API_SECRET" >"$W/creds"
chmod 600 "$W/creds"
( unset TWILIO_API_KEY TWILIO_API_SECRET
  tfs sync --cache-dir "$CACHE" -o credentials="$W/creds"; exit $rc )
[ $? -eq 0 ] || fail "sync with a 0600 credentials file failed"
chmod 644 "$W/creds"
( unset TWILIO_API_KEY TWILIO_API_SECRET
  tfs sync --cache-dir "$CACHE" --credentials "$W/creds"
  [ $rc -eq 2 ] && grep -q 'readable by group or others' "$W/err" )
[ $? -eq 0 ] || fail "a 0644 credentials file must be refused with exit 2"
grep -qF -- "$TWILIO_API_SECRET" "$W/err" "$W/out" && fail "the secret was printed"
case_end "credentials file: 0600 used, 0644 refused"

# ---- faults -------------------------------------------------------------------
before=$(stat_of faults_served)
control fault '{"status":429,"count":3,"retry_after":1}'
sync_
[ $rc -eq 0 ] || fail "exit $rc: $(head -c 300 "$W/err")"
after=$(stat_of faults_served)
[ $((after - before)) -eq 3 ] || fail "served $((after - before)) faults, want 3"
case_end "3 x 429 with Retry-After, then success"

control fault '{"drop":2}'
sync_
[ $rc -eq 0 ] || fail "exit $rc after two dropped connections: $(head -c 300 "$W/err")"
case_end "2 dropped connections, then success"

control fault '{"status":500,"count":50}'
sync_
[ $rc -eq 3 ] || fail "exit $rc, want 3 (network/server after retries)"
grep -q 'HTTP 500' "$W/err" || fail "message: $(cat "$W/err")"
control fault '{"clear":true}'
case_end "persistent 500s: exit 3 after the retries"

# ---- short-lived links ----------------------------------------------------------
control ttl '{"max":1}'
sid=$(manifest rt_video_A sid)
tfs get --cache-dir "$CACHE" --ttl 1 "$sid" "$W/o.bin"
[ $rc -eq 0 ] && [ "$(sha256sum <"$W/o.bin" | cut -d' ' -f1)" = "$(manifest rt_video_A plain_sha256)" ] ||
    fail "ttl 1: exit $rc or wrong bytes"
rm -f "$W/o.bin"
before=$(grep -c '" 403 ' "$TFS_NGINX_ACCESS_LOG")
control ttl '{"max":1,"expired_next":2}'
tfs get --cache-dir "$CACHE" "$sid" "$W/o.bin"
[ $rc -eq 0 ] && [ "$(sha256sum <"$W/o.bin" | cut -d' ' -f1)" = "$(manifest rt_video_A plain_sha256)" ] ||
    fail "expired links: exit $rc or wrong bytes: $(head -c 200 "$W/err")"
after=$(grep -c '" 403 ' "$TFS_NGINX_ACCESS_LOG")
[ $((after - before)) -eq 2 ] || fail "nginx answered $((after - before)) 403s, want 2 (expired links used)"
control ttl '{"max":null}'
case_end "1 s link lifetime and expired links: re-resolved, right bytes"

# ---- a second sync sees additions and deletions -----------------------------------
add=$($PY -c "
import json
for e in json.load(open('$TFS_MANIFEST')):
    if not e['listed'] and e['part'] == 0: print(e['sid'])")
for s in $add; do control add "{\"sid\":\"$s\"}"; done
gone=$(manifest cj_webm_A sid)
control delete "{\"sid\":\"$gone\"}"
$PY - "$TFS_MANIFEST" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
vis = {e["name"]: True for e in m}
vis["cj_webm_A"] = False
json.dump(vis, open(sys.argv[1] + ".visible", "w"))
EOF
sync_
[ $rc -eq 0 ] || fail "exit $rc"
grep -q '^compositions: .*1 new.*1 removed' "$W/out" || fail "summary: $(grep compositions "$W/out")"
check_catalog after || fail "$(head -c 600 "$W/catalog.txt")"
case_end "second sync: reserve items added (media probed), a deleted one removed"

before=$(stat_of list)
sync_ --incremental
[ $rc -eq 0 ] || fail "exit $rc"
after=$(stat_of list)
[ $((after - before)) -eq 4 ] || fail "$((after - before)) list requests, want 4 (one page per kind)"
grep -q 'listing stopped early' "$W/out" || fail "summary does not say the listing stopped early"
case_end "incremental sync reads one page per kind when nothing changed"

echo "1..$n"
[ $fails -eq 0 ] || { echo "# $fails of $n failed; evidence in $W"; exit 1; }
exit 0
