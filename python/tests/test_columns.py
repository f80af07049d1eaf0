"""Normalisation and pseudonymisation of single values and columns: results equal the single
calls, errors are `IdentifierError`s naming the kind, the rule and (in a column) the index."""

from __future__ import annotations

import pytest

import kruispunt

KEY = kruispunt.CoalitionKey("00" * 32, 1)


def plates(n: int) -> list[str]:
    letters = "BDFGHJKLMNPRSTVXZ"
    return [f"{letters[i % 17]}{letters[(i // 17) % 17]}-{i % 1000:03d}-{letters[(i // 289) % 17]}" for i in range(n)]


def test_a_column_equals_the_single_values_on_any_number_of_threads():
    values = plates(40_000)  # above the size from which the column is split over threads
    p = KEY.pseudonymiser("kenteken")
    single = [p.pseudonymise(v) for v in values[:500]]
    for threads in (1, 2, 3, None):
        column = p.pseudonymise_column(values, threads=threads)
        assert len(column) == len(values)
        assert column[:500] == single
    assert kruispunt.normalise_column("kenteken", values[:3]) == [v.replace("-", "") for v in values[:3]]


def test_missing_values_stay_missing_and_tuples_are_columns():
    p = KEY.pseudonymiser("kvk")
    out = p.pseudonymise_column(("69599084", None, "6959 9084"))
    assert out[0] == out[2] and out[1] is None and len(out[0]) == 64
    assert kruispunt.normalise_column("kvk", [None]) == [None]
    assert p.pseudonymise_column([]) == []


def test_the_first_invalid_value_of_a_column_is_named_by_index():
    values = ["GB-001-B", "12-KBS-3", "GB-001-BX", "123456"]
    with pytest.raises(kruispunt.IdentifierError) as e:
        KEY.pseudonymiser("kenteken").pseudonymise_column(values)
    err = e.value
    assert (err.index, err.kind, err.rule, err.part) == (2, "kenteken", "length", "GB-001-BX")
    assert str(err).startswith('value 2: kenteken "GB-001-BX": rule "length"')
    with pytest.raises(kruispunt.IdentifierError) as e:
        kruispunt.normalise_column("kenteken", values)
    assert e.value.index == 2


def test_errors_null_puts_none_in_place_of_invalid_values():
    out = KEY.pseudonymiser("kenteken").pseudonymise_column(["GB-001-B", "GB-001-BX", None], errors="null")
    assert out[0] == KEY.pseudonymise("kenteken", "gb 001 b")
    assert out[1:] == [None, None]
    assert kruispunt.normalise_column("iban", ["nl91abna0417164300", "NL91ABNA0417164301"], errors="null") == [
        "NL91ABNA0417164300",
        None,
    ]


def test_single_value_errors_name_kind_rule_part_and_reason():
    with pytest.raises(kruispunt.IdentifierError) as e:
        kruispunt.normalise("bsn", "123456789")
    err = e.value
    assert (err.kind, err.rule, err.part, err.index) == ("bsn", "elfproef", "123456789", None)
    assert "147" in err.reason  # the weighted sum the 11-proef computed
    assert isinstance(err, ValueError) and isinstance(err, kruispunt.KruispuntError)
    with pytest.raises(kruispunt.IdentifierError) as e:
        kruispunt.normalise_persoon("Jansen", "Piet", "", "00000000")
    assert (e.value.kind, e.value.rule) == ("persoon", "geboortedatum-onbekend")


def test_bad_arguments_are_refused_with_what_is_accepted():
    with pytest.raises(ValueError, match="kenteken, kvk"):
        kruispunt.normalise("plate", "GB-001-B")
    with pytest.raises(ValueError, match='"raise"'):
        KEY.pseudonymiser("kvk").pseudonymise_column(["69599084"], errors="ignore")
    with pytest.raises(TypeError):
        KEY.pseudonymiser("kvk").pseudonymise_column("69599084")
    with pytest.raises(TypeError):
        KEY.pseudonymiser("kvk").pseudonymise_column([69599084])
    with pytest.raises(kruispunt.CoalitionKeyError, match="32 bytes"):
        kruispunt.CoalitionKey("00", 1)
    with pytest.raises(kruispunt.CoalitionKeyError, match="coalition join"):
        kruispunt.CoalitionKey.from_member_state("/nonexistent/member-state", "kvo")


def test_canonical_reports_warnings_and_keys_never_show_their_secret():
    c = kruispunt.canonical("vin", "WVWZZZ1KZ6W123456")
    assert (c.kind, c.value, len(c.warnings)) == ("vin", "WVWZZZ1KZ6W123456", 1)
    assert kruispunt.normalise_persoon("Çelik", "Ayşe", "", "1985-07-03") == "celik|ayse||19850703"
    key = kruispunt.CoalitionKey("ab" * 32, 7)
    assert "ab" not in repr(key) and "7" in repr(key)
    p = key.pseudonymiser("KvK")
    assert (p.kind, p.version) == ("kvk", 7)
    generated = kruispunt.CoalitionKey.generate(2)
    assert generated.version == 2
    assert generated.pseudonymise("kvk", "69599084") != key.pseudonymise("kvk", "69599084")


def test_the_package_docstring_examples_hold():
    import doctest

    result = doctest.testmod(kruispunt)
    assert result.attempted > 0 and result.failed == 0
