#!/usr/bin/env python3
"""Independent check of a SOPS file written by kubectl pack-secrets: unwraps
the data key with the `age` CLI (Go reference implementation), decrypts every
value with Python's `cryptography` AES-GCM, verifies the MAC, and prints the
plaintext tree as JSON. Usage: sops_check.py FILE.yaml AGE_KEY_FILE"""
import base64
import hashlib
import json
import re
import subprocess
import sys

import yaml
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENC = re.compile(r"^ENC\[AES256_GCM,data:(.*),iv:(.*),tag:(.*),type:(.*)\]$")


def decrypt(key, value, aad):
    data, iv, tag, typ = ENC.match(value).groups()
    plain = AESGCM(key).decrypt(base64.b64decode(iv), base64.b64decode(data) + base64.b64decode(tag), aad.encode())
    return plain, typ


def typed(plain, typ):
    text = plain.decode()
    return {"int": int, "float": float, "bool": lambda t: t == "True"}.get(typ, str)(text)


def main():
    path, keyfile = sys.argv[1], sys.argv[2]
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    meta = docs[0]["sops"]
    armored = meta["age"][0]["enc"]
    key = subprocess.run(["age", "-d", "-i", keyfile], input=armored.encode(), capture_output=True, check=True).stdout
    assert len(key) == 32, "data key must be 32 bytes"
    digest = hashlib.sha512()

    def walk(node, path):
        if isinstance(node, dict):
            return {k: walk(v, path + [k]) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, path) for v in node]
        if isinstance(node, str) and node.startswith("ENC[AES256_GCM,"):
            plain, typ = decrypt(key, node, ":".join(path) + ":")
            digest.update(plain)
            return typed(plain, typ)
        if node is not None and node != "":
            digest.update(str(node).encode() if not isinstance(node, bool) else (b"True" if node else b"False"))
        return node

    out = []
    for d in docs:
        d = dict(d)
        d.pop("sops", None)
        out.append(walk(d, []))
    mac, _ = decrypt(key, meta["mac"], str(meta["lastmodified"]))
    print(json.dumps({"docs": out, "mac_ok": mac.decode() == digest.hexdigest().upper()}))


if __name__ == "__main__":
    main()
