#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# gen_rsa.py - write two throwaway RSA test keys (rsa_kat_1.pem, RSA-2048,
# and rsa_kat_2.pem, RSA-3072; unencrypted PKCS#8 PEM, test use only) and
# rsa_kat.txt: CEKs wrapped for rsa_kat_1.pem by Debian's
# python3-cryptography, the right way (PKCS#1 v1.5 for CBC, OAEP with
# SHA-256 / MGF1-SHA-256 / no label for GCM) and the wrong ways that
# crypto_rsa_unwrap() must refuse (bad CEK lengths, other OAEP hashes, a
# label, the other padding). Keys are random, so rerunning replaces all
# three files:
#   /usr/bin/python3 tests/data/gen_rsa.py tests/data
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def pem(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def oaep(h=hashes.SHA256(), mgf=hashes.SHA256(), label=None):
    return padding.OAEP(mgf=padding.MGF1(algorithm=mgf), algorithm=h,
                        label=label)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.abspath(__file__))
    k1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    k2 = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    for name, k in (("rsa_kat_1.pem", k1), ("rsa_kat_2.pem", k2)):
        with open(os.path.join(out, name), "wb") as f:
            f.write(pem(k))
    pub = k1.public_key()
    v15 = padding.PKCS1v15()
    # (name, scheme the test presents it as, padding, CEK length, expect)
    cases = [
        ("cbc_v15_16", "cbc", v15, 16, "ok"),
        ("cbc_v15_32", "cbc", v15, 32, "ok"),
        ("cbc_v15_24", "cbc", v15, 24, "reject"),
        ("cbc_v15_0", "cbc", v15, 0, "reject"),
        ("cbc_v15_1", "cbc", v15, 1, "reject"),
        ("cbc_v15_31", "cbc", v15, 31, "reject"),
        ("cbc_v15_33", "cbc", v15, 33, "reject"),
        ("cbc_v15_64", "cbc", v15, 64, "reject"),
        ("gcm_oaep_32", "gcm", oaep(), 32, "ok"),
        ("gcm_oaep_16", "gcm", oaep(), 16, "reject"),
        ("gcm_oaep_24", "gcm", oaep(), 24, "reject"),
        ("gcm_oaep_33", "gcm", oaep(), 33, "reject"),
        ("gcm_oaep_sha1", "gcm", oaep(hashes.SHA1(), hashes.SHA1()), 32,
         "nokey"),
        ("gcm_oaep_mgf1sha1", "gcm", oaep(mgf=hashes.SHA1()), 32, "nokey"),
        ("gcm_oaep_label", "gcm", oaep(label=b"twilio"), 32, "nokey"),
        ("gcm_given_v15", "gcm", v15, 32, "nokey"),
        ("cbc_given_oaep", "cbc", oaep(), 32, "nokey"),
        ("cbc_given_oaep_16", "cbc", oaep(), 16, "nokey"),
    ]
    with open(os.path.join(out, "rsa_kat.txt"), "w") as f:
        f.write("# CEKs wrapped for rsa_kat_1.pem by tests/data/gen_rsa.py"
                " (python3-cryptography).\n")
        f.write("# scheme: how the test presents it to crypto_rsa_unwrap."
                " expect: ok (cek is the\n# result), nokey (the padding does"
                " not match: TFS_ERR_NOKEY) or reject\n# (a CEK of a length"
                " the scheme does not allow: any error). NAME=VALUE\n#"
                " records, blank-line separated, hex.\n")
        for name, scheme, pad, n, expect in cases:
            cek = os.urandom(n)
            wrapped = pub.encrypt(cek, pad)
            f.write("\nname=%s\nscheme=%s\nexpect=%s\ncek=%s\nwrapped=%s\n"
                    % (name, scheme, expect, cek.hex(), wrapped.hex()))


if __name__ == "__main__":
    main()
