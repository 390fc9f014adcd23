#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""mock.py - the Twilio REST API of the twiliofs test account (README.md
here). Python standard library only; TLS; one thread per connection;
HTTP/1.1 keep-alive. Started by start.sh:

  /usr/bin/python3 -u tests/env/mock.py CONFIG.json

CONFIG (written by start.sh, 0600): cache, dir, cert, key, nginx_port,
secret, account_sid, api_key, api_secret, auth_token, bulk, port_file,
manifest, keys_dir, stranger_key, latency_ms (optional, default 0: every
API request is answered that late, as over a network). The mock binds
127.0.0.1:0, writes the manifest, then its port to port_file.

API shapes follow shared/reference/twilio-api.md; every product is served
under /{product} (video, api, intelligence, accounts), as twiliofs's
`endpoint` option maps https://{product}.twilio.com to URL/{product}.
/__control/... (no auth) switches faults, products, per-item media
failures and the real API's other shapes (voice media as a body, plain
transcripts, external media, next-page links, malformed records, Range-less
objects, another media store for some items), changes objects' ETags, and
reports counters.

The account-setup endpoints (issue 11: public keys, video recording and
composition settings, intelligence services) follow twilio/twilio-oai's
spec/json/twilio_accounts_v1.json, twilio_video_v1.json and
twilio_intelligence_v2.json; their state lives for the life of the mock and
/__control/reset restores it (see README.md).
"""

import base64
import bisect
import copy
import datetime
import email.utils
import hashlib
import http.server
import json
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse

DEFAULT_PAGE_SIZE = 2
PRODUCTS = ("video", "api", "intelligence", "accounts")
LIST_KINDS = ("video_recording", "composition", "voice_recording",
              "transcript")
NEXT_PAGE_MODES = ("foreign", "self", "twilio_host", "cycle")
# the real hosts, for /__control/shape next_page "twilio_host"
TWILIO_HOST = {"video": "https://video.twilio.com",
               "api": "https://api.twilio.com",
               "intelligence": "https://intelligence.twilio.com"}
MAX_PAGE_SIZE = 1000
MAX_LOGGED_REQUESTS = 100000
# the account-setup resources (issue 11)
SETUP_DATE = "2024-04-01T12:00:00Z"
CR_SID = r"CR[0-9a-fA-F]{32}"
SETTINGS_POST = ("replace", "merge")
RSA_OID = bytes.fromhex("2a864886f70d010101")   # 1.2.840.113549.1.1.1
MIN_RSA_BITS = 2048


def log(msg):
    sys.stderr.write("%s mock: %s\n" % (
        time.strftime("%H:%M:%S"), msg))


def parse_iso(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)


def rfc2822(iso):
    return email.utils.format_datetime(parse_iso(iso))


class HTTPError(Exception):
    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def not_found(path):
    return HTTPError(404, 20404,
                     "The requested resource %s was not found" % path)


def status_error(status, path, headers=None):
    """A Twilio JSON error for an injected status."""
    if status == 404:
        e = not_found(path)
        e.headers = headers or {}
        return e
    code, msg = {
        403: (20403, "Forbidden: this API key may not access this "
                     "resource"),
        429: (20429, "Too Many Requests"),
        500: (20500, "Internal Server Error"),
        502: (20502, "Bad Gateway"),
        503: (20503, "Service Unavailable")}.get(
            status, (20000 + status, "Injected fault"))
    return HTTPError(status, code, msg, headers)


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def bad_param(msg):
    """Twilio's answer to a parameter it cannot take (the mock's code for
    every such 400, as for Ttl and PageSize)."""
    return HTTPError(400, 20001, msg)


def missing_param(name):
    # the real API's words (seen in the wild: code 20001, status 400)
    return HTTPError(400, 20001,
                     "Missing required parameter %s in the post body" % name)


def der_next(buf, pos):
    """One DER TLV at pos: (tag, content, next pos); ValueError if bad."""
    if pos + 2 > len(buf):
        raise ValueError("truncated DER")
    tag, n = buf[pos], buf[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7f
        if k == 0 or k > 4 or pos + k > len(buf):
            raise ValueError("bad DER length")
        n = int.from_bytes(buf[pos:pos + k], "big")
        pos += k
    if pos + n > len(buf):
        raise ValueError("truncated DER")
    return tag, buf[pos:pos + n], pos + n


def der_seq(buf, want=None):
    """The TLVs of a DER SEQUENCE's content, exactly want of them."""
    out, pos = [], 0
    while pos < len(buf):
        tag, val, pos = der_next(buf, pos)
        out.append((tag, val))
    if want is not None and len(out) != want:
        raise ValueError("unexpected DER structure")
    return out


def rsa_public_pem_bits(pem):
    """The modulus size of an RSA public key PEM (SubjectPublicKeyInfo,
    "BEGIN PUBLIC KEY", as openssl rsa -pubout writes it and Twilio's
    docs show it), else ValueError saying why. Standard library only: the
    PEM's armour and base64, then the DER structure."""
    text = pem.strip()
    m = re.fullmatch(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END ([A-Z0-9 ]+)"
                     r"-----", text, re.S)
    if not m:
        raise ValueError("not a PEM block")
    if m.group(1) != m.group(3):
        raise ValueError("BEGIN %s does not match END %s" % (
            m.group(1), m.group(3)))
    if m.group(1) != "PUBLIC KEY":
        raise ValueError("a %s PEM, not a PUBLIC KEY one" % m.group(1))
    body = m.group(2)
    if " " in body:
        # a "+" that was not URL-encoded in the form arrives as a space
        raise ValueError("spaces in the base64 (a '+' not URL-encoded?)")
    body = re.sub(r"[\r\n\t]", "", body)
    if not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", body) or len(body) % 4:
        raise ValueError("bad base64")
    der = base64.b64decode(body)
    tag, spki, end = der_next(der, 0)
    if tag != 0x30 or end != len(der):
        raise ValueError("not a SubjectPublicKeyInfo")
    (t1, alg), (t2, bits) = der_seq(spki, 2)
    if t1 != 0x30 or t2 != 0x03:
        raise ValueError("not a SubjectPublicKeyInfo")
    oid = der_seq(alg)
    if not oid or oid[0] != (0x06, RSA_OID):
        raise ValueError("not an RSA key")
    if not bits or bits[0] != 0:
        raise ValueError("bad BIT STRING")
    tag, rsa, end = der_next(bits, 1)
    if tag != 0x30 or end != len(bits):
        raise ValueError("bad RSAPublicKey")
    (tn, n), (te, e) = der_seq(rsa, 2)
    if tn != 0x02 or te != 0x02 or not n or n[0] & 0x80 or \
            not e or e[0] & 0x80:
        raise ValueError("bad RSAPublicKey")
    modulus, exponent = int.from_bytes(n, "big"), int.from_bytes(e, "big")
    if exponent < 3 or exponent % 2 == 0:
        raise ValueError("bad RSA public exponent")
    return modulus.bit_length()


def parse_bool(name, v):
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise bad_param("Invalid %s: %r is not true or false" % (name, v))


def empty_shape():
    """/__control/shape's settings at start (see README.md)."""
    return {"voice_media": "redirect", "unencrypted": [], "external": {},
            "next_page": None, "malformed": None, "norange": [],
            "missing_part": {}, "media_origin": {}}


