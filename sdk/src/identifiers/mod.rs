//! Normalisation and validation of the identifier kinds partners match on.
//!
//! Every kind has one *canonical form*: the exact string that is pseudonymised (see
//! `docs/PSEUDONYMS.md`, which an SDK in another language follows byte for byte). Parsing
//! accepts the ways people really write a value — separators, lowercase, accents — and refuses
//! anything it would have to guess at, with an [`IdentifierError`] naming the kind, the rule and
//! the offending part. Nothing is ever silently "fixed": two partners must derive the same
//! canonical form from the same real-world identifier, or matching fails without anyone noticing.
//!
//! [`normalise_into`] is the hot path used by [`crate::Pseudonymiser::pseudonymise`]: it writes
//! into a caller-owned buffer and allocates nothing else on success for the fixed-format kinds.

mod adres;
mod elfproef;
mod error;
mod iban;
mod kenteken;
mod kind;
mod kvk;
mod persoon;
mod telefoon;
mod vin;

pub use adres::Adres;
pub use elfproef::{Bsn, Rsin};
pub use error::IdentifierError;
pub use iban::{IBAN_LENGTHS, Iban, registered_length as iban_length};
pub use kenteken::{Kenteken, SIDECODES};
pub use kind::{IdentifierKind, UnknownKind};
pub use kvk::{Kvk, Vestiging};
pub use persoon::{Geboortedatum, Persoon};
pub use telefoon::Telefoon;
pub use vin::{Vin, check_digit as vin_check_digit};

/// Clears `out` and writes the canonical form of `raw` read as `kind`.
///
/// This is what the pseudonymiser calls for every value, so it allocates nothing beyond growing
/// `out` (reuse one buffer across a batch). Warnings (see [`normalise`]) are not computed here.
pub fn normalise_into(
    kind: IdentifierKind,
    raw: &str,
    out: &mut String,
) -> Result<(), IdentifierError> {
    let result = match kind {
        IdentifierKind::Kenteken => kenteken::normalise_into(raw, out),
        IdentifierKind::Kvk => kvk::normalise_kvk_into(raw, out),
        IdentifierKind::Vestiging => kvk::normalise_vestiging_into(raw, out),
        IdentifierKind::Rsin | IdentifierKind::Bsn => elfproef::normalise_into(kind, raw, out),
        IdentifierKind::Iban => iban::normalise_into(raw, out),
        IdentifierKind::Adres => adres::normalise_into(raw, out),
        IdentifierKind::Vin => vin::normalise_into(raw, out),
        IdentifierKind::Telefoon => telefoon::normalise_into(raw, out),
        IdentifierKind::Persoon => persoon::normalise_into(raw, out),
    };
    if result.is_err() {
        // Never leave a partial value behind for a caller that ignores the error.
        out.clear();
    }
    result
}

/// A canonical form with the findings that did not make it invalid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Canonical {
    /// The kind it was normalised as.
    pub kind: IdentifierKind,
    /// The canonical form, the exact input of the pseudonym.
    pub value: String,
    /// E.g. a non-North-American VIN whose position 9 is not the check digit, or a geslachtsnaam
    /// that starts with a tussenvoegsel. Shown to the user; the value is still used.
    pub warnings: Vec<String>,
}

/// The canonical form of `raw` as `kind` in a new string of `capacity` (the kind's usual
/// length): the constructor of every identifier type that is a canonical string and nothing
/// more.
pub(crate) fn canonical_string(
    kind: IdentifierKind,
    raw: &str,
    capacity: usize,
) -> Result<String, IdentifierError> {
    let mut s = String::with_capacity(capacity);
    normalise_into(kind, raw, &mut s)?;
    Ok(s)
}

/// Normalises `raw` as `kind`, with warnings. For bulk work use [`normalise_into`].
pub fn normalise(kind: IdentifierKind, raw: &str) -> Result<Canonical, IdentifierError> {
    let (value, warnings) = match kind {
        IdentifierKind::Vin => {
            let v = Vin::parse(raw)?;
            let w = v.warnings().to_vec();
            (v.as_str().to_owned(), w)
        }
        IdentifierKind::Persoon => {
            let p = Persoon::parse(raw)?;
            let w = p.warnings().to_vec();
            (p.as_str().to_owned(), w)
        }
        _ => {
            let mut value = String::with_capacity(raw.len());
            normalise_into(kind, raw, &mut value)?;
            (value, Vec::new())
        }
    };
    Ok(Canonical {
        kind,
        value,
        warnings,
    })
}

/// What every identifier type offers, for code that is generic over kinds.
pub trait Identifier: Sized + std::fmt::Display + std::str::FromStr<Err = IdentifierError> {
    /// The kind this type validates.
    const KIND: IdentifierKind;
    /// Normalises and validates.
    fn parse(raw: &str) -> Result<Self, IdentifierError>;
    /// The canonical form.
    fn as_str(&self) -> &str;
    /// The canonical form (an alias of [`Identifier::as_str`] that says what it is).
    fn canonical(&self) -> &str {
        self.as_str()
    }
}

