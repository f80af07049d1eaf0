//! The closed list of identifier kinds. The lowercase name is part of the pseudonym construction
//! (`info = "pseudonym/" + name`), so renaming a kind would change every pseudonym of that kind.

use std::str::FromStr;

/// Which kind of identifier a value is. Each kind has its own canonical form and its own derived
/// pseudonym key, so equal strings of different kinds never give the same pseudonym.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum IdentifierKind {
    /// Dutch vehicle registration plate.
    Kenteken,
    /// Chamber of Commerce (KvK) number.
    Kvk,
    /// KvK establishment (vestiging) number.
    Vestiging,
    /// Legal-entity tax number (RSIN).
    Rsin,
    /// Citizen service number (BSN); only public partners may supply it.
    Bsn,
    /// International bank account number.
    Iban,
    /// Dutch address: postcode with house number, letter and addition.
    Adres,
    /// Vehicle identification number.
    Vin,
    /// Telephone number in E.164.
    Telefoon,
    /// Natural person: name parts and BRP date of birth.
    Persoon,
}

crate::wire_names! {
    /// The lowercase name used on the wire, in the CLI and in the HKDF `info`.
    IdentifierKind {
        Kenteken => "kenteken",
        Kvk => "kvk",
        Vestiging => "vestiging",
        Rsin => "rsin",
        Bsn => "bsn",
        Iban => "iban",
        Adres => "adres",
        Vin => "vin",
        Telefoon => "telefoon",
        Persoon => "persoon",
    }
}

/// An identifier kind name that is not one of [`IdentifierKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown identifier kind {given:?}; expected one of: {}",
    accepted_kinds()
)]
pub struct UnknownKind {
    /// What was given (trimmed).
    pub given: String,
}

fn accepted_kinds() -> String {
    IdentifierKind::ALL.map(|k| k.as_str()).join(", ")
}

impl FromStr for IdentifierKind {
    type Err = UnknownKind;

    /// Accepts the lowercase name in any ASCII case, surrounding whitespace ignored, because
    /// people type `--type KvK` as often as `--type kvk`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        IdentifierKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| UnknownKind {
                given: t.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in IdentifierKind::ALL {
            assert_eq!(k.as_str().parse::<IdentifierKind>().unwrap(), k);
            assert_eq!(k.to_string(), k.as_str());
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(serde_json::from_str::<IdentifierKind>(&json).unwrap(), k);
        }
        assert_eq!(
            " KvK ".parse::<IdentifierKind>().unwrap(),
            IdentifierKind::Kvk
        );
    }

    #[test]
    fn unknown_kind_names_the_accepted_ones() {
        let e = "plate".parse::<IdentifierKind>().unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("\"plate\""), "{msg}");
        for k in IdentifierKind::ALL {
            assert!(msg.contains(k.as_str()), "{msg}");
        }
    }
}