class Account:
    """The account's items and the mock's switchable state."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.cache = cfg["cache"]
        with open(os.path.join(self.cache, "items.json")) as f:
            self.data = json.load(f)
        self.account_sid = self.data["account_sid"]
        self.items = self.data["items"]
        self.by_sid = {it["sid"]: it for it in self.items}
        self.lock = threading.Lock()
        self.expiry_lock = threading.Lock()	# callers may hold self.lock
        self.base = None            # https://127.0.0.1:PORT, set on bind
        self.media_base = "https://127.0.0.1:%d" % cfg["nginx_port"]
        self.initial_bulk = int(cfg.get("bulk", 0))
        self.initial_latency = latency_seconds(cfg.get("latency_ms", 0))
        # build.py's URI prefix of every object's Range-less twin
        self.norange_prefix = self.data.get("norange_prefix", "/norange")
        self.retagged = {}          # object file -> (atime, mtime) at start
        self.reset()

    # ---- state --------------------------------------------------------
    def reset(self):
        with getattr(self, "lock", threading.Lock()):
            self.visible = {it["sid"]: it["listed"] for it in self.items}
            self.deleted = set()
            self.latency = self.initial_latency
            self.ttl_max = None
            self.expired_next = 0
            self.faults = []
            self.products = {}      # product -> status
            self.media_fail = {}    # sid -> status
            self.shape = empty_shape()
            self.stats = self.empty_stats()
            self.set_bulk_locked(self.initial_bulk)
            self.untag_locked()
            self.setup_reset_locked()

    # ---- the account-setup state (issue 11) -------------------------------
    def setup_reset_locked(self):
        """Public keys, video settings and intelligence services at start."""
        self.keys = {}              # sid -> record, in listing order
        self.key_seq = {}           # sid -> position, deleted ones too
        for letter in sorted(self.data["keys"]):
            k = self.data["keys"][letter]
            self.add_key_locked({
                "sid": k["sid"], "account_sid": self.account_sid,
                "friendly_name": "twiliofs test key %s" % letter,
                "date_created": SETUP_DATE, "date_updated": SETUP_DATE,
                "letter": letter, "public_key": None, "bits": None})
        key_a = self.data["keys"]["A"]["sid"]
        self.settings = {
            # recordings encrypted with key A, as the items are
            "recording": {
                "friendly_name": "twiliofs test recordings",
                "aws_credentials_sid": None, "aws_s3_url": None,
                "aws_storage_enabled": False,
                "encryption_key_sid": key_a, "encryption_enabled": True},
            # compositions: never set (what an untouched account answers)
            "composition": self.default_settings(None),
        }
        self.settings_post = "replace"
        gt = [it["api"]["service_sid"] for it in self.items
              if it["kind"] == "transcript"]
        encrypted = gt[0] if gt else "GA" + hashlib.sha256(
            self.account_sid.encode()).hexdigest()[:32]
        logging = "GA" + hashlib.sha256(
            ("%s-service-logging" % self.account_sid).encode()
        ).hexdigest()[:32]
        self.services = [       # newest first
            self.new_service(logging, "twiliofs-test-logging",
                             "twiliofs test, data logging",
                             "2024-04-02T12:00:00Z", data_logging=True,
                             auto_redaction=False, auto_transcribe=False,
                             encryption_credential_sid=None),
            # the transcripts' service
            self.new_service(encrypted, "twiliofs-test-encrypted",
                             "twiliofs test, encrypted", SETUP_DATE,
                             data_logging=False, auto_redaction=True,
                             auto_transcribe=True,
                             encryption_credential_sid=key_a),
        ]

    def add_key_locked(self, rec):
        self.keys[rec["sid"]] = rec
        self.key_seq[rec["sid"]] = len(self.key_seq)

    @staticmethod
    def default_settings(friendly_name):
        return {"friendly_name": friendly_name, "aws_credentials_sid": None,
                "aws_s3_url": None, "aws_storage_enabled": False,
                "encryption_key_sid": None, "encryption_enabled": False}

    def new_service(self, sid, unique_name, friendly_name, date, **kw):
        svc = {"sid": sid, "unique_name": unique_name,
               "friendly_name": friendly_name, "date_created": date,
               "date_updated": date, "auto_redaction": False,
               "media_redaction": False, "auto_transcribe": False,
               "data_logging": False, "language_code": "en-US",
               "webhook_url": None, "webhook_http_method": None,
               "read_only_attached_operator_sids": [], "version": 1,
               "encryption_credential_sid": None}
        svc.update(kw)
        return svc

    def find_service(self, ref):
        """A service by SID or unique_name, or None."""
        for svc in self.services:
            if ref in (svc["sid"], svc["unique_name"]):
                return svc
        return None

    def setup_state(self):
        """/__control/account: the whole account-setup state."""
        return {
            "public_keys": [dict(k) for k in self.keys.values()],
            "recording_settings": self.settings_rep("recording"),
            "composition_settings": self.settings_rep("composition"),
            "services": [self.service_rep(s) for s in self.services],
            "settings_post": self.settings_post,
        }

    def media_failure(self, sid, path):
        """The status /__control/media_fail set for sid's media at path."""
        f = self.media_fail.get(sid)
        if f is None or (f[1] and f[1] not in path):
            return None
        return f[0]

    # ---- /__control/retag: nginx's ETag is "mtime-size" -----------------
    def object_files(self, it):
        out = []
        for p in it["parts"]:
            f = os.path.join(self.cache, p["file"])
            if f not in out:
                out.append(f)
        return out

    def retag_locked(self, it):
        files = self.object_files(it)
        if not files:
            raise ValueError("%s has no media object" % it["sid"])
        stats = [os.stat(f) for f in files]
        new = max([int(time.time())] + [int(st.st_mtime) for st in stats]) \
            + 1
        for f, st in zip(files, stats):
            self.retagged.setdefault(f, (st.st_atime, st.st_mtime))
            os.utime(f, (st.st_atime, new))
        return new, [{"object": p["object"],
                      "etag": '"%x-%x"' % (new, p["enc_size"])}
                     for p in it["parts"]]

    def untag_locked(self):
        """Give retagged object files their mtime at start back."""
        for f, (at, mt) in self.retagged.items():
            try:
                os.utime(f, (at, mt))
            except OSError as e:
                log("cannot restore the mtime of %s: %s" % (f, e))
        self.retagged = {}

    def object_uri(self, it, part):
        """The URI a signed URL names: the object's, or its Range-less
        twin's for a /__control/shape norange item."""
        if it["sid"] in self.shape["norange"]:
            return self.norange_prefix + part["object"]
        return part["object"]

    @staticmethod
    def empty_stats():
        return {"list": 0, "media": 0, "fetch": 0, "encrypted": 0,
                "control": 0, "unauthorized": 0, "not_found": 0,
                "faults_served": 0, "total": 0, "requests": []}

    def set_bulk_locked(self, n):
        self.relist_locked()
        self.bulk = []
        spec = self.data["bulk"]
        start = parse_iso("2024-04-30T23:00:00Z")
        rooms = ["RM" + hashlib.sha256(
            ("%s-bulk-room-%d" % (self.account_sid, r)).encode()
        ).hexdigest()[:32] for r in range(5)]
        for i in range(n):
            h = hashlib.sha256(("%s-bulk-%d" % (self.account_sid, i))
                               .encode()).hexdigest()
            date = start - datetime.timedelta(minutes=86 * i)
            self.bulk.append({
                "name": "bulk_%d" % i,
                "kind": "video_recording",
                "sid": "RT" + h[:32],
                "status": "completed",
                "date_created": date.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "listed": True,
                "expect": "ok",
                "bulk": True,
                "api": {"room_sid": rooms[i % 5],
                        "participant_sid": "PA" + h[32:64],
                        "source_sid": "MT" + hashlib.md5(h.encode())
                        .hexdigest(),
                        "codec": spec["codec"], "type": spec["type"],
                        "container_format": spec["container_format"],
                        "duration": spec["duration"],
                        "size": spec["part"]["enc_size"],
                        "track_name": "microphone-%d" % i, "offset": 0},
                "parts": [spec["part"]],
            })
        self.bulk_by_sid = {it["sid"]: it for it in self.bulk}

    def find(self, sid):
        """The item (any state) or None."""
        return self.by_sid.get(sid) or self.bulk_by_sid.get(sid)

    def exists(self, sid):
        """Known to the API at all (listed or deleted, not a reserve)."""
        it = self.find(sid)
        if it is None:
            return None
        if it.get("bulk"):
            return it
        return it if self.visible.get(sid) else None

    def relist_locked(self):
        """What is listed changed (bulk, reserve, deletions): sort again
        at the next listing."""
        self.sorted = {}

    def listing(self, kind, status=None):
        """Listed items of a kind, newest first (date, then SID): a Sorted,
        made once and kept until relist_locked."""
        lst = self.sorted.get((kind, status))
        if lst is None:
            lst = self.sorted[(kind, status)] = Sorted(
                self.listed(kind, status))
        return lst

    def listed(self, kind, status):
        out = []
        for it in self.items:
            if it["kind"] != kind or not self.visible[it["sid"]]:
                continue
            st = self.status_of(it)
            if status is None and st == "deleted":
                continue
            if status is not None and st != status:
                continue
            out.append(it)
        if kind == "video_recording" and status in (None, "completed"):
            out.extend(self.bulk)
        return out

    def status_of(self, it):
        return "deleted" if it["sid"] in self.deleted else it["status"]

    # ---- signed URLs (nginx secure_link) ------------------------------
    def ttl(self, requested):
        ttl = requested
        if self.ttl_max is not None:
            ttl = min(ttl, self.ttl_max)
        return ttl

    def signed_url(self, uri, ttl, sid=None):
        """A signed link to uri on the media store: nginx, or the origin
        /__control/shape media_origin gives sid's media."""
        expires = int(time.time()) + ttl
        with self.expiry_lock:
            # "Short URL lifetime" taken to its end: a link that has
            # already expired when the client first uses it, so the
            # client's 403 -> resolve again -> resume path must run.
            if self.expired_next > 0:
                self.expired_next -= 1
                expires = int(time.time()) - 10
        digest = hashlib.md5(("%d%s %s" % (expires, uri, self.cfg["secret"]))
                             .encode()).digest()
        sig = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        return "%s%s?AWSAccessKeyId=AKIATWILIOFSTEST0001&Expires=%d&" \
               "Signature=%s" % (self.shape["media_origin"].get(
                   sid, self.media_base), uri, expires, sig)

    # ---- /__control/shape next_page and malformed ----------------------
    def shaped_page(self, kind, page, token):
        """(next_page mode to apply or None, raw records to put first) for
        this page of a kind's listing. Caller holds self.lock."""
        first = page == 0 and not token
        np = self.shape["next_page"]
        mode = None
        if np and np["kind"] == kind:
            if np["mode"] == "cycle":
                mode = "cycle" if page == 1 else None
            elif first:
                mode = np["mode"]
        bad = self.shape["malformed"]
        if bad and bad["kind"] == kind and first:
            return mode, copy.deepcopy(bad["records"])
        return mode, []

    # ---- the manifest ---------------------------------------------------
    def manifest(self):
        keys = self.data["keys"]
        out = []

        def keyfile(letter):
            if letter is None:
                return None
            k = keys[letter]
            if not k["in_keyring"]:
                return self.cfg["stranger_key"]
            return os.path.join(self.cfg["keys_dir"],
                                os.path.basename(k["file"]))

        for it in self.items + self.bulk:
            parts = it["parts"] or [None]
            for p in parts:
                e = {
                    "sid": it["sid"],
                    "part": p["part"] if p else 0,
                    "kind": it["kind"],
                    "name": it["name"],
                    "status": it["status"],
                    "date_created": it["date_created"],
                    "listed": it["listed"],
                    "expect": it["expect"],
                    "bulk": bool(it.get("bulk")),
                    "room_sid": it["api"].get("room_sid"),
                    "scheme": p["scheme"] if p else None,
                    "cek_bits": p["cek_bits"] if p else None,
                    "public_key_sid": p["public_key_sid"] if p else None,
                    "key_file": keyfile(p["key"]) if p else None,
                    "plain": os.path.join(self.cache, p["plain"]) if p
                    else None,
                    "plain_sha256": p["plain_sha256"] if p else None,
                    "plain_size": p["plain_size"] if p else None,
                    "enc_file": os.path.join(self.cache, p["file"]) if p
                    else None,
                    "enc_size": p["enc_size"] if p else None,
                    "object": p["object"] if p else None,
                    "container": p["container"] if p else
                    it["api"].get("container_format", "wav"),
                    "has_length_header": p["has_length_header"] if p
                    else False,
                }
                out.append(e)
        return out

    def write_manifest(self):
        path = self.cfg["manifest"]
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.manifest(), f, indent=1)
            f.write("\n")
        os.chmod(tmp, 0o600)
        os.rename(tmp, path)

    # ---- resource representations ---------------------------------------
    def video_recording(self, it):
        a, sid = it["api"], it["sid"]
        url = "%s/video/v1/Recordings/%s" % (self.base, sid)
        return {
            "account_sid": self.account_sid,
            "status": self.status_of(it),
            "date_created": it["date_created"],
            "sid": sid,
            "source_sid": a["source_sid"],
            "size": a["size"],
            "url": url,
            "type": a["type"],
            "duration": a["duration"],
            "container_format": a["container_format"],
            "codec": a["codec"],
            "grouping_sids": {"room_sid": a["room_sid"],
                              "participant_sid": a["participant_sid"]},
            "track_name": a["track_name"],
            "offset": a["offset"],
            "media_external_location": self.shape["external"].get(sid),
            "status_callback": None,
            "status_callback_method": "POST",
            "links": {"media": url + "/Media"},
        }

    def composition(self, it):
        a, sid = it["api"], it["sid"]
        url = "%s/video/v1/Compositions/%s" % (self.base, sid)
        done = it["status"] == "completed"
        completed = (parse_iso(it["date_created"]) +
                     datetime.timedelta(minutes=2)).strftime(
                         "%Y-%m-%dT%H:%M:%SZ")
        return {
            "account_sid": self.account_sid,
            "status": self.status_of(it),
            "date_created": it["date_created"],
            "date_completed": completed if done else None,
            "date_deleted": None,
            "sid": sid,
            "room_sid": a["room_sid"],
            "audio_sources": ["*"],
            "audio_sources_excluded": [],
            "video_layout": {"grid": {"video_sources": ["*"]}},
            "resolution": a.get("resolution"),
            "trim": True,
            "format": a.get("format"),
            "bitrate": a.get("bitrate"),
            "size": a.get("size"),
            "duration": a.get("duration"),
            "media_external_location": self.shape["external"].get(sid),
            "status_callback": None,
            "status_callback_method": "POST",
            "url": url,
            "links": {"media": url + "/Media"},
        }

    def voice_uri(self, sid=None, ext=".json"):
        u = "/2010-04-01/Accounts/%s/Recordings" % self.account_sid
        return u + ("/%s" % sid if sid else "") + ext

    def voice_recording(self, it):
        a, sid = it["api"], it["sid"]
        date = rfc2822(it["date_created"])
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "call_sid": a["call_sid"],
            "conference_sid": None,
            "date_created": date,
            "date_updated": date,
            "start_time": date,
            "duration": a["duration"],
            "sid": sid,
            "price": "-0.0025" if it["status"] == "completed" else None,
            "price_unit": "USD",
            "status": self.status_of(it),
            "channels": a["channels"],
            "source": "RecordVerb",
            "error_code": a["error_code"],
            "track": "both",
            "uri": self.voice_uri(sid),
            "encryption_details": a["encryption_details"],
            "media_url": self.shape["external"].get(sid) or
            "%s/api%s" % (self.base, self.voice_uri(sid, "")),
            "subresource_uris": {
                "add_on_results": self.voice_uri(sid, "/AddOnResults.json"),
                "transcriptions": self.voice_uri(sid, "/Transcriptions.json"),
            },
        }

    def transcript(self, it):
        a, sid = it["api"], it["sid"]
        url = "%s/intelligence/v2/Transcripts/%s" % (self.base, sid)
        return {
            "account_sid": self.account_sid,
            "service_sid": a["service_sid"],
            "sid": sid,
            "date_created": it["date_created"],
            "date_updated": it["date_created"],
            "status": self.status_of(it),
            "channel": {"media_properties": {"source_sid": a["source_sid"]},
                        "participants": [
                            {"channel_participant": 1, "role": "customer"},
                            {"channel_participant": 2, "role": "agent"}]},
            "data_logging": False,
            "language_code": "en-US",
            "customer_key": None,
            "media_start_time": None,
            "duration": a.get("duration"),
            "url": url,
            "redaction": True,
            "encryption_credential_sid":
                None if sid in self.shape["unencrypted"]
                else a["encryption_credential_sid"],
            "links": {
                "sentences": url + "/Sentences",
                "encrypted_sentences": url + "/Sentences/Encrypted",
                "media": url + "/Media",
                "operator_results": url + "/OperatorResults",
                "encrypted_operator_results":
                    url + "/OperatorResults/Encrypted",
            },
        }

    def public_key(self, k):
        """accounts.v1.credential.credential_public_key: no key material."""
        return {
            "sid": k["sid"],
            "account_sid": k["account_sid"],
            "friendly_name": k["friendly_name"],
            "date_created": k["date_created"],
            "date_updated": k["date_updated"],
            "url": "%s/accounts/v1/Credentials/PublicKeys/%s" % (
                self.base, k["sid"]),
        }

    def settings_rep(self, which):
        """video.v1.recording_settings / video.v1.composition_settings."""
        st = self.settings[which]
        return {
            "account_sid": self.account_sid,
            "friendly_name": st["friendly_name"],
            "aws_credentials_sid": st["aws_credentials_sid"],
            "aws_s3_url": st["aws_s3_url"],
            "aws_storage_enabled": st["aws_storage_enabled"],
            "encryption_key_sid": st["encryption_key_sid"],
            "encryption_enabled": st["encryption_enabled"],
            "url": "%s/video/v1/%sSettings/Default" % (
                self.base, which.capitalize()),
        }

    def service_rep(self, svc):
        """intelligence.v2.service."""
        rep = {k: copy.deepcopy(svc[k]) for k in (
            "sid", "unique_name", "friendly_name", "date_created",
            "date_updated")}
        rep["account_sid"] = self.account_sid
        for k in ("auto_redaction", "media_redaction", "auto_transcribe",
                  "data_logging", "language_code", "webhook_url",
                  "webhook_http_method", "read_only_attached_operator_sids",
                  "version", "encryption_credential_sid"):
            rep[k] = copy.deepcopy(svc[k])
        rep["url"] = "%s/intelligence/v2/Services/%s" % (self.base,
                                                          svc["sid"])
        return rep


