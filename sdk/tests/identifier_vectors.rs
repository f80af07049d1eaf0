//! Checks the normalisation vectors in `tests/vectors/identifiers.json` (format: section 6 of
//! `docs/PSEUDONYMS.md`): for every value, the canonical form it must give or the rule it must
//! be refused with.
//!
//! Each vector is run through all three ways the SDK normalises — the public
//! [`normalise`], the allocation-free [`normalise_into`] (on a buffer holding a stale value) and
//! the kind's own type (`Kvk::parse`, `Adres::parse`, …) — and the three must agree to the
//! byte, error included, before the answer is compared with the vector. An error must name the
//! kind it was parsed as.

use kruispunt_sdk::identifiers::{
    Geboortedatum, IdentifierError, IdentifierKind, normalise, normalise_into,
};

mod support;
use support::typed;

const VECTORS: &str = include_str!("vectors/identifiers.json");

/// One vector: `canonical` for a value that must be accepted, `rule` for one that must be
/// refused (exactly one of the two).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    kind: IdentifierKind,
    /// Set when `input` is one field of the kind's value rather than the whole value; the only
    /// one is `geboortedatum` (of a `persoon`).
    part: Option<String>,
    input: String,
    canonical: Option<String>,
    rule: Option<String>,
    /// Why the vector is there; shown when it fails.
    note: Option<String>,
}

fn vectors() -> Vec<Vector> {
    serde_json::from_str(VECTORS).expect("tests/vectors/identifiers.json is a list of vectors")
}

/// The canonical form (or the refusal) of a whole value, after checking that the three entry
/// points agree.
fn canonical_form(kind: IdentifierKind, raw: &str) -> Result<String, IdentifierError> {
    let public = normalise(kind, raw).map(|c| {
        assert_eq!(c.kind, kind);
        c.value
    });
    let mut buf = String::from("stale");
    let into = normalise_into(kind, raw, &mut buf).map(|()| buf.clone());
    if into.is_err() {
        assert!(
            buf.is_empty(),
            "{kind} {raw:?}: a refusal leaves no partial value"
        );
    }
    let by_type = typed(kind, raw);
    assert_eq!(public, into, "{kind} {raw:?}: normalise and normalise_into");
    assert_eq!(
        public, by_type,
        "{kind} {raw:?}: normalise and the type's parse"
    );
    public
}

/// What the vector's `input` gives.
fn answer(v: &Vector) -> Result<String, IdentifierError> {
    match (v.kind, v.part.as_deref()) {
        (_, None) => canonical_form(v.kind, &v.input),
        (IdentifierKind::Persoon, Some("geboortedatum")) => {
            Geboortedatum::parse(&v.input).map(|d| d.to_string())
        }
        (kind, Some(part)) => panic!("{kind} has no part {part:?} with vectors"),
    }
}

#[test]
fn every_vector_gives_its_canonical_form_or_rule() {
    let vectors = vectors();
    assert!(vectors.len() > 100, "the vector file was read whole");
    for v in &vectors {
        let what = format!(
            "{} {:?}{}",
            v.kind,
            v.input,
            v.note
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        );
        match (&v.canonical, &v.rule, answer(v)) {
            (Some(want), None, Ok(got)) => assert_eq!(&got, want, "{what}"),
            (None, Some(want), Err(e)) => {
                assert_eq!(e.rule, want, "{what}: {e}");
                assert_eq!(e.kind, v.kind, "{what}: {e}");
            }
            (Some(want), None, Err(e)) => panic!("{what}: want {want:?}, refused: {e}"),
            (None, Some(want), Ok(got)) => {
                panic!("{what}: want rule {want:?}, accepted as {got:?}")
            }
            _ => panic!("{what}: a vector has exactly one of canonical and rule"),
        }
    }
}

#[test]
fn every_kind_has_accepted_and_refused_vectors() {
    let vectors = vectors();
    for kind in IdentifierKind::ALL {
        let of_kind = || {
            vectors
                .iter()
                .filter(|v| v.kind == kind && v.part.is_none())
        };
        assert!(of_kind().any(|v| v.canonical.is_some()), "{kind}: accepted");
        assert!(of_kind().any(|v| v.rule.is_some()), "{kind}: refused");
    }
}
