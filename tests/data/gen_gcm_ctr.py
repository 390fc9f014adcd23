#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# gen_gcm_ctr.py - write gcm_ctr.txt: AES-256-GCM vectors (96-bit IV, no
# AAD) of awkward lengths, made by Debian's python3-cryptography, for the
# streaming GCM and CTR range tests in tests/unit/test_crypto.c.
# Deterministic (seeded), so rerunning gives the same file:
#   /usr/bin/python3 tests/data/gen_gcm_ctr.py > tests/data/gcm_ctr.txt
import random

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SIZES = [1, 15, 16, 17, 100, 1500]


def main():
    rnd = random.Random(20240601)
    print("# AES-256-GCM vectors made by tests/data/gen_gcm_ctr.py with")
    print("# Debian's python3-cryptography. NAME=VALUE records, blank-line")
    print("# separated, hex values; enc is the object as downloaded:")
    print("# ciphertext followed by the 16-byte tag.")
    for n in SIZES:
        key = rnd.randbytes(32)
        iv = rnd.randbytes(12)
        pt = rnd.randbytes(n)
        enc = AESGCM(key).encrypt(iv, pt, None)
        print()
        print("name=gcm_%d" % n)
        print("key=" + key.hex())
        print("iv=" + iv.hex())
        print("pt=" + pt.hex())
        print("enc=" + enc.hex())


if __name__ == "__main__":
    main()
