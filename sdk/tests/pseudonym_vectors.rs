//! Checks every test vector in `docs/PSEUDONYMS.md` against the code, so the document that
//! other-language SDKs follow cannot drift from this implementation.
//!
//! The document's tables are read by their header:
//! * `| intermediate | value (hex) |` — the test key and HKDF intermediates;
//! * `| kind | as written | canonical | pseudonym (hex) |` — valid vectors;
//! * `| kind | as written | rule |` — values that must be refused with that rule.
//!
//! Cells hold a value in backticks; a `|` inside a value is written `\|` (GitHub tables).
//!
//! To add vectors, add rows with the first two cells filled and run
//! `cargo test -p kruispunt-sdk --test pseudonym_vectors -- --ignored --nocapture` to print the
//! completed rows.

use kruispunt_sdk::identifiers::{IdentifierKind, normalise_into};
use kruispunt_sdk::pseudonym::HKDF_SALT;
use kruispunt_sdk::{CoalitionKey, IdentifierError};
use ring::hmac;

const DOC: &str = include_str!("../../docs/PSEUDONYMS.md");

/// Splits a table row on unescaped `|` and unescapes/untics each cell.
fn cells(line: &str) -> Vec<String> {
    let inner = line
        .trim()
        .strip_prefix('|')
        .and_then(|l| l.strip_suffix('|'))
        .unwrap_or("");
    let mut out = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                out.last_mut().unwrap().push('|');
            }
            '|' => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out.iter()
        .map(|c| {
            let c = c.trim();
            c.strip_prefix('`')
                .and_then(|c| c.strip_suffix('`'))
                .unwrap_or(c)
                .to_owned()
        })
        .collect()
}

/// The rows of every table whose header is `header`, as cell vectors.
fn table(header: &[&str]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in DOC.lines() {
        if !line.trim_start().starts_with('|') {
            in_table = false;
            continue;
        }
        let c = cells(line);
        if c.iter().map(String::as_str).eq(header.iter().copied()) {
            in_table = true;
        } else if in_table && !c.iter().all(|x| x.chars().all(|ch| ch == '-' || ch == ':')) {
            assert_eq!(c.len(), header.len(), "malformed row: {line}");
            rows.push(c);
        }
    }
    rows
}

const VECTOR_HEADER: &[&str] = &["kind", "as written", "canonical", "pseudonym (hex)"];
const INVALID_HEADER: &[&str] = &["kind", "as written", "rule"];
const INTERMEDIATE_HEADER: &[&str] = &["intermediate", "value (hex)"];

fn intermediate(name: &str) -> String {
    table(INTERMEDIATE_HEADER)
        .into_iter()
        .find(|r| r[0] == name)
        .unwrap_or_else(|| panic!("docs/PSEUDONYMS.md has no intermediate {name:?}"))[1]
        .clone()
}

fn test_key() -> CoalitionKey {
    CoalitionKey::from_hex(&intermediate("coalition_key"), 1).unwrap()
}

fn canonical(kind: IdentifierKind, raw: &str) -> Result<String, IdentifierError> {
    let mut out = String::new();
    normalise_into(kind, raw, &mut out).map(|()| out)
}

/// RFC 5869 by hand (extract, then the single expand block), independent of ring's HKDF API.
fn derived_key(kind: IdentifierKind) -> (Vec<u8>, Vec<u8>) {
    let key = test_key();
    let prk = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, HKDF_SALT),
        key.expose_secret(),
    );
    let mut info = format!("pseudonym/{}", kind.as_str()).into_bytes();
    info.push(1);
    let okm = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, prk.as_ref()), &info);
    (prk.as_ref().to_vec(), okm.as_ref().to_vec())
}

#[test]
fn the_test_key_is_bytes_0_to_31() {
    let expected: Vec<u8> = (0u8..32).collect();
    assert_eq!(test_key().expose_secret().as_slice(), expected.as_slice());
}

