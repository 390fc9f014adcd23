#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""mnt.py - the checks of test_mount.sh on a mounted twiliofs tree, against
the test account's manifest ($TFS_MANIFEST; tests/env/README.md).

Usage: mnt.py COMMAND ARGS...   (see the functions named cmd_*)
Each command prints one line per problem and exits 1 if there was any, 0
otherwise; lines starting with '# ' are information.
"""
import calendar
import errno
import hashlib
import json
import os
import random
import re
import stat
import subprocess
import sys
import threading
import time

MANIFEST = os.environ["TFS_MANIFEST"]
problems = []


def bad(msg):
    problems.append(msg)


def info(msg):
    print("# " + msg)


def finish():
    for p in problems[:40]:
        print(p)
    if len(problems) > 40:
        print("... and %d more" % (len(problems) - 40))
    sys.exit(1 if problems else 0)


def manifest():
    return json.load(open(MANIFEST))


def visible(entries=None):
    """The entries the mount must show: listed upstream and completed."""
    return [e for e in (entries or manifest())
            if e["listed"] and e["expect"] != "hidden"]


def ok_entries():
    return [e for e in visible() if e["expect"] == "ok"]


def rel(e):
    """The canonical path of an entry (DESIGN.md section 3)."""
    d = e["date_created"][:10]
    k, s = e["kind"], e["sid"]
    if k == "video_recording":
        return "video/recordings/%s/%s.%s" % (d, s, e["container"])
    if k == "composition":
        return "video/compositions/%s/%s.%s" % (d, s, e["container"])
    if k == "voice_recording":
        return "voice/recordings/%s/%s.wav" % (d, s)
    if k == "transcript":
        if e["part"] == 0:
            return "intelligence/transcripts/%s/%s/sentences.json" % (d, s)
        return "intelligence/transcripts/%s/%s/operator-results/%d.json" % (
            d, s, e["part"])
    raise ValueError(k)


def by_name(name, part=0):
    for e in manifest():
        if e["name"] == name and e["part"] == part:
            return e
    raise KeyError(name)


def epoch(iso):
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


def plain(e):
    with open(e["plain"], "rb") as f:
        return f.read()


def errname(n):
    return errno.errorcode.get(n, str(n))


def expected_tree():
    """{relpath: ('f', entry) | ('d', None) | ('l', target relpath)}"""
    tree = {}

    def add_dirs(p):
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            tree.setdefault("/".join(parts[:i]), ("d", None))

    for top in ("video/recordings", "video/compositions", "video/rooms",
                "voice/recordings", "intelligence/transcripts", ".twiliofs"):
        add_dirs(top + "/x")
    tree[".twiliofs/status.json"] = ("f", None)
    for e in visible():
        p = rel(e)
        tree[p] = ("f", e)
        add_dirs(p)
        if e["kind"] in ("video_recording", "composition") and e["room_sid"]:
            link = "video/rooms/%s/%s" % (e["room_sid"], os.path.basename(p))
            tree[link] = ("l", p)
            add_dirs(link)
    return tree


def walk(root):
    """{relpath: lstat} of everything under root, symlinks not followed."""
    out = {}
    for d, dirs, files in os.walk(root, onerror=lambda err: bad(
            "walk: %s: %s" % (err.filename, err.strerror))):
        for n in dirs + files:
            p = os.path.join(d, n)
            try:
                out[os.path.relpath(p, root)] = os.lstat(p)
            except OSError as err:
                bad("lstat %s: %s" % (p, errname(err.errno)))
    return out


def cmd_path(name, part="0"):
    """path NAME [PART]: the canonical path of an item, relative."""
    print(rel(by_name(name, int(part))))


def cmd_tree(mnt, fmode, dmode, uid=None, gid=None):
    """tree MNT FILEMODE DIRMODE [UID GID]: exactly the expected entries;
    sizes, mtimes, modes (symlinks 0777), owner (default: ours); room
    symlinks relative and resolving."""
    fmode, dmode = int(fmode, 8), int(dmode, 8)
    want = expected_tree()
    got = walk(mnt)
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    for p in missing:
        bad("missing: %s" % p)
    for p in extra:
        bad("unexpected: %s" % p)
    uid = os.getuid() if uid is None else int(uid)
    gid = os.getgid() if gid is None else int(gid)
    st = os.stat(mnt)
    if stat.S_IMODE(st.st_mode) != dmode:
        bad("the mount's root: mode %o, want %o" % (stat.S_IMODE(st.st_mode), dmode))
    if st.st_uid != uid or st.st_gid != gid:
        bad("the mount's root: owner %d:%d, want %d:%d" % (st.st_uid, st.st_gid, uid, gid))
    nfiles = nlinks = 0
    for p, (typ, what) in sorted(want.items()):
        st = got.get(p)
        if st is None:
            continue
        full = os.path.join(mnt, p)
        if typ == "d":
            if not stat.S_ISDIR(st.st_mode):
                bad("%s: not a directory" % p)
            elif stat.S_IMODE(st.st_mode) != dmode:
                bad("%s: mode %o, want %o" % (p, stat.S_IMODE(st.st_mode), dmode))
        elif typ == "f":
            nfiles += 1
            if not stat.S_ISREG(st.st_mode):
                bad("%s: not a regular file" % p)
                continue
            if stat.S_IMODE(st.st_mode) != fmode:
                bad("%s: mode %o, want %o" % (p, stat.S_IMODE(st.st_mode), fmode))
            if what is None:
                continue
            if st.st_size != what["plain_size"]:
                bad("%s (%s): st_size %d, want %d" % (
                    p, what["name"], st.st_size, what["plain_size"]))
            if int(st.st_mtime) != epoch(what["date_created"]):
                bad("%s (%s): st_mtime %d, want %d (%s)" % (
                    p, what["name"], st.st_mtime, epoch(what["date_created"]),
                    what["date_created"]))
        else:
            nlinks += 1
            if not stat.S_ISLNK(st.st_mode):
                bad("%s: not a symlink" % p)
                continue
            if stat.S_IMODE(st.st_mode) != 0o777:
                bad("%s: symlink mode %o, want 777" % (p, stat.S_IMODE(st.st_mode)))
            target = os.readlink(full)
            if target.startswith("/"):
                bad("%s: absolute symlink %s" % (p, target))
            real = os.path.realpath(full)
            if real != os.path.realpath(os.path.join(mnt, what)):
                bad("%s -> %s resolves to %s, want %s" % (p, target, real, what))
            elif not os.path.isfile(full):
                bad("%s: does not resolve to a file" % p)
        if st.st_uid != uid or st.st_gid != gid:
            bad("%s: owner %d:%d, want %d:%d" % (p, st.st_uid, st.st_gid, uid, gid))
    info("%d files, %d room symlinks, %d entries in all" % (nfiles, nlinks, len(got)))
    finish()


def cmd_hidden(mnt):
    """hidden MNT: processing / failed items are not there (ENOENT)."""
    for e in manifest():
        if e["expect"] != "hidden":
            continue
        p = os.path.join(mnt, rel(e))
        try:
            os.stat(p)
            bad("%s (%s, %s): visible" % (rel(e), e["name"], e["status"]))
        except OSError as err:
            if err.errno != errno.ENOENT:
                bad("%s: stat %s, want ENOENT" % (rel(e), errname(err.errno)))
    finish()


def cmd_inodes(mnt, out, compare=None):
    """inodes MNT OUT [COMPARE]: st_ino of every entry into OUT; distinct
    per file; equal to COMPARE's (an earlier mount) when given."""
    got = {p: st.st_ino for p, st in walk(mnt).items()}
    json.dump(got, open(out, "w"))
    seen = {}
    for p, ino in got.items():
        if ino in seen:
            bad("inode %d shared by %s and %s" % (ino, seen[ino], p))
        seen[ino] = p
    if compare:
        old = json.load(open(compare))
        for p in sorted(set(old) | set(got)):
            if old.get(p) != got.get(p):
                bad("%s: inode %s before the remount, %s after" % (
                    p, old.get(p), got.get(p)))
    info("%d inodes" % len(got))
    finish()


