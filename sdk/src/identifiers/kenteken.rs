//! Dutch registration plates (kentekens).
//!
//! A plate is six letters and digits in one of the RDW *sidecodes* 1–14. The letter/digit
//! pattern of the six characters alone determines the sidecode (no two sidecodes share a
//! pattern), so the dashes a person writes carry no information: they are accepted anywhere
//! and not checked against the pattern. Checking them would refuse harmless variants such as
//! `GB-001B` or `GB 00 1B` while never catching a misread plate that the six characters do not
//! already catch. Which letters the RDW issues (no vowels in newer series, reserved
//! combinations) is deliberately not checked: historical, diplomatic and special plates break
//! those habits, and refusing a real plate is worse than accepting a never-issued one.

use super::{IdentifierError, IdentifierKind};

const KIND: IdentifierKind = IdentifierKind::Kenteken;

/// The RDW sidecodes 1–14 as letter (`X`) / digit (`9`) patterns with their dash groups.
pub const SIDECODES: [&str; 14] = [
    "XX-99-99", // 1
    "99-99-XX", // 2
    "99-XX-99", // 3
    "XX-99-XX", // 4
    "XX-XX-99", // 5
    "99-XX-XX", // 6
    "99-XXX-9", // 7
    "9-XXX-99", // 8
    "XX-999-X", // 9
    "X-999-XX", // 10
    "XXX-99-X", // 11
    "X-99-XXX", // 12
    "9-XX-999", // 13
    "999-XX-9", // 14
];

/// Bit `i` set when character `i` of the pattern is a letter.
const fn letter_mask(pattern: &str) -> u8 {
    let b = pattern.as_bytes();
    let (mut i, mut pos, mut mask) = (0, 0, 0u8);
    while i < b.len() {
        if b[i] != b'-' {
            if b[i] == b'X' {
                mask |= 1 << pos;
            }
            pos += 1;
        }
        i += 1;
    }
    mask
}

/// Sidecode (1–14) per letter mask, 0 for none; built at compile time so the hot path is one
/// table look-up.
const SIDECODE_BY_MASK: [u8; 64] = {
    let mut table = [0u8; 64];
    let mut i = 0;
    while i < SIDECODES.len() {
        table[letter_mask(SIDECODES[i]) as usize] = (i + 1) as u8;
        i += 1;
    }
    table
};

fn is_separator(b: u8) -> bool {
    matches!(b, b'-' | b' ' | b'\t')
}

/// Per input byte: the uppercased letter or digit, [`SEP`] for a separator, 0 for anything else.
/// A table instead of a `match` keeps the loop free of data-dependent branches, which matters
/// when plates of mixed sidecodes and styles stream past (this is the bulk-upload hot path).
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = match c {
            b'0'..=b'9' | b'A'..=b'Z' => c,
            b'a'..=b'z' => c - 32,
            b'-' | b' ' | b'\t' => SEP,
            _ => 0,
        };
        b += 1;
    }
    t
};
const SEP: u8 = 1;

/// Validates the six characters and returns them uppercased with the sidecode.
fn parse_bytes(raw: &str) -> Result<([u8; 6], u8), IdentifierError> {
    let mut buf = [0u8; 6];
    let mut n = 0usize;
    let mut mask = 0u8;
    for b in raw.bytes() {
        let up = CLASS[usize::from(b)];
        if up <= SEP {
            if up == SEP {
                continue;
            }
            return Err(bad_character(raw));
        }
        if n < 6 {
            buf[n] = up;
            mask |= u8::from(up >= b'A') << n;
        }
        n += 1;
    }
    if n != 6 {
        let stripped: String = raw
            .bytes()
            .filter(|&b| !is_separator(b))
            .map(|b| b.to_ascii_uppercase() as char)
            .collect();
        return Err(IdentifierError::new(
            KIND,
            if n == 0 { "empty" } else { "length" },
            raw,
            format!(
                "expected 6 letters and digits after removing dashes and spaces, got {n} ({stripped:?})"
            ),
        ));
    }
    match SIDECODE_BY_MASK[mask as usize] {
        0 => {
            let pattern: String = buf
                .iter()
                .map(|b| if b.is_ascii_alphabetic() { 'X' } else { '9' })
                .collect();
            Err(IdentifierError::new(
                KIND,
                "sidecode",
                raw,
                format!(
                    "letter/digit pattern {pattern} is none of the RDW sidecodes 1-14 ({})",
                    SIDECODES.join(", ")
                ),
            ))
        }
        sidecode => Ok((buf, sidecode)),
    }
}