def page_params(q):
    size = DEFAULT_PAGE_SIZE
    if "PageSize" in q:
        try:
            size = int(q["PageSize"])
        except ValueError:
            raise HTTPError(400, 20001, "PageSize must be an integer")
        if size < 1:
            raise HTTPError(400, 20001, "PageSize must be at least 1")
        size = min(size, MAX_PAGE_SIZE)
    page = 0
    if "Page" in q:
        try:
            page = max(0, int(q["Page"]))
        except ValueError:
            raise HTTPError(400, 20001, "Page must be an integer")
    return size, page, q.get("PageToken")


def item_key(it):
    """The listings' order: newest first by this, descending."""
    return (it["date_created"], it["sid"])


class Sorted:
    """Items newest first, with their keys and dates ascending for bisect:
    a page finds its place in O(log n) and costs O(page size). Sorting,
    or filtering, the whole list for each page made a listing of n items
    O(n^2): minutes at 100,000 items."""

    def __init__(self, items):
        self.items = sorted(items, key=item_key, reverse=True)
        self.keys = [item_key(it) for it in reversed(self.items)]
        self.dates = None       # parsed at the first date filter

    def older(self, key):
        """The index of the first item older than key (all after it are:
        PageToken resumes there)."""
        return len(self.items) - bisect.bisect_left(self.keys, key)

    def window(self, after=None, before=None):
        """(lo, hi): items[lo:hi] are filter_dates(items, after, before)
        (dated after `after`, before `before`), or None when the list's
        order is not its dates' (some date spelled another way)."""
        a = parse_when(after) if after else None
        b = parse_when(before) if before else None
        n = len(self.items)
        if a is None and b is None:
            return 0, n
        if self.dates is None:
            d = [parse_iso(k[0]) for k in self.keys]
            self.dates = d if all(x <= y for x, y in zip(d, d[1:])) \
                else False
        if self.dates is False:
            return None
        lo = n - bisect.bisect_left(self.dates, b) if b else 0
        hi = n - bisect.bisect_right(self.dates, a) if a else n
        return lo, max(lo, hi)

    def dated(self, after=None, before=None):
        """(Sorted, lo, hi): the items dated in (after, before) are
        lst.items[lo:hi]; a Sorted of its own only when they are not a
        run of these."""
        w = self.window(after, before)
        if w is None:
            lst = Sorted(filter_dates(self.items, after, before))
            return lst, 0, len(lst.items)
        return (self,) + w


