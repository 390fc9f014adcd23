#!/bin/sh
# SPDX-License-Identifier: MIT
# demo.sh - `make demo`: the test Twilio account (tests/env: a real nginx
# over TLS serving encrypted media the way Twilio stores them, and a mock
# of Twilio's REST API), synced and mounted at ./demo-mnt in the
# background. Each item is then read back through the mount and compared
# with its original by SHA-256, which proves the decryption end to end.
# `make demo-stop` (scripts/demo-stop.sh) stops exactly what this started.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mnt=$top/demo-mnt
envdir=$top/build/demo-env
cache=$top/build/demo-cache
pidfile=$top/build/demo-twiliofs.pid
bin=$top/twiliofs

say() { echo "twiliofs demo: $*"; }
is_mounted() {
	awk -v m="$mnt" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo
}
# What to try, with real paths from the demo account's manifest.
tips() {
	video='' voice=''
	eval "$(/usr/bin/python3 - "$envdir/manifest.json" <<'EOF'
import json, sys
def rel(e):
    d = e["date_created"][:10]
    if e["kind"] == "video_recording":
        return "video/recordings/%s/%s.%s" % (d, e["sid"], e["container"])
    return "voice/recordings/%s/%s.wav" % (d, e["sid"])
m = {e["name"]: e for e in json.load(open(sys.argv[1])) if e["part"] == 0}
print("video=demo-mnt/%s" % rel(m["rt_video_A"]))
print("voice=demo-mnt/%s" % rel(m["re_A_docsget"]))
EOF
)"
	cat <<EOT

The demo account is mounted at ./demo-mnt (read-only, decrypted). Try:
  ls -lR demo-mnt
  ffprobe $video
  ffplay $video
  vlc $video
  ffplay -nodisp -autoexit $voice
  rsync -a demo-mnt/ /tmp/backup/    # exit 23: the 3 files refused on purpose
  getfattr -d $voice
  cat demo-mnt/.twiliofs/status.json
  ls -l demo-mnt/video/rooms/*/
When done:
  make demo-stop
EOT
}

if is_mounted; then
	if timeout 10 stat "$mnt/.twiliofs/status.json" >/dev/null 2>&1; then
		say "already running: ./demo-mnt is mounted (make demo-stop stops it)"
		tips
		exit 0
	fi
	say "./demo-mnt is mounted but does not answer; unmounting it first"
	fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt"
fi

sh scripts/install-deps.sh all
make -s twiliofs

say "starting the demo account (nginx + API mock) in build/demo-env"
started=0
cleanup() {
	st=$?
	if [ $st -ne 0 ] && [ $started -eq 1 ]; then
		is_mounted && fusermount3 -u "$mnt" 2>/dev/null
		bash tests/env/stop.sh "$envdir" >/dev/null 2>&1
		say "failed; stopped what it had started"
	fi
	exit $st
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE
if ! bash tests/env/start.sh "$envdir" >"$top/build/demo-env.log" 2>&1; then
	tail -5 "$top/build/demo-env.log" >&2
	say "the demo account did not start (log: build/demo-env.log)"
	exit 1
fi
started=1
# shellcheck disable=SC1091
. "$envdir/env.sh"
export TWILIO_ACCOUNT_SID TWILIO_API_KEY TWILIO_API_SECRET TWILIOFS_ENDPOINT \
	TWILIOFS_CAFILE TWILIOFS_KEYS TWILIOFS_KEY_PASSPHRASE_FILE
unset TWILIO_AUTH_TOKEN TWILIOFS_CACHE_DIR

say "syncing the catalog into build/demo-cache"
"$bin" sync --cache-dir "$cache"

mkdir -p "$mnt"
say "mounting at ./demo-mnt"
"$bin" mount --cache-dir "$cache" "$mnt"
i=0
until is_mounted; do
	i=$((i + 1))
	[ $i -le 300 ] || { say "./demo-mnt did not appear in 30 s"; exit 1; }
	sleep 0.1
done
# The daemon's PID, for demo-stop: the twiliofs process serving demo-mnt.
for p in /proc/[0-9]*; do
	if tr '\0' '\n' 2>/dev/null <"$p/cmdline" | grep -qxF -- "$mnt" &&
	    [ "$(readlink "$p/exe" 2>/dev/null)" = "$(readlink -f "$bin")" ]; then
		echo "${p#/proc/}" >"$pidfile"
	fi
done

# Read every item back through the mount: decrypted right, or refused
# as it must be.
echo "Reading every item back through ./demo-mnt, against the originals:"
/usr/bin/python3 - "$envdir/manifest.json" "$mnt" <<'EOF'
import errno, hashlib, json, os, sys
manifest, mnt = sys.argv[1], sys.argv[2]
def rel(e):
    d, s = e["date_created"][:10], e["sid"]
    return {"video_recording": "video/recordings/%s/%s.%s" % (d, s, e["container"]),
            "composition": "video/compositions/%s/%s.%s" % (d, s, e["container"]),
            "voice_recording": "voice/recordings/%s/%s.wav" % (d, s),
            "transcript": "intelligence/transcripts/%s/%s/%s" % (
                d, s, "sentences.json" if e["part"] == 0
                else "operator-results/%d.json" % e["part"])}[e["kind"]]
label = {"none": "not encrypted", "gcm": "AES-256-GCM"}
kinds = {"video_recording": "video recording", "composition": "composition",
         "voice_recording": "voice recording", "transcript": "transcript"}
bad = 0
for e in json.load(open(manifest)):
    if not e["listed"] or e["expect"] == "hidden":
        continue
    p = rel(e)
    how = label.get(e["scheme"]) or "AES-%d-CBC" % e["cek_bits"]
    try:
        h = hashlib.sha256(open(os.path.join(mnt, p), "rb").read()).hexdigest()
        res = "sha256 matches" if h == e["plain_sha256"] else "WRONG BYTES"
    except OSError as err:
        h, res = None, "%s (%s)" % (errno.errorcode.get(err.errno, err.errno), os.strerror(err.errno))
    want = {"ok": "sha256 matches", "tampered": "EIO (Input/output error)",
            "nokey": "EACCES (Permission denied)"}[e["expect"]]
    ok = res == want
    bad += not ok
    note = {"tampered": "  <- tampered on purpose", "nokey": "  <- no key for it, on purpose"}.get(e["expect"], "")
    print("  %-4s %-15s %-13s %-38s %s%s" % ("ok" if ok else "FAIL", kinds[e["kind"]],
          how, p.split("/", 3)[3], res, note))
sys.exit(1 if bad else 0)
EOF
tips
