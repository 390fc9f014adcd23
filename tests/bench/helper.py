#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""helper.py - the small measurements of tests/bench/read.sh that a shell
cannot time well (a process start would swamp a 1 ms read) and a few
look-ups. Times are taken inside this process around the reads only.

  helper.py item MANIFEST NAME      SID PATH ENC_SIZE PLAIN_SIZE PLAIN SHA256
                                    (PATH: the file's path in the mount,
                                    PLAIN: the plaintext in the env's cache)
  helper.py offsets SIZE N LEN      N offsets in [0, SIZE-LEN], fixed seed
  helper.py first-byte FILE         seconds to open FILE and read 1 byte
  helper.py pread FILE LEN OFFSETS  seconds per LEN-byte read, one a line
  helper.py stride FILE READ SKIP   read READ MiB, skip SKIP MiB, to the
                                    end, 1 MiB reads: "BYTES SECONDS"
  helper.py log LOG FROM            nginx access log lines after byte FROM:
                                    "REQUESTS BYTES" (sum of body_bytes_sent)
  helper.py median                  median of the numbers on stdin
  helper.py ratio FILE_A FILE_B     median of A[i] / B[i], the numbers one
                                    a line (run i of A and of B)
  helper.py stats BEFORE AFTER      two /__control/stats answers (JSON
                                    files): the API requests between them,
                                    "TOTAL VIDEO_REC COMPOSITIONS VOICE
                                    TRANSCRIPTS OTHER" (per kind: -1 when
                                    the mock's request list was full)
  helper.py status FILE             a mount's .twiliofs/status.json: "DONE
                                    LISTED PROBED TO_PROBE FILES", DONE 1
                                    once sync is null and last_sync is not
  helper.py wait-status FILE TIMEOUT INTERVAL
                                    poll that file every INTERVAL s until
                                    DONE (exit 0) or TIMEOUT s (exit 1);
                                    prints "SECONDS: status" every ~2 s
                                    and "phase NAME SECONDS" when the
                                    sync's phase is first seen
"""
import json
import os
import random
import statistics
import sys
import time

MIB = 1 << 20

# Where each kind lives in the mount (DESIGN.md section 3).
DIRS = {"video_recording": "video/recordings",
        "composition": "video/compositions",
        "voice_recording": "voice/recordings"}


def item(manifest, name):
    with open(manifest) as f:
        entries = json.load(f)
    for e in entries:
        if e["name"] == name and e["part"] == 0:
            path = "%s/%s/%s.%s" % (DIRS[e["kind"]], e["date_created"][:10],
                                    e["sid"], e["container"])
            print(e["sid"], path, e["enc_size"], e["plain_size"],
                  e["plain"], e["plain_sha256"])
            return 0
    sys.stderr.write("helper.py: no item %s in %s\n" % (name, manifest))
    return 1


def offsets(size, n, length):
    # The same offsets in every run and for every reader (twiliofs and
    # curl), so the runs compare; not aligned to anything, as a player's
    # or a scanner's reads are not.
    rng = random.Random(9)
    for _ in range(n):
        print(rng.randrange(0, size - length + 1))
    return 0


def first_byte(path):
    t0 = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    data = os.read(fd, 1)
    t1 = time.perf_counter()
    os.close(fd)
    if len(data) != 1:
        sys.stderr.write("helper.py: %s: no first byte\n" % path)
        return 1
    print("%.6f" % (t1 - t0))
    return 0


def pread(path, length, offs):
    fd = os.open(path, os.O_RDONLY)
    times = []
    for off in offs:
        t0 = time.perf_counter()
        data = os.pread(fd, length, off)
        t1 = time.perf_counter()
        if len(data) != length:
            sys.stderr.write("helper.py: %s: short read at %d: %d bytes\n"
                             % (path, off, len(data)))
            return 1
        times.append(t1 - t0)
    os.close(fd)
    for t in times:
        print("%.6f" % t)
    return 0


def stride(path, read_mib, skip_mib):
    fd = os.open(path, os.O_RDONLY)
    total = 0
    t0 = time.perf_counter()
    while True:
        got = 0
        while got < read_mib * MIB:
            data = os.read(fd, MIB)
            if not data:
                break
            got += len(data)
        total += got
        if got < read_mib * MIB:
            break
        if skip_mib:
            os.lseek(fd, skip_mib * MIB, os.SEEK_CUR)
    t1 = time.perf_counter()
    os.close(fd)
    print(total, "%.6f" % (t1 - t0))
    return 0


def log(path, start):
    # format tfs: $remote_addr [$time_iso8601] "$request" $status
    # $body_bytes_sent "$http_range" "$http_authorization" rt=$request_time
    requests = sent = 0
    with open(path, "rb") as f:
        f.seek(start)
        for line in f:
            fields = line.decode("utf-8", "replace").split('"')
            if len(fields) < 3:
                continue
            status_bytes = fields[2].split()
            requests += 1
            sent += int(status_bytes[1])
    print(requests, sent)
    return 0


def median():
    values = [float(v) for v in sys.stdin.read().split()]
    if not values:
        return 1
    m = statistics.median(values)
    print("%d" % m if m == int(m) else "%.6f" % m)
    return 0


def ratio(path_a, path_b):
    def numbers(path):
        with open(path) as f:
            return [float(v) for v in f.read().split()]
    a, b = numbers(path_a), numbers(path_b)
    if not a or len(a) != len(b) or min(b) <= 0:
        print("-")
        return 0
    print("%.2f" % statistics.median(x / y for x, y in zip(a, b)))
    return 0


# The mock's request log holds this many at most (tests/env/mock.py).
MOCK_MAX_LOGGED = 100000

# Which kind an API path lists or resolves (tests/env/README.md).
KIND_PATHS = (("/video/v1/Recordings", 1), ("/video/v1/Rooms/", 1),
              ("/video/v1/Compositions", 2), ("/api/2010-04-01/", 3),
              ("/intelligence/v2/Transcripts", 4))


def stats(before, after):
    with open(before) as f:
        a = json.load(f)
    with open(after) as f:
        b = json.load(f)
    counts = [b["total"] - a["total"], 0, 0, 0, 0, 0]
    ra, rb = a.get("requests", []), b.get("requests", [])
    if len(rb) >= MOCK_MAX_LOGGED or len(rb) - len(ra) != counts[0]:
        counts[1:] = [-1] * 5
    else:
        for r in rb[len(ra):]:
            path = r["path"]
            for prefix, k in KIND_PATHS:
                if path.startswith(prefix):
                    counts[k] += 1
                    break
            else:
                counts[5] += 1
    print(*counts)
    return 0


def read_status(path):
    """(DONE, LISTED, PROBED, TO_PROBE, FILES), phase or None"""
    with open(path) as f:
        d = json.load(f)
    s = d.get("sync") or {}
    done = 1 if d.get("sync") is None and d.get("last_sync") else 0
    files = sum(k.get("files", 0) for k in d.get("kinds", {}).values())
    return (done, s.get("listed", "-"), s.get("probed", "-"),
            s.get("to_probe", "-"), files), s.get("phase")


def status(path):
    print(*read_status(path)[0])
    return 0


def wait_status(path, timeout, interval):
    t0 = time.monotonic()
    said = -10.0
    seen = set()
    while True:
        t = time.monotonic() - t0
        try:
            st, phase = read_status(path)
            if phase and phase not in seen:
                seen.add(phase)
                print("phase %s %.2f" % (phase, t), flush=True)
        except (OSError, ValueError) as e:
            st = ("error: %s" % e,)
        if st[0] == 1 or t - said >= 2:
            print("%.2f:" % t, *st, flush=True)
            said = t
        if st[0] == 1:
            return 0
        if t > timeout:
            return 1
        time.sleep(interval)


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "item":
        return item(args[0], args[1])
    if cmd == "offsets":
        return offsets(int(args[0]), int(args[1]), int(args[2]))
    if cmd == "first-byte":
        return first_byte(args[0])
    if cmd == "pread":
        return pread(args[0], int(args[1]), [int(o) for o in args[2:]])
    if cmd == "stride":
        return stride(args[0], int(args[1]), int(args[2]))
    if cmd == "log":
        return log(args[0], int(args[1]))
    if cmd == "median":
        return median()
    if cmd == "ratio":
        return ratio(args[0], args[1])
    if cmd == "stats":
        return stats(args[0], args[1])
    if cmd == "status":
        return status(args[0])
    if cmd == "wait-status":
        return wait_status(args[0], float(args[1]), float(args[2]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
