//! IBANs (ISO 13616).
//!
//! Canonical form: uppercase, no spaces. Validation: a country in the SWIFT IBAN registry, that
//! country's registered length, two check digits, an alphanumeric BBAN, and the mod-97 check
//! (move the first four characters to the end, letters A=10…Z=35, the number mod 97 must be 1).
//! For NL the BBAN structure is checked too (4-letter bank code, 10-digit account number),
//! because most values partners hold are Dutch and a structural error there is worth a specific
//! message. Territories that use another country's code (e.g. French overseas departments use
//! `FR`, Åland uses `FI`) need no entry of their own.

use super::{IdentifierError, IdentifierKind, canonical_string};

const KIND: IdentifierKind = IdentifierKind::Iban;

/// IBAN lengths per country code, from the SWIFT IBAN registry (sorted for binary search).
pub const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BI", 27),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DJ", 27),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FK", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HN", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("LY", 25),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MN", 20),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NI", 28),
    ("NL", 18),
    ("NO", 15),
    ("OM", 23),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("RU", 33),
    ("SA", 24),
    ("SC", 31),
    ("SD", 18),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("SO", 23),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
    ("YE", 30),
];

/// The longest registered IBAN; bounds the work before the country is known.
const MAX_LEN: usize = 34;

/// The registered IBAN length for a country code, if the country issues IBANs.
pub fn registered_length(country: &str) -> Option<usize> {
    IBAN_LENGTHS
        .binary_search_by(|(c, _)| (*c).cmp(country))
        .ok()
        .map(|i| IBAN_LENGTHS[i].1)
}

/// The ISO 13616 remainder: rearranged IBAN, letters as 10..35, mod 97.
fn mod97(iban: &[u8]) -> u32 {
    let (head, tail) = iban.split_at(4);
    tail.iter().chain(head).fold(0u32, |acc, &b| match b {
        b'0'..=b'9' => (acc * 10 + u32::from(b - b'0')) % 97,
        _ => (acc * 100 + u32::from(b - b'A' + 10)) % 97,
    })
}

pub(crate) fn normalise_into(raw: &str, out: &mut String) -> Result<(), IdentifierError> {
    out.clear();
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() {
            if out.len() == MAX_LEN + 1 {
                continue; // Long enough to be refused; do not grow further.
            }
            out.push(c.to_ascii_uppercase());
        } else if !(c == ' ' || c == '\t') {
            out.clear();
            return Err(IdentifierError::new(
                KIND,
                "character",
                raw,
                format!(
                    "{c:?} is not allowed; an IBAN has letters A-Z and digits, optionally with spaces"
                ),
            ));
        }
    }
    let fail = |out: &mut String, rule, message: String| {
        out.clear();
        Err(IdentifierError::new(KIND, rule, raw, message))
    };
    let b = out.as_bytes();
    if b.is_empty() {
        return fail(
            out,
            "empty",
            "expected an IBAN such as NL91 ABNA 0417 1643 00".into(),
        );
    }
    if b.len() < 4
        || !b[..2].iter().all(u8::is_ascii_alphabetic)
        || !b[2..4].iter().all(u8::is_ascii_digit)
    {
        return fail(
            out,
            "format",
            "an IBAN starts with a 2-letter country code and 2 check digits, e.g. NL91".into(),
        );
    }
    let Some(expected) = registered_length(&out[..2]) else {
        let country = out[..2].to_owned();
        return fail(
            out,
            "country",
            format!("{country} is not a country in the IBAN registry"),
        );
    };
    if b.len() != expected {
        let (country, got) = (
            out[..2].to_owned(),
            if b.len() > MAX_LEN {
                format!("more than {MAX_LEN}")
            } else {
                b.len().to_string()
            },
        );
        return fail(
            out,
            "length",
            format!("an IBAN from {country} has {expected} characters, got {got}"),
        );
    }
    if &out[..2] == "NL"
        && !(b[4..8].iter().all(u8::is_ascii_alphabetic) && b[8..].iter().all(u8::is_ascii_digit))
    {
        return fail(
            out,
            "nl-format",
            "a Dutch IBAN is NL, 2 check digits, a 4-letter bank code and a 10-digit account number".into(),
        );
    }
    if mod97(b) != 1 {
        let value = out.clone();
        return fail(
            out,
            "mod97",
            format!("{value} fails the ISO 13616 mod-97 check (a typing error?)"),
        );
    }
    Ok(())
}

/// A valid IBAN; canonical form: uppercase without spaces, e.g. `NL91ABNA0417164300`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Iban(String);

impl Iban {
    /// Accepts spaces and lowercase: `nl91 abna 0417 1643 00`.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        canonical_string(IdentifierKind::Iban, raw, MAX_LEN).map(Self)
    }

    /// The canonical form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The two-letter country code.
    pub fn country(&self) -> &str {
        &self.0[..2]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_plausible() {
        assert!(IBAN_LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(IBAN_LENGTHS.iter().all(|(_, n)| (15..=MAX_LEN).contains(n)));
    }

    // Known answers (canonical forms and refusal rules): sdk/tests/vectors/identifiers.json.
    #[test]
    fn country_is_the_first_two_letters() {
        for raw in [
            "DE89 3704 0044 0532 0130 00",
            "GB29 NWBK 6016 1331 9268 19",
            "BE68 5390 0754 7034",
            "FR14 2004 1010 0505 0001 3M02 606",
            "NO93 8601 1117 947",
        ] {
            let iban = Iban::parse(raw).unwrap();
            assert_eq!(iban.country(), &iban.as_str()[..2], "{raw}");
        }
    }
}
