//! Why a value is not a valid identifier, in a form both people and programs can use.

use std::fmt;

use super::IdentifierKind;

/// How much of the offending part an error keeps. Lines read from files can be arbitrarily
/// long; an error message should stay one readable line.
const MAX_PART_CHARS: usize = 64;

/// A value that is not a valid identifier of its kind.
///
/// Displayed as `kind "part": rule "rule": message`, for example
/// `kenteken "GB-001-BX": rule "length": expected 6 letters and digits after removing dashes and
/// spaces, got 7 ("GB001BX")`. The `part` is the user's own input echoed back (only the part that
/// breaks the rule, cut at 64 characters), so that they can find and correct it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct IdentifierError {
    /// The kind the value was parsed as.
    pub kind: IdentifierKind,
    /// Stable rule id (e.g. `length`, `sidecode`, `elfproef`, `mod97`); programs match on this.
    pub rule: &'static str,
    /// The offending part of the input, as given.
    pub part: String,
    /// Human explanation: what was expected and what was found.
    pub message: String,
}

impl IdentifierError {
    pub(crate) fn new(
        kind: IdentifierKind,
        rule: &'static str,
        part: &str,
        message: impl Into<String>,
    ) -> Self {
        let part = match part.char_indices().nth(MAX_PART_CHARS) {
            Some((cut, _)) => format!("{}…", &part[..cut]),
            None => part.to_owned(),
        };
        Self {
            kind,
            rule,
            part,
            message: message.into(),
        }
    }
}

impl fmt::Display for IdentifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:?}: rule {:?}: {}",
            self.kind, self.part, self.rule, self.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_parts_are_cut() {
        let long = "x".repeat(1000);
        let e = IdentifierError::new(IdentifierKind::Kvk, "length", &long, "too long");
        assert_eq!(e.part.chars().count(), MAX_PART_CHARS + 1);
        assert!(e.to_string().starts_with("kvk \"xxx"));
    }
}