#[test]
fn intermediates_match_an_independent_hkdf() {
    let (prk, _) = derived_key(IdentifierKind::Kenteken);
    assert_eq!(intermediate("PRK"), hex::encode(prk));
    for kind in IdentifierKind::ALL {
        let (_, k) = derived_key(kind);
        assert_eq!(
            intermediate(&format!("k_{kind}")),
            hex::encode(&k),
            "k_{kind}"
        );
        // And the derived key is what the pseudonymiser uses.
        let by_hand = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &k), b"x");
        let by_sdk = test_key().pseudonymiser(kind).pseudonymise_canonical("x");
        assert_eq!(by_sdk.as_bytes().as_slice(), by_hand.as_ref());
    }
}

#[test]
fn every_vector_in_the_document_holds() {
    let rows = table(VECTOR_HEADER);
    let key = test_key();
    let mut failures = Vec::new();
    for row in &rows {
        let kind: IdentifierKind = row[0].parse().unwrap();
        let (raw, want_canonical, want_hex) = (&row[1], &row[2], &row[3]);
        let p = key.pseudonymiser(kind);
        match canonical(kind, raw) {
            Ok(c) if &c == want_canonical => {}
            other => failures.push(format!(
                "{kind} {raw:?}: canonical {other:?}, document says {want_canonical:?}"
            )),
        }
        let got = p.pseudonymise(raw).map(|p| p.to_hex());
        if got.as_ref() != Ok(want_hex) {
            failures.push(format!(
                "{kind} {raw:?}: pseudonym {got:?}, document says {want_hex}"
            ));
        }
        if p.pseudonymise_canonical(want_canonical).to_hex() != *want_hex {
            failures.push(format!(
                "{kind}: pseudonym of canonical {want_canonical:?} differs from the document"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "docs/PSEUDONYMS.md disagrees with the code:\n{}",
        failures.join("\n")
    );
    for kind in IdentifierKind::ALL {
        let n = rows.iter().filter(|r| r[0] == kind.as_str()).count();
        assert!(
            n >= 3,
            "docs/PSEUDONYMS.md has {n} vectors for {kind}; at least 3 are required"
        );
    }
}

#[test]
fn every_refusal_in_the_document_holds() {
    let rows = table(INVALID_HEADER);
    assert!(!rows.is_empty());
    for row in &rows {
        let kind: IdentifierKind = row[0].parse().unwrap();
        match canonical(kind, &row[1]) {
            Err(e) => assert_eq!(e.rule, row[2], "{kind} {:?}: {e}", row[1]),
            Ok(c) => panic!(
                "{kind} {:?} was accepted as {c:?}; the document says rule {}",
                row[1], row[2]
            ),
        }
    }
    for kind in IdentifierKind::ALL {
        assert!(
            rows.iter().any(|r| r[0] == kind.as_str()),
            "no refused example for {kind}"
        );
    }
}

/// Prints the vector rows completed from their first two cells (for maintainers adding rows).
#[test]
#[ignore = "prints the completed vector table; run with --ignored --nocapture"]
fn print_completed_rows() {
    let key = test_key();
    let esc = |s: &str| s.replace('|', "\\|");
    println!("| intermediate | value (hex) |\n|---|---|");
    println!("| coalition_key | `{}` |", hex::encode(key.expose_secret()));
    println!(
        "| PRK | `{}` |",
        hex::encode(derived_key(IdentifierKind::Kenteken).0)
    );
    for kind in IdentifierKind::ALL {
        println!("| k_{kind} | `{}` |", hex::encode(derived_key(kind).1));
    }
    println!();
    println!("| kind | as written | canonical | pseudonym (hex) |\n|---|---|---|---|");
    for row in table(VECTOR_HEADER) {
        let kind: IdentifierKind = row[0].parse().unwrap();
        match canonical(kind, &row[1]) {
            Ok(c) => {
                let hex = key.pseudonymiser(kind).pseudonymise_canonical(&c).to_hex();
                println!("| {kind} | `{}` | `{}` | `{hex}` |", esc(&row[1]), esc(&c));
            }
            Err(e) => println!("| {kind} | `{}` | ERROR {e} | |", esc(&row[1])),
        }
    }
    println!();
    println!("| kind | as written | rule |\n|---|---|---|");
    for row in table(INVALID_HEADER) {
        let kind: IdentifierKind = row[0].parse().unwrap();
        let rule = canonical(kind, &row[1])
            .err()
            .map_or("ACCEPTED", |e| e.rule);
        println!("| {kind} | `{}` | `{rule}` |", esc(&row[1]));
    }
}