/// The trait and the standard conversions, identical for every identifier type: `Display` and
/// serde use the canonical form, `FromStr` and deserialising validate.
macro_rules! identifier_common {
    ($($ty:ident => $kind:ident),* $(,)?) => {$(
        impl Identifier for $ty {
            const KIND: IdentifierKind = IdentifierKind::$kind;
            fn parse(raw: &str) -> Result<Self, IdentifierError> {
                $ty::parse(raw)
            }
            fn as_str(&self) -> &str {
                $ty::as_str(self)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = IdentifierError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::parse(s)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $ty::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    )*};
}

identifier_common!(
    Kenteken => Kenteken,
    Kvk => Kvk,
    Vestiging => Vestiging,
    Rsin => Rsin,
    Bsn => Bsn,
    Iban => Iban,
    Adres => Adres,
    Vin => Vin,
    Telefoon => Telefoon,
    Persoon => Persoon,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_into_clears_the_buffer_on_success_and_error() {
        let mut buf = String::from("left over");
        normalise_into(IdentifierKind::Kvk, "0123 4567", &mut buf).unwrap();
        assert_eq!(buf, "01234567");
        assert!(normalise_into(IdentifierKind::Adres, "3511AX|12|a|TOOLONG", &mut buf).is_err());
        assert_eq!(buf, "");
    }

    #[test]
    fn normalise_reports_warnings() {
        let c = normalise(IdentifierKind::Vin, "WVWZZZ1KZ6W123456").unwrap();
        assert_eq!(c.value, "WVWZZZ1KZ6W123456");
        assert_eq!(c.warnings.len(), 1);
        let c = normalise(IdentifierKind::Kenteken, "gb-001-b").unwrap();
        assert_eq!(
            (c.kind, c.value.as_str(), c.warnings.len()),
            (IdentifierKind::Kenteken, "GB001B", 0)
        );
    }

    #[test]
    fn types_agree_with_normalise_into_and_serde() {
        fn check<T: Identifier + serde::Serialize + serde::de::DeserializeOwned>(raw: &str) {
            let t = T::parse(raw).unwrap();
            let mut buf = String::new();
            normalise_into(T::KIND, raw, &mut buf).unwrap();
            assert_eq!(t.as_str(), buf);
            assert_eq!(t.canonical(), buf);
            assert_eq!(t.to_string(), buf);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, serde_json::to_string(&buf).unwrap());
            assert_eq!(serde_json::from_str::<T>(&json).unwrap().as_str(), buf);
            assert!(serde_json::from_str::<T>("\"!\"").is_err());
        }
        check::<Kenteken>("gb-001-b");
        check::<Kvk>("0123 4567");
        check::<Vestiging>("0000 1234 5678");
        check::<Rsin>("1234.56.782");
        check::<Bsn>("12345672");
        check::<Iban>("nl91 abna 0417 1643 00");
        check::<Adres>("3511 ax 12a-bis");
        check::<Vin>("1m8gdm9axkp042788");
        check::<Telefoon>("06-12345678");
        check::<Persoon>("Çelik|Ayşe||1985-07-03");
    }

    /// A refusal's message says what was expected and what was found. (The rule ids of these
    /// values, and that `normalise` refuses them exactly as each type's `parse` does, are in
    /// sdk/tests/vectors/identifiers.json.)
    #[test]
    fn refusals_say_what_was_found() {
        use IdentifierKind::*;
        let cases: [(IdentifierKind, &str, &[&str]); 9] = [
            (Kenteken, "GB.001.B", &["'.'"]),
            (Kvk, "1234567", &["got 7"]),
            (Kvk, "1234-5678", &["'-'", "spaces"]),
            (Bsn, "123456789", &["= 147"]),
            (Rsin, "1234567", &["got 7"]),
            (
                Iban,
                "DE89 3704 0044 0532 0130",
                &["DE has 22 characters, got 20"],
            ),
            (Vin, "1M8GDM9A1KP042788", &["computed 'X'"]),
            (Vin, "1M8GDM9AXKP04278I", &["'I'", "1 or 0"]),
            (Telefoon, "0612345", &["got 6"]),
        ];
        for (kind, raw, needles) in cases {
            let e = normalise(kind, raw).unwrap_err();
            for needle in needles {
                assert!(e.message.contains(needle), "{e} lacks {needle:?}");
            }
        }
    }

    #[test]
    fn the_issue_example_error() {
        let e = Kenteken::parse("GB-001-BX").unwrap_err();
        assert_eq!(e.kind, IdentifierKind::Kenteken);
        assert_eq!(e.rule, "length");
        assert_eq!(e.part, "GB-001-BX");
    }
}