fn bad_character(raw: &str) -> IdentifierError {
    let c = raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || (c.is_ascii() && is_separator(*c as u8))))
        .unwrap_or('?');
    IdentifierError::new(
        KIND,
        "character",
        raw,
        format!(
            "{c:?} is not allowed; a kenteken has letters A-Z and digits, optionally with dashes or spaces"
        ),
    )
}

pub(crate) fn normalise_into(raw: &str, out: &mut String) -> Result<(), IdentifierError> {
    let (buf, _) = parse_bytes(raw)?;
    out.clear();
    out.push_str(std::str::from_utf8(&buf).expect("ASCII letters and digits"));
    Ok(())
}

/// A valid Dutch registration plate; canonical form: 6 uppercase characters, e.g. `GB001B`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kenteken {
    value: String,
    sidecode: u8,
}

impl Kenteken {
    /// Accepts dashes, spaces and lowercase: `gb-001-b`, `GB 001 B`, `GB001B`.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        let (buf, sidecode) = parse_bytes(raw)?;
        Ok(Self {
            value: buf.iter().map(|&b| b as char).collect(),
            sidecode,
        })
    }

    /// The canonical form, e.g. `GB001B`.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The RDW sidecode, 1–14.
    pub fn sidecode(&self) -> u8 {
        self.sidecode
    }

    /// The plate as printed, with the dashes of its sidecode: `GB-001-B`. For display only;
    /// pseudonyms use [`Kenteken::as_str`].
    pub fn formatted(&self) -> String {
        let pattern = SIDECODES[usize::from(self.sidecode - 1)];
        let mut chars = self.value.chars();
        pattern
            .chars()
            .map(|p| {
                if p == '-' {
                    '-'
                } else {
                    chars.next().unwrap_or('?')
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(raw: &str) -> Result<String, IdentifierError> {
        let mut s = String::from("stale");
        normalise_into(raw, &mut s).map(|()| s)
    }

    #[test]
    fn every_sidecode_is_recognised() {
        let examples = [
            ("AB-12-34", 1),
            ("12-34-AB", 2),
            ("12-AB-34", 3),
            ("AB-12-CD", 4),
            ("AB-CD-12", 5),
            ("12-AB-CD", 6),
            ("12-ABC-3", 7),
            ("1-ABC-23", 8),
            ("AB-123-C", 9),
            ("A-123-BC", 10),
            ("ABC-12-D", 11),
            ("A-12-BCD", 12),
            ("1-AB-234", 13),
            ("123-AB-4", 14),
        ];
        for (plate, code) in examples {
            let k = Kenteken::parse(plate).unwrap();
            assert_eq!(k.sidecode(), code, "{plate}");
            assert_eq!(k.formatted(), plate);
            assert_eq!(k.as_str(), plate.replace('-', ""));
        }
    }

    // Known answers (canonical forms and refusal rules): sdk/tests/vectors/identifiers.json.
    #[test]
    fn refuses_invalid_plates_with_the_rule() {
        let e = canon("GB-001-BX").unwrap_err();
        assert_eq!(e.rule, "length");
        assert_eq!(
            e.to_string(),
            r#"kenteken "GB-001-BX": rule "length": expected 6 letters and digits after removing dashes and spaces, got 7 ("GB001BX")"#
        );
    }
}
