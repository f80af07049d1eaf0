//! KvK numbers (8 digits) and vestigingsnummers (12 digits).
//!
//! Both are plain digit strings: the KvK prints them in groups (`6912 3456`, `0000.1234.5678`),
//! so spaces and dots are removed; leading zeros are part of the number and always kept. The
//! numbers carry no check digit, so the length is all there is to validate; an all-zero value is
//! refused because registrations use it as a placeholder, and matching on it would link
//! unrelated records.

use super::{IdentifierError, IdentifierKind, canonical_string};

/// Collects exactly `len` ASCII digits from `raw`, skipping `separators`, into `out`.
pub(crate) fn digits_into(
    kind: IdentifierKind,
    raw: &str,
    len: usize,
    separators: &[u8],
    what: &str,
    out: &mut String,
) -> Result<(), IdentifierError> {
    out.clear();
    for b in raw.bytes() {
        if b.is_ascii_digit() {
            out.push(b as char);
        } else if !separators.contains(&b) {
            let c = raw
                .chars()
                .find(|c| {
                    !(c.is_ascii_digit() || (c.is_ascii() && separators.contains(&(*c as u8))))
                })
                .unwrap_or('?');
            out.clear();
            return Err(IdentifierError::new(
                kind,
                "character",
                raw,
                format!(
                    "{c:?} is not allowed; {what} has digits only{}",
                    separator_note(separators)
                ),
            ));
        }
    }
    if out.len() != len {
        let n = out.len();
        out.clear();
        return Err(IdentifierError::new(
            kind,
            if n == 0 { "empty" } else { "length" },
            raw,
            format!("expected exactly {len} digits (leading zeros included), got {n}"),
        ));
    }
    if out.bytes().all(|b| b == b'0') {
        out.clear();
        return Err(IdentifierError::new(
            kind,
            "zero",
            raw,
            "an all-zero number is a placeholder, not an identifier",
        ));
    }
    Ok(())
}

fn separator_note(separators: &[u8]) -> String {
    let names: Vec<&str> = separators
        .iter()
        .map(|b| match b {
            b' ' => "spaces",
            b'.' => "dots",
            b'-' => "dashes",
            _ => "separators",
        })
        .filter(|n| *n != "separators")
        .collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => format!(" (and {one})"),
        [init @ .., last] => format!(" (and {} or {last})", init.join(", ")),
    }
}

pub(crate) const KVK_SEPARATORS: &[u8] = b" .\t";

pub(crate) fn normalise_kvk_into(raw: &str, out: &mut String) -> Result<(), IdentifierError> {
    digits_into(
        IdentifierKind::Kvk,
        raw,
        8,
        KVK_SEPARATORS,
        "a KvK number",
        out,
    )
}

pub(crate) fn normalise_vestiging_into(raw: &str, out: &mut String) -> Result<(), IdentifierError> {
    digits_into(
        IdentifierKind::Vestiging,
        raw,
        12,
        KVK_SEPARATORS,
        "a vestigingsnummer",
        out,
    )
}

/// A KvK (Chamber of Commerce) number; canonical form: 8 digits, e.g. `01234567`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kvk(String);

impl Kvk {
    /// Accepts spaces and dots between the digits: `6912 3456`, `01.23.45.67`.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        canonical_string(IdentifierKind::Kvk, raw, 8).map(Self)
    }

    /// The canonical form: 8 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A KvK establishment number; canonical form: 12 digits, e.g. `000012345678`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vestiging(String);

impl Vestiging {
    /// Accepts spaces and dots between the digits: `0000 1234 5678`.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        canonical_string(IdentifierKind::Vestiging, raw, 12).map(Self)
    }

    /// The canonical form: 12 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
