#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""build.py - make the media, ciphertext objects and account description of
the twiliofs test account (see README.md here). Run by start.sh.

  /usr/bin/python3 tests/env/build.py CACHE

Idempotent: does nothing when CACHE/.done is newer than this file,
tests/fixtures/{mkfixtures.sh,encrypt.py} and CACHE/fixtures/.done.
Otherwise rebuilds in a scratch directory and swaps it in. Exits 77 when a
tool is missing (ffmpeg or one of its encoders; mkfixtures.sh's 77 passes
through), 1 on any other failure.

Independent encryption only: the keys come from tests/fixtures/mkfixtures.sh
(run into CACHE/fixtures); AES-CBC with `openssl enc` and the PKCS#1 v1.5 wrap
with `openssl pkeyutl -encrypt`, exactly as Twilio's video docs use them;
AES-256-GCM and RSA-OAEP-SHA-256 with tests/fixtures/encrypt.py (Debian's
python3-cryptography). Media are real: ffmpeg's lavfi testsrc/sine sources.

CACHE layout:
  fixtures/                   mkfixtures.sh output (keys/, passphrase, sids,
                              stranger.pem, vectors/)
  plain/NAME.EXT              plaintext of every object
  objects/BUCKET/...          the objects exactly as nginx serves them
  items.json                  the account: items, parts, envelopes, keys
  nginx-locations.conf        two `location =` blocks per object: its URI,
                              and /norange + URI (Range ignored)
  .done                       the stamp
