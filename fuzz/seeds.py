#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ from the repository's own examples: the
identifier test vectors, the embedded registry, the documented request bodies and wire formats.
Run from the repository root: `python3 fuzz/seeds.py`. The MLS seeds are made by the target
itself when it starts (KRUISPUNT_FUZZ_MLS_SEEDS, see fuzz/fuzz_targets/mls_intake.rs).
"""

import base64
import hashlib
import json
import os
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
KINDS = ["kenteken", "kvk", "vestiging", "rsin", "bsn", "iban", "adres", "vin", "telefoon",
         "persoon"]


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def reset(target):
    shutil.rmtree(os.path.join(CORPUS, target), ignore_errors=True)


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def identifiers():
    reset("identifiers")
    vectors = json.load(open(os.path.join(ROOT, "sdk", "tests", "vectors", "identifiers.json")))
    per_kind = {}
    for v in vectors:
        sel = 10 if v.get("part") == "geboortedatum" else KINDS.index(v["kind"])
        n = per_kind.get(sel, 0)
        if n >= 6:
            continue
        per_kind[sel] = n + 1
        write("identifiers", f"{sel:02d}-{n}", bytes([sel]) + v["input"].encode())


def jwt():
    reset("jwt")
    now = 1_800_000_000
    header = {"alg": "EdDSA", "kid": "fuzz-key", "typ": "JWT"}
    claims = {"iss": "politie-midden-nederland", "sub": "dev-user", "aud": "fuzz-broker",
              "iat": now - 10, "exp": now + 3600, "roles": ["rechercheur"]}
    scoped = dict(claims, jti="t-1", nbf=now - 10, scope={
        "purpose": "politie-opsporing-wpg19", "case_reference": "MN-2026-0042",
        "legal_basis": "wpg-art-19", "consent_id": "OvJ-MN-2026-0042-B",
        "kinds": ["kenteken"], "sectors": ["autobranche"], "max_identifiers": 10,
        "not_after": now + 600})
    signed = [("plain", header, claims), ("scoped", header, scoped),
              ("expired", header, dict(claims, exp=now - 3600)),
              ("crit", dict(header, crit=["exp"]), claims),
              ("es256", dict(header, alg="ES256"), claims)]
    for name, h, c in signed:
        write("jwt", "signed-" + name, b"\x01" + json.dumps(h).encode() + b"\xff"
              + json.dumps(c).encode())
    raw = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    write("jwt", "header-forged", "\x00Bearer " + raw + "." + b64url(b"\x00" * 64))
    none = b64url(b'{"alg":"none","kid":"fuzz-key"}') + "." + b64url(json.dumps(claims).encode())
    write("jwt", "header-none", "\x00bearer " + none + ".")


def ndjson():
    reset("ndjson")
    signal = {"kind": "kenteken", "pseudonym": "ab" * 32, "key_version": 1,
              "code": "cash-car-purchase", "observed": "2026-11-20", "district": "oost-utrecht",
              "purposes": ["autobranche-contante-aankopen", "politie-opsporing-wpg19"]}
    full = dict(signal, gemeente="GM0344", wijk="WK034405", expires="2027-01-01")
    body = "\n".join(json.dumps(s) for s in [signal, full, dict(signal, observed="2026-+1-+5")])
    write("ndjson", "three-lines", b"\x00\x05" + body.encode() + b"\n")
    write("ndjson", "crlf-blank", b"\x01\x00" + (json.dumps(signal) + "\r\n\r\n  \n"
                                                   + json.dumps(full)).encode())
    write("ndjson", "bad-line", b"\x00\x03" + b'{"kind":1}\n{' + b"\n")


def checkpoint():
    reset("checkpoint")
    root = base64.b64encode(hashlib.sha256(b"").digest()).decode()
    body = f"kruispunt/fuzz\n5\n{root}\n"
    write("checkpoint", "body", b"\x00" + body.encode())
    write("checkpoint", "body-extension", b"\x00" + (body + "extension line\n").encode())
    sig = base64.b64encode(b"\x01\x02\x03\x04" + b"\x00" * 64).decode()
    write("checkpoint", "note", b"\x00" + (body + f"\n\u2014 kruispunt/fuzz {sig}\n").encode())
    write("checkpoint", "sign-body", b"\x01" + body.encode())
    write("checkpoint", "sign-with-cosignature",
          b"\x01" + body.encode() + b"\xff" + f"\u2014 witness {sig}\n".encode())
    name, key = "kruispunt/fuzz", bytes(range(32))
    kid = hashlib.sha256(name.encode() + b"\n\x01" + key).digest()[:4].hex()
    key_b64 = base64.b64encode(b"\x01" + key).decode()
    write("checkpoint", "verifier-key", b"\x02" + f"{name}+{kid}+{key_b64}".encode())


def proofs():
    reset("proofs")
    write("proofs", "tree", bytes([0, 12, 5, 7, 0, 3, 1, 4, 2]))
    write("proofs", "tree-power-of-two", bytes([0, 15, 15, 8, 2, 9, 3, 0]))
    h = lambda i: base64.b64encode(hashlib.sha256(bytes([i])).digest()).decode()
    write("proofs", "inclusion-json", b"\x01" + json.dumps(
        {"index": 3, "tree_size": 16, "leaf_hash": h(3), "proof": [h(1), h(2), h(4), h(5)]}
    ).encode())
    write("proofs", "consistency-json", b"\x01" + json.dumps(
        {"first": 5, "second": 16, "proof": [h(1), h(2), h(3), h(4)]}).encode())
    lines = [{"index": 0, "leaf": h(0), "withheld": "not_concerned"},
             {"index": 1, "leaf": h(1), "withheld": "erased"},
             {"index": 2, "leaf": h(2), "withheld": "embargo", "embargo_until": 1900000000,
              "summary": {"time_ms": 1800000000000, "operation": "disclose"}}]
    write("proofs", "log-lines", b"\x02" + "\n".join(json.dumps(l) for l in lines).encode())


def registry():
    reset("registry")
    text = open(os.path.join(ROOT, "policy", "registry", "midden-nederland.toml")).read()
    write("registry", "midden-nederland", text)


def config():
    reset("config")
    base = ('development = true\ndeployment = "dev"\nlisten = "127.0.0.1:8443"\n'
            'database = "sqlite://kruispunt.db"\n\n[tls]\ncert = "tls/server.pem"\n'
            'key = "tls/server.key"\n')
    write("config", "development", base)
    write("config", "production", base.replace("development = true", "development = false")
          .replace("sqlite://kruispunt.db", "postgres://kruispunt@db/kruispunt")
          + 'client_ca = "tls/partners-ca.pem"\n\nregistry = "registry.toml"\n'
          + '\n[limits]\nrequests_per_second = 50.0\nburst = 100.0\n'
          + 'purge_interval_secs = 60\nmax_token_lifetime_secs = 3600\n'
          + 'beeld_snapshot_interval_secs = 600\nunauthenticated_per_second = 1.0\n'
          + 'unauthenticated_burst = 20.0\nrefusal_interval_secs = 60\n'
          + '\n[connections]\nrequest_timeout_secs = 30\nheader_read_timeout_secs = 10\n'
          + 'max_connections = 1024\nbulk_body_idle_timeout_secs = 30\n')


def aggregate_query():
    reset("aggregate_query")
    qs = [
        {"purpose": "ondermijningsbeeld", "measure": "subjects", "group_by": ["district", "theme"],
         "from": "2026-01-01", "to": "2026-12-31"},
        {"purpose": "ondermijningsbeeld", "measure": "multi_source", "group_by": ["theme", "month"],
         "from": "2025-01-01", "to": "2026-12-31", "totals": True},
        {"purpose": "ondermijningsbeeld", "measure": "cross_sector", "group_by": ["gemeente"],
         "from": "2026-01-01", "to": "2026-06-30",
         "filter": {"district": ["oost-utrecht", "flevoland"], "gemeente": ["GM0344"],
                    "theme": ["horeca"]}},
        {"purpose": "ondermijningsbeeld", "measure": "signals", "group_by": ["wijk", "quarter"],
         "from": "2026-01-01", "to": "2026-03-31"},
    ]
    for i, q in enumerate(qs):
        write("aggregate_query", str(i), json.dumps(q))


if __name__ == "__main__":
    for f in (identifiers, jwt, ndjson, checkpoint, proofs, registry, config, aggregate_query):
        f()
