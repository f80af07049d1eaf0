//! Every identifier parser of the SDK: the first byte picks the kind (or the BRP date of birth
//! of a `persoon`), the rest is the raw value. Asserts that the three ways to normalise agree
//! to the byte (error included), that a refusal names the kind and leaves no partial value,
//! that a canonical form is a fixed point (normalising it again gives itself) and that the
//! typed value survives its `Display`.
#![no_main]

use kruispunt_sdk::identifiers::{
    Adres, Bsn, Geboortedatum, Iban, Identifier, IdentifierError, IdentifierKind, Kenteken, Kvk,
    Persoon, Rsin, Telefoon, Vestiging, Vin, normalise, normalise_into,
};
use libfuzzer_sys::fuzz_target;

fn typed<T: Identifier>(raw: &str) -> Result<String, IdentifierError> {
    let t = T::parse(raw)?;
    // Display and FromStr round-trip to the same canonical form.
    let again: T = t.to_string().parse().unwrap_or_else(|e| {
        panic!(
            "{}: {:?} displays as {:?}, which is refused: {e}",
            T::KIND,
            t.as_str(),
            t.to_string()
        )
    });
    assert_eq!(
        again.as_str(),
        t.as_str(),
        "{}: Display round trip",
        T::KIND
    );
    Ok(t.as_str().to_owned())
}

fn by_type(kind: IdentifierKind, raw: &str) -> Result<String, IdentifierError> {
    match kind {
        IdentifierKind::Kenteken => typed::<Kenteken>(raw),
        IdentifierKind::Kvk => typed::<Kvk>(raw),
        IdentifierKind::Vestiging => typed::<Vestiging>(raw),
        IdentifierKind::Rsin => typed::<Rsin>(raw),
        IdentifierKind::Bsn => typed::<Bsn>(raw),
        IdentifierKind::Iban => typed::<Iban>(raw),
        IdentifierKind::Adres => typed::<Adres>(raw),
        IdentifierKind::Vin => typed::<Vin>(raw),
        IdentifierKind::Telefoon => typed::<Telefoon>(raw),
        IdentifierKind::Persoon => typed::<Persoon>(raw),
    }
}

fn canonical(kind: IdentifierKind, raw: &str) -> Result<String, IdentifierError> {
    let public = normalise(kind, raw).map(|c| {
        assert_eq!(c.kind, kind);
        c.value
    });
    let mut buf = String::from("stale");
    let into = normalise_into(kind, raw, &mut buf).map(|()| buf.clone());
    if into.is_err() {
        assert!(buf.is_empty(), "{kind}: a refusal leaves no partial value");
    }
    assert_eq!(public, into, "{kind} {raw:?}: normalise and normalise_into");
    assert_eq!(
        public,
        by_type(kind, raw),
        "{kind} {raw:?}: normalise and the type's parse"
    );
    if let Err(e) = &public {
        assert_eq!(e.kind, kind, "{kind} {raw:?}: the refusal names its kind");
    }
    public
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(raw) = std::str::from_utf8(rest) else {
        return;
    };
    // The kind's own name parser on the same text.
    if let Ok(k) = raw.parse::<IdentifierKind>() {
        assert!(k.as_str().eq_ignore_ascii_case(raw.trim()));
    }
    let all = IdentifierKind::ALL;
    let pick = usize::from(selector) % (all.len() + 1);
    if pick == all.len() {
        if let Ok(d) = Geboortedatum::parse(raw) {
            let again = Geboortedatum::parse(&d.to_string())
                .unwrap_or_else(|e| panic!("{raw:?} gives {d}, which is refused: {e}"));
            assert_eq!(again, d, "{raw:?}: the date of birth is a fixed point");
        }
        return;
    }
    let kind = all[pick];
    if let Ok(value) = canonical(kind, raw) {
        let again = canonical(kind, &value)
            .unwrap_or_else(|e| panic!("{kind} {raw:?} gives {value:?}, which is refused: {e}"));
        assert_eq!(
            again, value,
            "{kind} {raw:?}: the canonical form is a fixed point"
        );
    }
});
