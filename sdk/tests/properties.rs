//! Property tests for identifier normalisation and pseudonyms (proptest).
//!
//! Generators produce valid identifiers written the ways people write them (separators, case,
//! accents), plus arbitrary strings; the properties are the contract `docs/PSEUDONYMS.md`
//! promises to other-language implementations.

use kruispunt_sdk::identifiers::{
    IBAN_LENGTHS, IdentifierKind, Persoon, SIDECODES, normalise_into, vin_check_digit,
};
use kruispunt_sdk::{CoalitionKey, IdentifierError};
use proptest::prelude::*;
use proptest::sample::select;

mod support;
use support::typed;

const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn canon(kind: IdentifierKind, raw: &str) -> Result<String, IdentifierError> {
    let mut out = String::new();
    normalise_into(kind, raw, &mut out).map(|()| out)
}

/// Lowercases some ASCII letters and inserts some of `seps` between characters.
fn scramble(
    clean: &str,
    seps: &'static [&'static str],
    lower: Vec<bool>,
    gaps: Vec<usize>,
) -> String {
    let mut s = String::new();
    for (i, c) in clean.chars().enumerate() {
        let g = gaps.get(i).copied().unwrap_or(0);
        if i > 0 && g < seps.len() {
            s.push_str(seps[g]);
        }
        if lower.get(i).copied().unwrap_or(false) {
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

fn decorations(len: usize) -> impl Strategy<Value = (Vec<bool>, Vec<usize>)> {
    (
        prop::collection::vec(any::<bool>(), len),
        prop::collection::vec(0usize..8, len),
    )
}

prop_compose! {
    fn kenteken()(sidecode in 0..14usize, chars in prop::collection::vec(0usize..26, 6))
        -> String {
        let mut chars = chars.into_iter();
        SIDECODES[sidecode].bytes().map(|p| match p {
            b'-' => '-',
            b'X' => LETTERS[chars.next().unwrap()] as char,
            _ => char::from(b'0' + (chars.next().unwrap() % 10) as u8),
        }).collect()
    }
}

prop_compose! {
    fn digits(n: usize)(d in prop::collection::vec(0u8..10, n)) -> String {
        d.into_iter().map(|d| char::from(b'0' + d)).collect()
    }
}

/// 9 digits passing the 11-proef (the last digit is solved for; retried if impossible).
fn elfproef() -> impl Strategy<Value = String> {
    digits(8)
        .prop_filter_map("no valid check digit", |s| {
            let sum: i32 = s
                .bytes()
                .zip([9, 8, 7, 6, 5, 4, 3, 2])
                .map(|(b, w)| i32::from(b - b'0') * w)
                .sum();
            let last = sum.rem_euclid(11);
            (last <= 9).then(|| format!("{s}{last}"))
        })
        .prop_filter("all zero", |s| s != "000000000")
}

fn mod97(s: &str) -> u32 {
    s.bytes().fold(0, |acc, b| match b {
        b'0'..=b'9' => (acc * 10 + u32::from(b - b'0')) % 97,
        _ => (acc * 100 + u32::from(b - b'A' + 10)) % 97,
    })
}

prop_compose! {
    fn iban()(country in select(IBAN_LENGTHS.to_vec()), body in prop::collection::vec(0usize..36, 34), nl in any::<bool>())
        -> String {
        let (cc, len) = if nl { ("NL", 18) } else { country };
        let bban: String = body.iter().take(len - 4).enumerate().map(|(i, &x)| {
            if cc == "NL" {
                if i < 4 { LETTERS[x % 26] as char } else { char::from(b'0' + (x % 10) as u8) }
            } else if x < 10 { char::from(b'0' + x as u8) } else { LETTERS[x - 10] as char }
        }).collect();
        let check = 98 - mod97(&format!("{bban}{cc}00"));
        format!("{cc}{check:02}{bban}")
    }
}

prop_compose! {
    fn adres()(pc in 1000u32..10000, l1 in 0usize..26, l2 in 0usize..26, nr in 1u32..100_000,
               letter in prop::option::of(0usize..26), add in prop::option::of("[A-Za-z0-9]{1,4}"),
               pipe in any::<bool>(), space in any::<bool>())
        -> String {
        let mut l = [LETTERS[l1], LETTERS[l2]];
        if l[0] == b'S' && matches!(l[1], b'A' | b'D' | b'S') { l[1] = b'B'; }
        let postcode = format!("{pc}{}{}{}", if space { " " } else { "" }, l[0] as char, l[1] as char);
        let letter = letter.map(|i| LETTERS[i] as char);
        if pipe {
            format!("{postcode}|{nr}|{}|{}", letter.map(String::from).unwrap_or_default(), add.unwrap_or_default())
        } else {
            let mut s = format!("{postcode} {nr}");
            if let Some(c) = letter { s.push(c.to_ascii_lowercase()); }
            if let Some(a) = add { s.push('-'); s.push_str(&a); }
            s
        }
    }
}

prop_compose! {
    fn vin()(chars in prop::collection::vec(select(b"0123456789ABCDEFGHJKLMNPRSTUVWXYZ".to_vec()), 17))
        -> String {
        let mut b: [u8; 17] = chars.try_into().unwrap();
        if (b'1'..=b'5').contains(&b[0]) { b[8] = vin_check_digit(&b); }
        String::from_utf8(b.to_vec()).unwrap()
    }
}

/// Calling codes other than +31 (whose numbers have their own length rule).
const COUNTRY_CODES: &[u32] = &[1, 32, 33, 44, 49, 90, 212, 351, 971];

fn telefoon() -> impl Strategy<Value = String> {
    prop_oneof![
        digits(8).prop_map(|d| format!("06-{d}")),
        digits(8).prop_map(|d| format!("+31 6 {d}")),
        digits(8).prop_map(|d| format!("0031 (0)6 {} {}", &d[..4], &d[4..])),
        (select(COUNTRY_CODES), digits(9)).prop_map(|(cc, d)| format!("00{cc} {d}")),
        (select(COUNTRY_CODES), digits(9)).prop_map(|(cc, d)| format!(
            "+{cc} ({}) {}",
            &d[..3],
            &d[3..]
        )),
    ]
}

/// Name parts with accents, Turkish letters, apostrophes and odd spacing.
fn name() -> impl Strategy<Value = String> {
    "[ A-Za-zÇçĞğİıŞşÖöÜüÉéÈèËëÏïÅåØøÑñ'’-]{0,20}"
}

prop_compose! {
    fn persoon()(g in "[A-Za-zÇĞŞÖÜéëï][A-Za-zçğışöüéëï' -]{0,15}", v in name(), t in name(),
                 y in 1850u16..2030, m in 0u8..13, d in 0u8..29)
        -> String {
        let d = if m == 0 { 0 } else { d };
        format!("{g}|{v}|{t}|{y:04}-{m:02}-{d:02}")
    }
}

/// A valid identifier as a person would write it, with its kind.
fn written() -> impl Strategy<Value = (IdentifierKind, String)> {
    prop_oneof![
        (kenteken(), decorations(8)).prop_map(|(k, (l, g))| {
            (
                IdentifierKind::Kenteken,
                scramble(&k.replace('-', ""), &["-", " ", " - "], l, g),
            )
        }),
        (digits(8), decorations(8))
            .prop_filter("zero", |(d, _)| d != "00000000")
            .prop_map(|(d, (l, g))| { (IdentifierKind::Kvk, scramble(&d, &[" ", "."], l, g)) }),
        (digits(12), decorations(12))
            .prop_filter("zero", |(d, _)| d != "000000000000")
            .prop_map(|(d, (l, g))| {
                (IdentifierKind::Vestiging, scramble(&d, &[" ", "."], l, g))
            }),
        (elfproef(), decorations(9))
            .prop_map(|(d, (l, g))| (IdentifierKind::Rsin, scramble(&d, &[".", " ", "-"], l, g))),
        (elfproef(), decorations(9))
            .prop_map(|(d, (l, g))| (IdentifierKind::Bsn, scramble(&d, &[".", " "], l, g))),
        (iban(), decorations(34))
            .prop_map(|(d, (l, g))| (IdentifierKind::Iban, scramble(&d, &[" "], l, g))),
        adres().prop_map(|a| (IdentifierKind::Adres, a)),
        (vin(), decorations(17))
            .prop_map(|(d, (l, g))| (IdentifierKind::Vin, scramble(&d, &[" ", "-"], l, g))),
        telefoon().prop_map(|t| (IdentifierKind::Telefoon, t)),
        persoon().prop_map(|p| (IdentifierKind::Persoon, p)),
    ]
}

fn test_key(version: u32) -> CoalitionKey {
    CoalitionKey::new(core::array::from_fn(|i| i as u8), version)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Generated values are valid, normalising twice changes nothing, and the kind's type
    /// accepts the canonical form and returns it unchanged.
    #[test]
    fn written_values_normalise_idempotently((kind, raw) in written()) {
        let c = canon(kind, &raw);
        prop_assert!(c.is_ok(), "{kind} {raw:?}: {}", c.unwrap_err());
        let c = c.unwrap();
        prop_assert_eq!(canon(kind, &c), Ok(c.clone()), "idempotent");
        prop_assert_eq!(typed(kind, &raw), Ok(c.clone()), "type agrees with normalise_into");
        prop_assert_eq!(typed(kind, &c), Ok(c.clone()), "parse(canonical) = canonical");
    }

    /// Whatever the input, normalising never panics, and anything accepted is a fixed point.
    #[test]
    fn arbitrary_input_is_accepted_only_as_a_fixed_point(
        kind in select(IdentifierKind::ALL.to_vec()),
        raw in prop_oneof![any::<String>(), "[ -~]{0,40}", "[0-9 .+()|-]{0,20}", "[0-9A-Za-z|]{0,24}"],
    ) {
        if let Ok(c) = canon(kind, &raw) {
            prop_assert_eq!(canon(kind, &c), Ok(c.clone()));
            prop_assert_eq!(typed(kind, &c), Ok(c.clone()));
        } else {
            let e = canon(kind, &raw).unwrap_err();
            prop_assert_eq!(e.kind, kind);
            prop_assert!(!e.rule.is_empty() && !e.message.is_empty());
        }
    }

    /// Arbitrary Unicode names: the name normalisation is idempotent.
    #[test]
    fn persoon_names_are_idempotent(g in any::<String>(), v in any::<String>(), t in any::<String>()) {
        if let Ok(p) = Persoon::from_parts(&g, &v, &t, "19800312") {
            prop_assert_eq!(typed(IdentifierKind::Persoon, p.as_str()), Ok(p.as_str().to_owned()));
        }
    }

    /// Different canonical forms of one kind give different pseudonyms.
    #[test]
    fn distinct_canonical_forms_give_distinct_pseudonyms((kind, a) in written(), b in "[ -~]{1,24}") {
        let a = canon(kind, &a).unwrap();
        let p = test_key(1).pseudonymiser(kind);
        if let Ok(b) = canon(kind, &b) && b != a {
            prop_assert_ne!(p.pseudonymise_canonical(&a), p.pseudonymise_canonical(&b));
        }
        prop_assert_eq!(p.pseudonymise(&a).unwrap(), p.pseudonymise_canonical(&a));
    }

    /// The same string under different kinds gives different pseudonyms (domain separation).
    #[test]
    fn distinct_kinds_give_distinct_pseudonyms(
        a in select(IdentifierKind::ALL.to_vec()),
        b in select(IdentifierKind::ALL.to_vec()),
        value in "[0-9A-Z|]{1,20}",
    ) {
        prop_assume!(a != b);
        let key = test_key(1);
        prop_assert_ne!(
            key.pseudonymiser(a).pseudonymise_canonical(&value),
            key.pseudonymiser(b).pseudonymise_canonical(&value)
        );
    }

    /// Different coalition keys give different pseudonyms; the version travels with the
    /// pseudonymiser (it is a label: the broker refuses to match across versions).
    #[test]
    fn keys_and_versions((kind, raw) in written(), bytes in any::<[u8; 32]>(), v1 in any::<u32>(), v2 in any::<u32>()) {
        prop_assume!(bytes != *test_key(0).expose_secret());
        let a = test_key(v1).pseudonymiser(kind);
        let b = CoalitionKey::new(bytes, v2).pseudonymiser(kind);
        prop_assert_eq!(a.version(), v1);
        prop_assert_eq!(b.version(), v2);
        prop_assert_eq!(a.kind(), kind);
        prop_assert_ne!(a.pseudonymise(&raw).unwrap(), b.pseudonymise(&raw).unwrap());
    }
}

#[test]
fn same_key_bytes_under_another_version_label_give_the_same_bytes() {
    // Documented behaviour: the version is metadata, not key material. A rotation always
    // generates a new key, which is what changes the pseudonyms.
    let a = test_key(1)
        .pseudonymiser(IdentifierKind::Kvk)
        .pseudonymise_canonical("01234567");
    let b = test_key(2)
        .pseudonymiser(IdentifierKind::Kvk)
        .pseudonymise_canonical("01234567");
    assert_eq!(a, b);
}
