#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""selftest.py - check a running test account (started by start.sh) with
curl and the independent decryptors only (openssl CLI, tests/fixtures/
encrypt.py), never twiliofs. Run through selftest.sh:

  bash tests/env/selftest.sh DIR

Every HTTP request is made by curl (credentials passed on its stdin, not its
command line). Prints "ok N - ..." / "not ok N - ...", then
"N passed, N failed". Leaves the mock as it found it (POST /__control/reset
at the end).
"""

import base64
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ENCPY = os.path.join(os.path.dirname(HERE), "fixtures", "encrypt.py")
PY = "/usr/bin/python3"


def load_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"export (\w+)=(.*)$", line.strip())
            if m:
                env[m.group(1)] = shlex.split(m.group(2))[0] if m.group(2) \
                    else ""
    return env


class T:
    n = 0
    failed = 0
    passed = 0

    @classmethod
    def ok(cls, cond, desc, why=""):
        cls.n += 1
        if cond:
            cls.passed += 1
            print("ok %d - %s" % (cls.n, desc))
        else:
            cls.failed += 1
            print("not ok %d - %s%s" % (cls.n, desc,
                                        ": " + why if why else ""))
        sys.stdout.flush()
        return cond


class Resp:
    def __init__(self, rc, status, headers, body, elapsed):
        self.rc, self.status, self.headers = rc, status, headers
        self.body, self.elapsed = body, elapsed

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def h(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return "<HTTP %s rc=%s %r>" % (self.status, self.rc, self.body[:200])


class Env:
    def __init__(self, d):
        self.dir = d
        self.env = load_env(os.path.join(d, "env.sh"))
        e = self.env
        self.endpoint = e["TWILIOFS_ENDPOINT"]
        self.control = e["TFS_CONTROL"]
        self.ca = e["TWILIOFS_CAFILE"]
        self.ac = e["TWILIO_ACCOUNT_SID"]
        self.key_auth = "%s:%s" % (e["TWILIO_API_KEY"], e["TWILIO_API_SECRET"])
        self.token_auth = "%s:%s" % (self.ac, e["TFS_AUTH_TOKEN"])
        self.passfile = e["TWILIOFS_KEY_PASSPHRASE_FILE"]
        self.tmp = tempfile.mkdtemp(prefix="tfs-selftest.")
        self.manifest = self.load_manifest()

    def load_manifest(self):
        with open(self.env["TFS_MANIFEST"]) as f:
            return json.load(f)

    def curl(self, url, auth=True, method="GET", data=None, rng=None,
             extra=(), head=False, form=None):
        hdr = os.path.join(self.tmp, "h")
        out = os.path.join(self.tmp, "b")
        for p in (hdr, out):
            if os.path.exists(p):
                os.unlink(p)
        cfg = []
        if auth is True:
            cfg.append('user = "%s"' % self.key_auth)
        elif auth:
            cfg.append('user = "%s"' % auth)
        cmd = ["curl", "-sS", "--cacert", self.ca, "-K", "-", "-D", hdr,
               "-o", out, "-w", "%{http_code}", "--max-time", "30"]
        if head:
            cmd.append("-I")
        elif method != "GET":
            cmd += ["-X", method]
        if data is not None:
            cmd += ["-H", "Content-Type: application/json",
                    "--data-binary", json.dumps(data)]
        if form is not None:    # pairs, or a raw body (not starting "@")
            body = form if isinstance(form, str) else \
                urllib.parse.urlencode(form)
            cmd += ["-H", "Content-Type: application/x-www-form-urlencoded",
                    "--data-binary", body]
        if rng:
            cmd += ["-r", rng]
        cmd += list(extra)
        cmd.append(url)
        t0 = time.time()
        p = subprocess.run(cmd, input="\n".join(cfg) + "\n",
                           capture_output=True, text=True)
        elapsed = time.time() - t0
        headers = {}
        if os.path.exists(hdr):
            with open(hdr, "rb") as f:
                for line in f.read().decode("latin-1").splitlines():
                    k, sep, v = line.partition(":")
                    if sep and not k.startswith("HTTP/"):
                        headers[k.strip().lower()] = v.strip()
        body = b""
        if os.path.exists(out):
            with open(out, "rb") as f:
                body = f.read()
        try:
            status = int(p.stdout.strip() or 0)
        except ValueError:
            status = 0
        return Resp(p.returncode, status, headers, body, elapsed)

    def api(self, path, **kw):
        return self.curl(self.endpoint + path, **kw)

    def ctl(self, op, data=None):
        if op == "stats" or (op == "account" and data is None):
            r = self.curl("%s/%s" % (self.control, op), auth=False)
        else:
            r = self.curl("%s/%s" % (self.control, op), auth=False,
                          method="POST", data=data or {})
        if r.status != 200:
            raise RuntimeError("control %s: %r" % (op, r))
        return r.json()

    def path(self, name):
        return os.path.join(self.tmp, name)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# ---- independent decryption -------------------------------------------------

def run(cmd, stdin=None):
    return subprocess.run(cmd, input=stdin, capture_output=True)


def cbc_decrypt(env, keyfile, wrapped, iv, enc):
    """openssl pkeyutl (PKCS#1 v1.5) + openssl enc -d; None on failure."""
    wf = env.path("wrapped")
    with open(wf, "wb") as f:
        f.write(wrapped)
    cmd = ["openssl", "pkeyutl", "-decrypt", "-inkey", keyfile, "-passin",
           "file:" + env.passfile, "-in", wf]
    if keyfile.endswith(".der"):
        cmd += ["-keyform", "DER"]
    p = run(cmd)
    if p.returncode != 0 or len(p.stdout) not in (16, 32):
        return None
    cek = p.stdout
    ef = env.path("enc")
    with open(ef, "wb") as f:
        f.write(enc)
    p = run(["openssl", "enc", "-d", "-aes-%d-cbc" % (len(cek) * 8), "-K",
             cek.hex(), "-iv", iv.hex(), "-in", ef])
    return p.stdout if p.returncode == 0 else None


def oaep_unwrap(env, keyfile, wrapped):
    p = run([PY, ENCPY, "oaep-unwrap", keyfile, env.passfile], wrapped)
    return p.stdout if p.returncode == 0 and len(p.stdout) == 32 else None


def gcm_decrypt(env, keyfile, wrapped, iv, enc):
    """encrypt.py oaep-unwrap + gcm-decrypt; (plain, tag_ok) or None."""
    cek = oaep_unwrap(env, keyfile, wrapped)
    if cek is None:
        return None
    ef = env.path("enc")
    with open(ef, "wb") as f:
        f.write(enc)
    p = run([PY, ENCPY, "gcm-decrypt", cek.hex(), iv.hex(), ef])
    return p.stdout, p.returncode == 0


def details_envelope(d):
    """(public_key_sid, wrapped, iv) from encryption_details, any spelling."""
    if isinstance(d, str):
        d = json.loads(d)
    sid = d.get("public_key_sid") or d.get("encryption_public_key_sid")
    cek = d.get("encrypted_cek") or d.get("encryption_cek")
    iv = d.get("iv") or d.get("encryption_iv")
    return sid, base64.b64decode(cek), base64.b64decode(iv)


def keyring_files(env):
    d = env.env["TWILIOFS_KEYS"]
    return [os.path.join(d, f) for f in sorted(os.listdir(d))
            if f != "public.pem"]


# ---- checks -------------------------------------------------------------------

def check_files(env):
    mode = lambda p: os.stat(p).st_mode & 0o777
    T.ok(mode(os.path.join(env.dir, "env.sh")) == 0o600, "env.sh is 0600")
    keys = env.env["TWILIOFS_KEYS"]
    names = os.listdir(keys)
    T.ok(all(mode(os.path.join(keys, f)) == 0o600 for f in names) and
         mode(env.passfile) == 0o600, "keyring files and passphrase are 0600")
    kinds = set()
    for f in names:
        with open(os.path.join(keys, f), "rb") as fh:
            head = fh.read(40)
        if f.endswith(".der"):
            kinds.add("der")
        elif b"BEGIN RSA PRIVATE KEY" in head:
            kinds.add("pkcs1-pem")
        elif b"BEGIN ENCRYPTED PRIVATE KEY" in head:
            kinds.add("enc-pkcs8-pem")
    T.ok({"der", "pkcs1-pem", "enc-pkcs8-pem"} <= kinds,
         "keyring has PKCS#1 PEM, encrypted PKCS#8 PEM and DER keys",
         str(kinds))
    m = env.manifest
    need = {"sid", "part", "kind", "status", "date_created", "listed",
            "expect", "scheme", "cek_bits", "public_key_sid", "plain",
            "plain_sha256", "plain_size", "enc_size", "container",
            "has_length_header"}
    T.ok(all(need <= set(e) for e in m), "manifest entries have every field")
    days = {e["date_created"][:10] for e in m if e["listed"]}
    T.ok(len(days) >= 3, "listed items span >= 3 UTC days", str(days))
    exp = {e["expect"] for e in m}
    T.ok({"ok", "tampered", "nokey", "hidden"} <= exp,
         "manifest has ok, tampered, nokey and hidden items", str(exp))
    T.ok(any(e["scheme"] == "cbc" and e["cek_bits"] == 128 for e in m) and
         any(e["scheme"] == "cbc" and not e["has_length_header"] for e in m)
         and any(e["scheme"] == "none" for e in m)
         and any(not e["listed"] for e in m),
         "manifest has a 128-bit CBC, a CBC without length header, an "
         "unencrypted and reserve items")
    ok = True
    for e in m:
        if e["plain"]:
            with open(e["plain"], "rb") as f:
                data = f.read()
            if sha256(data) != e["plain_sha256"] or \
                    len(data) != e["plain_size"]:
                ok = False
    T.ok(ok, "every manifest plaintext matches its sha256 and size")


def check_media_real(env):
    """The plaintexts are real media: ffprobe reads the codecs we asked for."""
    want = {"mkv": ({"vp8"}, "matroska"), "mka": ({"opus"}, "matroska"),
            "mp4": ({"h264", "aac"}, "mp4"), "webm": ({"vp8", "opus"}, "webm"),
            "wav": ({"pcm_s16le"}, "wav")}
    seen = set()
    bad = []
    for e in env.manifest:
        c = e["container"]
        if not e["plain"] or c not in want or c in seen:
            continue
        seen.add(c)
        p = run(["ffprobe", "-v", "error", "-show_entries",
                 "stream=codec_name,sample_rate:format=format_name",
                 "-of", "json", e["plain"]])
        info = json.loads(p.stdout or b"{}")
        codecs = {s.get("codec_name") for s in info.get("streams", [])}
        fmt = info.get("format", {}).get("format_name", "")
        if codecs != want[c][0] or want[c][1] not in fmt:
            bad.append("%s: %s %s" % (c, codecs, fmt))
        if c == "wav" and info["streams"][0].get("sample_rate") != "8000":
            bad.append("wav not 8 kHz")
    T.ok(not bad and seen == set(want),
         "plaintexts are real media (ffprobe: vp8/mkv, opus/mka, h264+aac/"
         "mp4, vp8+opus/webm, pcm_s16le 8 kHz wav)", "; ".join(bad))


def check_auth(env):
    for path in ("/video/v1/Recordings", "/video/v1/Compositions",
                 "/api/2010-04-01/Accounts/%s/Recordings.json" % env.ac,
                 "/intelligence/v2/Transcripts",
                 "/accounts/v1/Credentials/PublicKeys",
                 "/video/v1/RecordingSettings/Default",
                 "/video/v1/CompositionSettings/Default",
                 "/intelligence/v2/Services"):
        r = env.api(path, auth=False)
        j = r.json() or {}
        T.ok(r.status == 401 and j.get("code") == 20003 and
             j.get("status") == 401, "401 without auth: %s" % path, repr(r))
    r = env.api("/video/v1/Recordings", auth=env.env["TWILIO_API_KEY"] +
                ":wrong")
    T.ok(r.status == 401, "401 with a wrong API secret", repr(r))
    r = env.api("/accounts/v1/Credentials/PublicKeys", auth=False,
                method="POST", form=[("PublicKey", "x")])
    j = r.json() or {}
    T.ok(r.status == 401 and j.get("code") == 20003,
         "401 without auth: POST PublicKeys", repr(r))
    r = env.api("/video/v1/Recordings", auth=env.token_auth)
    T.ok(r.status == 200, "200 with ACCOUNT_SID:auth token", repr(r))
    r = env.api("/video/v1/NoSuchThing")
    j = r.json() or {}
    T.ok(r.status == 404 and j.get("code") == 20404,
         "unknown path: 404 Twilio JSON error", repr(r))


LISTS = {
    "video_recording": ("/video/v1/Recordings", "recordings"),
    "composition": ("/video/v1/Compositions", "compositions"),
    "transcript": ("/intelligence/v2/Transcripts", "transcripts"),
}


def walk_v1(env, path, key, query=""):
    """Follow meta.next_page_url; (sids, pages, problems)."""
    url = env.endpoint + path + query
    sids, pages, problems = [], 0, []
    while url:
        r = env.curl(url)
        j = r.json()
        if r.status != 200 or j is None:
            problems.append("HTTP %s on %s" % (r.status, url))
            break
        pages += 1
        meta = j["meta"]
        if meta.get("key") != key:
            problems.append("meta.key %r" % meta.get("key"))
        sids += [x["sid"] for x in j[key]]
        url = meta["next_page_url"]
        if url and not url.startswith(env.endpoint + path.split("?")[0]):
            problems.append("next_page_url not absolute: %s" % url)
        if pages > 5000:
            problems.append("too many pages")
            break
    return sids, pages, problems


def walk_2010(env, query=""):
    url = "%s/api/2010-04-01/Accounts/%s/Recordings.json%s" % (
        env.endpoint, env.ac, query)
    sids, pages, problems = [], 0, []
    while url:
        r = env.curl(url)
        j = r.json()
        if r.status != 200 or j is None:
            problems.append("HTTP %s on %s" % (r.status, url))
            break
        pages += 1
        sids += [x["sid"] for x in j["recordings"]]
        nxt = j["next_page_uri"]
        if nxt and not nxt.startswith("/2010-04-01/"):
            problems.append("next_page_uri not relative: %s" % nxt)
        url = env.endpoint + "/api" + nxt if nxt else None
        if pages > 5000:
            problems.append("too many pages")
            break
    return sids, pages, problems


def listed_sids(env, kind):
    return {e["sid"] for e in env.load_manifest()
            if e["kind"] == kind and e["listed"]}


def check_paging(env):
    for kind, (path, key) in LISTS.items():
        sids, pages, problems = walk_v1(env, path, key)
        want = listed_sids(env, kind)
        T.ok(not problems and len(sids) == len(set(sids)) and
             set(sids) == want and pages == (len(want) + 1) // 2,
             "paging %s (page size 2, %d pages) lists every item once" % (
                 path, pages),
             "; ".join(problems) + " got %d/%d" % (len(sids), len(want)))
    sids, pages, problems = walk_2010(env)
    want = listed_sids(env, "voice_recording")
    T.ok(not problems and len(sids) == len(set(sids)) and set(sids) == want
         and pages == (len(want) + 1) // 2,
         "paging 2010 Recordings.json via next_page_uri lists every item once",
         "; ".join(problems))
    # newest first, page-size cap and shapes
    r = env.api("/video/v1/Recordings?PageSize=5000")
    j = r.json()
    dates = [x["date_created"] for x in j["recordings"]]
    T.ok(j["meta"]["page_size"] == 1000 and dates == sorted(dates,
                                                             reverse=True)
         and j["meta"]["next_page_url"] is None,
         "PageSize capped at 1000, newest first, last page next_page_url null")
    r = env.api("/api/2010-04-01/Accounts/%s/Recordings.json" % env.ac)
    j = r.json()
    rec = j["recordings"][0]
    T.ok(re.match(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000$",
                  rec["date_created"]) is not None and
         isinstance(rec["duration"], str) and rec["uri"].endswith(".json")
         and rec["uri"].startswith("/2010-04-01/") and
         j["first_page_uri"].startswith("/2010-04-01/"),
         "2010 recordings: RFC 2822 dates, duration string, relative uri")
    spellings = set()
    m = {e["sid"]: e for e in env.manifest}
    for x in walk_all_2010(env):
        d = x["encryption_details"]
        if d:
            spellings.add(tuple(sorted(d)))
        if m[x["sid"]]["status"] == "failed":
            T.ok(x["status"] == "failed" and x["error_code"] == 16104 and
                 d is None, "failed voice item: status failed, 16104, "
                 "encryption_details null", repr(x))
    T.ok(len(spellings) >= 2 and
         ("encrypted_cek", "iv", "public_key_sid", "type") in spellings and
         ("encryption_cek", "encryption_public_key_sid", "iv", "type")
         in spellings, "both encryption_details spellings are listed",
         str(spellings))


def walk_all_2010(env):
    r = env.api("/api/2010-04-01/Accounts/%s/Recordings.json?PageSize=1000"
                % env.ac)
    return r.json()["recordings"]


def media_url(env, e, ttl=None):
    """Resolve the signed URL of a manifest entry through the API."""
    q = "?Ttl=%d" % ttl if ttl else ""
    if e["kind"] == "video_recording":
        r = env.api("/video/v1/Recordings/%s/Media%s" % (e["sid"], q))
    elif e["kind"] == "composition":
        r = env.api("/video/v1/Compositions/%s/Media%s" % (e["sid"], q))
    elif e["kind"] == "voice_recording":
        r = env.api("/api/2010-04-01/Accounts/%s/Recordings/%s.wav%s" % (
            env.ac, e["sid"], q))
    else:
        sub = "Sentences" if e["part"] == 0 else "OperatorResults"
        r = env.api("/intelligence/v2/Transcripts/%s/%s/Encrypted" % (
            e["sid"], sub))
        j = r.json() or {}
        if r.status != 200:
            return r, None
        if e["part"] == 0:
            return r, j.get("location")
        locs = j.get("locations") or []
        return r, locs[e["part"] - 1] if len(locs) >= e["part"] else None
    j = r.json() or {}
    return r, j.get("redirect_to")


def check_media(env):
    m = env.manifest
    e = next(x for x in m if x["kind"] == "video_recording" and
             x["expect"] == "ok" and x["has_length_header"])
    t0 = int(time.time())
    r, url = media_url(env, e, ttl=120)
    exp = int(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
              ["Expires"][0]) if url else 0
    T.ok(r.status == 302 and url and r.h("location") == url and
         url.startswith(env.env["TFS_MEDIA_BASE"]) and
         t0 + 118 <= exp <= int(time.time()) + 122,
         "video /Media?Ttl=120: 302, Location = redirect_to, expiry now+Ttl",
         repr(r))
    r, url2 = media_url(env, e)
    exp2 = int(urllib.parse.parse_qs(urllib.parse.urlsplit(url2).query)
               ["Expires"][0])
    T.ok(abs(exp2 - time.time() - 600) < 5, "default Ttl is 600 s")
    for bad in (0, 3601):
        r = env.api("/video/v1/Recordings/%s/Media?Ttl=%d" % (e["sid"], bad))
        T.ok(r.status == 400, "Ttl=%d rejected with 400" % bad, repr(r))
    with open(e["enc_file"], "rb") as f:
        enc = f.read()
    r = env.curl(url, auth=False)
    T.ok(r.status == 200 and r.body == enc and r.h("etag") and
         r.h("content-length") == str(len(enc)),
         "signed URL: 200, the ciphertext, ETag", repr(r))
    r = env.curl(url, auth=False, rng="100-199")
    T.ok(r.status == 206 and r.body == enc[100:200] and
         r.h("content-range") == "bytes 100-199/%d" % len(enc) and
         r.h("etag") and r.h("x-amz-meta-x-amz-key") and
         len(base64.b64decode(r.h("x-amz-meta-x-amz-iv") or "")) == 16 and
         r.h("x-amz-meta-x-amz-unencrypted-content-length") ==
         str(e["plain_size"]) and r.h("x-amz-meta-x-amz-matdesc") == "{}",
         "Range bytes=100-199: 206 with the bytes, x-amz-meta-* and ETag",
         repr(r) + " " + str(r.headers))
    r = env.curl(url, auth=False, rng="%d-" % (len(enc) - 32))
    T.ok(r.status == 206 and r.body == enc[-32:], "Range of the last 32 bytes")
    r = env.curl(url, auth=False, head=True)
    T.ok(r.status == 200 and r.h("x-amz-meta-x-amz-key"),
         "HEAD on the signed URL gives the headers", repr(r))
    # tampered and missing signatures
    tampered = re.sub(r"Signature=(.)", lambda mm: "Signature=" +
                      ("A" if mm.group(1) != "A" else "B"), url)
    r = env.curl(tampered, auth=False)
    T.ok(r.status == 403, "tampered signature: 403", repr(r))
    r = env.curl(url.split("?")[0], auth=False)
    T.ok(r.status == 403, "no signature: 403", repr(r))
    r = env.curl(re.sub(r"Expires=\d+", "Expires=%d" % (exp + 100), url),
                 auth=False)
    T.ok(r.status == 403, "changed Expires: 403", repr(r))
    # expiry
    env.ctl("ttl", {"max": 1})
    r, url = media_url(env, e)
    time.sleep(2.2)
    r2 = env.curl(url, auth=False)
    T.ok(r2.status == 403 and b"expired" in r2.body,
         "ttl max 1, 2 s later: the link answers 403 (expired)", repr(r2))
    env.ctl("ttl", {"max": None})
    # hidden items
    for x in m:
        if x["expect"] != "hidden":
            continue
        r, url = media_url(env, x)
        j = r.json() or {}
        T.ok(r.status == 404 and j.get("code") == 20404 and url is None,
             "%s %s (%s): media 404" % (x["kind"], x["name"], x["status"]),
             repr(r))
    voice = next(x for x in m if x["kind"] == "voice_recording" and
                 x["expect"] == "ok")
    r = env.api("/api/2010-04-01/Accounts/%s/Recordings/%s.mp3" % (
        env.ac, voice["sid"]))
    T.ok(r.status == 400 and (r.json() or {}).get("code") == 16109,
         ".mp3 of an encrypted voice recording: 16109", repr(r))
    r = env.api("/api/2010-04-01/Accounts/%s/Recordings/%s" % (
        env.ac, voice["sid"]))
    T.ok(r.status == 302, "voice media without extension: 302", repr(r))
    r = env.api("/api/2010-04-01/Accounts/%s/Recordings/%s.wav" % (
        env.ac, voice["sid"]), auth=False)
    T.ok(r.status == 401, "voice .wav without auth: 401", repr(r))


def check_decrypt(env):
    keyring = keyring_files(env)
    stranger = env.env["TFS_STRANGER_KEY"]
    voice = {x["sid"]: x for x in walk_all_2010(env)}
    for e in env.manifest:
        if e["expect"] == "hidden" or not e["listed"] or e["bulk"]:
            continue
        label = "%s %s part %d (%s, %s)" % (e["kind"], e["name"], e["part"],
                                            e["scheme"], e["expect"])
        r, url = media_url(env, e)
        if not url:
            T.ok(False, label, "no media URL: %r" % r)
            continue
        r = env.curl(url, auth=False)
        if r.status != 200 or len(r.body) != e["enc_size"]:
            T.ok(False, label, "download: %r" % r)
            continue
        enc = r.body
        lenhdr = r.h("x-amz-meta-x-amz-unencrypted-content-length")
        if e["has_length_header"] != (lenhdr is not None) or (
                lenhdr is not None and int(lenhdr) != e["plain_size"]):
            T.ok(False, label, "length header %r" % lenhdr)
            continue
        if e["scheme"] == "none":
            T.ok(r.h("x-amz-meta-x-amz-key") is None and
                 sha256(enc) == e["plain_sha256"],
                 label + ": served as is, no envelope")
            continue
        if e["kind"] == "voice_recording":
            d = voice[e["sid"]]["encryption_details"]
            sid, wrapped, iv = details_envelope(d)
        else:
            sid = e["public_key_sid"]
            wrapped = base64.b64decode(r.h("x-amz-meta-x-amz-key") or "")
            iv = base64.b64decode(r.h("x-amz-meta-x-amz-iv") or "")
        want_iv = 16 if e["scheme"] == "cbc" else 12
        if len(iv) != want_iv or sid != e["public_key_sid"]:
            T.ok(False, label, "envelope: iv %d bytes, sid %s" % (len(iv),
                                                                  sid))
            continue
        if e["scheme"] == "cbc":
            dec = lambda k: cbc_decrypt(env, k, wrapped, iv, enc)
        else:
            def dec(k):
                res = gcm_decrypt(env, k, wrapped, iv, enc)
                if res is None:
                    return None
                return res[0] if res[1] else b"TAG MISMATCH"
        if e["expect"] == "ok":
            out = dec(e["key_file"])
            T.ok(out is not None and sha256(out) == e["plain_sha256"],
                 label + ": decrypts to the manifest plaintext")
            if e["scheme"] == "cbc":
                T.ok(e["cek_bits"] == len(run(
                    ["openssl", "pkeyutl", "-decrypt", "-inkey",
                     e["key_file"], "-passin", "file:" + env.passfile] +
                    (["-keyform", "DER"] if e["key_file"].endswith(".der")
                     else []), wrapped).stdout) * 8,
                    label + ": CEK is %d bits" % e["cek_bits"])
        elif e["expect"] == "tampered":
            res = gcm_decrypt(env, e["key_file"], wrapped, iv, enc)
            T.ok(res is not None and not res[1],
                 label + ": the key opens the CEK but the GCM tag fails")
        elif e["expect"] == "nokey":
            opened = [k for k in keyring if dec(k) is not None]
            out = dec(stranger)
            T.ok(not opened and out is not None and
                 sha256(out) == e["plain_sha256"],
                 label + ": no keyring key opens it, the stranger key does",
                 "opened by %s" % opened)


def check_faults(env):
    path = "/video/v1/Recordings"
    before = env.ctl("stats")["faults_served"]
    env.ctl("fault", {"status": 429, "count": 3, "retry_after": 1})
    rs = [env.api(path) for _ in range(4)]
    T.ok([r.status for r in rs] == [429, 429, 429, 200] and
         all(r.h("retry-after") == "1" for r in rs[:3]) and
         (rs[0].json() or {}).get("code") == 20429,
         "fault 429 x3 with Retry-After: 1, then 200",
         str([(r.status, r.h("retry-after")) for r in rs]))
    st = env.ctl("stats")
    T.ok(st["faults_served"] - before == 3, "stats count 3 faults served")
    env.ctl("fault", {"status": 500, "count": 2})
    rs = [env.api(path) for _ in range(3)]
    T.ok([r.status for r in rs] == [500, 500, 200], "fault 500 x2, then 200",
         str([r.status for r in rs]))
    env.ctl("fault", {"drop": 2})
    rs = [env.api(path) for _ in range(3)]
    T.ok([r.rc != 0 and r.status == 0 for r in rs] == [True, True, False]
         and rs[2].status == 200,
         "drop x2: connection closed without an answer, then 200",
         str([(r.rc, r.status) for r in rs]))
    env.ctl("fault", {"delay": 1.5, "count": 1})
    rs = [env.api(path) for _ in range(2)]
    # The second is not delayed: 1 s quicker than the first, whatever
    # curl's own start costs on a loaded machine.
    T.ok(rs[0].status == 200 and rs[0].elapsed >= 1.4 and
         rs[1].elapsed < rs[0].elapsed - 1.0, "delay 1.5 s x1",
         str([(r.status, round(r.elapsed, 2)) for r in rs]))
    env.ctl("fault", {"status": 503, "count": 1, "class": "media"})
    r1 = env.api(path)
    e = next(x for x in env.manifest if x["kind"] == "composition" and
             x["expect"] == "ok")
    r2, _ = media_url(env, e)
    r3, _ = media_url(env, e)
    T.ok(r1.status == 200 and r2.status == 503 and r3.status == 302,
         "a fault limited to class media spares listings",
         str([r1.status, r2.status, r3.status]))


def parallel_api(env, path, n):
    """n GETs of path at once, each by its own curl (so on its own
    connection): (their statuses, seconds until the last answered)."""
    cfg = 'user = "%s"\n' % env.key_auth
    cmd = ["curl", "-sS", "--cacert", env.ca, "-K", "-", "-o", "/dev/null",
           "-w", "%{http_code}", "--max-time", "30", env.endpoint + path]
    t0 = time.time()
    ps = [subprocess.Popen(cmd, stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
          for _ in range(n)]
    for p in ps:        # every one has its config before any is waited for
        p.stdin.write(cfg)
        p.stdin.close()
    outs = [p.stdout.read() for p in ps]
    for p in ps:
        p.wait()
    return [o.strip() for o in outs], time.time() - t0


def check_latency(env):
    path = "/video/v1/Recordings"
    start = env.ctl("latency")["ms"]
    r = env.curl("%s/latency" % env.control, auth=False, method="POST",
                 data={"ms": -1})
    T.ok(r.status == 400, "latency -1 ms is refused", repr(r))
    T.ok(env.ctl("latency", {"ms": 1000})["ms"] == 1000, "latency 1000 ms")
    one = env.api(path)
    ctl = env.curl("%s/stats" % env.control, auth=False)
    statuses, wall = parallel_api(env, path, 2)
    env.ctl("reset")
    T.ok(one.status == 200 and one.elapsed >= 1.0,
         "an API request is answered 1 s late", "%.2f s" % one.elapsed)
    T.ok(ctl.status == 200 and ctl.elapsed < 1.0,
         "/__control is answered without the latency",
         "%.2f s" % ctl.elapsed)
    # One after the other they would take 2 s.
    T.ok(statuses == ["200", "200"] and 1.0 <= wall < 2.0,
         "two requests on two connections wait their latency together",
         "%s in %.2f s" % (statuses, wall))
    T.ok(env.ctl("latency")["ms"] == start,
         "/__control/reset restores the latency at start (%g ms)" % start)


def check_control(env):
    m = env.manifest
    reserve = [x for x in m if not x["listed"]]
    T.ok({x["kind"] for x in reserve} == set(LISTS) | {"voice_recording"},
         "a reserve item of every kind")
    for x in reserve:
        if x["part"] != 0:
            continue
        kind = x["kind"]
        before = list_kind(env, kind)
        r, _ = media_url(env, x)
        T.ok(x["sid"] not in before and r.status == 404,
             "reserve %s is hidden before /__control/add" % x["name"])
        env.ctl("add", {"sid": x["sid"]})
        after = list_kind(env, kind)
        r, url = media_url(env, x)
        T.ok(after[0] == x["sid"] and set(after) == set(before) | {x["sid"]}
             and url is not None,
             "/__control/add reveals %s as the newest %s" % (x["name"], kind))
    e = next(x for x in m if x["kind"] == "video_recording" and
             x["expect"] == "ok" and x["listed"])
    env.ctl("delete", {"sid": e["sid"]})
    r, url = media_url(env, e)
    f = env.api("/video/v1/Recordings/%s" % e["sid"]).json() or {}
    T.ok(e["sid"] not in list_kind(env, "video_recording") and
         r.status == 404 and f.get("status") == "deleted",
         "/__control/delete: gone from the listing, media 404, status "
         "deleted")
    v = next(x for x in m if x["kind"] == "voice_recording" and
             x["expect"] == "ok" and x["listed"])
    env.ctl("delete", {"sid": v["sid"]})
    r, _ = media_url(env, v)
    T.ok(v["sid"] not in list_kind(env, "voice_recording") and
         r.status == 404, "/__control/delete of a voice recording")
    env.ctl("reset")
    T.ok(set(list_kind(env, "video_recording")) ==
         listed_sids(env, "video_recording") and
         set(list_kind(env, "voice_recording")) ==
         listed_sids(env, "voice_recording"),
         "/__control/reset restores the listings")
    # bulk
    n0 = len(list_kind(env, "video_recording"))
    env.ctl("bulk", {"count": 25})
    sids = list_kind(env, "video_recording")
    man = env.load_manifest()
    bulk = [x for x in man if x["bulk"]]
    days = {x["date_created"][:10] for x in bulk}
    T.ok(len(sids) == n0 + 25 and len(set(sids)) == len(sids) and
         len(bulk) == 25 and {x["sid"] for x in bulk} <= set(sids) and
         len(days) > 1,
         "/__control/bulk 25: 25 more distinct video recordings over days, "
         "in the manifest")
    b = bulk[-1]
    r, url = media_url(env, b)
    r = env.curl(url, auth=False)
    out = cbc_decrypt(env, b["key_file"],
                      base64.b64decode(r.h("x-amz-meta-x-amz-key") or ""),
                      base64.b64decode(r.h("x-amz-meta-x-amz-iv") or ""),
                      r.body) if r.status == 200 else None
    T.ok(out is not None and sha256(out) == b["plain_sha256"],
         "a bulk item's media decrypts to the shared plaintext")
    sids2, pages, problems = walk_v1(env, "/video/v1/Recordings",
                                     "recordings", "?PageSize=7")
    T.ok(not problems and sids2 == sids and pages == (len(sids) + 6) // 7,
         "PageSize=7 paging with PageToken visits the same items in order")
    env.ctl("bulk", {"count": 0})
    T.ok(not any(x["bulk"] for x in env.load_manifest()),
         "/__control/bulk 0 removes them from the manifest")


def list_kind(env, kind):
    if kind == "voice_recording":
        return [x["sid"] for x in walk_all_2010(env)]
    path, key = LISTS[kind]
    j = env.api(path + "?PageSize=1000").json()
    return [x["sid"] for x in j[key]]


def check_misc(env):
    r = env.api("/accounts/v1/Credentials/PublicKeys?PageSize=1000")
    j = r.json() or {}
    sids = {x["sid"] for x in j.get("credentials", [])}
    want = {x["public_key_sid"] for x in env.manifest if x["public_key_sid"]}
    T.ok(r.status == 200 and want <= sids and
         j["meta"]["key"] == "credentials",
         "accounts v1 PublicKeys lists every key SID in use")
    t = next(x for x in env.manifest if x["kind"] == "transcript" and
             x["listed"])
    j = env.api("/intelligence/v2/Transcripts/%s" % t["sid"]).json() or {}
    links = j.get("links", {})
    T.ok(links.get("encrypted_sentences", "").endswith("/Sentences/Encrypted")
         and links.get("encrypted_operator_results", "")
         .endswith("/OperatorResults/Encrypted") and
         j.get("encryption_credential_sid") == t["public_key_sid"],
         "transcript resource: encrypted links, encryption_credential_sid")
    r = env.api("/intelligence/v2/Transcripts/%s/OperatorResults/Encrypted"
                % t["sid"])
    nparts = len([x for x in env.manifest if x["sid"] == t["sid"]]) - 1
    T.ok(r.status == 200 and len((r.json() or {}).get("locations", []))
         == nparts, "OperatorResults/Encrypted: 200 with %d locations"
         % nparts, repr(r))
    for e in env.manifest:
        if e["kind"] == "video_recording" and e["listed"] and not e["bulk"]:
            j = env.api("/video/v1/Recordings/%s" % e["sid"]).json() or {}
            break
    T.ok(j.get("grouping_sids", {}).get("room_sid") == e["room_sid"] and
         j.get("links", {}).get("media", "").endswith("/Media"),
         "video recording resource: grouping_sids.room_sid, links.media")


def check_stats_and_log(env):
    st = env.ctl("stats")
    T.ok(all(st[k] > 0 for k in ("list", "media", "fetch", "encrypted",
                                 "faults_served")),
         "stats count list, media, fetch, encrypted and faults",
         str({k: v for k, v in st.items() if k != "requests"}))
    reqs = st["requests"]
    T.ok(any(not r["had_auth"] and r["status"] == 401 for r in reqs) and
         any(r["had_auth"] and r["class"] == "media" for r in reqs),
         "stats list requests with method, path, had_auth")
    with open(env.env["TFS_NGINX_ACCESS_LOG"]) as f:
        lines = f.read().splitlines()
    rng = [ln for ln in lines if '"bytes=100-199"' in ln and '" 206 ' in ln]
    T.ok(bool(rng), "nginx access log records the Range request (206)")
    auth = [ln for ln in lines
            if not re.search(r'"[^"]*" "-" rt=[0-9.]+$', ln)]
    T.ok(lines and not auth,
         "nginx access log: no request carried an Authorization header",
         "\n".join(auth[:3]))


# ---- the /__control switches for client tests (product, media_fail,
# shape, retag) ------------------------------------------------------------

def first(env, name):
    return next(x for x in env.manifest if x["name"] == name)


def err_code(r):
    return (r.json() or {}).get("code")


def check_product(env):
    voice = "/api/2010-04-01/Accounts/%s/Recordings.json" % env.ac
    env.ctl("product", {"product": "video", "status": 403})
    r = env.api("/video/v1/Recordings")
    j = r.json() or {}
    T.ok(r.status == 403 and j.get("code") == 20403 and
         j.get("message") == "Forbidden: this API key may not access this "
         "resource" and j.get("status") == 403 and j.get("more_info"),
         "product video 403: /video answers 403 code 20403", repr(r))
    r2 = env.api("/video/v1/Compositions/CJ%s/Media" % ("0" * 32))
    r3 = env.api(voice)
    r4 = env.api("/video/v1/Recordings", auth=env.env["TWILIO_API_KEY"] +
                 ":wrong")
    T.ok(r2.status == 403 and r3.status == 200 and r4.status == 401,
         "product video 403: every /video path, /api still 200, a wrong "
         "secret still 401", str([r2.status, r3.status, r4.status]))
    env.ctl("product", {"product": "intelligence", "status": 404})
    r = env.api("/intelligence/v2/Transcripts")
    r2 = env.api("/video/v1/Recordings")
    T.ok(r.status == 404 and err_code(r) == 20404 and r2.status == 403,
         "product intelligence 404: code 20404; video still 403", repr(r))
    st = env.ctl("stats")
    T.ok(any(q["path"] == "/intelligence/v2/Transcripts" and
             q["status"] == 404 for q in st["requests"]),
         "product-blocked requests are in stats")
    env.ctl("product", {"product": "video", "status": None})
    env.ctl("product", {"product": "intelligence", "status": None})
    r = env.api("/video/v1/Recordings")
    r2 = env.api("/intelligence/v2/Transcripts")
    T.ok(r.status == 200 and r2.status == 200,
         "product status null clears it", str([r.status, r2.status]))
    r = env.curl(env.control + "/product", auth=False, method="POST",
                 data={"product": "lookups", "status": 403})
    T.ok(r.status == 400, "product: an unknown product is a 400", repr(r))


def check_media_fail(env):
    cj = first(env, "cj_webm_A")
    env.ctl("media_fail", {"sid": cj["sid"], "status": 500})
    rs = [media_url(env, cj)[0] for _ in range(2)]
    f = env.api("/video/v1/Compositions/%s" % cj["sid"])
    T.ok([r.status for r in rs] == [500] * 2 and err_code(rs[0]) == 20500
         and f.status == 200,
         "media_fail 500: the composition's /Media answers 500 every time, "
         "its resource 200", str([r.status for r in rs]))
    gt = first(env, "gt_A")
    env.ctl("media_fail", {"sid": gt["sid"], "status": 404})
    r1 = env.api("/intelligence/v2/Transcripts/%s/Sentences/Encrypted" %
                 gt["sid"])
    r2 = env.api("/intelligence/v2/Transcripts/%s/OperatorResults/"
                 "Encrypted" % gt["sid"])
    re_ = first(env, "re_A_docsget")
    env.ctl("media_fail", {"sid": re_["sid"], "status": 503})
    r3, _ = media_url(env, re_)
    T.ok(r1.status == 404 and r2.status == 404 and err_code(r1) == 20404
         and r3.status == 503,
         "media_fail: transcript Sentences and OperatorResults 404, voice "
         ".wav 503", str([r1.status, r2.status, r3.status]))
    env.ctl("media_fail", {"sid": cj["sid"], "status": None})
    T.ok(media_url(env, cj)[0].status == 302 and
         media_url(env, re_)[0].status == 503,
         "media_fail status null clears it (for that item only)")
    env.ctl("reset")


def check_voice_body(env):
    v = first(env, "re_A_docsget")
    with open(v["enc_file"], "rb") as f:
        enc = f.read()
    n = len(enc)
    path = "/api/2010-04-01/Accounts/%s/Recordings/%s" % (env.ac, v["sid"])
    env.ctl("shape", {"voice_media": "body"})
    r = env.api(path + ".wav")
    etag = r.h("etag") or ""
    T.ok(r.status == 200 and r.body == enc and
         r.h("content-type") == "audio/x-wav" and
         r.h("accept-ranges") == "bytes" and
         re.fullmatch(r'"[0-9a-f]{40}"', etag) is not None,
         "voice_media body: .wav 200, audio/x-wav, the object's bytes, "
         "Accept-Ranges, ETag", repr(r) + str(r.headers))
    r = env.api(path + ".wav", rng="100-199")
    T.ok(r.status == 206 and r.body == enc[100:200] and
         r.h("content-range") == "bytes 100-199/%d" % n and
         r.h("etag") == etag, "voice_media body: Range 100-199 -> 206",
         repr(r) + str(r.headers))
    r = env.api(path, rng="-32")
    r2 = env.api(path + ".wav", rng="%d-" % (n - 10))
    T.ok(r.status == 206 and r.body == enc[-32:] and
         r.h("content-range") == "bytes %d-%d/%d" % (n - 32, n - 1, n) and
         r2.status == 206 and r2.body == enc[-10:] and
         r2.h("content-range") == "bytes %d-%d/%d" % (n - 10, n - 1, n),
         "voice_media body: suffix bytes=-32 (no extension) and bytes=a-",
         str([(r.status, r.h("content-range")),
              (r2.status, r2.h("content-range"))]))
    r = env.api(path + ".wav", rng="%d-" % n)
    r2 = env.api(path + ".wav", rng="0-9", extra=("-H", 'If-Range: "x"'))
    T.ok(r.status == 416 and r.h("content-range") == "bytes */%d" % n and
         r2.status == 200 and r2.body == enc,
         "voice_media body: unsatisfiable 416 bytes */N; a stale If-Range "
         "gets the whole body", str([(r.status, r.h("content-range")),
                                     r2.status]))
    r = env.api(path + ".wav", head=True)
    r2 = env.api(path + ".wav", auth=False)
    T.ok(r.status == 200 and r.h("content-length") == str(n) and
         r.h("etag") == etag and r2.status == 401,
         "voice_media body: HEAD; 401 without auth",
         str([r.status, r.h("content-length"), r2.status]))
    env.ctl("shape", {"voice_media": "redirect"})
    T.ok(media_url(env, v)[0].status == 302, "voice_media redirect: 302")


def check_unencrypted(env):
    a, b = first(env, "gt_A"), first(env, "gt_B")
    env.ctl("shape", {"unencrypted": [b["sid"]]})
    jb = env.api("/intelligence/v2/Transcripts/%s" % b["sid"]).json() or {}
    ja = env.api("/intelligence/v2/Transcripts/%s" % a["sid"]).json() or {}
    lst = env.api("/intelligence/v2/Transcripts?PageSize=100").json() or {}
    inlist = {x["sid"]: x for x in lst.get("transcripts", [])}
    T.ok("encryption_credential_sid" in jb and
         jb["encryption_credential_sid"] is None and
         inlist[b["sid"]]["encryption_credential_sid"] is None and
         ja.get("encryption_credential_sid") == a["public_key_sid"],
         "unencrypted: encryption_credential_sid null (resource and list), "
         "others unchanged")
    rs = [env.api("/intelligence/v2/Transcripts/%s/%s/Encrypted" % (
        b["sid"], s)) for s in ("Sentences", "OperatorResults")]
    j = rs[0].json() or {}
    T.ok([r.status for r in rs] == [400, 400] and j.get("code") == 20001
         and j.get("message") == "Transcript is not encrypted" and
         media_url(env, a)[0].status == 200,
         "unencrypted: Sentences/OperatorResults Encrypted 400 code 20001",
         str(rs))
    env.ctl("shape", {"unencrypted": None})


def check_external(env):
    rt, cj, re_ = (first(env, n) for n in ("rt_audio_E", "cj_mp4_B",
                                            "re_D_oai"))
    ext = {x["sid"]: "https://customer-bucket.example/%s.bin" % x["sid"]
           for x in (rt, cj, re_)}
    env.ctl("shape", {"external": ext})
    jr = env.api("/video/v1/Recordings/%s" % rt["sid"]).json() or {}
    jc = env.api("/video/v1/Compositions/%s" % cj["sid"]).json() or {}
    jv = env.api("/api/2010-04-01/Accounts/%s/Recordings/%s.json" % (
        env.ac, re_["sid"])).json() or {}
    T.ok(jr.get("media_external_location") == ext[rt["sid"]] and
         jc.get("media_external_location") == ext[cj["sid"]] and
         jv.get("media_url") == ext[re_["sid"]],
         "external: media_external_location (recording, composition), "
         "media_url (voice)")
    rs = [media_url(env, x)[0] for x in (rt, cj, re_)]
    T.ok([r.status for r in rs] == [404] * 3 and
         all(err_code(r) == 20404 for r in rs),
         "external: their media answer 404 code 20404",
         str([r.status for r in rs]))
    env.ctl("shape", {"external": None})
    j = env.api("/video/v1/Recordings/%s" % rt["sid"]).json() or {}
    T.ok(j.get("media_external_location", 1) is None and
         media_url(env, rt)[0].status == 302, "external null clears it")


def check_next_page(env):
    ep = env.endpoint
    local = ep.replace("//127.0.0.1:", "//localhost:")
    path = "/video/v1/Recordings"
    normal = env.api(path).json()["meta"]
    nxt = normal["next_page_url"]
    want = {
        "self": normal["url"],
        "twilio_host": "https://video.twilio.com" + nxt[len(ep + "/video"):],
        "foreign": local + nxt[len(ep):] + "&Foreign=1",
    }
    for mode, w in want.items():    # foreign last: it is followed next
        env.ctl("shape", {"next_page": {"kind": "video_recording",
                                        "mode": mode}})
        m = env.api(path).json()["meta"]
        T.ok(m["next_page_url"] == w and m["url"] == normal["url"],
             "next_page %s: video first page's next_page_url" % mode,
             "%s != %s" % (m["next_page_url"], w))
    r = env.curl(want["foreign"])
    m2 = (r.json() or {}).get("meta", {})
    T.ok(r.status == 200 and m2.get("next_page_url", "").startswith(
        ep + path + "?"),
        "next_page foreign: the localhost link works; the next page's "
        "link is normal", repr(r))
    env.ctl("shape", {"next_page": {"kind": "video_recording",
                                    "mode": "cycle"}})
    m0 = env.api(path).json()["meta"]
    m1 = env.curl(m0["next_page_url"]).json()["meta"]
    T.ok(m0["next_page_url"] == nxt and
         m1["next_page_url"] == normal["url"] == m0["url"],
         "next_page cycle: page 1 links back to page 0",
         str(m1["next_page_url"]))
    env.ctl("shape", {"next_page": {"kind": "transcript",
                                    "mode": "twilio_host"}})
    mt = env.api("/intelligence/v2/Transcripts?PageSize=1").json()["meta"]
    mv = env.api(path).json()["meta"]
    T.ok(mt["next_page_url"].startswith(
        "https://intelligence.twilio.com/v2/Transcripts?PageSize=1&Page=1&"
        "PageToken=PAGT") and mv["next_page_url"] == nxt,
        "next_page twilio_host (transcript): intelligence.twilio.com/v2; "
        "other kinds normal", mt["next_page_url"])
    env.ctl("shape", {"next_page": {"kind": "composition", "mode": "self"}})
    mc = env.api("/video/v1/Compositions").json()["meta"]
    T.ok(mc["next_page_url"] == mc["url"],
         "next_page self (composition)")
    vpath = "/api/2010-04-01/Accounts/%s/Recordings.json" % env.ac
    env.ctl("shape", {"next_page": None})
    vn = env.api(vpath).json()
    vnxt = vn["next_page_uri"]
    want = {"foreign": local + "/api" + vnxt + "&Foreign=1",
            "self": vn["uri"],
            "twilio_host": "https://api.twilio.com" + vnxt}
    got = {}
    for mode in want:
        env.ctl("shape", {"next_page": {"kind": "voice_recording",
                                        "mode": mode}})
        got[mode] = env.api(vpath).json()["next_page_uri"]
    T.ok(got == want, "next_page foreign/self/twilio_host (voice "
         "next_page_uri)", str(got))
    env.ctl("shape", {"next_page": {"kind": "voice_recording",
                                    "mode": "cycle"}})
    p0 = env.api(vpath).json()
    p1 = env.curl(ep + "/api" + p0["next_page_uri"]).json()
    T.ok(p0["next_page_uri"] == vnxt and
         p1["next_page_uri"] == p0["first_page_uri"] == p0["uri"],
         "next_page cycle (voice)", str(p1["next_page_uri"]))
    env.ctl("shape", {"next_page": None})
    T.ok(env.api(path).json()["meta"]["next_page_url"] == nxt,
         "next_page null clears it")


def check_malformed(env):
    path = "/video/v1/Recordings"
    normal = env.api(path).json()
    bad = [{"sid": 12345, "status": "completed"}, "just a string",
           {"sid": "RT../../etc", "status": "completed"}, None, [1, 2]]
    env.ctl("shape", {"malformed": {"kind": "video_recording",
                                    "records": bad}})
    j = env.api(path).json()
    p1 = env.curl(j["meta"]["next_page_url"]).json()
    p1n = env.curl(normal["meta"]["next_page_url"]).json()
    T.ok(j["recordings"] == bad + normal["recordings"] and
         j["meta"] == normal["meta"] and p1 == p1n,
         "malformed: raw records first on page 0, the page and paging "
         "otherwise intact")
    vpath = "/api/2010-04-01/Accounts/%s/Recordings.json" % env.ac
    vn = env.api(vpath).json()
    env.ctl("shape", {"malformed": {"kind": "voice_recording",
                                    "records": ["x"]}})
    v = env.api(vpath).json()
    T.ok(v["recordings"] == ["x"] + vn["recordings"] and
         v["next_page_uri"] == vn["next_page_uri"] and
         env.api(path).json() == normal, "malformed (voice)")
    env.ctl("shape", {"malformed": None})


def check_norange(env):
    e = first(env, "rt_video_A")
    gt = first(env, "gt_B")
    with open(e["enc_file"], "rb") as f:
        enc = f.read()
    env.ctl("shape", {"norange": [e["sid"], gt["sid"]]})
    _, url = media_url(env, e)
    _, gurl = media_url(env, gt)
    base = env.env["TFS_MEDIA_BASE"]
    T.ok(url and url.startswith(base + "/norange" + e["object"] + "?") and
         gurl and gurl.startswith(base + "/norange/"),
         "norange: signed URLs name /norange + the object URI", str(url))
    r = env.curl(url, auth=False, rng="100-199")
    T.ok(r.status == 200 and r.body == enc and r.h("content-range") is None
         and r.h("x-amz-meta-x-amz-key") and r.h("etag"),
         "norange: a Range request gets 200 and the whole body, with "
         "x-amz-meta-* and ETag", repr(r))
    bad = re.sub(r"Signature=(.)", lambda mm: "Signature=" +
                 ("A" if mm.group(1) != "A" else "B"), url)
    r = env.curl(bad, auth=False)
    T.ok(r.status == 403, "norange: a bad signature is 403", repr(r))
    env.ctl("shape", {"norange": []})
    _, url = media_url(env, e)
    r = env.curl(url, auth=False, rng="100-199")
    T.ok("/norange" not in url and r.status == 206,
         "norange [] : normal URLs again")


def check_media_origin(env):
    rt = first(env, "rt_video_A")
    re_ = first(env, "re_A_docsget")
    gt = first(env, "gt_A")
    other = "https://127.0.0.1:1"      # never connected to: URLs only
    env.ctl("shape", {"media_origin": {rt["sid"]: other, re_["sid"]: other,
                                       gt["sid"]: other}})
    urls = [media_url(env, e)[1] for e in (rt, re_, gt)]
    ops = env.ctl("shape", {})["media_origin"]
    _, u4 = media_url(env, first(env, "cj_webm_A"))
    T.ok(all(u and u.startswith(other + "/") for u in urls) and
         urls[0].startswith(other + rt["object"] + "?") and
         u4.startswith(env.env["TFS_MEDIA_BASE"] + "/") and
         ops == {rt["sid"]: other, re_["sid"]: other, gt["sid"]: other},
         "media_origin: those items' signed URLs (video, voice, transcript) "
         "name that origin, with the same path; others nginx's", str(urls))
    r = env.curl("%s/shape" % env.control, auth=False, method="POST",
                 data={"media_origin": {rt["sid"]: other + "/path"}})
    T.ok(r.status == 400, "media_origin: an origin with a path is refused",
         repr(r))
    env.ctl("shape", {"media_origin": None})
    _, u = media_url(env, rt)
    T.ok(u and u.startswith(env.env["TFS_MEDIA_BASE"] + "/"),
         "media_origin null: nginx's URLs again", str(u))


def check_retag(env):
    # a reserve item, so parallel tests on the same cache are not disturbed
    e = first(env, "cj_reserve_webm_D")
    env.ctl("add", {"sid": e["sid"]})
    _, url = media_url(env, e)
    e1 = env.curl(url, auth=False, head=True).h("etag")
    res = env.ctl("retag", {"sid": e["sid"]})
    r = env.curl(url, auth=False)
    with open(e["enc_file"], "rb") as f:
        enc = f.read()
    T.ok(e1 and r.h("etag") != e1 and r.body == enc and
         r.h("etag") == '"%x-%x"' % (res["mtime"], len(enc)) and
         res["objects"][0]["etag"] == r.h("etag"),
         "retag: nginx's ETag changes (mtime-size), the bytes do not",
         "%s -> %s (%s)" % (e1, r.h("etag"), res))
    res2 = env.ctl("retag", {"sid": e["sid"]})
    e3 = env.curl(url, auth=False, head=True).h("etag")
    T.ok(res2["mtime"] > res["mtime"] and e3 not in (e1, r.h("etag")),
         "retag again: a newer mtime, another ETag")
    env.ctl("reset")
    e4 = env.curl(url, auth=False, head=True).h("etag")
    T.ok(e4 == e1, "reset gives the object its ETag at start back",
         "%s != %s" % (e4, e1))


def check_switch_reset(env):
    rt = first(env, "rt_video_A")
    re_ = first(env, "re_A_docsget")
    gt = first(env, "gt_A")
    path = "/video/v1/Recordings"
    normal = env.api(path).json()
    env.ctl("product", {"product": "api", "status": 403})
    env.ctl("media_fail", {"sid": rt["sid"], "status": 500})
    env.ctl("shape", {"voice_media": "body", "unencrypted": [gt["sid"]],
                      "external": {re_["sid"]: "https://x.example/a"},
                      "next_page": {"kind": "video_recording",
                                    "mode": "self"},
                      "malformed": {"kind": "video_recording",
                                    "records": [1]},
                      "norange": [gt["sid"]],
                      "media_origin": {rt["sid"]: "https://127.0.0.1:1"}})
    env.ctl("reset")
    r1, u1 = media_url(env, rt)
    r2, _ = media_url(env, re_)
    r3, u3 = media_url(env, gt)
    jt = env.api("/intelligence/v2/Transcripts/%s" % gt["sid"]).json()
    T.ok(r1.status == 302 and r2.status == 302 and r3.status == 200 and
         "/norange" not in u3 and jt["encryption_credential_sid"] and
         u1.startswith(env.env["TFS_MEDIA_BASE"] + "/") and
         env.api(path).json() == normal,
         "reset clears product, media_fail and every shape setting",
         str([r1.status, r2.status, r3.status]))


# ---- the account-setup endpoints (issue 11) -------------------------------

KEY_FIELDS = {"sid", "account_sid", "friendly_name", "date_created",
              "date_updated", "url"}
META_FIELDS = {"page", "page_size", "first_page_url", "previous_page_url",
               "url", "next_page_url", "key"}
SETTINGS_FIELDS = {"account_sid", "friendly_name", "aws_credentials_sid",
                   "aws_s3_url", "aws_storage_enabled", "encryption_key_sid",
                   "encryption_enabled", "url"}
SERVICE_FIELDS = {"sid", "unique_name", "friendly_name", "date_created",
                  "date_updated", "account_sid", "auto_redaction",
                  "media_redaction", "auto_transcribe", "data_logging",
                  "language_code", "webhook_url", "webhook_http_method",
                  "read_only_attached_operator_sids", "version",
                  "encryption_credential_sid", "url"}
KEYS = "/accounts/v1/Credentials/PublicKeys"
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def twilio_error(r, status, code=None):
    """r is Twilio's error JSON: exactly code, message, more_info, status."""
    j = r.json() or {}
    return (r.status == status and set(j) == {"code", "message",
                                              "more_info", "status"} and
            j["status"] == status and (code is None or j["code"] == code) and
            j["more_info"].endswith("/%d" % j["code"]))


def pubkey(env, name, gen=None, key=None, out=("-pubout",)):
    """A PEM made by openssl: the public half of key (a keyring file) or
    of a new key (genpkey options gen)."""
    f = env.path(name)
    if gen:
        p = run(["openssl", "genpkey"] + list(gen) + ["-out", f + ".key"])
        assert p.returncode == 0, p.stderr
        key = f + ".key"
    cmd = ["openssl", "rsa" if "-RSAPublicKey_out" in out else "pkey",
           "-in", key, "-passin", "file:" + env.passfile] + list(out)
    if key.endswith(".der"):
        cmd += ["-inform", "DER"]
    p = run(cmd)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode()


def list_all(env, path, key):
    j = env.api(path + "?PageSize=1000").json() or {}
    return j.get(key, [])


def check_public_keys(env):
    fixed = list_all(env, KEYS, "credentials")
    T.ok(len(fixed) == 6 and all(set(k) == KEY_FIELDS for k in fixed),
         "PublicKeys: keys A-E and X, each with exactly the spec's fields",
         str([sorted(k) for k in fixed[:1]]))
    sids, pages, problems = walk_v1(env, KEYS, "credentials")
    j = env.api(KEYS).json() or {}
    T.ok(not problems and sids == [k["sid"] for k in fixed] and pages == 3
         and set(j.get("meta", {})) == META_FIELDS and
         "PageToken=PA" in j["meta"]["next_page_url"],
         "PublicKeys paging: the spec's meta, PageToken links, 3 pages of 2",
         "; ".join(problems) + " pages %d" % pages)
    ring = sorted(f for f in keyring_files(env) if f.endswith(".pem"))
    pem = pubkey(env, "pub-a.pem", key=ring[0])
    r = env.api(KEYS, method="POST",
                form=[("PublicKey", pem), ("FriendlyName", "laptop key")])
    k = r.json() or {}
    T.ok(r.status == 201 and set(k) == KEY_FIELDS and
         re.fullmatch(r"CR[0-9a-f]{32}", k.get("sid", "")) is not None and
         k["friendly_name"] == "laptop key" and k["account_sid"] == env.ac
         and re.fullmatch(ISO, k["date_created"]) is not None and
         k["date_updated"] == k["date_created"] and
         k["url"] == env.endpoint + KEYS + "/" + k["sid"],
         "POST PublicKeys (PEM with newlines, FriendlyName): 201, the "
         "spec's fields", repr(r))
    sid = k.get("sid", "CR?")
    got = env.api(KEYS + "/" + sid)
    lst = list_all(env, KEYS, "credentials")
    state = env.ctl("account")
    mine = [x for x in state["public_keys"] if x["sid"] == sid]
    T.ok(got.status == 200 and got.json() == k and lst[-1] == k and
         len(lst) == 7 and mine and mine[0]["public_key"] == pem and
         mine[0]["bits"] == 2048,
         "the new key: GET it, last in the list; /__control/account has "
         "its PEM", repr(got))
    one_line = re.sub(r"\n(?!-----END)", "", pem.strip())
    r = env.api(KEYS, method="POST",
                form=[("PublicKey", one_line), ("AccountSid", env.ac)])
    k2 = r.json() or {}
    T.ok(r.status == 201 and k2.get("friendly_name", 1) is None and
         k2.get("account_sid") == env.ac,
         "POST PublicKeys: a one-line PEM (the docs' form), AccountSid "
         "of the account, no FriendlyName: 201, friendly_name null",
         repr(r))
    bad = {
        "no PublicKey": [("FriendlyName", "x")],
        "not a PEM": [("PublicKey", "hello")],
        "a private key": [("PublicKey", open(ring[0]).read())],
        "an EC key": [("PublicKey", pubkey(env, "ec.pem", gen=(
            "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")))],
        "PKCS#1 RSA PUBLIC KEY": [("PublicKey", pubkey(
            env, "pkcs1.pem", key=ring[0], out=("-RSAPublicKey_out",)))],
        "RSA-1024": [("PublicKey", pubkey(env, "small.pem", gen=(
            "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024")))],
        "bad base64": [("PublicKey", pem.replace("A", "*", 1))],
        "another AccountSid": [("PublicKey", pem),
                               ("AccountSid", "AC" + "0" * 32)],
        "FriendlyName of 65": [("PublicKey", pem), ("FriendlyName",
                                                     "x" * 65)],
        "'+' not URL-encoded": "PublicKey=" + pem,
    }
    if "+" not in pem:
        del bad["'+' not URL-encoded"]
    for what, form in bad.items():
        r = env.api(KEYS, method="POST", form=form)
        T.ok(twilio_error(r, 400, 20001),
             "POST PublicKeys with %s: 400, Twilio's error JSON, code 20001"
             % what, repr(r))
    r = env.curl(env.endpoint + KEYS, method="POST",
                 data={"PublicKey": pem})
    j = r.json() or {}
    T.ok(twilio_error(r, 400, 20001) and
         j["message"] == "Missing required parameter PublicKey in the "
         "post body", "POST PublicKeys as JSON (not a form): no fields, 400",
         repr(r))
    T.ok(len(list_all(env, KEYS, "credentials")) == 8,
         "refused keys are not stored")
    r = env.api(KEYS + "/" + sid, method="POST",
                form=[("FriendlyName", "renamed")])
    j = r.json() or {}
    T.ok(r.status == 200 and j.get("friendly_name") == "renamed" and
         j["date_created"] == k["date_created"] and set(j) == KEY_FIELDS,
         "POST PublicKeys/{Sid} FriendlyName: 200, renamed", repr(r))
    r = env.api(KEYS + "/" + sid, method="DELETE")
    r2 = env.api(KEYS + "/" + sid)
    r3 = env.api(KEYS + "/" + sid, method="DELETE")
    T.ok(r.status == 204 and r.body == b"" and
         r.h("content-length") is None and twilio_error(r2, 404, 20404) and
         twilio_error(r3, 404, 20404) and
         sid not in {x["sid"] for x in list_all(env, KEYS, "credentials")},
         "DELETE PublicKeys/{Sid}: 204 without a body; then GET and DELETE "
         "404 code 20404", str([r.status, r2.status, r3.status]))
    r = env.api(KEYS + "?PageSize=1&PageToken=PA" + sid)
    j = r.json() or {}
    T.ok(r.status == 200 and [x["sid"] for x in j["credentials"]] ==
         [k2["sid"]], "a PageToken naming a deleted key resumes after it",
         repr(r))
    for path, method in ((KEYS + "/CR" + "0" * 32, "DELETE"),
                         (KEYS + "/CR" + "0" * 32, "POST"),
                         (KEYS + "/nonsense", "GET")):
        r = env.api(path, method=method, form=[("FriendlyName", "x")]
                    if method == "POST" else None)
        T.ok(twilio_error(r, 404, 20404), "%s an unknown key: 404" % method,
             repr(r))
    r = env.api(KEYS, method="PUT")
    T.ok(twilio_error(r, 405, 20004) and r.h("allow") == "GET, POST",
         "PUT PublicKeys: 405 code 20004, Allow", repr(r))
    # a POST-only fault; a blocked product
    env.ctl("fault", {"status": 500, "count": 1, "path": "/PublicKeys",
                      "method": "POST"})
    r1 = env.api(KEYS)
    r2 = env.api(KEYS, method="POST", form=[("PublicKey", pem)])
    r3 = env.api(KEYS, method="POST", form=[("PublicKey", pem)])
    T.ok(r1.status == 200 and twilio_error(r2, 500, 20500) and
         r3.status == 201, "fault with method POST: the list is spared, "
         "the next POST PublicKeys answers 500, the one after 201",
         str([r1.status, r2.status, r3.status]))
    env.ctl("product", {"product": "accounts", "status": 403})
    r = env.api(KEYS)
    r2 = env.api(KEYS, method="POST", form=[("PublicKey", pem)])
    env.ctl("product", {"product": "accounts", "status": None})
    T.ok(twilio_error(r, 403, 20403) and twilio_error(r2, 403, 20403) and
         env.api(KEYS).status == 200,
         "product accounts 403: PublicKeys GET and POST 403, then cleared")
    env.ctl("reset")
    T.ok(list_all(env, KEYS, "credentials") == fixed,
         "reset: the keys at start again")


def check_video_settings(env):
    keys = {x["letter"]: x["sid"] for x in env.ctl("account")["public_keys"]}
    paths = {w: "/video/v1/%sSettings/Default" % w
             for w in ("Recording", "Composition")}
    rec = env.api(paths["Recording"]).json() or {}
    com = env.api(paths["Composition"]).json() or {}
    T.ok(set(rec) == SETTINGS_FIELDS == set(com) and
         rec["encryption_enabled"] is True and
         rec["encryption_key_sid"] == keys["A"] and
         rec["account_sid"] == env.ac and
         rec["url"] == env.endpoint + paths["Recording"] and
         com["encryption_enabled"] is False and
         com["encryption_key_sid"] is None and com["friendly_name"] is None
         and com["aws_storage_enabled"] is False,
         "GET Recording/CompositionSettings: the spec's fields; recordings "
         "encrypted with key A, compositions never set", str([rec, com]))
    cp = paths["Composition"]
    tries = [
        ([("EncryptionEnabled", "true"), ("EncryptionKeySid", keys["B"])],
         "without FriendlyName",
         "Missing required parameter FriendlyName in the post body"),
        ([("FriendlyName", "x"), ("EncryptionEnabled", "true"),
          ("EncryptionKeySid", "CR" + "0" * 32)], "with an unknown key",
         "EncryptionKeySid CR%s is not a Public Key of this account"
         % ("0" * 32)),
        ([("FriendlyName", "x"), ("EncryptionEnabled", "true"),
          ("EncryptionKeySid", "CRnope")], "with a malformed key SID", None),
        ([("FriendlyName", "x"), ("EncryptionEnabled", "true")],
         "enabling without a key", None),
        ([("FriendlyName", "x"), ("EncryptionEnabled", "yes"),
          ("EncryptionKeySid", keys["B"])], "EncryptionEnabled=yes", None),
        ([("FriendlyName", "x"), ("AwsStorageEnabled", "true")],
         "AwsStorageEnabled without credentials and URL", None),
    ]
    for form, what, msg in tries:
        r = env.api(cp, method="POST", form=form)
        T.ok(twilio_error(r, 400, 20001) and
             (msg is None or r.json()["message"] == msg),
             "POST CompositionSettings %s: 400 code 20001" % what, repr(r))
    T.ok(env.api(cp).json() == com, "refused POSTs change nothing")
    r = env.api(cp, method="POST", form=[
        ("FriendlyName", "tfs"), ("EncryptionKeySid", keys["B"]),
        ("EncryptionEnabled", "true")])
    j = r.json() or {}
    T.ok(r.status == 200 and set(j) == SETTINGS_FIELDS and
         j["encryption_enabled"] is True and
         j["encryption_key_sid"] == keys["B"] and
         j["friendly_name"] == "tfs" and env.api(cp).json() == j,
         "POST CompositionSettings enabling encryption with key B: 200 "
         "(the spec's status), the resource; GET agrees", repr(r))
    r = env.api(cp, method="POST", form=[
        ("FriendlyName", "tfs"), ("AwsStorageEnabled", "True"),
        ("AwsCredentialsSid", "CR" + "1" * 32),
        ("AwsS3Url", "https://bucket.example/compositions")])
    j = r.json() or {}
    T.ok(r.status == 200 and j["aws_storage_enabled"] is True and
         j["aws_s3_url"] == "https://bucket.example/compositions" and
         j["aws_credentials_sid"] == "CR" + "1" * 32 and
         j["encryption_enabled"] is False and j["encryption_key_sid"] is None,
         "settings_post replace (default): the fields not given go back to "
         "their defaults", repr(r))
    env.ctl("account", {"settings_post": "merge"})
    r = env.api(cp, method="POST", form=[
        ("FriendlyName", "tfs2"), ("EncryptionKeySid", keys["C"]),
        ("EncryptionEnabled", "true")])
    j = r.json() or {}
    T.ok(r.status == 200 and j["aws_storage_enabled"] is True and
         j["encryption_key_sid"] == keys["C"] and j["friendly_name"] == "tfs2",
         "settings_post merge: the fields not given are kept", repr(r))
    # a key deleted while in use: kept in the settings, refused on enable
    pem = pubkey(env, "pub-d.pem", key=next(
        f for f in keyring_files(env) if f.endswith(".der")))
    k = env.api(KEYS, method="POST", form=[("PublicKey", pem)]).json()
    rp = paths["Recording"]
    r1 = env.api(rp, method="POST", form=[
        ("FriendlyName", "r"), ("EncryptionKeySid", k["sid"]),
        ("EncryptionEnabled", "true")])
    env.api(KEYS + "/" + k["sid"], method="DELETE")
    g = env.api(rp).json() or {}
    r2 = env.api(rp, method="POST", form=[("FriendlyName", "r2")])
    T.ok(r1.status == 200 and g.get("encryption_key_sid") == k["sid"] and
         twilio_error(r2, 400, 20001),
         "a new key enables encryption; deleted, the settings still name "
         "it and re-enabling with it is 400", str([r1.status, r2.status]))
    r = env.api(rp, method="DELETE")
    T.ok(twilio_error(r, 405, 20004), "DELETE RecordingSettings: 405",
         repr(r))
    env.ctl("product", {"product": "video", "status": 404})
    r = env.api(rp)
    r2 = env.api(cp, method="POST", form=[("FriendlyName", "x")])
    env.ctl("product", {"product": "video", "status": None})
    T.ok(twilio_error(r, 404, 20404) and twilio_error(r2, 404, 20404),
         "product video 404 (a region without Video): settings GET and "
         "POST 404")
    st = env.ctl("account")
    env.ctl("reset")
    st2 = env.ctl("account")
    T.ok(st["composition_settings"]["friendly_name"] == "tfs2" and
         st["settings_post"] == "merge" and
         env.api(rp).json() == rec and env.api(cp).json() == com and
         st2["settings_post"] == "replace",
         "/__control/account shows the settings; reset restores them")


def check_services(env):
    path = "/intelligence/v2/Services"
    keys = {x["letter"]: x["sid"] for x in env.ctl("account")["public_keys"]}
    gt = env.api("/intelligence/v2/Transcripts/%s" %
                 first(env, "gt_A")["sid"]).json() or {}
    r = env.api(path)
    j = r.json() or {}
    svcs = j.get("services", [])
    by_dl = {s["data_logging"]: s for s in svcs}
    T.ok(r.status == 200 and len(svcs) == 2 and
         all(set(s) == SERVICE_FIELDS for s in svcs) and
         set(j["meta"]) == META_FIELDS and j["meta"]["key"] == "services" and
         set(by_dl) == {True, False} and
         by_dl[False]["sid"] == gt.get("service_sid") and
         by_dl[False]["encryption_credential_sid"] == keys["A"] and
         by_dl[True]["encryption_credential_sid"] is None,
         "GET Services: two, the spec's fields; the transcripts' service "
         "(encrypted, key A, no data logging) and a logging one", repr(r))
    sids, pages, problems = walk_v1(env, path + "?PageSize=1", "services")
    T.ok(not problems and sids == [s["sid"] for s in svcs] and pages == 2,
         "Services paging (PageSize=1): 2 pages", "; ".join(problems))
    s = by_dl[True]
    r = env.api(path + "/" + s["sid"])
    r2 = env.api(path + "/" + s["unique_name"])
    r3 = env.api(path + "/GA" + "0" * 32)
    T.ok(r.json() == s and r2.json() == s and twilio_error(r3, 404, 20404)
         and s["url"] == env.endpoint + path + "/" + s["sid"],
         "GET Services/{Sid} (and by unique_name): the resource; an "
         "unknown one 404", str([r.status, r2.status, r3.status]))
    r = env.api(path + "/" + s["sid"], method="POST", form=[
        ("EncryptionCredentialSid", keys["B"]), ("DataLogging", "false"),
        ("FriendlyName", "now encrypted")])
    j = r.json() or {}
    T.ok(r.status == 200 and set(j) == SERVICE_FIELDS and
         j["encryption_credential_sid"] == keys["B"] and
         j["data_logging"] is False and j["friendly_name"] ==
         "now encrypted" and j["version"] == s["version"] + 1 and
         j["unique_name"] == s["unique_name"] and
         env.api(path + "/" + s["sid"]).json() == j,
         "POST Services/{Sid} EncryptionCredentialSid, DataLogging=false, "
         "FriendlyName: 200, version + 1; GET agrees", repr(r))
    tries = [
        ([("DataLogging", "true")], "DataLogging=true (not via API)"),
        ([("EncryptionCredentialSid", "CR" + "0" * 32)], "an unknown key"),
        ([("EncryptionCredentialSid", "GA" + "0" * 32)], "a malformed key"),
        ([("MediaRedaction", "true")], "MediaRedaction without "
         "AutoRedaction"),
        ([("WebhookHttpMethod", "PUT")], "WebhookHttpMethod PUT"),
        ([("UniqueName", by_dl[False]["unique_name"])], "a taken UniqueName"),
    ]
    for form, what in tries:
        r = env.api(path + "/" + s["sid"], method="POST", form=form)
        T.ok(twilio_error(r, 400, 20001),
             "POST Services/{Sid} %s: 400 code 20001" % what, repr(r))
    r = env.api(path + "/" + s["sid"], method="POST",
                form=[("AutoTranscribe", "true")],
                extra=("-H", 'If-Match: "1"'))
    r2 = env.api(path + "/" + s["sid"], method="POST",
                 form=[("EncryptionCredentialSid", "")],
                 extra=("-H", "If-Match: 2"))
    j = r2.json() or {}
    T.ok(r.status == 412 and (r.json() or {}).get("code") == 20412 and
         r2.status == 200 and j["encryption_credential_sid"] is None and
         j["version"] == 3,
         "If-Match: a stale version 412, the current one 200; an empty "
         "EncryptionCredentialSid sets null", str([r.status, r2.status]))
    r = env.api(path, method="POST", form=[("UniqueName", "x")])
    T.ok(twilio_error(r, 405, 20004), "POST Services (create): 405",
         repr(r))
    env.ctl("product", {"product": "intelligence", "status": 404})
    r = env.api(path)
    r2 = env.api(path + "/" + s["sid"])
    env.ctl("product", {"product": "intelligence", "status": None})
    T.ok(twilio_error(r, 404, 20404) and twilio_error(r2, 404, 20404),
         "product intelligence 404 (a region without Intelligence): "
         "Services 404")
    st = env.ctl("account")
    env.ctl("reset")
    T.ok([x["version"] for x in st["services"]] == [3, 1] and
         (env.api(path).json() or {}).get("services") == svcs,
         "/__control/account shows the services; reset restores them")


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: selftest.py DIR")
    env = Env(os.path.abspath(argv[1]))
    try:
        env.ctl("reset")
        for check in (check_files, check_media_real, check_auth,
                      check_paging, check_media, check_decrypt,
                      check_faults, check_stats_and_log, check_latency,
                      check_misc,
                      check_control, check_product, check_media_fail,
                      check_voice_body, check_unencrypted, check_external,
                      check_next_page, check_malformed, check_norange,
                      check_media_origin, check_retag, check_switch_reset,
                      check_public_keys, check_video_settings,
                      check_services):
            try:
                check(env)
            except Exception as e:      # a broken check is a failure
                T.ok(False, check.__name__, "%s: %s" % (type(e).__name__, e))
    finally:
        try:
            env.ctl("reset")
        except Exception:
            pass
        subprocess.run(["rm", "-rf", env.tmp])
    print("%d passed, %d failed" % (T.passed, T.failed))
    return 0 if T.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