def sha_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def cmd_sha(root, *names):
    """sha ROOT [NAME...]: SHA-256 of every 'ok' file (or the named ones)
    under ROOT equals the manifest's."""
    n = 0
    for e in ok_entries():
        if names and e["name"] not in names:
            continue
        p = os.path.join(root, rel(e))
        try:
            got = sha_file(p)
        except OSError as err:
            bad("%s (%s): %s" % (rel(e), e["name"], os.strerror(err.errno)))
            continue
        n += 1
        if got != e["plain_sha256"]:
            bad("%s (%s): sha256 %s, want %s" % (rel(e), e["name"], got,
                                                 e["plain_sha256"]))
    info("%d files hashed" % n)
    finish()


def offsets(rng, size, count):
    """Random (offset, length) pairs: anywhere, near block boundaries,
    near and across the end, small and large."""
    out = [(0, 1), (0, 65536), (max(0, size - 1), 1), (max(0, size - 16), 64),
           (size, 10), (max(0, size - 100), 65536)]
    while len(out) < count:
        r = rng.random()
        if r < 0.15:
            off = max(0, size - rng.randint(1, 300))
        elif r < 0.35:
            off = max(0, min(size, rng.randrange(0, size + 1, 16) + rng.randint(-2, 2)))
        else:
            off = rng.randrange(0, size + 1)
        length = rng.choice([1, 15, 16, 17, 31, 4096, 65536, 131072,
                             rng.randint(1, 200000)])
        out.append((off, length))
    return out[:count]


