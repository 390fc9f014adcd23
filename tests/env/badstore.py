#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""badstore.py - a media store that misbehaves on purpose, for the tests
of issue 9 §7 (tests/integration/test_store.sh; README.md here). Python
standard library only; TLS with the test account's media certificate; one
thread per connection; HTTP/1.1 keep-alive.

  /usr/bin/python3 -u tests/env/badstore.py ENVDIR STATEDIR

ENVDIR is a running test account (start.sh DIR). The store serves the
same objects as its nginx (items.json's parts and the bulk object), with
the same x-amz-meta-* headers, an nginx-style ETag ("mtime hex-size hex"),
Last-Modified, Accept-Ranges, one Range (a-b, a-, -n) and If-Range, and it
checks the signed URLs' Signature and Expires as nginx does (403). Point
an item's signed URLs here with the mock's shape "media_origin".

It binds 127.0.0.1:0, writes STATEDIR/pid, then STATEDIR/port (the
readiness signal). Before every request it re-reads STATEDIR/control.json:
{OBJECT URI: MODE or {"mode": MODE, ...}}; a URI not named, or a missing
file, behaves. Write the file whole (tmp + mv). Modes:

  wrong_range      206 for the bytes 16 before the range asked (16 after
                   it when it starts below 16), Content-Range saying so
  wrong_total      the right bytes, but Content-Range's /total is 16 more
  status_203       203 Non-Authoritative Information and the whole
                   object, whatever was asked (a transforming proxy)
  wrong_suffix     a suffix range (bytes=-N) gets the first N bytes, and
                   a Content-Range saying so
  no_etag_changes  no ETag; Last-Modified. {"after": N}: the first N
                   requests since this entry last changed get version 1,
                   later ones version 2 (every byte XOR 0x01, Last-Modified
                   1 h later). If-Range other than the current
                   Last-Modified gets 200 and the whole current body
  stall            status line and headers, then nothing, until the client
                   goes away, the entry stops saying stall, or 10 min
  slow             the right answer, its body at {"rate": N} bytes a
                   second (default 8192) in 1 KiB writes; the rest at once
                   when the entry stops saying slow
  huge_length      x-amz-meta-x-amz-unencrypted-content-length:
                   9223372036854775807
  wrong_length     that header = the plaintext size + 1000

Every request is appended to STATEDIR/requests.log, one JSON object a
line: time, method, uri, range, if_range, mode, status, length. A stall
logs a line with "stalled": true when it begins (before it blocks), and
its request's line, with "stall_end", when it ends. A slow answer logs a
line with "slow": true when its body begins, and its request's line, with
"slow_end" (done, released or client went away) and "sent", when it ends.
"""

import base64
import email.utils
import hashlib
import http.server
import json
import os
import re
import select
import ssl
import sys
import threading
import time
import urllib.parse

MODES = ("wrong_range", "wrong_total", "status_203", "wrong_suffix",
         "no_etag_changes", "stall", "huge_length", "wrong_length", "slow")
STALL_MAX_S = 600
LENGTH = "x-amz-meta-x-amz-unencrypted-content-length"
XOR_1 = bytes(i ^ 1 for i in range(256))   # no_etag_changes's version 2


def parse_range(h, total):
    """(first, last), "unsatisfiable", or None to ignore the header (bad
    syntax, several ranges) - as tests/env/mock.py's."""
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


class Store:
    def __init__(self, envdir, state):
        with open(os.path.join(envdir, "mock", "config.json")) as f:
            cfg = json.load(f)
        self.secret = cfg["secret"]
        self.cert = os.path.join(envdir, "tls", "media.pem")
        self.key = os.path.join(envdir, "tls", "media.key")
        cache = cfg["cache"]
        with open(os.path.join(cache, "items.json")) as f:
            data = json.load(f)
        self.objects = {}       # URI -> (file, {header: value}, plain size)
        parts = [p for it in data["items"] for p in it["parts"]]
        parts.append(data["bulk"]["part"])
        for p in parts:
            self.objects[p["object"]] = (os.path.join(cache, p["file"]),
                                         p.get("headers") or {},
                                         p["plain_size"])
        self.state = state
        self.lock = threading.Lock()
        self.counts = {}        # URI -> (its control entry, requests)

    def control(self):
        try:
            with open(os.path.join(self.state, "control.json")) as f:
                c = json.load(f)
        except FileNotFoundError:
            return {}
        except ValueError as e:
            sys.stderr.write("badstore: control.json: %s\n" % e)
            return {}
        return c if isinstance(c, dict) else {}

    def entry(self, uri):
        """This URI's control entry as a dict with a "mode" (or {})."""
        e = self.control().get(uri)
        if isinstance(e, str):
            e = {"mode": e}
        if not isinstance(e, dict) or e.get("mode") not in MODES:
            if e is not None:
                sys.stderr.write("badstore: %s: no such mode: %r\n" % (uri, e))
            return {}
        return e

    def count(self, uri, e):
        """Requests of uri since its control entry was last changed,
        this one included."""
        key = json.dumps(e, sort_keys=True)
        with self.lock:
            old, n = self.counts.get(uri, (None, 0))
            n = n + 1 if old == key else 1
            self.counts[uri] = (key, n)
            return n

    def signed_ok(self, uri, q):
        """None if the link is good, else the 403 body (nginx's)."""
        exp, sig = q.get("Expires", ""), q.get("Signature", "")
        want = base64.urlsafe_b64encode(hashlib.md5(
            ("%s%s %s" % (exp, uri, self.secret)).encode()).digest()
        ).decode().rstrip("=")
        if not exp.isdigit() or sig != want:
            return ("SignatureDoesNotMatch", "The request signature we "
                    "calculated does not match the signature you provided.")
        if int(exp) < time.time():
            return ("AccessDenied", "Request has expired")
        return None

    def log(self, rec):
        with self.lock, open(os.path.join(self.state, "requests.log"),
                             "a") as f:
            f.write(json.dumps(rec) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "badstore/1.0"
    sys_version = ""
    timeout = 60        # idle keep-alive connections

    def setup(self):
        self.request.settimeout(self.timeout)
        self.request = self.server.ssl_ctx.wrap_socket(
            self.request, server_side=True)
        super().setup()

    def log_message(self, fmt, *args):
        pass

    def version_string(self):
        return self.server_version

    def do_HEAD(self):
        self.do_GET()

    def error(self, status, code, msg):
        body = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s'
                '</Code><Message>%s</Message></Error>' % (code, msg)).encode()
        self.reply(status, {"Content-Type": "application/xml"}, body)

    def reply(self, status, headers, body):
        self.rec.update(status=status, length=len(body))
        self.send_response(status)
        headers.setdefault("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        st = self.server.store
        url = urllib.parse.urlsplit(self.path)
        uri = urllib.parse.unquote(url.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        e = st.entry(uri)
        mode = e.get("mode", "")
        self.rec = {"time": round(time.time(), 3), "method": self.command,
                    "uri": uri, "range": self.headers.get("Range"),
                    "if_range": self.headers.get("If-Range"), "mode": mode}
        try:
            bad = st.signed_ok(uri, q)
            if bad:
                return self.error(403, *bad)
            if uri not in st.objects:
                return self.error(404, "NoSuchKey",
                                  "The specified key does not exist.")
            self.serve(st, uri, e, mode)
        finally:
            st.log(self.rec)

    def serve(self, st, uri, e, mode):
        path, meta, plain_size = st.objects[uri]
        with open(path, "rb") as f:
            data = f.read()
        mtime = int(os.stat(path).st_mtime)
        total = len(data)
        h = {"Content-Type": "application/octet-stream",
             "Accept-Ranges": "bytes"}
        h.update(meta)
        etag = '"%x-%x"' % (mtime, total)
        if mode == "no_etag_changes":
            etag = None
            if st.count(uri, e) > int(e.get("after", 0)):
                data = data.translate(XOR_1)
                mtime += 3600
        elif mode == "huge_length":
            h[LENGTH] = "9223372036854775807"
        elif mode == "wrong_length":
            h[LENGTH] = str(plain_size + 1000)
        lastmod = email.utils.formatdate(mtime, usegmt=True)
        h["Last-Modified"] = lastmod
        if etag:
            h["ETag"] = etag
        r = None
        if_range = self.headers.get("If-Range")
        if self.headers.get("Range") and if_range in (None, etag, lastmod):
            r = parse_range(self.headers["Range"], total)
        if r == "unsatisfiable":
            h["Content-Range"] = "bytes */%d" % total
            return self.reply(416, h, b"")
        status, a, b = (206, r[0], r[1]) if r else (200, 0, total - 1)
        shown = total
        if mode == "status_203":
            status, a, b, r = 203, 0, total - 1, None
        elif r and mode == "wrong_suffix" and \
                self.headers["Range"].startswith("bytes=-"):
            a, b = 0, b - a
        if r and mode == "wrong_range":
            d = -16 if a >= 16 else 16
            a, b = a + d, min(b + d, total - 1)
        elif r and mode == "wrong_total":
            shown = total + 16
        if r:
            h["Content-Range"] = "bytes %d-%d/%d" % (a, b, shown)
        if mode == "stall":
            return self.stall(st, uri, status, h, b - a + 1)
        if mode == "slow" and self.command != "HEAD":
            return self.slow(st, uri, e, status, h, data[a:b + 1])
        self.reply(status, h, data[a:b + 1])

    def stall(self, st, uri, status, h, length):
        """Headers, then nothing: until the client goes away, the control
        entry stops saying stall, or STALL_MAX_S."""
        self.send_response(status)
        h["Content-Length"] = str(length)
        for k, v in h.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()
        self.rec.update(status=status, length=0)
        st.log(dict(self.rec, time=round(time.time(), 3), stalled=True))
        self.rec["stall_end"] = "timeout"
        end = time.time() + STALL_MAX_S
        while time.time() < end:
            if st.entry(uri).get("mode") != "stall":
                self.rec["stall_end"] = "released"
                break
            rd, _, _ = select.select([self.connection], [], [], 0.5)
            if rd:
                self.rec["stall_end"] = "client went away"
                break
        self.close_connection = True

    def slow(self, st, uri, e, status, h, body):
        """The answer, its body at e["rate"] bytes a second in 1 KiB
        writes: the rest at once when the entry stops saying slow."""
        rate = max(1, int(e.get("rate", 8192)))
        self.send_response(status)
        h["Content-Length"] = str(len(body))
        for k, v in h.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()
        self.rec.update(status=status, length=len(body))
        st.log(dict(self.rec, time=round(time.time(), 3), slow=True))
        self.rec["slow_end"] = "done"
        t0, sent = time.time(), 0
        try:
            while sent < len(body):
                if st.entry(uri).get("mode") != "slow":
                    self.wfile.write(body[sent:])
                    sent = len(body)
                    self.rec["slow_end"] = "released"
                    break
                self.wfile.write(body[sent:sent + 1024])
                sent = min(sent + 1024, len(body))
                time.sleep(max(0, t0 + sent / rate - time.time()))
        except OSError:
            self.rec["slow_end"] = "client went away"
            self.close_connection = True
        self.rec["sent"] = sent


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        sys.stderr.write("badstore: connection error: %s: %s\n" % (
            type(exc).__name__, exc))


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: badstore.py ENVDIR STATEDIR")
    envdir, state = (os.path.abspath(a) for a in argv[1:3])
    store = Store(envdir, state)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(store.cert, store.key)
    srv = Server(("127.0.0.1", 0), Handler)
    srv.ssl_ctx = ctx
    srv.store = store
    for name, value in (("pid", os.getpid()),
                        ("port", srv.server_address[1])):
        tmp = os.path.join(state, name + ".tmp")
        with open(tmp, "w") as f:
            f.write("%d\n" % value)
        os.rename(tmp, os.path.join(state, name))
    try:
        srv.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main(sys.argv)
