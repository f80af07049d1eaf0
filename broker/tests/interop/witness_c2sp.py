#!/usr/bin/env python3
"""A second implementation, in Python and written from the C2SP specification text only, checks
`kruispunt witness` (docs/AUDIT.md, "Witnesses and cosigned checkpoints"):

Python signs a checkpoint note (signed-note, Ed25519, type 0x01) that the Rust witness must accept,
and verifies the witness's answer as a tlog-cosignature (key id with type 0x04, the
`cosignature/v1` message, the timestamped signature) with the witness's vkey.

Run from an empty folder (needs the `cryptography` package):
    kruispunt witness keygen --name py.test/witness --out w.skey > vkey.txt
    python3 witness_c2sp.py "$(command -v kruispunt)"
"""
import base64, hashlib, struct, sys, urllib.request, subprocess, time
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives import serialization

def raw_pub(k):
    return k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

def key_id(name, typ, pub):
    return hashlib.sha256(name.encode() + b"\n" + bytes([typ]) + pub).digest()[:4]

origin = "example.org/py-log"
log = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
pub = raw_pub(log)
vkey = f"{origin}+{key_id(origin,1,pub).hex()}+{base64.b64encode(bytes([1])+pub).decode()}"
wvkey = open("vkey.txt").read().strip()
wname, wid, wkey = wvkey.split("+", 2)
wraw = base64.b64decode(wkey)
assert wraw[0] == 4
assert key_id(wname, 4, wraw[1:]).hex() == wid, "witness key id per spec"

proc = subprocess.Popen([sys.argv[1], "witness", "serve", "--key", "w.skey", "--state", "st",
                         "--log", f"{origin}={vkey}", "--listen", "127.0.0.1:0"],
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
url = proc.stdout.readline().strip().rsplit(" listening on ", 1)[1]
try:
    root = hashlib.sha256(b"\x00" + b"leaf").digest()  # tree of one leaf
    body = f"{origin}\n1\n{base64.b64encode(root).decode()}\n"
    sig = key_id(origin, 1, pub) + log.sign(body.encode())
    note = body + "\n" + f"\u2014 {origin} {base64.b64encode(sig).decode()}\n"
    req = urllib.request.Request(url + "/add-checkpoint", data=("old 0\n\n" + note).encode(), method="POST")
    resp = urllib.request.urlopen(req).read().decode()
    line = resp.strip("\n")
    assert line.startswith("\u2014 " + wname + " "), line
    raw = base64.b64decode(line.split(" ", 2)[2])
    assert raw[:4].hex() == wid
    ts, = struct.unpack(">Q", raw[4:12])
    assert abs(ts - time.time()) < 60
    msg = f"cosignature/v1\ntime {ts}\n".encode() + body.encode()
    Ed25519PublicKey.from_public_bytes(wraw[1:]).verify(raw[12:], msg)
    print("OK: the Python verifier accepts the Rust witness's cosignature; ts", ts)
finally:
    proc.kill()