def cmd_pread(mnt, count, seed):
    """pread MNT COUNT SEED: COUNT random preads per 'ok' file, each equal
    to the original's slice (exactly; short only at end of file)."""
    count, seed = int(count), int(seed)
    total = 0
    for e in ok_entries():
        data = plain(e)
        rng = random.Random("%d/%s/%d" % (seed, e["sid"], e["part"]))
        try:
            fd = os.open(os.path.join(mnt, rel(e)), os.O_RDONLY)
        except OSError as err:
            bad("%s: open: %s" % (e["name"], errname(err.errno)))
            continue
        nbad = 0
        for off, length in offsets(rng, len(data), count):
            try:
                got = os.pread(fd, length, off)
            except OSError as err:
                bad("%s: pread(%d, %d): %s" % (e["name"], length, off,
                                               errname(err.errno)))
                nbad += 1
                continue
            want = data[off:off + length]
            total += 1
            if got != want:
                nbad += 1
                first = next((i for i in range(min(len(got), len(want)))
                              if got[i] != want[i]), min(len(got), len(want)))
                bad("%s: pread(len %d, off %d): %d bytes, want %d; first "
                    "difference at +%d" % (e["name"], length, off, len(got),
                                           len(want), first))
            if nbad >= 3:
                bad("%s: giving up after 3 bad reads" % e["name"])
                break
        os.close(fd)
    info("%d preads checked (seed %d)" % (total, seed))
    finish()