def paginate(lst, size, page, token, acct, lo=0, hi=None):
    """One page of lst.items[lo:hi] (a Sorted: newest first). A PageToken
    PA<sid> resumes after that item, whatever happened to the list since
    (as Twilio's do)."""
    if hi is None:
        hi = len(lst.items)
    if token:
        sid = token[2:] if token.startswith("PA") else token
        ref = acct.find(sid)
        if ref is None:
            raise HTTPError(400, 20001, "Invalid PageToken")
        start = max(lo, lst.older(item_key(ref)))
    else:
        start = lo + page * size
    chunk = lst.items[start:min(start + size, hi)]
    return chunk, hi - start > size


def parse_range(h, total):
    """One byte range of a Range header: (first, last), "unsatisfiable",
    or None to ignore the header (bad syntax, several ranges)."""
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", h)
    if not m or m.group(1) + m.group(2) == "":
        return None
    a, b = m.groups()
    if a == "":
        n = int(b)
        if n == 0 or total == 0:
            return "unsatisfiable"
        return max(0, total - n), total - 1
    a = int(a)
    if b != "" and int(b) < a:
        return None
    if a >= total:
        return "unsatisfiable"
    return a, min(int(b) if b else total - 1, total - 1)


def filter_dates(items, after=None, before=None):
    out = items
    if after:
        a = parse_when(after)
        out = [it for it in out if parse_iso(it["date_created"]) > a]
    if before:
        b = parse_when(before)
        out = [it for it in out if parse_iso(it["date_created"]) < b]
    return out


def parse_when(s):
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"):
        try:
            d = datetime.datetime.strptime(s, fmt)
        except ValueError:
            continue
        if d.tzinfo is None:
            d = d.replace(tzinfo=datetime.timezone.utc)
        return d
    raise HTTPError(400, 20001, "Invalid date: %s" % s)


