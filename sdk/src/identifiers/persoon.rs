//! Natural persons: name parts plus the date of birth as the BRP (Basisregistratie Personen)
//! records it.
//!
//! Canonical form: `geslachtsnaam|voornamen|tussenvoegsel|YYYYMMDD`, e.g.
//! `vries|jan peter|de|19800312`. Each name part is normalised so that the same person written
//! by different systems gives the same bytes:
//! 1. Unicode NFKD (compatibility decomposition: `Ç` → `C` + cedilla, `ﬁ` → `fi`, full-width
//!    letters → ASCII);
//! 2. every combining mark (General Category M: Mn, Mc, Me) is removed;
//! 3. each code point is lowercased with its full, locale-free Unicode mapping (`Σ` → `σ`
//!    always; a lowercase that decomposes again goes through steps 1–2 once more);
//! 4. the typographic apostrophes U+2018, U+2019, U+02BC become `'` and the hyphens U+2010–
//!    U+2013 become `-`, because word processors substitute them;
//! 5. whitespace runs become one space; leading and trailing whitespace is removed.
//!
//! Letters without a decomposition stay as they are (`ø`, `ł`, `ß`, `ı`): transliterating them
//! is language-specific, and a wrong guess would merge different people.
//!
//! The tussenvoegsel (`de`, `van der`, `'t`) is kept apart, as in the BRP: `de Vries` with an
//! empty tussenvoegsel is a different canonical form from `Vries` with tussenvoegsel `de`.
//! Because that is an easy mistake, [`Persoon::warnings`] flags a geslachtsnaam that starts with
//! a common tussenvoegsel.
//!
//! Date of birth, BRP-style: `YYYYMMDD` where `00` marks an unknown month or day (`19800000`,
//! `19800300`). Accepted as `YYYYMMDD`, `YYYY-MM-DD`, or `DD-MM-YYYY` (with `-`, `/` or `.`;
//! day and month may have one digit). A date that is fully unknown (`00000000`) is refused for
//! matching: all such people would share one pseudonym. Dates are checked against the calendar
//! (Gregorian leap years: `19000229` is refused, `20000229` accepted).

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

use super::{IdentifierError, IdentifierKind};

const KIND: IdentifierKind = IdentifierKind::Persoon;

fn err(rule: &'static str, part: &str, message: impl Into<String>) -> IdentifierError {
    IdentifierError::new(KIND, rule, part, message)
}

/// Step 4 of the name normalisation.
fn fold_punctuation(c: char) -> char {
    match c {
        '\u{2018}' | '\u{2019}' | '\u{02BC}' => '\'',
        '\u{2010}'..='\u{2013}' => '-',
        c => c,
    }
}

/// Appends the normalised form of one name part to `out`; returns its byte length.
fn name_into(field: &'static str, raw: &str, out: &mut String) -> Result<usize, IdentifierError> {
    let start = out.len();
    let mut pending_space = false;
    let mut bad: Option<char> = None;
    let mut push = |c: char, out: &mut String| {
        if is_combining_mark(c) {
            return;
        }
        let c = fold_punctuation(c);
        if c.is_whitespace() {
            pending_space = true;
            return;
        }
        if c == '|' || c.is_control() {
            bad.get_or_insert(c);
            return;
        }
        if pending_space && out.len() > start {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
    };
    for c in raw.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        for lower in c.to_lowercase() {
            // A lowercase mapping can itself decompose (rare); run it through NFKD once more so
            // that normalising is idempotent.
            decompose_compatible(lower, |d| push(d, out));
        }
    }
    if let Some(c) = bad {
        out.truncate(start);
        return Err(err(
            "character",
            raw,
            format!("{c:?} is not allowed in the {field}"),
        ));
    }
    Ok(out.len() - start)
}