def cmd_parallel(mnt, seed):
    """parallel MNT SEED: 8 threads at once, on one shared descriptor of
    the largest file and on descriptors of other files."""
    ents = sorted(ok_entries(), key=lambda e: -e["plain_size"])
    big = ents[0]
    datas = {id(e): plain(e) for e in ents}
    shared = os.open(os.path.join(mnt, rel(big)), os.O_RDONLY)
    lock = threading.Lock()
    counts = [0]

    def worker(i):
        rng = random.Random("%s/par/%d" % (seed, i))
        for j in range(40):
            e = big if j % 2 == 0 else ents[rng.randrange(len(ents))]
            data = datas[id(e)]
            off, length = offsets(rng, len(data), 8)[-1]
            try:
                if e is big:
                    got = os.pread(shared, length, off)
                else:
                    fd = os.open(os.path.join(mnt, rel(e)), os.O_RDONLY)
                    try:
                        got = os.pread(fd, length, off)
                    finally:
                        os.close(fd)
            except OSError as err:
                with lock:
                    bad("thread %d: %s pread(%d, %d): %s" % (
                        i, e["name"], length, off, errname(err.errno)))
                continue
            with lock:
                counts[0] += 1
                if got != data[off:off + length]:
                    bad("thread %d: %s pread(%d, %d): wrong bytes" % (
                        i, e["name"], length, off))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    os.close(shared)
    info("%d parallel preads checked" % counts[0])
    finish()


def cmd_read(path, name, off, length):
    """read PATH NAME OFF LEN: one pread equals the original's slice."""
    e = by_name(name)
    off, length = int(off), int(length)
    want = plain(e)[off:off + length]
    fd = os.open(path, os.O_RDONLY)
    try:
        got = os.pread(fd, length, off)
    finally:
        os.close(fd)
    if got != want:
        bad("pread(%d, %d): %d bytes, not the original's %d" % (
            length, off, len(got), len(want)))
    finish()


def cmd_ttlread(path, name, first, pause):
    """ttlread PATH NAME FIRST PAUSE: read FIRST bytes, sleep PAUSE
    seconds (the signed link expires), read the rest on the same
    descriptor; all equal to the original."""
    e = by_name(name)
    data = plain(e)
    first, pause = int(first), float(pause)
    fd = os.open(path, os.O_RDONLY)
    got = b""
    try:
        while len(got) < first:
            b = os.read(fd, min(65536, first - len(got)))
            if not b:
                break
            got += b
        time.sleep(pause)
        while True:
            b = os.read(fd, 131072)
            if not b:
                break
            got += b
    except OSError as err:
        bad("read at %d: %s" % (len(got), errname(err.errno)))
    os.close(fd)
    if got != data:
        bad("%d bytes read, sha256 %s; want %d bytes, %s" % (
            len(got), hashlib.sha256(got).hexdigest(), len(data),
            e["plain_sha256"]))
    finish()


def cmd_fails(path, want, where="any"):
    """fails PATH ERRNO [open|any]: opening or reading PATH fails with
    ERRNO (at open when 'open'), twice, and not one byte comes back."""
    want_n = getattr(errno, want)
    for attempt in (1, 2):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as err:
            if err.errno != want_n:
                bad("attempt %d: open: %s, want %s" % (attempt, errname(err.errno), want))
            continue
        if where == "open":
            bad("attempt %d: open succeeded, want %s at open" % (attempt, want))
        n = 0
        try:
            while True:
                b = os.read(fd, 65536)
                if not b:
                    bad("attempt %d: read to EOF without an error (%d bytes)" % (
                        attempt, n))
                    break
                n += len(b)
        except OSError as err:
            if err.errno != want_n:
                bad("attempt %d: read: %s, want %s" % (attempt, errname(err.errno), want))
        if n:
            bad("attempt %d: %d bytes returned before the error" % (attempt, n))
        os.close(fd)
    finish()


