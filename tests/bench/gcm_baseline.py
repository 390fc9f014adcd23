# SPDX-License-Identifier: MIT
"""GCM baseline for `make bench`: what a careful Python user would run.

Unwrap the CEK with RSA-OAEP-SHA-256 and stream AES-256-GCM decryption with
Debian's python3-cryptography, verifying the tag (finalize_with_tag) and
writing the plaintext to stdout. Usage: gcm_baseline.py KEY.pem DETAILS INPUT
"""
import base64
import json
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

CHUNK = 256 * 1024


def main():
    key_path, details_path, input_path = sys.argv[1:4]
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    with open(details_path) as f:
        d = json.load(f)
    d = d.get("encryption_details", d)
    wrapped = base64.b64decode(d.get("encrypted_cek") or d["encryption_cek"])
    iv = base64.b64decode(d.get("iv") or d["encryption_iv"])
    cek = key.decrypt(wrapped, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                            algorithm=hashes.SHA256(),
                                            label=None))
    size = os.path.getsize(input_path)
    with open(input_path, "rb") as f:
        f.seek(size - 16)
        tag = f.read(16)
        f.seek(0)
        dec = Cipher(algorithms.AES(cek), modes.GCM(iv, tag)).decryptor()
        left = size - 16
        out = sys.stdout.buffer
        while left > 0:
            buf = f.read(min(CHUNK, left))
            left -= len(buf)
            out.write(dec.update(buf))
        out.write(dec.finalize())


if __name__ == "__main__":
    main()
