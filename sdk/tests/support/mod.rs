//! What the SDK's integration tests share.

use kruispunt_sdk::IdentifierError;
use kruispunt_sdk::identifiers::{
    Adres, Bsn, Iban, Identifier, IdentifierKind, Kenteken, Kvk, Persoon, Rsin, Telefoon,
    Vestiging, Vin,
};

/// Parses with the kind's own type, as a caller of `Kenteken::parse` etc. would, giving the
/// canonical form.
pub fn typed(kind: IdentifierKind, raw: &str) -> Result<String, IdentifierError> {
    fn p<T: Identifier>(raw: &str) -> Result<String, IdentifierError> {
        T::parse(raw).map(|t| t.as_str().to_owned())
    }
    match kind {
        IdentifierKind::Kenteken => p::<Kenteken>(raw),
        IdentifierKind::Kvk => p::<Kvk>(raw),
        IdentifierKind::Vestiging => p::<Vestiging>(raw),
        IdentifierKind::Rsin => p::<Rsin>(raw),
        IdentifierKind::Bsn => p::<Bsn>(raw),
        IdentifierKind::Iban => p::<Iban>(raw),
        IdentifierKind::Adres => p::<Adres>(raw),
        IdentifierKind::Vin => p::<Vin>(raw),
        IdentifierKind::Telefoon => p::<Telefoon>(raw),
        IdentifierKind::Persoon => p::<Persoon>(raw),
    }
}
