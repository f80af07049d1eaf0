"""Every test vector of docs/PSEUDONYMS.md through the Python package, read from the document
itself (as sdk/tests/pseudonym_vectors.rs reads it), so a vector added there is checked here
too; plus the machine-readable normalisation vectors of sdk/tests/vectors/identifiers.json."""

from __future__ import annotations

import json
import re

import pytest

import kruispunt

from conftest import REPO

DOC = (REPO / "docs" / "PSEUDONYMS.md").read_text(encoding="utf-8")
VECTOR_HEADER = ["kind", "as written", "canonical", "pseudonym (hex)"]
INVALID_HEADER = ["kind", "as written", "rule"]
INTERMEDIATE_HEADER = ["intermediate", "value (hex)"]


def cells(line: str) -> list[str]:
    """A table row split on unescaped `|`, each cell unescaped and without its backticks."""
    inner = line.strip()
    assert inner.startswith("|") and inner.endswith("|"), line
    inner = inner[1:-1]
    out = [""]
    i = 0
    while i < len(inner):
        c = inner[i]
        if c == "\\" and inner[i + 1 : i + 2] == "|":
            out[-1] += "|"
            i += 2
            continue
        if c == "|":
            out.append("")
        else:
            out[-1] += c
        i += 1
    stripped = []
    for cell in out:
        cell = cell.strip()
        if len(cell) >= 2 and cell.startswith("`") and cell.endswith("`"):
            cell = cell[1:-1]
        stripped.append(cell)
    return stripped


def table(header: list[str]) -> list[list[str]]:
    rows: list[list[str]] = []
    in_table = False
    for line in DOC.splitlines():
        if not line.lstrip().startswith("|"):
            in_table = False
            continue
        c = cells(line)
        if c == header:
            in_table = True
        elif in_table and not all(set(x) <= set("-:") for x in c):
            assert len(c) == len(header), f"malformed row: {line}"
            rows.append(c)
    return rows


def section(title: str) -> str:
    """The text of the `## N. title` section."""
    m = re.search(rf"^## \d+\. {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC, re.S | re.M)
    assert m, f"docs/PSEUDONYMS.md has no section {title!r}"
    return m.group(1)


def table_lines(text: str) -> int:
    """Table rows in `text` that are neither a header nor a separator, counted by line."""
    lines = [l for l in text.splitlines() if l.lstrip().startswith("|")]
    return len([l for l in lines if not re.fullmatch(r"[|\-: ]+", l.strip())]) - 1


VECTORS = table(VECTOR_HEADER)
REFUSALS = table(INVALID_HEADER)


def test_every_row_of_the_document_is_read():
    # Counted independently of the parser: every row of sections 4 and 5 (less the header).
    assert len(VECTORS) == table_lines(section("Test vectors")) == 41
    assert len(REFUSALS) == table_lines(section("Refused examples")) == 32
    for kind in kruispunt.KINDS:
        assert sum(r[0] == kind for r in VECTORS) >= 3, kind
        assert any(r[0] == kind for r in REFUSALS), kind


def test_kinds_are_the_documents_ten():
    assert kruispunt.KINDS == [
        "kenteken", "kvk", "vestiging", "rsin", "bsn", "iban", "adres", "vin", "telefoon", "persoon",
    ]


def doc_key() -> kruispunt.CoalitionKey:
    """The document's test key (section 2), version 1."""
    hex_key = dict((r[0], r[1]) for r in table(INTERMEDIATE_HEADER))["coalition_key"]
    return kruispunt.CoalitionKey(hex_key, 1)


def test_the_test_key_is_bytes_0_to_31():
    hex_key = dict((r[0], r[1]) for r in table(INTERMEDIATE_HEADER))["coalition_key"]
    assert bytes.fromhex(hex_key) == bytes(range(32))
    assert doc_key().version == 1
    assert hex_key not in repr(doc_key())


@pytest.mark.parametrize("kind,written,canonical,pseudonym", VECTORS, ids=lambda v: str(v))
def test_vector(kind, written, canonical, pseudonym):
    key = doc_key()
    assert kruispunt.normalise(kind, written) == canonical
    assert kruispunt.canonical(kind, written).value == canonical
    p = key.pseudonymiser(kind)
    assert p.pseudonymise(written) == pseudonym
    assert p.pseudonymise_canonical(canonical) == pseudonym
    assert key.pseudonymise(kind, written) == pseudonym


def test_every_vector_as_one_column_per_kind():
    key = doc_key()
    for kind in kruispunt.KINDS:
        rows = [r for r in VECTORS if r[0] == kind]
        written = [r[1] for r in rows]
        assert kruispunt.normalise_column(kind, written) == [r[2] for r in rows]
        assert key.pseudonymiser(kind).pseudonymise_column(written) == [r[3] for r in rows]


@pytest.mark.parametrize("kind,written,rule", REFUSALS, ids=lambda v: str(v))
def test_refusal(kind, written, rule):
    with pytest.raises(kruispunt.IdentifierError) as e:
        kruispunt.normalise(kind, written)
    assert (e.value.kind, e.value.rule, e.value.index) == (kind, rule, None)
    assert isinstance(e.value, ValueError)
    assert f"rule {json.dumps(rule)}" in str(e.value)
    with pytest.raises(kruispunt.IdentifierError) as e:
        doc_key().pseudonymiser(kind).pseudonymise(written)
    assert e.value.rule == rule


IDENTIFIER_VECTORS = json.loads((REPO / "sdk" / "tests" / "vectors" / "identifiers.json").read_text(encoding="utf-8"))


def test_every_normalisation_vector_of_the_json_file():
    assert len(IDENTIFIER_VECTORS) > 100
    for v in IDENTIFIER_VECTORS:
        if v.get("part") == "geboortedatum":
            # The date field alone: the fourth part of a person's canonical form.
            def run():
                return kruispunt.normalise_persoon("jansen", "", "", v["input"]).split("|")[3]
        else:
            assert "part" not in v, v
            def run():
                return kruispunt.normalise(v["kind"], v["input"])
        if "canonical" in v:
            assert run() == v["canonical"], v
        else:
            with pytest.raises(kruispunt.IdentifierError) as e:
                run()
            assert (e.value.kind, e.value.rule) == (v["kind"], v["rule"]), v