SID = r"([A-Z]{2}[0-9a-fA-F]{32})"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle on, the body
    # waits for the client's delayed ACK (40 ms a request). Real API
    # servers don't stall like that, so neither may the mock.
    disable_nagle_algorithm = True
    server_version = "twilio-mock/1.0"
    sys_version = ""
    timeout = 60        # idle keep-alive connections

    # TLS handshake in the connection's own thread, not in accept()
    def setup(self):
        self.request.settimeout(self.timeout)
        self.request = self.server.ssl_ctx.wrap_socket(
            self.request, server_side=True)
        super().setup()

    def log_message(self, fmt, *args):
        pass

    def version_string(self):
        return self.server_version

    @property
    def acct(self):
        return self.server.acct

    # ---- plumbing -----------------------------------------------------
    def send(self, status, body=b"", ctype="application/json",
             headers=None):
        if isinstance(body, (dict, list)):
            body = (json.dumps(body, indent=None) + "\n").encode()
        self.send_response(status)
        if status != 204:       # 204: no body, so neither header
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Twilio-Request-Id", "RQ" + os.urandom(16).hex())
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.status_sent = status

    def send_error_json(self, e):
        self.send(e.status, {
            "code": e.code, "message": e.message,
            "more_info": "https://www.twilio.com/docs/errors/%d" % e.code,
            "status": e.status}, headers=e.headers)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def auth_ok(self):
        h = self.headers.get("Authorization", "")
        if not h.startswith("Basic "):
            return False
        try:
            user, _, pw = base64.b64decode(h[6:], validate=True).decode() \
                .partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        c = self.acct.cfg
        return ((user == c["api_key"] and pw == c["api_secret"]) or
                (user == c["account_sid"] and pw == c["auth_token"]))

    def do_GET(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_PUT(self):       # not Twilio's: 405 rather than http.server's 501
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def dispatch(self):
        self.status_sent = None
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        self.query = {k: v[-1] for k, v in urllib.parse.parse_qs(
            url.query, keep_blank_values=True).items()}
        body = self.read_body() if self.command in (
            "POST", "DELETE", "PUT", "PATCH") else b""
        self.body = body
        if path.startswith("/__control"):
            return self.control(path, body)
        acct = self.acct
        cls = classify(path)
        had_auth = "Authorization" in self.headers
        with acct.lock:
            st = acct.stats
            st["total"] += 1
            if cls in st:
                st[cls] += 1
            rec = {"method": self.command, "path": self.path,
                   "class": cls, "had_auth": had_auth,
                   "time": round(time.time(), 3)}
            if len(st["requests"]) < MAX_LOGGED_REQUESTS:
                st["requests"].append(rec)
            fault = self.take_fault(path, cls, self.command)
            latency = acct.latency
        # A network's round trip, outside the lock: each connection has
        # its thread, so requests on several connections wait together.
        if latency > 0:
            time.sleep(latency)
        try:
            if fault is not None:
                if self.serve_fault(fault):
                    return
            if not self.auth_ok():
                with acct.lock:
                    acct.stats["unauthorized"] += 1
                raise HTTPError(401, 20003, "Authenticate", {
                    "WWW-Authenticate": 'Basic realm="Twilio API"'})
            with acct.lock:
                blocked = [st for prod, st in acct.products.items()
                           if path.startswith("/%s/" % prod)]
            if blocked:
                raise status_error(blocked[0], path)
            self.route(path)
        except HTTPError as e:
            if e.status == 404:
                with acct.lock:
                    acct.stats["not_found"] += 1
            self.send_error_json(e)
        finally:
            rec["status"] = self.status_sent
            log("%s %s -> %s%s" % (self.command, self.path, self.status_sent,
                                   "" if had_auth else " (no auth)"))

    # ---- faults ---------------------------------------------------------
    def take_fault(self, path, cls, method):
        for f in self.acct.faults:
            if f["count"] <= 0:
                continue
            if f.get("path") and f["path"] not in path:
                continue
            if f.get("class") and f["class"] != cls:
                continue
            if f.get("method") and f["method"] != method:
                continue
            f["count"] -= 1
            self.acct.stats["faults_served"] += 1
            return dict(f)
        return None

    def serve_fault(self, f):
        """Serve a fault; True if the request is finished."""
        if f["type"] == "delay":
            time.sleep(f["seconds"])
            return False
        if f["type"] == "drop":
            self.close_connection = True
            self.status_sent = "dropped"
            try:
                self.request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return True
        status = f["status"]
        headers = {}
        if f.get("retry_after") is not None:
            headers["Retry-After"] = str(f["retry_after"])
        code, msg = {429: (20429, "Too Many Requests"),
                     500: (20500, "Internal Server Error"),
                     502: (20502, "Bad Gateway"),
                     503: (20503, "Service Unavailable")}.get(
                         status, (20000 + status, "Injected fault"))
        self.send_error_json(HTTPError(status, code, msg, headers))
        return True

    # ---- control (no auth) ---------------------------------------------
    def control(self, path, body):
        acct = self.acct
        try:
            req = json.loads(body or b"{}") if body.strip() else {}
            if not isinstance(req, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as e:
            return self.send(400, {"error": "bad JSON: %s" % e})
        op = path[len("/__control"):].strip("/")
        with acct.lock:
            acct.stats["control"] += 1
        try:
            result = self.control_op(op, req)
        except (KeyError, ValueError, TypeError) as e:
            return self.send(400, {"error": "%s: %s" % (op, e)})
        if result is None:
            return self.send(404, {"error": "unknown control %s" % op})
        log("control %s %s" % (op, json.dumps(req)))
        self.send(200, result)

    def control_op(self, op, req):
        acct = self.acct
        if op == "stats" and self.command == "GET":
            with acct.lock:
                return json.loads(json.dumps(acct.stats))
        if op == "account" and self.command == "GET":
            with acct.lock:
                return acct.setup_state()
        if self.command != "POST":
            return None
        if op == "account":
            with acct.lock:
                if "settings_post" in req:
                    v = req["settings_post"] or "replace"
                    if v not in SETTINGS_POST:
                        raise ValueError("settings_post must be one of %s"
                                         % ", ".join(SETTINGS_POST))
                    acct.settings_post = v
                return acct.setup_state()
        if op == "fault":
            with acct.lock:
                if req.get("clear"):
                    acct.faults = []
                    return {"faults": acct.faults}
                f = {"count": int(req.get("count", 1))}
                if "drop" in req:
                    f.update(type="drop", count=int(req["drop"]))
                elif "delay" in req:
                    f.update(type="delay", seconds=float(req["delay"]))
                elif "status" in req:
                    f.update(type="status", status=int(req["status"]))
                    if req.get("retry_after") is not None:
                        f["retry_after"] = req["retry_after"]
                else:
                    raise ValueError("need status, drop or delay")
                for k in ("path", "class"):
                    if req.get(k):
                        f[k] = str(req[k])
                if req.get("method"):
                    f["method"] = str(req["method"]).upper()
                acct.faults.append(f)
                return {"faults": acct.faults}
        if op == "ttl":
            with acct.lock, acct.expiry_lock:
                m = req.get("max")
                acct.ttl_max = None if m in (None, 0) else int(m)
                acct.expired_next = int(req.get("expired_next", 0))
                return {"max": acct.ttl_max,
                        "expired_next": acct.expired_next}
        if op in ("add", "delete"):
            sid = req["sid"]
            with acct.lock:
                it = acct.find(sid)
                if it is None or it.get("bulk"):
                    raise ValueError("unknown sid %s" % sid)
                if op == "add":
                    acct.visible[sid] = True
                    acct.deleted.discard(sid)
                else:
                    acct.deleted.add(sid)
                acct.relist_locked()
                return {"sid": sid, "listed": acct.visible[sid],
                        "deleted": sid in acct.deleted}
        if op == "product":
            prod = req["product"]
            if prod not in PRODUCTS:
                raise ValueError("product must be one of %s" %
                                 ", ".join(PRODUCTS))
            st = control_status(req["status"])
            with acct.lock:
                if st is None:
                    acct.products.pop(prod, None)
                else:
                    acct.products[prod] = st
                return {"products": dict(acct.products)}
        if op == "media_fail":
            sid = req["sid"]
            st = control_status(req["status"])
            with acct.lock:
                if st is not None and acct.find(sid) is None:
                    raise ValueError("unknown sid %s" % sid)
                if st is None:
                    acct.media_fail.pop(sid, None)
                else:
                    # "only": fail just the requests whose path holds
                    # it (e.g. "/OperatorResults": a transcript's parts)
                    acct.media_fail[sid] = (st, req.get("only"))
                return {"media_fail": {k: v[0] for k, v in
                                       acct.media_fail.items()}}
        if op == "shape":
            with acct.lock:
                new = copy.deepcopy(acct.shape)
                for k, v in req.items():
                    new[k] = self.shape_value(k, v)
                acct.shape = new
                return copy.deepcopy(new)
        if op == "retag":
            sid = req["sid"]
            with acct.lock:
                it = acct.find(sid)
                if it is None:
                    raise ValueError("unknown sid %s" % sid)
                mtime, objs = acct.retag_locked(it)
                return {"sid": sid, "mtime": mtime, "objects": objs}
        if op == "reset":
            acct.reset()
            with acct.lock:
                acct.write_manifest()
            return {"reset": True}
        if op == "bulk":
            with acct.lock:
                acct.set_bulk_locked(int(req["count"]))
                acct.write_manifest()
                return {"count": len(acct.bulk)}
        if op == "latency":
            with acct.lock:
                if "ms" in req:
                    acct.latency = latency_seconds(req["ms"])
                return {"ms": round(acct.latency * 1000, 3)}
        return None

    def shape_value(self, key, v):
        """A /__control/shape setting, checked; ValueError if bad."""
        acct = self.acct
        if key not in empty_shape():
            raise ValueError("unknown setting %s" % key)
        if v is None:
            return empty_shape()[key]

        def sid_of(sid, kinds):
            it = acct.find(sid) if isinstance(sid, str) else None
            if it is None or it["kind"] not in kinds:
                raise ValueError("%s: %r is not a %s SID" % (
                    key, sid, " or ".join(kinds)))
            return sid

        if key == "voice_media":
            if v not in ("redirect", "body"):
                raise ValueError("voice_media must be redirect or body")
            return v
        if key == "unencrypted":
            return [sid_of(s, ("transcript",)) for s in list(v)]
        if key == "norange":
            return [sid_of(s, LIST_KINDS) for s in list(v)]
        if key == "missing_part":
            if not isinstance(v, dict) or not all(
                    isinstance(n, int) and n >= 1 for n in v.values()):
                raise ValueError("missing_part maps transcript SIDs to "
                                 "operator result numbers (1, 2, ...)")
            for s in v:
                sid_of(s, ("transcript",))
            return dict(v)
        if key == "media_origin":
            if not isinstance(v, dict) or not all(
                    isinstance(u, str) and re.fullmatch(
                        r"https://[^/?#\s]+", u) for u in v.values()):
                raise ValueError("media_origin must map SIDs to origins "
                                 "(https://HOST:PORT, no path)")
            for s in v:
                sid_of(s, LIST_KINDS)
            return dict(v)
        if key == "external":
            if not isinstance(v, dict) or not all(
                    isinstance(u, str) for u in v.values()):
                raise ValueError("external must map SIDs to URLs")
            for s in v:
                sid_of(s, ("video_recording", "composition",
                           "voice_recording"))
            return dict(v)
        if not isinstance(v, dict) or v.get("kind") not in LIST_KINDS:
            raise ValueError("%s needs a kind, one of %s" % (
                key, ", ".join(LIST_KINDS)))
        if key == "next_page":
            if v.get("mode") not in NEXT_PAGE_MODES:
                raise ValueError("next_page mode must be one of %s" %
                                 ", ".join(NEXT_PAGE_MODES))
            return {"kind": v["kind"], "mode": v["mode"]}
        if not isinstance(v.get("records"), list):
            raise ValueError("malformed needs a records list")
        return {"kind": v["kind"], "records": v["records"]}

    # ---- the API ---------------------------------------------------------
    def route(self, path):
        acct = self.acct
        p = path.rstrip("/") if path != "/" else path
        if self.route_setup(p, path):
            return
        if self.command not in ("GET", "HEAD"):
            raise HTTPError(405, 20004, "Method not allowed")
        m = re.fullmatch(r"/video/v1/(Recordings|Compositions)", p)
        if m:
            kind = ("video_recording" if m.group(1) == "Recordings"
                    else "composition")
            return self.list_v1(kind, p, "recordings" if kind ==
                                "video_recording" else "compositions")
        m = re.fullmatch(r"/video/v1/Rooms/%s/Recordings" % SID, p)
        if m:
            return self.list_v1("video_recording", p, "recordings",
                                room=m.group(1))
        m = re.fullmatch(r"/video/v1/(?:Rooms/%s/)?(Recordings|Compositions)"
                         r"/%s(/Media)?" % (SID, SID), p)
        if m:
            room, coll, sid, media = m.groups()
            with acct.lock:
                it = acct.exists(sid)
                want = ("video_recording" if coll == "Recordings"
                        else "composition")
                if (it is None or it["kind"] != want or
                        (room and it["api"]["room_sid"] != room)):
                    raise not_found(path)
                if not media:
                    rep = (acct.video_recording(it) if want ==
                           "video_recording" else acct.composition(it))
                    return self.send(200, rep)
                return self.media_redirect(it, path)
        m = re.fullmatch(r"/api/2010-04-01/Accounts/%s/Recordings\.json" %
                         SID, p)
        if m:
            if m.group(1) != acct.account_sid:
                raise not_found(path)
            return self.list_2010()
        m = re.fullmatch(r"/api/2010-04-01/Accounts/%s/Recordings/%s"
                         r"(\.json|\.wav|\.mp3|)" % (SID, SID), p)
        if m:
            ac, sid, ext = m.groups()
            with acct.lock:
                it = acct.exists(sid)
                if (ac != acct.account_sid or it is None or
                        it["kind"] != "voice_recording" or
                        acct.status_of(it) == "deleted"):
                    raise not_found(path)
                if ext == ".json":
                    return self.send(200, acct.voice_recording(it))
                if ext == ".mp3" and it["api"]["encryption_details"]:
                    raise HTTPError(400, 16109, "MP3 is not available for "
                                    "encrypted recordings")
                if ext == ".mp3" or acct.shape["voice_media"] != "body":
                    return self.media_redirect(it, path)
                self.media_checks(it, path)
                if acct.status_of(it) != "completed" or not it["parts"]:
                    raise not_found(path)
                f = os.path.join(acct.cache, it["parts"][0]["file"])
                retagged = f in acct.retagged
            return self.voice_body(f, retagged)
        if p == "/intelligence/v2/Transcripts":
            return self.list_v1("transcript", p, "transcripts")
        m = re.fullmatch(r"/intelligence/v2/Transcripts/%s"
                         r"(/Sentences/Encrypted|/OperatorResults/Encrypted)?"
                         % SID, p)
        if m:
            sid, sub = m.groups()
            with acct.lock:
                it = acct.exists(sid)
                if (it is None or it["kind"] != "transcript" or
                        acct.status_of(it) == "deleted"):
                    raise not_found(path)
                if not sub:
                    return self.send(200, acct.transcript(it))
                return self.encrypted(it, sub, path)
        raise not_found(path)

    # ---- the account-setup endpoints (issue 11) ---------------------------
    def methods(self, allowed):
        """405 unless the request's method is one of allowed (GET brings
        HEAD)."""
        ok = set(allowed) | ({"HEAD"} if "GET" in allowed else set())
        if self.command not in ok:
            raise HTTPError(405, 20004, "Method not allowed",
                            {"Allow": ", ".join(allowed)})

    def form(self):
        """The POST body's form fields (application/x-www-form-urlencoded,
        as Twilio takes them; any other body is no fields at all). A
        field given twice: the last one."""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0]
        if ctype.strip().lower() != "application/x-www-form-urlencoded":
            return {}
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_param("The request body is not UTF-8")
        return dict(urllib.parse.parse_qsl(text, keep_blank_values=True))

    def route_setup(self, p, path):
        """Keys, video settings, intelligence services; True if served."""
        acct = self.acct
        if p == "/accounts/v1/Credentials/PublicKeys":
            self.methods(("GET", "POST"))
            if self.command == "POST":
                self.create_key()
            else:
                self.list_keys(p)
            return True
        m = re.fullmatch(r"/accounts/v1/Credentials/PublicKeys/([^/]+)", p)
        if m:
            with acct.lock:
                k = acct.keys.get(m.group(1))
                if k is None:
                    raise not_found(path)
                self.methods(("GET", "POST", "DELETE"))
                if self.command == "DELETE":
                    del acct.keys[k["sid"]]
                    self.send(204)
                    return True
                if self.command == "POST":
                    f = self.form()
                    if "FriendlyName" in f:
                        k["friendly_name"] = self.friendly_name(f)
                    k["date_updated"] = now_iso()
                rep = acct.public_key(k)
            self.send(200, rep)
            return True
        m = re.fullmatch(r"/video/v1/(Recording|Composition)Settings/Default",
                         p)
        if m:
            self.methods(("GET", "POST"))
            which = m.group(1).lower()
            with acct.lock:
                if self.command == "POST":
                    self.post_settings(which)
                rep = acct.settings_rep(which)
            self.send(200, rep)
            return True
        if p == "/intelligence/v2/Services":
            self.methods(("GET",))
            with acct.lock:
                self.list_setup(p, "services", [
                    (svc["sid"], svc) for svc in acct.services],
                    acct.service_rep)
            return True
        m = re.fullmatch(r"/intelligence/v2/Services/([^/]+)", p)
        if m:
            with acct.lock:
                svc = acct.find_service(urllib.parse.unquote(m.group(1)))
                if svc is None:
                    raise not_found(path)
                self.methods(("GET", "POST"))
                if self.command == "POST":
                    self.post_service(svc)
                rep = acct.service_rep(svc)
            self.send(200, rep)
            return True
        return False

    def friendly_name(self, f, limit=64):
        v = f["FriendlyName"]
        if len(v) > limit:
            raise bad_param("FriendlyName is longer than %d characters"
                            % limit)
        return v

    def create_key(self):
        acct = self.acct
        f = self.form()
        pem = f.get("PublicKey")
        if not pem:
            raise missing_param("PublicKey")
        try:
            bits = rsa_public_pem_bits(pem)
        except ValueError as e:
            raise bad_param("Invalid PublicKey: %s" % e)
        if bits < MIN_RSA_BITS:
            raise bad_param("Invalid PublicKey: RSA-%d is shorter than %d "
                            "bits" % (bits, MIN_RSA_BITS))
        ac = f.get("AccountSid") or acct.account_sid
        if not re.fullmatch(r"AC[0-9a-fA-F]{32}", ac):
            raise bad_param("Invalid AccountSid: %s" % ac)
        if ac != acct.account_sid:
            # the mock's account has no subaccounts
            raise bad_param("AccountSid %s is not a subaccount of %s" % (
                ac, acct.account_sid))
        name = self.friendly_name(f) if "FriendlyName" in f else None
        now = now_iso()
        with acct.lock:
            sid = "CR" + os.urandom(16).hex()
            k = {"sid": sid, "account_sid": ac, "friendly_name": name,
                 "date_created": now, "date_updated": now, "letter": None,
                 "public_key": pem, "bits": bits}
            acct.add_key_locked(k)
            rep = acct.public_key(k)
        self.send(201, rep)

    def key_param(self, f, name, must_exist):
        """A CR SID form field: its value, None for an empty one, or
        KeyError if not given (caller holds acct.lock)."""
        v = f[name]
        if v == "":
            return None
        if not re.fullmatch(CR_SID, v):
            raise bad_param("Invalid %s: %s" % (name, v))
        if must_exist and v not in self.acct.keys:
            raise bad_param("%s %s is not a Public Key of this account" % (
                name, v))
        return v

    def post_settings(self, which):
        """POST {Recording,Composition}Settings/Default (caller holds
        acct.lock). FriendlyName is required; under settings_post
        "replace" the fields not given go back to their defaults, under
        "merge" they are kept."""
        acct = self.acct
        f = self.form()
        if not f.get("FriendlyName"):
            raise missing_param("FriendlyName")
        cur = acct.settings[which]
        new = dict(cur) if acct.settings_post == "merge" else \
            acct.default_settings(None)
        new["friendly_name"] = f["FriendlyName"]
        if "AwsCredentialsSid" in f:
            new["aws_credentials_sid"] = self.key_param(
                f, "AwsCredentialsSid", False)
        if "EncryptionKeySid" in f:
            new["encryption_key_sid"] = self.key_param(
                f, "EncryptionKeySid", True)
        if "AwsS3Url" in f:
            u = f["AwsS3Url"]
            if u and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", u):
                raise bad_param("Invalid AwsS3Url: %s" % u)
            new["aws_s3_url"] = u or None
        for param, field in (("AwsStorageEnabled", "aws_storage_enabled"),
                             ("EncryptionEnabled", "encryption_enabled")):
            if param in f:
                new[field] = parse_bool(param, f[param])
        if new["encryption_enabled"]:
            k = new["encryption_key_sid"]
            if k is None:
                raise bad_param("EncryptionKeySid is required to enable "
                                "encryption")
            if k not in acct.keys:      # kept, but deleted since
                raise bad_param("EncryptionKeySid %s is not a Public Key "
                                "of this account" % k)
        if new["aws_storage_enabled"] and not (
                new["aws_credentials_sid"] and new["aws_s3_url"]):
            raise bad_param("AwsCredentialsSid and AwsS3Url are required "
                            "to enable AWS storage")
        acct.settings[which] = new

    def post_service(self, svc):
        """POST /v2/Services/{Sid} (caller holds acct.lock): every field
        of the spec's UpdateServiceRequest; the version goes up by one."""
        acct = self.acct
        im = self.headers.get("If-Match")
        if im is not None:
            tag = im.strip()
            tag = tag[2:] if tag.startswith("W/") else tag
            if tag.strip('"') != str(svc["version"]):
                raise HTTPError(412, 20412, "Precondition Failed: version "
                                "is %d" % svc["version"])
        f = self.form()
        new = copy.deepcopy(svc)
        for param, field in (("AutoTranscribe", "auto_transcribe"),
                             ("DataLogging", "data_logging"),
                             ("AutoRedaction", "auto_redaction"),
                             ("MediaRedaction", "media_redaction")):
            if param in f:
                new[field] = parse_bool(param, f[param])
        if "FriendlyName" in f:
            new["friendly_name"] = self.friendly_name(f)
        if "UniqueName" in f:
            u = f["UniqueName"]
            other = acct.find_service(u)
            if not u or (other is not None and other is not svc):
                raise bad_param("UniqueName %r is empty or taken" % u)
            new["unique_name"] = u
        if "WebhookUrl" in f:
            new["webhook_url"] = f["WebhookUrl"] or None
        if "WebhookHttpMethod" in f:
            v = f["WebhookHttpMethod"]
            if v not in ("GET", "POST", "NULL"):
                raise bad_param("Invalid WebhookHttpMethod: %s" % v)
            new["webhook_http_method"] = None if v == "NULL" else v
        if "EncryptionCredentialSid" in f:
            new["encryption_credential_sid"] = self.key_param(
                f, "EncryptionCredentialSid", True)
        if new["data_logging"] and not svc["data_logging"]:
            # the spec: "Data logging cannot be activated via API, only
            # via www.twilio.com, as it requires additional consent."
            raise bad_param("Data logging cannot be activated via API")
        if new["media_redaction"] and not new["auto_redaction"]:
            raise bad_param("MediaRedaction needs AutoRedaction")
        new["version"] = svc["version"] + 1
        new["date_updated"] = now_iso()
        svc.update(new)

    def ttl_param(self, default=600):
        if "Ttl" not in self.query:
            return default
        try:
            ttl = int(self.query["Ttl"])
        except ValueError:
            ttl = -1
        if not 1 <= ttl <= 3600:
            raise HTTPError(400, 20001, "Ttl must be between 1 and 3600")
        return ttl

    def media_checks(self, it, path):
        """/__control/media_fail and shape external (caller holds
        acct.lock)."""
        acct = self.acct
        st = acct.media_failure(it["sid"], path)
        if st is not None:
            raise status_error(st, path)
        if it["sid"] in acct.shape["external"]:
            raise not_found(path)

    def media_redirect(self, it, path):
        acct = self.acct
        self.media_checks(it, path)
        if acct.status_of(it) != "completed" or not it["parts"]:
            raise not_found(path)
        url = acct.signed_url(acct.object_uri(it, it["parts"][0]),
                              acct.ttl(self.ttl_param()), it["sid"])
        self.send(302, {"redirect_to": url}, headers={"Location": url})

    def voice_body(self, f, retagged):
        """shape voice_media "body": the object's bytes from the API
        itself, with Range (one range), If-Range and an ETag."""
        with open(f, "rb") as fh:
            data = fh.read()
        h = hashlib.sha1(data)
        if retagged:        # /__control/retag changes this ETag too
            h.update(b"retag %d" % int(os.stat(f).st_mtime))
        etag = '"%s"' % h.hexdigest()
        total = len(data)
        headers = {"Accept-Ranges": "bytes", "ETag": etag}
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if rng and (if_range is None or if_range == etag):
            r = parse_range(rng, total)
            if r == "unsatisfiable":
                headers["Content-Range"] = "bytes */%d" % total
                raise HTTPError(416, 20416, "Range Not Satisfiable",
                                headers)
            if r is not None:
                a, b = r
                headers["Content-Range"] = "bytes %d-%d/%d" % (a, b, total)
                return self.send(206, data[a:b + 1], "audio/x-wav",
                                 headers)
        self.send(200, data, "audio/x-wav", headers)

    def encrypted(self, it, sub, path):
        acct = self.acct
        st = acct.media_failure(it["sid"], path)
        if st is not None:
            raise status_error(st, path)
        if acct.status_of(it) != "completed":
            raise not_found(path)
        if it["sid"] in acct.shape["unencrypted"]:
            raise HTTPError(400, 20001, "Transcript is not encrypted")
        ttl = acct.ttl(600)
        url = "%s/intelligence/v2/Transcripts/%s%s" % (acct.base, it["sid"],
                                                       sub)
        if sub.startswith("/Sentences"):
            body = {"location": acct.signed_url(
                        acct.object_uri(it, it["parts"][0]), ttl,
                        it["sid"]),
                    "transcript_sid": it["sid"], "url": url}
        else:
            # shape missing_part: that operator result's link names an
            # object the store does not have (404 NoSuchKey)
            gone = acct.shape["missing_part"].get(it["sid"])
            body = {"locations": [acct.signed_url(
                        acct.object_uri(it, p) + (".missing" if n == gone
                                                  else ""), ttl,
                                                  it["sid"])
                                  for n, p in enumerate(it["parts"][1:], 1)],
                    "transcript_sid": it["sid"], "url": url}
        self.send(200, body, headers={"X-Rate-Limit-Limit": "100",
                                      "X-Rate-Limit-Remaining": "99",
                                      "X-Rate-Limit-Config": "Default"})

    def list_v1(self, kind, path, key, room=None):
        acct = self.acct
        q = self.query
        size, page, token = page_params(q)
        status = q.get("Status") or None
        with acct.lock:
            lst = acct.listing(kind, status)
            if room:
                lst = Sorted([it for it in lst.items
                              if it["api"]["room_sid"] == room])
            if kind == "transcript":
                lst, lo, hi = lst.dated(q.get("AfterDateCreated"),
                                        q.get("BeforeDateCreated"))
            else:
                lst, lo, hi = lst.dated(q.get("DateCreatedAfter"),
                                        q.get("DateCreatedBefore"))
            chunk, more = paginate(lst, size, page, token, acct, lo, hi)
            rep = {"video_recording": acct.video_recording,
                   "composition": acct.composition,
                   "transcript": acct.transcript}[kind]
            records = [rep(it) for it in chunk]
            np, bad = acct.shaped_page(kind, page, token)
        records = bad + records
        keep = {k: v for k, v in q.items()
                if k not in ("PageSize", "Page", "PageToken")}
        base = acct.base + path

        def url(pg, tok=None):
            args = dict(keep, PageSize=size, Page=pg)
            if tok:
                args["PageToken"] = tok
            return base + "?" + urllib.parse.urlencode(args)

        meta = {
            "page": page,
            "page_size": size,
            "first_page_url": url(0),
            "previous_page_url": url(page - 1) if page > 0 else None,
            "url": url(page, token),
            "next_page_url": (url(page + 1, "PA" + chunk[-1]["sid"])
                              if more and chunk else None),
            "key": key,
        }
        nxt = meta["next_page_url"]
        if np == "self":
            nxt = meta["url"]
        elif np == "cycle":
            nxt = url(0)
        elif np == "foreign" and nxt:
            nxt = foreign_url(acct.base, nxt)
        elif np == "twilio_host" and nxt:
            prod = path.split("/")[1]
            nxt = TWILIO_HOST[prod] + nxt[len(acct.base) + 1 + len(prod):]
        meta["next_page_url"] = nxt
        self.send(200, {key: records, "meta": meta})

    def list_2010(self):
        acct = self.acct
        q = self.query
        size, page, token = page_params(q)
        with acct.lock:
            lst = acct.listing("voice_recording")
            items = lst.items
            if q.get("DateCreated"):
                d = q["DateCreated"]
                items = [it for it in items
                         if it["date_created"].startswith(d)]
            after = q.get("DateCreated>")
            before = q.get("DateCreated<")
            if after:
                items = [it for it in items
                         if it["date_created"][:10] >= after[:10]]
            if before:
                items = [it for it in items
                         if it["date_created"][:10] <= before[:10]]
            if items is not lst.items:  # (few: no bulk voice items)
                lst = Sorted(items)
            chunk, more = paginate(lst, size, page, token, acct)
            records = [acct.voice_recording(it) for it in chunk]
            np, bad = acct.shaped_page("voice_recording", page, token)
        keep = {k: v for k, v in q.items()
                if k not in ("PageSize", "Page", "PageToken")}
        base = acct.voice_uri()

        def uri(pg, tok=None):
            args = dict(keep, PageSize=size, Page=pg)
            if tok:
                args["PageToken"] = tok
            return base + "?" + urllib.parse.urlencode(args)

        start = page * size
        nxt = uri(page + 1, "PA" + chunk[-1]["sid"]) if more and chunk \
            else None
        if np == "self":
            nxt = uri(page, token)
        elif np == "cycle":
            nxt = uri(0)
        elif np == "foreign" and nxt:
            nxt = foreign_url(acct.base, acct.base + "/api" + nxt)
        elif np == "twilio_host" and nxt:
            nxt = TWILIO_HOST["api"] + nxt
        self.send(200, {
            "recordings": bad + records,
            "first_page_uri": uri(0),
            "previous_page_uri": uri(page - 1) if page > 0 else None,
            "next_page_uri": nxt,
            "uri": uri(page, token),
            "page": page,
            "page_size": size,
            "start": start,
            "end": start + max(len(records) - 1, 0),
        })

    def list_keys(self, path):
        acct = self.acct
        with acct.lock:
            self.list_setup(path, "credentials", [
                (sid, k) for sid, k in acct.keys.items()], acct.public_key,
                acct.key_seq)

    def list_setup(self, path, key, records, rep, seq=None):
        """A page of the keys or services (in their order), with the
        spec's meta. PageToken PA<sid> resumes after that record, deleted
        since or not; seq gives every SID ever listed its position."""
        acct = self.acct
        size, page, token = page_params(self.query)
        if seq is None:
            seq = {sid: n for n, (sid, _) in enumerate(records)}
        if token:
            sid = token[2:] if token.startswith("PA") else token
            if sid not in seq:
                raise HTTPError(400, 20001, "Invalid PageToken")
            rest = [r for r in records if seq[r[0]] > seq[sid]]
            chunk, more = rest[:size], len(rest) > size
        else:
            chunk = records[page * size:(page + 1) * size]
            more = len(records) > (page + 1) * size
        base = acct.base + path

        def url(pg, tok=None):
            args = {"PageSize": size, "Page": pg}
            if tok:
                args["PageToken"] = tok
            return base + "?" + urllib.parse.urlencode(args)

        self.send(200, {
            key: [rep(r) for _, r in chunk],
            "meta": {"page": page, "page_size": size,
                     "first_page_url": url(0),
                     "previous_page_url": url(page - 1) if page else None,
                     "url": url(page, token),
                     "next_page_url": url(page + 1, "PA" + chunk[-1][0])
                     if more and chunk else None,
                     "key": key}})


def foreign_url(base, url):
    """The same link from another origin string (localhost for 127.0.0.1,
    the same server), marked Foreign=1 so stats show who followed it."""
    assert url.startswith(base)
    rest = url[len(base):]
    return base.replace("//127.0.0.1:", "//localhost:", 1) + rest + \
        ("&" if "?" in rest else "?") + "Foreign=1"


def latency_seconds(ms):
    """The latency setting (config latency_ms, /__control/latency ms):
    milliseconds, 0 or more, as seconds."""
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or \
            not 0 <= ms <= 60000:
        raise ValueError("latency must be 0 to 60000 ms")
    return ms / 1000


def control_status(v):
    """A status for product / media_fail: an HTTP error status or None."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or \
            not 400 <= v <= 599:
        raise ValueError("status must be an HTTP error status or null")
    return v


def classify(path):
    if re.search(r"/Media/?$", path) or re.search(
            r"/Recordings/RE[0-9a-fA-F]{32}(\.wav|\.mp3)?/?$", path):
        return "media"
    if re.search(r"/Encrypted/?$", path):
        return "encrypted"
    if re.search(r"(/Recordings|/Compositions|/Transcripts|/PublicKeys|"
                 r"/Services|/Recordings\.json)/?$", path):
        return "list"
    return "fetch"


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        log("connection error: %s: %s" % (type(exc).__name__, exc))


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: mock.py CONFIG.json")
    with open(argv[1]) as f:
        cfg = json.load(f)
    acct = Account(cfg)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cfg["cert"], cfg["key"])
    srv = Server(("127.0.0.1", 0), Handler)
    srv.ssl_ctx = ctx
    srv.acct = acct
    port = srv.server_address[1]
    acct.base = "https://127.0.0.1:%d" % port
    with acct.lock:
        acct.write_manifest()
    tmp = cfg["port_file"] + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, cfg["port_file"])
    log("listening on %s (media %s, %d bulk items, latency %g ms)" % (
        acct.base, acct.media_base, len(acct.bulk), acct.latency * 1000))
    # stop.sh's TERM: give retagged objects their mtime back on the way
    # out (the cache is shared with later and parallel environments)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        srv.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        if acct.lock.acquire(timeout=2):
            acct.untag_locked()
            acct.lock.release()


if __name__ == "__main__":
    main(sys.argv)