"""

import base64
import datetime
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
FIXDIR = os.path.join(TOP, "tests", "fixtures")
MKFIX = os.path.join(FIXDIR, "mkfixtures.sh")
ENCPY = os.path.join(FIXDIR, "encrypt.py")
PY = "/usr/bin/python3"
SELF = os.path.abspath(__file__)

# Encoders this build uses; Debian 12's ffmpeg has all of them.
ENCODERS = ("libvpx", "libopus", "libx264", "aac", "pcm_s16le")


def note(msg):
    sys.stderr.write("tfs-env build: %s\n" % msg)


def die(msg, code=1):
    note(msg)
    sys.exit(code)


def run(cmd, stdin=None, stdout=None):
    try:
        subprocess.run(cmd, check=True, stdin=stdin, stdout=stdout)
    except subprocess.CalledProcessError as e:
        die("command failed (exit %d): %s" % (e.returncode, " ".join(cmd)))


def mtime(path):
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return None


# Opt-in items for benchmarks (make bench); never in the tests' default
# cache (README.md here, "Benchmark items"):
#   TFS_ENV_BIG_MIB=N      "rt_big": N MiB of random bytes, a CBC-256 video
#                          recording (key A)
#   TFS_ENV_BIG_GCM_MIB=N  "re_big": N MiB of random bytes, an AES-256-GCM
#                          voice recording (key A)
#   TFS_ENV_MANY=KxM       "rt_many_1".."rt_many_K": K CBC-256 video
#                          recordings of M MiB of random bytes each (key A)
#   TFS_ENV_LONG_MIN=N     "rt_long": a real VP8 .mkv of N minutes, 320x240,
#                          about 1 Mbit/s, a key frame every second, CBC-256
#                          (key A): for `ffmpeg -ss` into a long recording


def env_int(name):
    value = os.environ.get(name, "") or "0"
    if not value.isdigit():
        die("%s must be a whole number, not %r" % (name, value))
    return int(value)


def env_many():
    value = os.environ.get("TFS_ENV_MANY", "") or "0x0"
    count, _, mib = value.partition("x")
    if not (count.isdigit() and mib.isdigit()):
        die("TFS_ENV_MANY must be COUNTxMIB (e.g. 8x64), not %r" % value)
    return int(count), int(mib)


BIG_MIB = env_int("TFS_ENV_BIG_MIB")
BIG_GCM_MIB = env_int("TFS_ENV_BIG_GCM_MIB")
MANY_COUNT, MANY_MIB = env_many()
LONG_MIN = env_int("TFS_ENV_LONG_MIN")
# What the opt-ins asked for, kept in CACHE/.big: a cache built for other
# values is built again.
OPTIN = "big=%d gcm=%d many=%dx%d long=%d" % (
    BIG_MIB, BIG_GCM_MIB, MANY_COUNT, MANY_MIB, LONG_MIN)


def is_current(cache):
    stamp = mtime(os.path.join(cache, ".done"))
    if stamp is None:
        return False
    try:
        with open(os.path.join(cache, ".big")) as f:
            if f.read().strip() != OPTIN:
                return False
    except FileNotFoundError:
        return False
    for dep in (SELF, MKFIX, ENCPY, os.path.join(cache, "fixtures", ".done")):
        t = mtime(dep)
        if t is None or t >= stamp:
            return False
    return True


def check_tools():
    if shutil.which("ffmpeg") is None:
        die("missing dependency: ffmpeg (Debian package ffmpeg)", 77)
    if shutil.which("openssl") is None:
        die("missing dependency: openssl (Debian package openssl)", 77)
    out = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"],
                         capture_output=True, text=True).stdout
    have = {line.split()[1] for line in out.splitlines()
            if len(line.split()) > 1 and len(line.split()[0]) == 6}
    for enc in ENCODERS:
        if enc not in have:
            die("missing dependency: ffmpeg encoder %s (Debian's ffmpeg "
                "has it)" % enc, 77)


# --------------------------------------------------------------------------
# media (ffmpeg, lavfi sources)

FF = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]


def ff_mkv(out, size, dur, src="testsrc", br="300k", qmax=None):
    # a key frame every second, so `ffmpeg -ss` seeks land near
    q = ["-qmin", "0", "-qmax", str(qmax)] if qmax else []
    run(FF + ["-f", "lavfi", "-i",
              "%s=size=%s:rate=15:duration=%s" % (src, size, dur),
              "-c:v", "libvpx", "-b:v", br] + q + ["-g", "15",
              "-deadline", "realtime", "-cpu-used", "8", "-an",
              "-f", "matroska", out])


def ff_mka(out, freq, dur):
    run(FF + ["-f", "lavfi", "-i",
              "sine=frequency=%d:duration=%s:sample_rate=48000" % (freq, dur),
              "-c:a", "libopus", "-b:a", "32k", "-vn", "-f", "matroska",
              out])


def ff_mp4(out, size, dur, freq):
    run(FF + ["-f", "lavfi", "-i",
              "testsrc2=size=%s:rate=15:duration=%s" % (size, dur),
              "-f", "lavfi", "-i",
              "sine=frequency=%d:duration=%s:sample_rate=44100" % (freq, dur),
              "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt",
              "yuv420p", "-c:a", "aac", "-b:a", "48k", "-shortest",
              "-movflags", "+faststart", "-f", "mp4", out])


def ff_webm(out, size, dur, freq):
    run(FF + ["-f", "lavfi", "-i",
              "testsrc=size=%s:rate=15:duration=%s" % (size, dur),
              "-f", "lavfi", "-i",
              "sine=frequency=%d:duration=%s:sample_rate=48000" % (freq, dur),
              "-c:v", "libvpx", "-b:v", "250k", "-deadline", "realtime",
              "-cpu-used", "8", "-c:a", "libopus", "-b:a", "32k",
              "-shortest", "-f", "webm", out])


def ff_wav(out, freq, dur, channels=1):
    run(FF + ["-f", "lavfi", "-i",
              "sine=frequency=%d:duration=%s:sample_rate=8000" % (freq, dur),
              "-ac", str(channels), "-ar", "8000", "-c:a", "pcm_s16le",
              "-f", "wav", out])


def sentences_json(out, size):
    with open(out, "wb") as f:
        run([PY, ENCPY, "json", str(size)], stdout=f)


def operator_result_json(out, transcript_sid, n, account_sid):
    """An Intelligence operator result, as the plain OperatorResults list
    items look (reference/twilio-api.md section 5)."""
    kinds = [
        {"operator_type": "conversation-classify", "name": "Call Outcome",
         "predicted_label": "resolved", "predicted_probability": 0.93,
         "label_probabilities": {"resolved": 0.93, "escalated": 0.05,
                                 "abandoned": 0.02}},
        {"operator_type": "extract", "name": "Order Numbers",
         "extract_match": True, "match_probability": 0.88,
         "normalized_result": "A-10442",
         "extract_results": {"order_number": ["A-10442", "A-10443"]}},
        {"operator_type": "text-generation", "name": "Summary",
         "text_generation_results": {
             "format": "text",
             "result": "The caller asked for a refund of order A-10442; "
                       "the agent confirmed it would be sent today."}},
    ]
    doc = dict(kinds[(n - 1) % len(kinds)])
    doc.update({
        "operator_sid": "LY" + secrets.token_hex(16),
        "transcript_sid": transcript_sid,
        "account_sid": account_sid,
        "utterance_match": None,
        "utterance_results": [
            {"utterance_index": i, "label": "agent" if i % 2 else "customer",
             "probability": round(0.5 + i / 20, 3),
             "utterance_parts": [{"text": "part %d of utterance %d" % (j, i),
                                  "span": [j * 5, j * 5 + 4]}
                                 for j in range(2)]}
            for i in range(4)],
        "url": "https://intelligence.twilio.com/v2/Transcripts/%s/"
               "OperatorResults/%s" % (transcript_sid, "LY" + "0" * 32),
    })
    with open(out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


# --------------------------------------------------------------------------
# encryption (openssl CLI and encrypt.py only)

def b64(data):
    return base64.b64encode(data).decode()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Keys:
    """The fixture keyring: letter -> SID, private key file, public PEM."""

    def __init__(self, fixtures, tmp):
        self.fix = fixtures
        self.sids = {}
        with open(os.path.join(fixtures, "sids")) as f:
            for line in f:
                name, _, value = line.strip().partition("=")
                if name:
                    self.sids[name] = value
        self.files = {
            "A": "keys/%s.pem" % self.sids["A"],
            "B": "keys/%s.key" % self.sids["B"],
            "C": "keys/%s.pem" % self.sids["C"],
            "D": "keys/%s.der" % self.sids["D"],
            "E": "keys/unnamed.der",
            "X": "stranger.pem",
        }
        self.pub = {}
        for letter, rel in self.files.items():
            path = os.path.join(fixtures, rel)
            pub = os.path.join(tmp, "pub_%s.pem" % letter)
            cmd = ["openssl", "pkey", "-in", path, "-passin",
                   "file:" + os.path.join(fixtures, "passphrase"),
                   "-pubout", "-out", pub]
            if path.endswith(".der"):
                cmd[2:2] = ["-inform", "DER"]
            run(cmd)
            self.pub[letter] = pub


def cbc_encrypt(keys, letter, bits, plain, enc, tmp):
    cek = os.urandom(bits // 8)
    iv = os.urandom(16)
    run(["openssl", "enc", "-aes-%d-cbc" % bits, "-K", cek.hex(), "-iv",
         iv.hex(), "-in", plain, "-out", enc])
    cekf = os.path.join(tmp, "cek")
    wrapf = os.path.join(tmp, "wrapped")
    with open(cekf, "wb") as f:
        f.write(cek)
    run(["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey",
         keys.pub[letter], "-in", cekf, "-out", wrapf])
    with open(wrapf, "rb") as f:
        wrapped = f.read()
    os.unlink(cekf)
    os.unlink(wrapf)
    return wrapped, iv


def gcm_encrypt(keys, letter, plain, enc, tmp, tamper=False):
    cek = os.urandom(32)
    iv = os.urandom(12)
    with open(plain, "rb") as fin, open(enc, "wb") as fout:
        run([PY, ENCPY, "gcm-encrypt", cek.hex(), iv.hex()], stdin=fin,
            stdout=fout)
    cekf = os.path.join(tmp, "cek")
    wrapf = os.path.join(tmp, "wrapped")
    with open(cekf, "wb") as f:
        f.write(cek)
    with open(cekf, "rb") as fin, open(wrapf, "wb") as fout:
        run([PY, ENCPY, "oaep-wrap", keys.pub[letter]], stdin=fin,
            stdout=fout)
    with open(wrapf, "rb") as f:
        wrapped = f.read()
    os.unlink(cekf)
    os.unlink(wrapf)
    if tamper:
        # flip the lowest bit of the last byte (part of the tag)
        with open(enc, "r+b") as f:
            f.seek(-1, os.SEEK_END)
            last = f.read(1)[0]
            f.seek(-1, os.SEEK_END)
            f.write(bytes([last ^ 1]))
    return wrapped, iv


def details(style, sid, wrapped, iv):
    """encryption_details in one of the spellings Twilio uses."""
    if style == "docs-get":      # docs GET example
        return {"type": "rsa-aes", "encryption_public_key_sid": sid,
                "encryption_cek": b64(wrapped), "iv": b64(iv)}
    if style == "docs-table":    # docs table / RecordingStatusCallback
        return {"type": "rsa-aes", "public_key_sid": sid,
                "encrypted_cek": b64(wrapped), "iv": b64(iv)}
    if style == "oai":           # OAI examples, no type
        return {"encryption_public_key_sid": sid,
                "encryption_cek": b64(wrapped), "encryption_iv": b64(iv)}
    raise ValueError(style)


# --------------------------------------------------------------------------
# the account

def newsid(prefix):
    return prefix + secrets.token_hex(16)


def iso(s):
    # validate
    datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")
    return s


ROOMS = [newsid("RM") for _ in range(3)]

# Every item of the account. media: a maker and its args; scheme: cbc /
# gcm / none; key: fixture key letter; expect: ok | tampered | nokey |
# hidden; listed: False = reserve (revealed by /__control/add).
SPECS = [
    # ---- video recordings (RT): CBC, envelope in the object's headers
    dict(name="rt_video_A", kind="video_recording", date="2024-05-01T09:00:00Z",
         media=("mkv", "640x360", 10, "testsrc2", "3M", 8), scheme="cbc",
         bits=256, key="A", lenhdr=True, room=0, codec="VP8"),
    dict(name="rt_audio_C_nolen", kind="video_recording",
         date="2024-05-02T08:15:00Z", media=("mka", 440, 5), scheme="cbc",
         bits=256, key="C", lenhdr=False, room=0, codec="opus"),
    dict(name="rt_video_D_cbc128", kind="video_recording",
         date="2024-05-02T23:59:59Z",
         media=("mkv", "160x120", 3, "testsrc2", "200k"), scheme="cbc",
         bits=128, key="D", lenhdr=True, room=1, codec="VP8"),
    dict(name="rt_audio_E", kind="video_recording", date="2024-05-03T00:00:00Z",
         media=("mka", 550, 3), scheme="cbc", bits=256, key="E", lenhdr=True,
         room=1, codec="OPUS"),
    dict(name="rt_video_X_nokey", kind="video_recording",
         date="2024-05-04T18:00:00Z",
         media=("mkv", "160x120", 2, "testsrc", "150k"), scheme="cbc",
         bits=256, key="X", lenhdr=True, room=1, codec="VP8",
         expect="nokey"),
    dict(name="rt_processing", kind="video_recording",
         date="2024-05-04T23:59:59Z", media=None, status="processing",
         room=0, codec="VP8", type="video", container="mkv",
         expect="hidden"),
    dict(name="rt_reserve_B", kind="video_recording",
         date="2024-05-05T08:00:00Z", media=("mka", 660, 3), scheme="cbc",
         bits=256, key="B", lenhdr=True, room=2, codec="OPUS", listed=False),
    # ---- compositions (CJ)
    dict(name="cj_mp4_B", kind="composition", date="2024-05-01T09:30:00Z",
         media=("mp4", "320x240", 4, 660), scheme="cbc", bits=256, key="B",
         lenhdr=True, room=0),
    dict(name="cj_webm_A", kind="composition", date="2024-05-02T16:00:00Z",
         media=("webm", "320x240", 3, 330), scheme="cbc", bits=256, key="A",
         lenhdr=True, room=1),
    dict(name="cj_mp4_plain", kind="composition", date="2024-05-03T10:00:00Z",
         media=("mp4", "160x120", 3, 880), scheme="none", room=1),
    dict(name="cj_reserve_webm_D", kind="composition",
         date="2024-05-05T09:00:00Z", media=("webm", "160x120", 2, 770),
         scheme="cbc", bits=256, key="D", lenhdr=False, room=2,
         listed=False),
    # ---- voice recordings (RE): GCM, envelope in encryption_details
    dict(name="re_A_docsget", kind="voice_recording",
         date="2024-05-01T10:00:00Z", media=("wav", 300, 4, 1),
         scheme="gcm", key="A", spelling="docs-get"),
    dict(name="re_C_docstable_stereo", kind="voice_recording",
         date="2024-05-02T12:00:00Z", media=("wav", 350, 3, 2),
         scheme="gcm", key="C", spelling="docs-table"),
    dict(name="re_failed_16104", kind="voice_recording",
         date="2024-05-02T13:00:00Z", media=None, status="failed",
         expect="hidden"),
    dict(name="re_D_oai", kind="voice_recording", date="2024-05-03T09:20:00Z",
         media=("wav", 400, 5, 1), scheme="gcm", key="D", spelling="oai"),
    dict(name="re_B_tampered", kind="voice_recording",
         date="2024-05-04T11:11:00Z", media=("wav", 450, 2, 1),
         scheme="gcm", key="B", spelling="docs-table", tamper=True,
         expect="tampered"),
    dict(name="re_X_nokey", kind="voice_recording",
         date="2024-05-04T22:30:00Z", media=("wav", 500, 2, 1),
         scheme="gcm", key="X", spelling="docs-get", expect="nokey"),
    dict(name="re_reserve_E", kind="voice_recording",
         date="2024-05-05T10:00:00Z", media=("wav", 250, 3, 1),
         scheme="gcm", key="E", spelling="docs-table", listed=False),
    # ---- intelligence transcripts (GT): GCM, envelope in the headers of
    # the `location` / `locations[]` downloads
    dict(name="gt_A", kind="transcript", date="2024-05-01T11:00:00Z",
         media=("transcript", 9000, 2), scheme="gcm", key="A", lenhdr=True,
         source="re_A_docsget"),
    dict(name="gt_B", kind="transcript", date="2024-05-03T15:00:00Z",
         media=("transcript", 5000, 2), scheme="gcm", key="B", lenhdr=False,
         source="re_D_oai"),
    dict(name="gt_reserve_C", kind="transcript", date="2024-05-05T11:00:00Z",
         media=("transcript", 3000, 1), scheme="gcm", key="C", lenhdr=True,
         source="re_C_docstable_stereo", listed=False),
]
if BIG_MIB:
    SPECS.append(dict(name="rt_big", kind="video_recording",
                      date="2024-05-04T12:00:00Z", media=("raw", BIG_MIB),
                      scheme="cbc", bits=256, key="A", lenhdr=True, room=0,
                      codec="VP8"))
if BIG_GCM_MIB:
    # media[3] is the channel count, as for the ("wav", ...) items
    SPECS.append(dict(name="re_big", kind="voice_recording",
                      date="2024-05-04T12:00:00Z",
                      media=("raw", BIG_GCM_MIB, "wav", 1), scheme="gcm",
                      key="A", spelling="docs-get"))
if MANY_MIB:
    for n in range(1, MANY_COUNT + 1):
        SPECS.append(dict(name="rt_many_%d" % n, kind="video_recording",
                          date="2024-05-04T13:%02d:00Z" % (n % 60),
                          media=("raw", MANY_MIB), scheme="cbc", bits=256,
                          key="A", lenhdr=True, room=2, codec="VP8"))
if LONG_MIN:
    SPECS.append(dict(name="rt_long", kind="video_recording",
                      date="2024-05-04T14:00:00Z",
                      media=("mkv", "320x240", LONG_MIN * 60, "testsrc2",
                             "1M", 12),
                      scheme="cbc", bits=256, key="A", lenhdr=True, room=2,
                      codec="VP8"))

PREFIX = {"video_recording": "RT", "composition": "CJ",
          "voice_recording": "RE", "transcript": "GT"}
# the URI prefix of the Range-less twin of every object (see add_object)
NORANGE = "/norange"

BUCKET = {"video_recording": "video-recordings",
          "composition": "video-compositions",
          "voice_recording": "voice-recordings"}


def make_media(spec, base):
    """Make the plaintext(s) of an item; return [(path, container)]."""
    m = spec["media"]
    kind = m[0]
    if kind == "mkv":
        out = base + ".mkv"
        ff_mkv(out, *m[1:])
        return [(out, "mkv")]
    if kind == "mka":
        out = base + ".mka"
        ff_mka(out, m[1], m[2])
        return [(out, "mka")]
    if kind == "mp4":
        out = base + ".mp4"
        ff_mp4(out, m[1], m[2], m[3])
        return [(out, "mp4")]
    if kind == "webm":
        out = base + ".webm"
        ff_webm(out, m[1], m[2], m[3])
        return [(out, "webm")]
    if kind == "wav":
        out = base + ".wav"
        ff_wav(out, m[1], m[2], m[3])
        return [(out, "wav")]
    if kind == "raw":	# random bytes, m[1] MiB, in an .mkv (or m[2]) name
        container = m[2] if len(m) > 2 else "mkv"
        out = base + "." + container
        with open(out, "wb") as f:
            for _ in range(m[1]):
                f.write(os.urandom(1 << 20))
        return [(out, container)]
    raise ValueError(kind)


def probe_duration(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration",
         "-of", "default=nw=1:nk=1", path], capture_output=True, text=True)
    try:
        return max(1, int(round(float(out.stdout.strip()))))
    except ValueError:
        return 1


def build(cache):
    fixtures = os.path.join(cache, "fixtures")
    b = os.path.join(cache, ".build.%d" % os.getpid())
    shutil.rmtree(b, ignore_errors=True)
    tmp = os.path.join(b, "tmp")
    os.makedirs(tmp)
    os.makedirs(os.path.join(b, "plain"))
    os.makedirs(os.path.join(b, "objects"))
    try:
        account = build_into(b, fixtures, tmp)
    except BaseException:
        shutil.rmtree(b, ignore_errors=True)
        raise
    shutil.rmtree(tmp)
    for name in ("plain", "objects", "items.json", "nginx-locations.conf"):
        dst = os.path.join(cache, name)
        if os.path.isdir(dst):
            shutil.rmtree(dst)
        elif os.path.exists(dst):
            os.unlink(dst)
        os.rename(os.path.join(b, name), dst)
    os.rmdir(b)
    with open(os.path.join(cache, ".big"), "w") as f:
        f.write(OPTIN + "\n")
    with open(os.path.join(cache, ".done"), "w") as f:
        f.write(account + "\n")


def build_into(b, fixtures, tmp):
    keys = Keys(fixtures, tmp)
    account_sid = newsid("AC")
    items = []
    by_name = {}
    locations = []

    def add_object(uri, headers, content_type):
        # Two locations per object: URI itself, and NORANGE + URI, the
        # same object with Range ignored (max_ranges 0: always 200 and the
        # whole body), for /__control/shape "norange". The secure_link
        # check (server level, before the location) covers the /norange
        # URI; the rewrite then serves the object's own file.
        for prefix in ("", NORANGE):
            lines = ["location = %s%s {" % (prefix, uri)]
            if content_type:
                lines.append("    default_type %s;" % content_type)
            for name, value in headers.items():
                assert '"' not in value and "\\" not in value
                lines.append('    add_header %s "%s";' % (name, value))
            if prefix:
                lines.append("    max_ranges 0;")
                lines.append("    rewrite ^%s(/.*)$ $1 break;" % prefix)
            lines.append("}")
            locations.append("\n".join(lines))

    def encrypt_part(spec, plain, container, uri, tamper=False):
        enc = os.path.join(b, "objects", uri.lstrip("/"))
        os.makedirs(os.path.dirname(enc), exist_ok=True)
        scheme = spec["scheme"]
        letter = spec.get("key")
        headers = {}
        wrapped = iv = None
        if scheme == "cbc":
            wrapped, iv = cbc_encrypt(keys, letter, spec["bits"], plain, enc,
                                      tmp)
        elif scheme == "gcm":
            wrapped, iv = gcm_encrypt(keys, letter, plain, enc, tmp, tamper)
        else:
            shutil.copyfile(plain, enc)
        lenhdr = bool(spec.get("lenhdr")) and scheme != "none"
        envelope_in_headers = spec["kind"] != "voice_recording"
        if scheme != "none" and envelope_in_headers:
            headers["x-amz-meta-x-amz-key"] = b64(wrapped)
            headers["x-amz-meta-x-amz-iv"] = b64(iv)
            if lenhdr:
                headers["x-amz-meta-x-amz-unencrypted-content-length"] = \
                    str(os.path.getsize(plain))
            headers["x-amz-meta-x-amz-matdesc"] = "{}"
        else:
            lenhdr = False
        ctype = {"wav": "audio/x-wav"}.get(container,
                                          "application/octet-stream")
        add_object(uri, headers, ctype)
        part = {
            "object": uri,
            "file": os.path.relpath(enc, b),
            "scheme": scheme,
            "cek_bits": (spec["bits"] if scheme == "cbc" else
                         256 if scheme == "gcm" else None),
            "key": letter if scheme != "none" else None,
            "public_key_sid": keys.sids[letter] if scheme != "none" else None,
            "plain": os.path.relpath(plain, b),
            "plain_sha256": sha256_file(plain),
            "plain_size": os.path.getsize(plain),
            "enc_size": os.path.getsize(enc),
            "container": container,
            "has_length_header": lenhdr,
            "headers": headers,
        }
        return part, wrapped, iv

    for spec in SPECS:
        kind = spec["kind"]
        sid = newsid(PREFIX[kind])
        note("item %s (%s)" % (spec["name"], sid))
        item = {
            "name": spec["name"],
            "kind": kind,
            "sid": sid,
            "status": spec.get("status", "completed"),
            "date_created": iso(spec["date"]),
            "listed": spec.get("listed", True),
            "expect": spec.get("expect", "ok"),
            "api": {},
            "parts": [],
        }
        api = item["api"]
        base = os.path.join(b, "plain", spec["name"])
        if kind in ("video_recording", "composition"):
            api["room_sid"] = ROOMS[spec["room"]]
        if kind == "video_recording":
            api["participant_sid"] = newsid("PA")
            api["source_sid"] = newsid("MT")
            api["codec"] = spec["codec"]
            if spec["media"] is None:
                api["type"] = spec["type"]
                api["container_format"] = spec["container"]
                api["duration"] = None
                api["size"] = None
            api["track_name"] = ("camera-%s" % sid[-4:]
                                 if spec["codec"] == "VP8"
                                 else "microphone-%s" % sid[-4:])
            api["offset"] = 1000 * (len(items) + 1)
        if kind == "voice_recording":
            api["call_sid"] = newsid("CA")
            api["channels"] = spec["media"][3] if spec["media"] else 1
            api["encryption_details"] = None
            api["error_code"] = None
            if item["status"] == "failed":
                api["error_code"] = 16104
                api["duration"] = "0"
        if kind == "transcript":
            api["service_sid"] = "GA" + hashlib.sha256(
                account_sid.encode()).hexdigest()[:32]
            api["encryption_credential_sid"] = keys.sids[spec["key"]]
            api["source_sid"] = by_name[spec["source"]]["sid"]

        if spec["media"] and kind == "transcript":
            nparts = spec["media"][2]
            plain = base + ".sentences.json"
            sentences_json(plain, spec["media"][1])
            uri = "/transcript-sentences/%s" % sid
            part, _, _ = encrypt_part(spec, plain, "json", uri)
            part["part"] = 0
            item["parts"].append(part)
            for n in range(1, nparts + 1):
                plain = base + ".operator-result-%d.json" % n
                operator_result_json(plain, sid, n, account_sid)
                uri = "/transcript-operator-results/%s/OperatorResults%d" % (
                    sid, n)
                part, _, _ = encrypt_part(spec, plain, "json", uri)
                part["part"] = n
                item["parts"].append(part)
            api["duration"] = 30 + 7 * len(items)
        elif spec["media"]:
            [(plain, container)] = make_media(spec, base)
            uri = "/%s/%s" % (BUCKET[kind], sid)
            part, wrapped, iv = encrypt_part(spec, plain, container, uri,
                                             spec.get("tamper", False))
            part["part"] = 0
            item["parts"].append(part)
            dur = probe_duration(plain)
            if kind == "video_recording":
                api["type"] = "video" if container == "mkv" else "audio"
                api["container_format"] = container
                api["duration"] = dur
                api["size"] = part["enc_size"]
            elif kind == "composition":
                api["format"] = container
                api["duration"] = dur
                api["size"] = part["enc_size"]
                api["resolution"] = spec["media"][1]
                api["bitrate"] = int(part["enc_size"] * 8 / dur / 1000)
            elif kind == "voice_recording":
                api["duration"] = str(dur)
                api["encryption_details"] = details(
                    spec["spelling"], keys.sids[spec["key"]], wrapped, iv)
        items.append(item)
        by_name[spec["name"]] = item

    # The shared object behind the bulk items (--bulk N).
    note("bulk object")
    plain = os.path.join(b, "plain", "bulk_shared.mka")
    ff_mka(plain, 500, 1)
    spec = dict(kind="video_recording", scheme="cbc", bits=256, key="A",
                lenhdr=True)
    part, _, _ = encrypt_part(spec, plain, "mka",
                              "/video-recordings/bulk-shared")
    part["part"] = 0
    bulk = {"part": part, "duration": probe_duration(plain), "codec": "OPUS",
            "type": "audio", "container_format": "mka"}

    keyinfo = {}
    for letter, rel in keys.files.items():
        keyinfo[letter] = {"sid": keys.sids[letter], "file": rel,
                           "in_keyring": letter != "X"}
    account = {
        "account_sid": account_sid,
        "rooms": ROOMS,
        "keys": keyinfo,
        "items": items,
        "bulk": bulk,
        "norange_prefix": NORANGE,
    }
    with open(os.path.join(b, "items.json"), "w") as f:
        json.dump(account, f, indent=1)
        f.write("\n")
    with open(os.path.join(b, "nginx-locations.conf"), "w") as f:
        f.write("# generated by tests/env/build.py: two blocks per object "
                "(URI and %s + URI)\n" % NORANGE)
        f.write("\n".join(locations) + "\n")
    return account_sid


def main(argv):
    if len(argv) != 2:
        die("usage: build.py CACHE")
    os.umask(0o077)
    cache = os.path.abspath(argv[1])
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # the keys (cached by mkfixtures.sh itself)
        rc = subprocess.run(["bash", MKFIX,
                             os.path.join(cache, "fixtures")]).returncode
        if rc == 77:
            sys.exit(77)
        if rc != 0:
            die("tests/fixtures/mkfixtures.sh failed (exit %d)" % rc)
        if is_current(cache):
            return
        check_tools()
        note("building the test account in %s" % cache)
        build(cache)
        note("done")


if __name__ == "__main__":
    main(sys.argv)
