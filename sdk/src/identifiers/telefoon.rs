//! Telephone numbers in E.164: `+` followed by 8–15 digits, the first not 0.
//!
//! People write `06-12345678`, `+31 (0)6 1234 5678`, `0031 6 12345678`, `(030) 123 45 67`.
//! Rules, in order:
//! 1. spaces, dashes, dots, slashes and parentheses are removed; the Dutch habit `(0)` after a
//!    country code (`+31 (0)6…`) marks the trunk prefix that is *not* dialled, so it is removed
//!    as a whole, before the other parentheses;
//! 2. a leading `00` becomes `+`;
//! 3. a leading single `0` (a Dutch national number) becomes `+31`;
//! 4. anything else must already start with `+`;
//! 5. Dutch numbers (`+31`) have exactly 9 digits after `31`, the first not 0; other numbers
//!    8–15 digits in total (country code included).
//!
//! A number without any prefix (`612345678`, `31612345678`) is refused: whether it is national
//! or international cannot be told, and guessing would link the wrong people.

use super::{IdentifierError, IdentifierKind, canonical_string};

const KIND: IdentifierKind = IdentifierKind::Telefoon;

fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'/' | b'(' | b')' | b'\t')
}

fn err(rule: &'static str, raw: &str, message: impl Into<String>) -> IdentifierError {
    IdentifierError::new(KIND, rule, raw, message)
}

pub(crate) fn normalise_into(raw: &str, out: &mut String) -> Result<(), IdentifierError> {
    out.clear();
    let b = raw.trim().as_bytes();
    let mut i = 0;
    // Collect the digits into `out` and remember whether a '+' came first.
    let mut digits = 0usize;
    let mut plus = false;
    while i < b.len() {
        let c = b[i];
        if c == b'('
            && b.get(i + 1) == Some(&b'0')
            && b.get(i + 2) == Some(&b')')
            && (plus || out.starts_with("00"))
            && digits > 0
        {
            i += 3; // "(0)" after a country code: the trunk prefix nobody dials from abroad.
            continue;
        }
        match c {
            b'+' if digits == 0 && !plus => {
                plus = true;
            }
            b'0'..=b'9' => {
                digits += 1;
                out.push(c as char);
            }
            _ if is_separator(c) => {}
            _ => {
                out.clear();
                let ch = raw
                    .chars()
                    .find(|&ch| {
                        !(ch.is_ascii_digit()
                            || ch == '+'
                            || (ch.is_ascii() && is_separator(ch as u8)))
                    })
                    .unwrap_or('+');
                return Err(err(
                    "character",
                    raw,
                    format!(
                        "{ch:?} is not allowed; a telephone number has digits, a leading + and optionally spaces, dashes, dots or parentheses"
                    ),
                ));
            }
        }
        i += 1;
    }
    if digits == 0 {
        out.clear();
        return Err(err(
            if raw.trim().is_empty() {
                "empty"
            } else {
                "length"
            },
            raw,
            "expected a telephone number such as +31 6 12345678 or 06-12345678",
        ));
    }
    // `out` now holds the digits only; build the E.164 form in place.
    if plus {
        out.insert(0, '+');
    } else if out.starts_with("00") {
        out.replace_range(..2, "+");
    } else if out.starts_with('0') {
        out.replace_range(..1, "+31");
    } else {
        out.clear();
        return Err(err(
            "prefix",
            raw,
            "start with + or 00 and the country code, or 0 for a Dutch number; without it the country is unknown",
        ));
    }
    let total = out.len() - 1;
    // `get`: "00" alone leaves just "+", which the length check below refuses.
    if out.as_bytes().get(1) == Some(&b'0') {
        out.clear();
        return Err(err(
            "country-code",
            raw,
            "a country code never starts with 0",
        ));
    }
    if let Some(national) = out.strip_prefix("+31") {
        let n = national.len();
        if national.starts_with('0') {
            out.clear();
            return Err(err(
                "trunk-zero",
                raw,
                "after +31 the national 0 is dropped: write +31 6…, +31 (0)6… or 06…, not +31 06…",
            ));
        }
        if n != 9 {
            out.clear();
            return Err(err(
                "length",
                raw,
                format!("a Dutch number has 9 digits after +31 (10 with the leading 0), got {n}"),
            ));
        }
    } else if !(8..=15).contains(&total) {
        out.clear();
        return Err(err(
            "length",
            raw,
            format!("an E.164 number has 8 to 15 digits including the country code, got {total}"),
        ));
    }
    Ok(())
}

/// A telephone number; canonical form: E.164, e.g. `+31612345678`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Telefoon(String);

impl Telefoon {
    /// Accepts national Dutch numbers, `00` and `+` prefixes, and common separators.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        canonical_string(IdentifierKind::Telefoon, raw, 16).map(Self)
    }

    /// The canonical form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
