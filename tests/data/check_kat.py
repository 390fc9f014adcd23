#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# check_kat.py - check the hand-typed known-answer vectors in kat_cbc.txt
# and kat_gcm.txt against an independent implementation (Debian's
# python3-cryptography). Run once after editing them:
#   /usr/bin/python3 tests/data/check_kat.py
# Exits 0 when every vector matches, 1 otherwise.
import os
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = os.path.dirname(os.path.abspath(__file__))


def records(name):
    recs, cur = [], {}
    with open(os.path.join(HERE, name)) as f:
        for line in f:
            line = line.strip()
            if line.startswith("#"):
                continue
            if not line:
                if cur:
                    recs.append(cur)
                cur = {}
                continue
            k, v = line.split("=", 1)
            cur[k] = v
    if cur:
        recs.append(cur)
    return recs


def main():
    bad = 0
    n = 0
    for r in records("kat_cbc.txt"):
        key, iv = bytes.fromhex(r["key"]), bytes.fromhex(r["iv"])
        ct, pt = bytes.fromhex(r["ct"]), bytes.fromhex(r["pt"])
        d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        ok = d.update(ct) + d.finalize() == pt and \
            e.update(pt) + e.finalize() == ct
        n += 1
        if not ok:
            bad += 1
        print(("ok   " if ok else "FAIL ") + r["name"])
    for r in records("kat_gcm.txt"):
        key, iv = bytes.fromhex(r["key"]), bytes.fromhex(r["iv"])
        ct, pt = bytes.fromhex(r["ct"]), bytes.fromhex(r["pt"])
        tag = bytes.fromhex(r["tag"])
        a = AESGCM(key)
        ok = a.encrypt(iv, pt, None) == ct + tag and \
            a.decrypt(iv, ct + tag, None) == pt
        n += 1
        if not ok:
            bad += 1
        print(("ok   " if ok else "FAIL ") + r["name"])
    print("%d vectors, %d mismatches" % (n, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