/// A BRP date of birth where the month and day may be unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Geboortedatum {
    year: u16,
    month: u8,
    day: u8,
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Geboortedatum {
    /// Parses `YYYYMMDD`, `YYYY-MM-DD` or `DD-MM-YYYY` (`-`, `/`, `.`), `00` for unknown parts.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        let s = raw.trim();
        let num = |p: &str| -> Option<u16> {
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        };
        let format_error = || {
            err(
                if s.is_empty() {
                    "geboortedatum-onbekend"
                } else {
                    "geboortedatum"
                },
                raw,
                if s.is_empty() {
                    "a date of birth is required for matching (BRP form YYYYMMDD, 00 for unknown month or day)"
                } else {
                    "expected a date of birth as YYYYMMDD, YYYY-MM-DD or DD-MM-YYYY (00 for an unknown month or day)"
                },
            )
        };
        let parts: Vec<&str> = s.split(['-', '/', '.']).collect();
        let (y, m, d) = match parts.as_slice() {
            [all] if all.len() == 8 && all.is_ascii() => {
                (num(&all[..4]), num(&all[4..6]), num(&all[6..]))
            }
            [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => (num(y), num(m), num(d)),
            [d, m, y]
                if y.len() == 4 && (1..=2).contains(&m.len()) && (1..=2).contains(&d.len()) =>
            {
                (num(y), num(m), num(d))
            }
            _ => return Err(format_error()),
        };
        let (Some(year), Some(month), Some(day)) = (y, m, d) else {
            return Err(format_error());
        };
        let (month, day) = (month as u8, day as u8);
        if year == 0 {
            return Err(if month == 0 && day == 0 {
                err(
                    "geboortedatum-onbekend",
                    raw,
                    "a fully unknown date of birth (00000000) cannot be used for matching: everyone without one would share a pseudonym",
                )
            } else {
                err(
                    "geboortedatum",
                    raw,
                    "year 0000 means the whole date is unknown; month and day must be 00 too",
                )
            });
        }
        if month > 12 {
            return Err(err(
                "geboortedatum",
                raw,
                format!("month {month:02} does not exist"),
            ));
        }
        if month == 0 && day != 0 {
            return Err(err(
                "geboortedatum",
                raw,
                "with an unknown month (00) the day must be unknown (00) too",
            ));
        }
        if month != 0 && day > days_in_month(year, month) {
            let leap = if month == 2 && day == 29 {
                format!(" ({year} is not a leap year)")
            } else {
                String::new()
            };
            return Err(err(
                "geboortedatum",
                raw,
                format!("day {day:02} does not exist in {year:04}-{month:02}{leap}"),
            ));
        }
        Ok(Self { year, month, day })
    }

    /// The year (never 0: a fully unknown date is refused).
    pub fn year(&self) -> u16 {
        self.year
    }

    /// The month 1–12, or `None` when unknown.
    pub fn month(&self) -> Option<u8> {
        (self.month != 0).then_some(self.month)
    }

    /// The day 1–31, or `None` when unknown.
    pub fn day(&self) -> Option<u8> {
        (self.day != 0).then_some(self.day)
    }

    fn write(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(out, "{:04}{:02}{:02}", self.year, self.month, self.day);
    }
}

impl std::fmt::Display for Geboortedatum {
    /// The BRP form `YYYYMMDD`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

/// Writes the canonical form of the four parts to `out` (cleared first).
fn parts_into(
    geslachtsnaam: &str,
    voornamen: &str,
    tussenvoegsel: &str,
    geboortedatum: &str,
    out: &mut String,
) -> Result<Geboortedatum, IdentifierError> {
    out.clear();
    let result = (|| {
        if name_into("geslachtsnaam", geslachtsnaam, out)? == 0 {
            return Err(err(
                "geslachtsnaam",
                geslachtsnaam,
                "the geslachtsnaam (surname) is required",
            ));
        }
        out.push('|');
        name_into("voornamen", voornamen, out)?;
        out.push('|');
        name_into("tussenvoegsel", tussenvoegsel, out)?;
        out.push('|');
        let date = Geboortedatum::parse(geboortedatum)?;
        date.write(out);
        Ok(date)
    })();
    if result.is_err() {
        out.clear();
    }
    result
}

fn split_pipe_form(raw: &str) -> Result<[&str; 4], IdentifierError> {
    let mut it = raw.split('|');
    match (it.next(), it.next(), it.next(), it.next(), it.next()) {
        (Some(a), Some(b), Some(c), Some(d), None) => Ok([a, b, c, d]),
        _ => Err(err(
            "format",
            if raw.trim().is_empty() {
                raw
            } else {
                "(name parts not echoed)"
            },
            "expected 4 parts: geslachtsnaam|voornamen|tussenvoegsel|geboortedatum (YYYYMMDD)",
        )),
    }
}

pub(crate) fn normalise_into(raw: &str, out: &mut String) -> Result<(), IdentifierError> {
    let [g, v, t, d] = split_pipe_form(raw)?;
    parts_into(g, v, t, d, out).map(|_| ())
}

/// Common Dutch tussenvoegsels, for the warning about a tussenvoegsel inside the geslachtsnaam.
const TUSSENVOEGSELS: &[&str] = &[
    "van", "de", "der", "den", "ter", "ten", "te", "het", "'t", "in", "op", "uit", "la", "le", "du",
];

fn warnings_for(canonical: &str) -> Vec<String> {
    let mut parts = canonical.split('|');
    let (Some(naam), Some(_), Some(tv)) = (parts.next(), parts.next(), parts.next()) else {
        return Vec::new();
    };
    match naam.split_once(' ') {
        Some((first, _)) if tv.is_empty() && TUSSENVOEGSELS.contains(&first) => vec![format!(
            "persoon: geslachtsnaam starts with {first:?} and the tussenvoegsel is empty; the BRP records {first:?} as tussenvoegsel, so this will not match the same person recorded that way"
        )],
        _ => Vec::new(),
    }
}

/// A natural person; canonical form `geslachtsnaam|voornamen|tussenvoegsel|YYYYMMDD`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Persoon {
    canonical: String,
    geboortedatum: Geboortedatum,
    warnings: Vec<String>,
}

