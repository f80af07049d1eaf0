//! Dutch addresses as the BAG identifies them: postcode + huisnummer + huisletter + toevoeging.
//!
//! Canonical form: `3511AX|12|a|BIS` — postcode, house number without leading zeros, house
//! letter in lowercase (or empty), addition in uppercase (or empty), joined by `|`. Street and
//! town are not part of it: the postcode and number already identify the address, and spelling
//! of street names varies too much to match on.
//!
//! Accepted inputs:
//! * the canonical pipe form, with any case and spaces around the parts:
//!   `3511 ax | 12 | A | bis`;
//! * free text `postcode[,] huisnummer[huisletter][ toevoeging | -toevoeging]`, e.g.
//!   `3511 AX 12`, `3511AX 12a`, `3511 ax, 12 A`, `3511AX 12-2`, `3511AX 12a-3`,
//!   `3511AX 12 bis`, `3511AX 12 A 2`.
//!
//! In free text a *single letter* directly after the number (`12a`) or after a space (`12 a`)
//! is the huisletter; anything after a dash, and any longer group after a space, is the
//! toevoeging. So `12-a` has toevoeging `A` and no huisletter — the dash is how people mark an
//! addition. House numbers with leading zeros (`012`) are refused rather than read as 12.

use super::{IdentifierError, IdentifierKind};

const KIND: IdentifierKind = IdentifierKind::Adres;

/// The parts of a valid address, without allocation (used on the `normalise_into` path).
#[derive(Clone, Copy)]
struct Parts {
    postcode: [u8; 6],
    huisnummer: u32,
    huisletter: Option<u8>,
    toevoeging: [u8; 4],
    toevoeging_len: usize,
}

impl Parts {
    /// The parts from the parsed fields and the toevoeging's text (parsed last, so both forms
    /// report the first bad field in the same order).
    fn new(
        postcode: [u8; 6],
        huisnummer: u32,
        huisletter: Option<u8>,
        toevoeging: &str,
    ) -> Result<Parts, IdentifierError> {
        let (toevoeging, toevoeging_len) = parse_toevoeging(toevoeging)?;
        Ok(Parts {
            postcode,
            huisnummer,
            huisletter,
            toevoeging,
            toevoeging_len,
        })
    }

    fn write(&self, out: &mut String) {
        use std::fmt::Write;
        out.clear();
        out.extend(self.postcode.iter().map(|&b| b as char));
        let _ = write!(out, "|{}|", self.huisnummer);
        if let Some(l) = self.huisletter {
            out.push(l as char);
        }
        out.push('|');
        out.extend(
            self.toevoeging[..self.toevoeging_len]
                .iter()
                .map(|&b| b as char),
        );
    }
}

fn err(rule: &'static str, part: &str, message: impl Into<String>) -> IdentifierError {
    IdentifierError::new(KIND, rule, part, message)
}

/// Postcode `^[1-9][0-9]{3}[A-Z]{2}$` (one space inside allowed), not SA, SD or SS.
fn parse_postcode(s: &str) -> Result<[u8; 6], IdentifierError> {
    let mut pc = [0u8; 6];
    let mut n = 0;
    for b in s.bytes() {
        if b == b' ' {
            continue;
        }
        if n == 6 {
            n += 1;
            break;
        }
        pc[n] = b.to_ascii_uppercase();
        n += 1;
    }
    let shape_ok = n == 6
        && (b'1'..=b'9').contains(&pc[0])
        && pc[1..4].iter().all(u8::is_ascii_digit)
        && pc[4..].iter().all(u8::is_ascii_uppercase);
    if !shape_ok {
        return Err(err(
            "postcode",
            s,
            "a postcode is 4 digits (not starting with 0) and 2 letters, e.g. 3511 AX",
        ));
    }
    if matches!(&pc[4..], b"SA" | b"SD" | b"SS") {
        return Err(err(
            "postcode",
            s,
            "the letter combinations SA, SD and SS are never used in Dutch postcodes",
        ));
    }
    Ok(pc)
}

fn parse_huisnummer(s: &str) -> Result<u32, IdentifierError> {
    let ok = !s.is_empty()
        && s.len() <= 5
        && s.bytes().all(|b| b.is_ascii_digit())
        && !s.starts_with('0');
    if !ok {
        return Err(err(
            "huisnummer",
            s,
            "a huisnummer is a number from 1 to 99999 without leading zeros",
        ));
    }
    Ok(s.parse().expect("1-5 ASCII digits fit in u32"))
}

fn parse_huisletter(s: &str) -> Result<Option<u8>, IdentifierError> {
    match s.as_bytes() {
        [] => Ok(None),
        [b] if b.is_ascii_alphabetic() => Ok(Some(b.to_ascii_lowercase())),
        _ => Err(err("huisletter", s, "a huisletter is a single letter A-Z")),
    }
}

fn parse_toevoeging(s: &str) -> Result<([u8; 4], usize), IdentifierError> {
    let mut t = [0u8; 4];
    if s.len() > 4 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(err(
            "toevoeging",
            s,
            "a toevoeging is at most 4 letters and digits (A-Z, 0-9)",
        ));
    }
    for (i, b) in s.bytes().enumerate() {
        t[i] = b.to_ascii_uppercase();
    }
    Ok((t, s.len()))
}

fn parse_pipe_form(raw: &str) -> Result<Parts, IdentifierError> {
    let mut fields = raw.split('|');
    let mut next = || fields.next().map(str::trim);
    let (Some(pc), Some(nr), Some(letter), Some(add), None) =
        (next(), next(), next(), next(), next())
    else {
        return Err(err(
            "format",
            raw,
            "the pipe form has exactly 4 parts: postcode|huisnummer|huisletter|toevoeging",
        ));
    };
    let postcode = parse_postcode(pc)?;
    let huisnummer = parse_huisnummer(nr)?;
    let huisletter = parse_huisletter(letter)?;
    Parts::new(postcode, huisnummer, huisletter, add)
}

