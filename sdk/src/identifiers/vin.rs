//! Vehicle identification numbers (ISO 3779).
//!
//! Canonical form: 17 uppercase characters. I, O and Q never occur (they look like 1 and 0).
//! Position 9 is a check digit only in North America (first character 1–5: US, Canada, Mexico);
//! there a mismatch is refused. Elsewhere manufacturers may use position 9 freely, so a mismatch
//! is reported as a warning and the VIN is accepted — refusing would reject real European cars.

use super::{IdentifierError, IdentifierKind};

const KIND: IdentifierKind = IdentifierKind::Vin;
const WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

/// The transliteration value of a VIN character (digits as themselves, letters per ISO 3779).
fn value(b: u8) -> u32 {
    match b {
        b'0'..=b'9' => u32::from(b - b'0'),
        b'A' | b'J' => 1,
        b'B' | b'K' | b'S' => 2,
        b'C' | b'L' | b'T' => 3,
        b'D' | b'M' | b'U' => 4,
        b'E' | b'N' | b'V' => 5,
        b'F' | b'W' => 6,
        b'G' | b'P' | b'X' => 7,
        b'H' | b'Y' => 8,
        b'R' | b'Z' => 9,
        _ => 0,
    }
}

/// The check digit (`0`–`9` or `X`) computed from all 17 characters.
pub fn check_digit(vin: &[u8; 17]) -> u8 {
    let sum: u32 = vin.iter().zip(WEIGHTS).map(|(&b, w)| value(b) * w).sum();
    match sum % 11 {
        10 => b'X',
        r => b'0' + r as u8,
    }
}

/// Parses and validates; returns the warning, if any, for a non-North-American check digit.
fn parse_bytes(raw: &str) -> Result<([u8; 17], Option<String>), IdentifierError> {
    let mut buf = [0u8; 17];
    let mut n = 0;
    for c in raw.chars() {
        if c == ' ' || c == '-' || c == '\t' {
            continue;
        }
        let up = c.to_ascii_uppercase();
        if !up.is_ascii_alphanumeric() || matches!(up, 'I' | 'O' | 'Q') {
            let why = if matches!(up, 'I' | 'O' | 'Q') {
                "I, O and Q never occur in a VIN (did you mean 1 or 0?)"
            } else {
                "a VIN has letters A-Z and digits only"
            };
            return Err(IdentifierError::new(
                KIND,
                "character",
                raw,
                format!("{c:?} is not allowed: {why}"),
            ));
        }
        if n < 17 {
            buf[n] = up as u8;
        }
        n += 1;
    }
    if n != 17 {
        return Err(IdentifierError::new(
            KIND,
            if n == 0 { "empty" } else { "length" },
            raw,
            format!("expected 17 letters and digits, got {n}"),
        ));
    }
    let expected = check_digit(&buf);
    let mut warning = None;
    if buf[8] != expected {
        let msg = format!(
            "check digit at position 9 is {:?}, computed {:?}",
            buf[8] as char, expected as char
        );
        if (b'1'..=b'5').contains(&buf[0]) {
            return Err(IdentifierError::new(
                KIND,
                "check-digit",
                raw,
                format!(
                    "{msg}; North-American VINs (first character 1-5) must match (a typing error?)"
                ),
            ));
        }
        warning = Some(format!(
            "vin {}: {msg}; not enforced outside North America, accepted",
            std::str::from_utf8(&buf).expect("ASCII")
        ));
    }
    Ok((buf, warning))
}

pub(crate) fn normalise_into(raw: &str, out: &mut String) -> Result<(), IdentifierError> {
    let (buf, _) = parse_bytes(raw)?;
    out.clear();
    out.extend(buf.iter().map(|&b| b as char));
    Ok(())
}

/// A vehicle identification number; canonical form: 17 uppercase characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vin {
    value: String,
    warnings: Vec<String>,
}

impl Vin {
    /// Accepts spaces, dashes and lowercase.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        let (buf, warning) = parse_bytes(raw)?;
        Ok(Self {
            value: buf.iter().map(|&b| b as char).collect(),
            warnings: warning.into_iter().collect(),
        })
    }

    /// The canonical form.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// Findings that did not make the VIN invalid (a non-North-American check digit mismatch).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Whether the VIN was issued for North America (first character 1–5), where position 9 is
    /// an enforced check digit.
    pub fn is_north_american(&self) -> bool {
        (b'1'..=b'5').contains(&self.value.as_bytes()[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers (canonical forms and refusal rules): sdk/tests/vectors/identifiers.json.
    #[test]
    fn north_american_check_digit_is_enforced() {
        // The textbook example: 1M8GDM9A_KP042788 has check digit X.
        let v = Vin::parse("1M8GDM9AXKP042788").unwrap();
        assert!(v.is_north_american() && v.warnings().is_empty());
    }

    #[test]
    fn elsewhere_a_mismatch_is_a_warning() {
        let v = Vin::parse("WVWZZZ1KZ6W123456").unwrap();
        assert!(!v.is_north_american());
        assert_eq!(v.warnings().len(), 1);
        assert!(v.warnings()[0].contains("position 9"), "{:?}", v.warnings());
    }
}