def cmd_erofs(mnt, name):
    """erofs MNT NAME: every kind of write fails with EROFS."""
    f = os.path.join(mnt, rel(by_name(name)))
    d = os.path.dirname(f)
    tries = [
        ("open O_WRONLY", lambda: os.open(f, os.O_WRONLY)),
        ("open O_RDWR", lambda: os.open(f, os.O_RDWR)),
        ("open O_WRONLY|O_TRUNC", lambda: os.open(f, os.O_WRONLY | os.O_TRUNC)),
        ("create", lambda: os.open(os.path.join(d, "new"),
                                   os.O_WRONLY | os.O_CREAT, 0o600)),
        ("mkdir", lambda: os.mkdir(os.path.join(d, "newdir"))),
        ("unlink", lambda: os.unlink(f)),
        ("rmdir", lambda: os.rmdir(d)),
        ("rename", lambda: os.rename(f, f + ".x")),
        ("symlink", lambda: os.symlink("x", os.path.join(d, "lnk"))),
        ("link", lambda: os.link(f, os.path.join(d, "hard"))),
        ("chmod", lambda: os.chmod(f, 0o644)),
        ("chown", lambda: os.chown(f, os.getuid(), os.getgid())),
        ("utime", lambda: os.utime(f, (0, 0))),
        ("truncate", lambda: os.truncate(f, 0)),
        ("setxattr", lambda: os.setxattr(f, "user.test", b"x")),
        ("removexattr", lambda: os.removexattr(f, "user.twilio.sid")),
    ]
    for label, fn in tries:
        try:
            r = fn()
            if isinstance(r, int):
                os.close(r)
            bad("%s: succeeded" % label)
        except OSError as err:
            if err.errno != errno.EROFS:
                bad("%s: %s, want EROFS" % (label, errname(err.errno)))
    info("%d write operations tried" % len(tries))
    finish()


def cmd_enoent(mnt):
    """enoent MNT: unknown paths give ENOENT to stat, open, readlink,
    listxattr."""
    e = by_name("rt_video_A")
    day = e["date_created"][:10]
    paths = ["nope", "video/nope", "video/recordings/1999-01-01",
             "video/recordings/%s/RT%s.mkv" % (day, "0" * 32),
             "video/recordings/%s/%s.mka" % (day, e["sid"]),
             "video/rooms/RM%s" % ("0" * 32),
             "intelligence/transcripts/%s/GT%s/sentences.json" % (day, "0" * 32),
             ".twiliofs/nope.json"]
    for p in paths:
        full = os.path.join(mnt, p)
        for label, fn in (("stat", os.stat), ("open", lambda x: os.close(os.open(x, os.O_RDONLY))),
                          ("listxattr", os.listxattr)):
            try:
                fn(full)
                bad("%s %s: succeeded" % (label, p))
            except OSError as err:
                if err.errno != errno.ENOENT:
                    bad("%s %s: %s, want ENOENT" % (label, p, errname(err.errno)))
    finish()