fn parse_free_text(raw: &str) -> Result<Parts, IdentifierError> {
    let s = raw.trim();
    // Postcode: 4 digits, optional spaces, 2 letters.
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let after_digits = s[digits_end..].trim_start_matches(' ');
    let letters_len = after_digits
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(after_digits.len());
    let pc_end = s.len() - after_digits.len() + letters_len;
    if digits_end != 4 || letters_len != 2 {
        let shown = s.split(',').next().unwrap_or(s);
        return Err(err(
            "postcode",
            shown,
            "expected a postcode (4 digits, 2 letters) first, e.g. \"3511 AX 12a\" or \"3511AX|12|a|\"",
        ));
    }
    let postcode = parse_postcode(&s[..pc_end])?;
    let rest = s[pc_end..].trim_start_matches([' ', ',', '\t']);
    // Huisnummer: the leading digits.
    let nr_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let huisnummer = parse_huisnummer(&rest[..nr_end]).map_err(|e| {
        if nr_end == 0 {
            err(
                "huisnummer",
                if rest.is_empty() { s } else { rest },
                "expected a huisnummer after the postcode",
            )
        } else {
            e
        }
    })?;
    let mut rest = &rest[nr_end..];
    // Huisletter: one letter attached or after spaces, followed by the end, a space or a dash.
    let mut huisletter = None;
    let trimmed = rest.trim_start();
    let mut chars = trimmed.chars();
    if let Some(c) = chars.next()
        && c.is_ascii_alphabetic()
        && chars.next().is_none_or(|n| n == ' ' || n == '-')
    {
        huisletter = Some(c.to_ascii_lowercase() as u8);
        rest = &trimmed[1..];
    }
    // Toevoeging: after a dash or spaces.
    let add = rest.trim();
    let add = add.strip_prefix('-').map_or(add, str::trim_start);
    if !rest.is_empty() && !add.is_empty() && !(rest.starts_with([' ', '-', '\t'])) {
        return Err(err(
            "toevoeging",
            rest,
            "separate a toevoeging from the huisnummer with a space or a dash, e.g. 12-bis",
        ));
    }
    Parts::new(postcode, huisnummer, huisletter, add)
}

fn parse_parts(raw: &str) -> Result<Parts, IdentifierError> {
    if raw.trim().is_empty() {
        return Err(err(
            "empty",
            raw,
            "expected an address such as \"3511 AX 12a\"",
        ));
    }
    if !raw.is_ascii() {
        let c = raw.chars().find(|c| !c.is_ascii()).unwrap_or('?');
        return Err(err(
            "character",
            raw,
            format!(
                "{c:?} is not allowed; an address is a postcode, huisnummer, huisletter and toevoeging in A-Z and 0-9"
            ),
        ));
    }
    if raw.contains('|') {
        parse_pipe_form(raw)
    } else {
        parse_free_text(raw)
    }
}

pub(crate) fn normalise_into(raw: &str, out: &mut String) -> Result<(), IdentifierError> {
    let parts = parse_parts(raw)?;
    parts.write(out);
    Ok(())
}

/// A Dutch address; canonical form `postcode|huisnummer|huisletter|toevoeging`, e.g.
/// `3511AX|12|a|` or `1012JS|1||BIS`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Adres {
    canonical: String,
    huisnummer: u32,
    huisletter: Option<char>,
}

impl Adres {
    /// Accepts the pipe form and the free-text forms described in the module documentation.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        let parts = parse_parts(raw)?;
        let mut canonical = String::with_capacity(20);
        parts.write(&mut canonical);
        Ok(Self {
            canonical,
            huisnummer: parts.huisnummer,
            huisletter: parts.huisletter.map(char::from),
        })
    }

    /// The canonical form.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The postcode without space, uppercase: `3511AX`.
    pub fn postcode(&self) -> &str {
        &self.canonical[..6]
    }

    /// The house number, 1–99999.
    pub fn huisnummer(&self) -> u32 {
        self.huisnummer
    }

    /// The house letter, lowercase.
    pub fn huisletter(&self) -> Option<char> {
        self.huisletter
    }

    /// The addition, uppercase, up to 4 letters and digits.
    pub fn toevoeging(&self) -> Option<&str> {
        let t = self.canonical.rsplit('|').next().unwrap_or("");
        (!t.is_empty()).then_some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers (canonical forms and refusal rules): sdk/tests/vectors/identifiers.json.
    #[test]
    fn pipe_form_and_fields() {
        let a = Adres::parse(" 3511 ax | 12 | A | bis ").unwrap();
        assert_eq!(a.as_str(), "3511AX|12|a|BIS");
        assert_eq!(a.postcode(), "3511AX");
        assert_eq!(a.huisnummer(), 12);
        assert_eq!(a.huisletter(), Some('a'));
        assert_eq!(a.toevoeging(), Some("BIS"));
        let b = Adres::parse("1012JS|1||").unwrap();
        assert_eq!((b.huisletter(), b.toevoeging()), (None, None));
        assert_eq!(Adres::parse(b.as_str()).unwrap(), b);
    }

    #[test]
    fn invalid_addresses_name_the_rule() {
        let e = Adres::parse("3511 SS 12").unwrap_err();
        assert_eq!(e.part, "3511 SS");
        assert!(
            e.to_string()
                .starts_with("adres \"3511 SS\": rule \"postcode\""),
            "{e}"
        );
    }
}