impl Persoon {
    /// Parses the pipe form `geslachtsnaam|voornamen|tussenvoegsel|geboortedatum`, each part in
    /// any case, with or without accents and extra spaces: `Çelik|Ayşe||1985-07-03`.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        let [g, v, t, d] = split_pipe_form(raw)?;
        Self::from_parts(g, v, t, d)
    }

    /// Builds a person from separate fields, as a partner's database holds them.
    pub fn from_parts(
        geslachtsnaam: &str,
        voornamen: &str,
        tussenvoegsel: &str,
        geboortedatum: &str,
    ) -> Result<Self, IdentifierError> {
        let mut canonical = String::new();
        let geboortedatum = parts_into(
            geslachtsnaam,
            voornamen,
            tussenvoegsel,
            geboortedatum,
            &mut canonical,
        )?;
        let warnings = warnings_for(&canonical);
        Ok(Self {
            canonical,
            geboortedatum,
            warnings,
        })
    }

    /// The canonical form.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    fn part(&self, i: usize) -> &str {
        self.canonical.split('|').nth(i).unwrap_or("")
    }

    /// The normalised surname without tussenvoegsel.
    pub fn geslachtsnaam(&self) -> &str {
        self.part(0)
    }

    /// The normalised first names, space-separated (may be empty).
    pub fn voornamen(&self) -> &str {
        self.part(1)
    }

    /// The normalised tussenvoegsel (may be empty).
    pub fn tussenvoegsel(&self) -> &str {
        self.part(2)
    }

    /// The date of birth.
    pub fn geboortedatum(&self) -> Geboortedatum {
        self.geboortedatum
    }

    /// Findings that did not make the value invalid (a tussenvoegsel inside the geslachtsnaam).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers (canonical forms and refusal rules): sdk/tests/vectors/identifiers.json.
    #[test]
    fn names_are_folded_for_matching() {
        let p = Persoon::from_parts("de Vries", "Jan", "", "19800312").unwrap();
        assert_eq!(p.as_str(), "de vries|jan||19800312");
        assert_eq!(
            p.warnings().len(),
            1,
            "tussenvoegsel inside the geslachtsnaam is flagged"
        );
        let p = Persoon::from_parts("Vries", "Jan", "de", "19800312").unwrap();
        assert!(p.warnings().is_empty());
        assert_eq!(
            (p.geslachtsnaam(), p.voornamen(), p.tussenvoegsel()),
            ("vries", "jan", "de")
        );
        assert_eq!(p.geboortedatum().to_string(), "19800312");
    }

    #[test]
    fn partial_dates_follow_the_brp() {
        let d = Geboortedatum::parse("19800000").unwrap();
        assert_eq!((d.year(), d.month(), d.day()), (1980, None, None));
        let d = Geboortedatum::parse("1980-03-00").unwrap();
        assert_eq!((d.month(), d.day()), (Some(3), None));
    }

    #[test]
    fn invalid_dates_name_the_rule() {
        let e = Geboortedatum::parse("19000229").unwrap_err();
        assert!(e.message.contains("1900 is not a leap year"), "{e}");
    }

    #[test]
    fn invalid_persons_name_the_rule() {
        let e = Persoon::from_parts("Jansen", "Piet", "", "1980-02-30").unwrap_err();
        assert_eq!(e.kind, IdentifierKind::Persoon);
        assert_eq!(e.part, "1980-02-30", "only the offending part is echoed");
    }
}
