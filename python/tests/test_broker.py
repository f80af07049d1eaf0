"""The client and the log verifier against a real broker (`kruispunt serve`, see conftest.py):
upload, match and an aggregate through the Python client, a policy refusal as `ProblemError`,
and the audit log verified over the network and from an export — and refused once tampered."""

from __future__ import annotations

import datetime
import json
import shutil
import time

import pytest

import kruispunt

KEY = kruispunt.CoalitionKey("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 1)
PURPOSE = "autobranche-contante-aankopen"
DEALERS = ["autobedrijf-de-vecht", "autohandel-amersfoort"]


def client(broker, partner: str, role: str = "compliance") -> kruispunt.Client:
    return kruispunt.Client(broker.url, broker.token(partner, role), ca=broker.ca)


def signals(column: list[str]) -> list[dict]:
    observed = (datetime.date.today() - datetime.timedelta(days=2)).isoformat()
    pseudonyms = KEY.pseudonymiser("kenteken").pseudonymise_column(column)
    return [
        {
            "kind": "kenteken",
            "pseudonym": p,
            "key_version": KEY.version,
            "code": "cash-car-purchase",
            "observed": observed,
            "district": "oost-utrecht",
            "purposes": [PURPOSE, "politie-opsporing-wpg19"],
        }
        for p in pseudonyms
    ]


@pytest.fixture(scope="module")
def uploaded(broker):
    """Two dealers report the same two plates (written differently); answers the plates."""
    plates = ["GB-001-B", "12-KBS-3"]
    written = {DEALERS[0]: plates, DEALERS[1]: ["gb 001 b", "12kbs3"]}
    for dealer in DEALERS:
        answer = client(broker, dealer).upload(signals(written[dealer]))
        assert (answer["stored"], answer["rejected"]) == (2, 0), answer
    return plates


def test_upload_is_idempotent_and_rejections_are_per_item(broker, uploaded):
    c = client(broker, DEALERS[0])
    batch = signals(uploaded)
    batch.append(dict(batch[0], district="nowhere"))
    answer = c.upload(batch)
    assert answer["stored"] == 0 and answer["duplicates"] == 2 and answer["rejected"] == 1, answer
    rejected = [r for r in answer["results"] if r["status"] == "rejected"]
    assert rejected[0]["index"] == 2 and rejected[0]["field"] == "district", rejected
    bulk = c.upload_bulk(signals(["FH-12-ST"]) * 2)
    assert bulk["stored"] + bulk["duplicates"] == 2 and bulk["rejected"] == 0, bulk


def test_match_through_the_client(broker, uploaded):
    asker = client(broker, "autoschade-almere")
    ids = [
        {"kind": "kenteken", "pseudonym": p, "key_version": 1}
        for p in KEY.pseudonymiser("kenteken").pseudonymise_column(uploaded + ["99-XX-99"])
    ]
    answer = asker.match(PURPOSE, ids)
    assert [r["hit"] for r in answer["results"]] == [True, True, False], answer
    assert answer["level"] == "hit" and isinstance(answer["audit_seq"], int)


def test_a_refusal_is_a_problem_error_with_the_rfc_9457_fields(broker, uploaded):
    horeca = client(broker, "horeca-gooi")
    ids = [{"kind": "kenteken", "pseudonym": KEY.pseudonymise("kenteken", uploaded[0]), "key_version": 1}]
    with pytest.raises(kruispunt.ProblemError) as e:
        horeca.match(PURPOSE, ids)
    p = e.value
    assert p.status == 403
    assert p.type == "urn:kruispunt:problem:policy-denied" and p.slug == "policy-denied"
    assert p.title and p.detail and p.reasons, (p.title, p.detail, p.reasons)
    assert "policy-denied" in str(p)


def test_a_request_the_api_does_not_know_is_refused_locally(broker):
    c = client(broker, DEALERS[0])
    with pytest.raises(kruispunt.ClientConfigError, match="unknown field"):
        c.upload([{"kind": "kenteken", "plate": "GB-001-B"}])
    with pytest.raises(kruispunt.ClientConfigError):
        c.match(PURPOSE, [], level="everything")


def test_an_aggregate_through_the_client(broker, uploaded):
    analyst = client(broker, "riec-midden-nederland", "analist")
    today = datetime.date.today()
    question = {
        "purpose": "ondermijningsbeeld",
        "measure": "subjects",
        "group_by": ["district", "theme"],
        "from": (today - datetime.timedelta(days=60)).isoformat(),
        "to": today.isoformat(),
    }
    answer = analyst.aggregates(question)
    assert isinstance(answer["cells"], list) and answer["epsilon_left"] >= 0, answer
    for cell in answer["cells"]:
        assert cell["suppressed"] or cell["value"] is not None, cell
    # A dealer may not ask for the picture: the broker's problem, as an exception.
    with pytest.raises(kruispunt.ProblemError) as e:
        client(broker, DEALERS[0]).aggregates(question)
    assert e.value.status == 403, e.value


def test_a_bad_connection_is_a_transport_error(broker):
    with pytest.raises(kruispunt.TransportError):
        kruispunt.Client(broker.url, "t", retries=1).health()  # the development CA is not given
    kruispunt.Client(broker.url, "t", ca=broker.ca).health()
    with pytest.raises(kruispunt.ClientConfigError, match="HTTPS"):
        kruispunt.Client("http://localhost:1", "t")


def signed_checkpoint(c: kruispunt.Client) -> kruispunt.Checkpoint:
    """The latest checkpoint once it covers the uploads (the broker signs one every 500 ms)."""
    for _ in range(600):
        cp = c.audit_checkpoint()
        if cp.size > 0:
            return cp
        time.sleep(0.1)
    raise AssertionError("no checkpoint covered the uploads")


def test_the_checkpoint_and_the_log_verify_over_the_network(broker, uploaded):
    officer = client(broker, DEALERS[0], "privacy-officer")
    cp = signed_checkpoint(officer)
    assert cp.origin.startswith("kruispunt/") and cp.size > 0
    assert kruispunt.verify_checkpoint(cp.note, cp.key).root == cp.root
    report = officer.verify_audit_log(trusted=cp)
    assert report.size >= cp.size and report.trusted_size == cp.size
    assert report.entries_checked > 0 and report.entries_checked + report.leaves_only == report.size


def test_a_tampered_checkpoint_is_refused(broker, uploaded):
    cp = signed_checkpoint(client(broker, DEALERS[0]))
    origin, size, root, *rest = cp.note.split("\n")
    forged = "\n".join([origin, str(int(size) + 1), root, *rest])
    with pytest.raises(kruispunt.VerificationError):
        kruispunt.verify_checkpoint(forged, cp.key)
    name, _hash, b64 = cp.key.rsplit("+", 2)
    wrong_key = f"{name}+{_hash}+{b64[:-4]}AAAA"  # another public key under the log's name
    with pytest.raises(kruispunt.VerificationError):
        kruispunt.verify_checkpoint(cp.note, wrong_key)


def test_an_export_verifies_and_a_tampered_export_names_the_entry(broker, uploaded, tmp_path):
    out = tmp_path / "export"
    done = broker.run("audit", "export", "--data-dir", str(broker.data_dir), "--out", str(out))
    assert done.returncode == 0, done.stderr
    report = kruispunt.verify_export(out)
    assert report.size > 0 and report.entries_checked == report.size
    note = (out / "checkpoint").read_text()
    key = (out / "key").read_text()
    text = (out / "entries.jsonl").read_text()
    assert kruispunt.verify_log(note, key, text).root == report.root
    lines = [json.loads(l) for l in text.splitlines() if l.strip()]
    assert kruispunt.verify_log(note, key, lines).size == report.size
    trusted = kruispunt.verify_checkpoint(note, key)
    assert kruispunt.verify_export(out, trusted=trusted).trusted_size == report.size

    # An entry edited after the checkpoint was signed: named by its index.
    edited = [dict(l) for l in lines]
    target = next(i for i, l in enumerate(edited) if l.get("entry"))
    edited[target]["entry"] = dict(edited[target]["entry"], action="something.else")
    with pytest.raises(kruispunt.VerificationError) as e:
        kruispunt.verify_log(note, key, edited)
    assert e.value.index == target and "does not match its leaf" in str(e.value)

    # A line removed: the log no longer has the checkpoint's entries.
    tampered = tmp_path / "tampered"
    shutil.copytree(out, tampered)
    (tampered / "entries.jsonl").write_text("\n".join(json.dumps(l) for l in lines[1:]) + "\n")
    with pytest.raises(kruispunt.VerificationError) as e:
        kruispunt.verify_export(tampered)
    assert e.value.index == 0

    with pytest.raises(kruispunt.ExportError):
        kruispunt.verify_export(tmp_path / "nothing-here")