def getfattr(path):
    r = subprocess.run(["getfattr", "-d", "-m", r"^user\.twilio\.",
                        "--absolute-names", "-e", "text", path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip()
    attrs = {}
    for line in r.stdout.splitlines():
        m = re.match(r'^(user\.twilio\.[a-z_]+)="(.*)"$', line)
        if m:
            attrs[m.group(1)] = m.group(2)
    return attrs, r.stdout


def cmd_xattrs(mnt):
    """xattrs MNT: getfattr -d shows each file's SID, kind, room SID,
    encryption and (voice) public key SID."""
    sample = None
    for e in visible():
        p = os.path.join(mnt, rel(e))
        attrs, text = getfattr(p)
        if attrs is None:
            bad("getfattr %s (%s): %s" % (rel(e), e["name"], text))
            continue
        sample = sample or text
        if attrs.get("user.twilio.sid") != e["sid"]:
            bad("%s: user.twilio.sid %r, want %s" % (e["name"], attrs.get("user.twilio.sid"), e["sid"]))
        if not attrs.get("user.twilio.kind"):
            bad("%s: no user.twilio.kind" % e["name"])
        enc = {"none": "none", "gcm": "aes-256-gcm"}.get(e["scheme"]) or \
            "aes-%d-cbc" % e["cek_bits"]
        got_enc = attrs.get("user.twilio.encryption")
        # Without the key a CBC item's key length (128/256) is unknown.
        unknown = e["expect"] == "nokey" and e["scheme"] == "cbc"
        if got_enc != enc and not (unknown and got_enc is None):
            bad("%s: user.twilio.encryption %r, want %s" % (
                e["name"], attrs.get("user.twilio.encryption"), enc))
        if e["kind"] in ("video_recording", "composition") and e["room_sid"] \
                and attrs.get("user.twilio.room_sid") != e["room_sid"]:
            bad("%s: user.twilio.room_sid %r, want %s" % (
                e["name"], attrs.get("user.twilio.room_sid"), e["room_sid"]))
        if e["kind"] == "voice_recording" and \
                (attrs.get("user.twilio.public_key_sid") or "").lower() != e["public_key_sid"].lower():
            bad("%s: user.twilio.public_key_sid %r, want %s" % (
                e["name"], attrs.get("user.twilio.public_key_sid"), e["public_key_sid"]))
    if sample:
        for line in sample.splitlines():
            if line:
                info("  " + line)
    finish()


def find_paths(obj, needle, path=()):
    """Key paths in a JSON value under which a string holds needle."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if needle in k:
                yield path + (k,)
            yield from find_paths(v, needle, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from find_paths(v, needle, path + (str(i),))
    elif isinstance(obj, str) and needle in obj:
        yield path


def all_keys(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from all_keys(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from all_keys(v)


def cmd_status(mnt, failed_name=None):
    """status MNT [TAMPERED_NAME]: status.json is valid JSON with a
    version, the last sync, counts per kind, and (when named) an
    integrity-failure entry with that item's SID."""
    p = os.path.join(mnt, ".twiliofs/status.json")
    try:
        raw = open(p, "rb").read()
        size = os.stat(p).st_size
    except OSError as err:
        bad("%s: %s" % (p, errname(err.errno)))
        finish()
    try:
        doc = json.loads(raw)
    except ValueError as err:
        bad("status.json is not JSON (%s): %r" % (err, raw[:200]))
        finish()
    if not isinstance(doc, dict):
        bad("status.json is not an object")
        finish()
    keys = " ".join(all_keys(doc)).lower()
    text = json.dumps(doc).lower()
    if "version" not in keys:
        bad("status.json: no version")
    if "sync" not in keys:
        bad("status.json: no last sync")
    for kind in ("video", "composition", "voice", "transcript"):
        if kind not in text:
            bad("status.json: no count for %s" % kind)
    if failed_name:
        sid = by_name(failed_name)["sid"]
        hits = list(find_paths(doc, sid))
        if not hits:
            bad("status.json does not name %s (%s)" % (sid, failed_name))
        elif not any(re.search("error|integrit|fail", "/".join(h), re.I)
                     for h in hits):
            bad("status.json names %s only under %s, not as an error" % (
                sid, ["/".join(h) for h in hits]))
    info("status.json: " + json.dumps(doc)[:400])
    finish()


def cmd_status_size(mnt):
    """status-size MNT: status.json's st_size equals what a read returns
    (cp, rsync and tar trust st_size)."""
    p = os.path.join(mnt, ".twiliofs/status.json")
    size = os.stat(p).st_size
    raw = open(p, "rb").read()
    size2 = os.stat(p).st_size
    if not len(raw) == size == size2:
        bad("status.json: stat says %d bytes (then %d), a read returns %d" % (
            size, size2, len(raw)))
    finish()


def cmd_nginx_bytes(log, offset, sid, limit):
    """nginx-bytes LOG OFFSET SID LIMIT: the bytes nginx sent for SID's
    object since OFFSET of its access log; more than 0, less than LIMIT."""
    total, reqs = 0, []
    with open(log, "rb") as f:
        f.seek(int(offset))
        for line in f.read().decode("utf-8", "replace").splitlines():
            m = re.search(r'"(\S+) (\S+) [^"]*" (\d+) (\d+) "([^"]*)"', line)
            if not m or sid not in m.group(2):
                continue
            total += int(m.group(4))
            reqs.append("%s %s range=%s" % (m.group(3), m.group(4), m.group(5)))
    info("nginx sent %d bytes in %d requests for %s: %s" % (
        total, len(reqs), sid, "; ".join(reqs)[:600]))
    if total == 0:
        bad("nginx sent nothing for %s" % sid)
    if total >= int(limit):
        bad("nginx sent %d bytes (limit %d)" % (total, int(limit)))
    finish()


def cmd_scan(stamp, *args):
    """scan STAMP [--exclude DIR]... [--skip-name NAME]... [--file F]...
    [--expect-hit] [--ignore-copies] ROOT...: no file F and no file under
    the ROOTs (but not under DIRs or directories called NAME) changed
    since STAMP holds a 64-byte piece of any plaintext
    (the plain composition excepted: it is public). --expect-hit turns it
    round: the positive control, where plaintext must be found.
    --ignore-copies: in shared places (/tmp), files named like a mounted
    file (RT....mkv, sentences.json, ...) are a client's copies, perhaps
    another test's; twiliofs's own spill would not be named so."""
    excludes, roots, expect_hit, singles, skipnames = [], [], False, [], []
    copies = set()
    it = iter(args)
    for a in it:
        if a == "--exclude":
            excludes.append(os.path.realpath(next(it)))
        elif a == "--skip-name":
            skipnames.append(next(it))
        elif a == "--file":
            singles.append(next(it))
        elif a == "--expect-hit":
            expect_hit = True
        elif a == "--ignore-copies":
            copies = {os.path.basename(rel(e)) for e in manifest()
                      if e["expect"] != "hidden"} | {"status.json"}
        elif os.path.realpath(a) not in [os.path.realpath(r) for r in roots]:
            roots.append(a)
    since = os.stat(stamp).st_mtime
    chunks = {}
    for e in manifest():
        if not e["plain"] or e["scheme"] == "none" or e["bulk"]:
            continue
        data = plain(e)
        n = 0
        for k in range(1, 64):
            off = len(data) * k // 64
            c = data[off:off + 64]
            if len(c) == 64 and len(set(c)) >= 16 and c not in chunks:
                chunks[c] = "%s@%d" % (e["name"], off)
                n += 1
            if n == 8:
                break
    nfiles = nbytes = 0
    hits = []

    def scan_file(p):
        nonlocal nbytes
        with open(p, "rb") as f:
            tail = b""
            while True:
                b = f.read(8 << 20)
                if not b:
                    break
                win = tail + b
                for c, what in chunks.items():
                    if c in win:
                        if os.path.basename(p) in copies:
                            info("ignored: %s holds plaintext of %s, but is "
                                 "named as a copy of a mounted file" % (p, what))
                        else:
                            hits.append("%s holds plaintext of %s" % (p, what))
                        break
                tail = win[-63:]
                nbytes += len(b)

    for p in singles:
        try:
            scan_file(p)
            nfiles += 1
        except OSError:
            pass
    for root in roots:
        if not os.path.isdir(root):
            info("%s: not there" % root)
            continue
        for d, dirs, files in os.walk(root):
            rd = os.path.realpath(d)
            if any(rd == x or rd.startswith(x + "/") for x in excludes):
                dirs[:] = []
                continue
            dirs[:] = [x for x in dirs if x not in skipnames
                       and not os.path.ismount(os.path.join(d, x))]
            for n in files:
                p = os.path.join(d, n)
                try:
                    st = os.lstat(p)
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    if max(st.st_mtime, st.st_ctime) < since:
                        continue
                    scan_file(p)
                    nfiles += 1
                except OSError:
                    continue
    info("scanned %d files (%d bytes) changed since the start, for %d "
         "plaintext pieces, under %s" % (nfiles, nbytes, len(chunks), " ".join(roots)))
    if expect_hit:
        if not hits:
            bad("positive control: no plaintext found under %s" % " ".join(roots))
    else:
        for h in sorted(set(hits)):
            bad(h)
    finish()


if __name__ == "__main__":
    fn = globals().get("cmd_" + sys.argv[1].replace("-", "_")) if len(sys.argv) > 1 else None
    if fn is None:
        sys.exit("usage: mnt.py COMMAND ARGS (see the source)")
    fn(*sys.argv[2:])
