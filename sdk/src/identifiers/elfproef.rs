//! RSIN and BSN: 9 digits that pass the 11-proef.
//!
//! The 11-proef: with digits d1..d9, `9·d1 + 8·d2 + … + 2·d8 − 1·d9` must be divisible by 11.
//! Registers print these numbers with dots or spaces (`1234.56.782`), and older systems store
//! them as integers, dropping the leading zero, so an 8-digit input is left-padded with exactly
//! one `0` (the 11-proef still has to pass afterwards; it is not a silent fix because a number of
//! 8 digits has no other reading). All-zero passes the arithmetic but is a placeholder, and is
//! refused.

use super::kvk::digits_into;
use super::{IdentifierError, IdentifierKind, canonical_string};

const WEIGHTS: [i32; 9] = [9, 8, 7, 6, 5, 4, 3, 2, -1];
const SEPARATORS: &[u8] = b" .-\t";

/// The weighted sum of the 11-proef for 9 ASCII digits.
pub(crate) fn weighted_sum(digits: &[u8]) -> i32 {
    digits
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| i32::from(d - b'0') * w)
        .sum()
}

pub(crate) fn normalise_into(
    kind: IdentifierKind,
    raw: &str,
    out: &mut String,
) -> Result<(), IdentifierError> {
    let what = if kind == IdentifierKind::Bsn {
        "a BSN"
    } else {
        "an RSIN"
    };
    let digit_count = raw.bytes().filter(u8::is_ascii_digit).count();
    if digit_count == 8 {
        out.clear();
        out.push('0');
        let mut rest = String::with_capacity(8);
        digits_into(kind, raw, 8, SEPARATORS, what, &mut rest)?;
        out.push_str(&rest);
    } else {
        digits_into(kind, raw, 9, SEPARATORS, what, out).map_err(|mut e| {
            if e.rule == "length" {
                e.message = format!(
                    "expected 9 digits (or 8, which get one leading zero), got {digit_count}"
                );
            }
            e
        })?;
    }
    let sum = weighted_sum(out.as_bytes());
    if sum.rem_euclid(11) != 0 {
        let digits = std::mem::take(out);
        return Err(IdentifierError::new(
            kind,
            "elfproef",
            raw,
            format!(
                "{digits} fails the 11-proef: 9·d1+8·d2+…+2·d8−1·d9 = {sum}, which is not divisible by 11 (a typing error?)"
            ),
        ));
    }
    Ok(())
}

/// A legal entity's RSIN; canonical form: 9 digits passing the 11-proef.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rsin(String);

impl Rsin {
    /// Accepts spaces, dots and dashes between digits; 8 digits get one leading zero.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        canonical_string(IdentifierKind::Rsin, raw, 9).map(Self)
    }

    /// The canonical form: 9 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A citizen service number (BSN); canonical form: 9 digits passing the 11-proef.
///
/// Only public partners may supply or receive BSNs (the policy enforces that); this type only
/// says the number is well-formed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bsn(String);

impl Bsn {
    /// Accepts spaces, dots and dashes between digits; 8 digits get one leading zero.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        canonical_string(IdentifierKind::Bsn, raw, 9).map(Self)
    }

    /// The canonical form: 9 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
