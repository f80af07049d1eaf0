//! The audit tests' fixtures: the partners and purpose they use, some traffic worth auditing,
//! the `kruispunt` binary. The broker itself is the test kit's.
#![allow(dead_code)]

use kruispunt_sdk::{CoalitionKey, IdentifierKind};
pub use kruispunt_test_kit::{Broker, TestDatabase, now, token_in, use_database};
use serde_json::{Value, json};

pub const DEALER_A: &str = "autobedrijf-de-vecht";
pub const DEALER_B: &str = "autohandel-amersfoort";
pub const DEALER_C: &str = "autoschade-almere";
pub const PURPOSE: &str = "autobranche-contante-aankopen";
pub const OFFICER: &str = "privacy-officer";

/// Traffic worth auditing.
#[allow(async_fn_in_trait)]
pub trait Traffic {
    /// Uploads by dealers A and B of the same plate, and a hit on it for dealer C.
    async fn traffic(&self);
}

impl Traffic for Broker {
    async fn traffic(&self) {
        let ta = self.token(DEALER_A, &["compliance"]);
        let tb = self.token(DEALER_B, &["compliance"]);
        let tc = self.token(DEALER_C, &["compliance"]);
        let s = signal("GB-001-B", "cash-car-purchase");
        let (st, v) = self
            .post("/v1/signals", Some(&ta), &json!({ "signals": [s] }))
            .await;
        assert_eq!((st, &v["stored"]), (200, &json!(1)), "{v}");
        let (st, v) = self
            .post(
                "/v1/signals",
                Some(&tb),
                &json!({ "signals": [signal("GB001B", "split-payments")] }),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let (st, v) = self
            .post("/v1/matches", Some(&tc), &match_query(PURPOSE))
            .await;
        assert_eq!((st, &v["results"][0]["hit"]), (200, &json!(true)), "{v}");
    }
}

/// Runs the `kruispunt` binary to completion: (success, stdout followed by stderr).
pub fn kruispunt(args: &[String]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kruispunt"))
        .args(args)
        .env_remove("KRUISPUNT_TOKEN")
        .env_remove("KRUISPUNT_DATA_DIR")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

pub fn pseudonym(plate: &str) -> String {
    CoalitionKey::new([7u8; 32], 1)
        .pseudonymiser(IdentifierKind::Kenteken)
        .pseudonymise(plate)
        .unwrap()
        .to_hex()
}

pub fn signal(plate: &str, code: &str) -> Value {
    json!({
        "kind": "kenteken", "pseudonym": pseudonym(plate), "key_version": 1, "code": code,
        "observed": "2026-11-01", "district": "oost-utrecht", "purposes": [PURPOSE]
    })
}

pub fn match_query(purpose: &str) -> Value {
    json!({ "purpose": purpose, "level": "hit",
            "identifiers": [{ "kind": "kenteken", "pseudonym": pseudonym("GB-001-B"), "key_version": 1 }] })
}

/// A JWT with any `header` and `payload`, signed with the Ed25519 key `pkcs8` (for the tokens
/// the SDK's signer rightly cannot produce).
pub fn sign_jwt(pkcs8: &[u8], header: &Value, payload: &Value) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8).unwrap();
    let sig = URL_SAFE_NO_PAD.encode(pair.sign(message.as_bytes()).as_ref());
    format!("{message}.{sig}")
}

/// `partner`'s development signing key: its key id and PKCS#8 bytes.
pub fn partner_key(b: &Broker, partner: &str) -> (String, Vec<u8>) {
    kruispunt_broker::keys::dev_partner_keys::load_partner_signing_key(b.data_dir(), partner)
        .unwrap()
}

/// A hand-built token of `partner`'s user (its development key) with `header` and `payload`;
/// answers it and the key id put in the header.
pub fn hand_signed(b: &Broker, partner: &str, header: Value, payload: &Value) -> (String, String) {
    let (kid, pkcs8) = partner_key(b, partner);
    let mut header = header;
    header["kid"] = json!(kid);
    (sign_jwt(&pkcs8, &header, payload), kid)
}

/// Runs `sql` on the data directory's database behind the broker's back, binding `bytes` to
/// `$1` when given.
pub async fn behind_the_back(dir: &std::path::Path, sql: &str, bytes: Option<Vec<u8>>) {
    let url = kruispunt_broker::config::Config::load(dir)
        .unwrap()
        .database;
    macro_rules! run {
        ($pool:expr) => {{
            let pool = $pool;
            match bytes {
                Some(b) => {
                    sqlx::query(sql).bind(b).execute(&pool).await.unwrap();
                }
                None => {
                    sqlx::raw_sql(sql).execute(&pool).await.unwrap();
                }
            }
            pool.close().await;
        }};
    }
    if url.starts_with("sqlite:") {
        run!(sqlx::SqlitePool::connect(&url).await.unwrap())
    } else {
        run!(sqlx::PgPool::connect(&url).await.unwrap())
    }
}

/// Takes the stored tree back to its first `kept` leaves (later leaves, the nodes over them and
/// the border gone), so that the broker recomputes the rest from the stored entries.
pub fn tree_back_to(kept: u64) -> String {
    format!(
        "DELETE FROM audit_leaf WHERE seq >= {kept}; \
         DELETE FROM audit_pseudonym WHERE seq >= {kept}; \
         DELETE FROM audit_node WHERE ((node & 72057594037927935) + 1) << CAST(node >> 56 AS INTEGER) > {kept}; \
         UPDATE audit_head SET frontier = NULL;"
    )
}

/// The lines of a `GET /v1/audit/review` answer.
pub fn entries(v: &Value) -> &Vec<Value> {
    v["entries"].as_array().unwrap_or_else(|| panic!("{v}"))
}

/// Asks the review as `token` with the filter `right` (a true guess about a line the reader may
/// not see) and with `wrong`: asserts both answer alike, in JSON and in CSV, and returns the
/// answer to `right` in both forms.
pub async fn a_guess_answers_as_a_wrong_one(
    b: &Broker,
    token: &str,
    right: &str,
    wrong: &str,
) -> (Value, String) {
    let ask = async |query: &str| {
        let (st, v) = b
            .get_json(&format!("/v1/audit/review?{query}"), Some(token))
            .await;
        assert_eq!(st, 200, "{query}: {v}");
        let resp = b
            .get(&format!("/v1/audit/review?{query}&format=csv"), Some(token))
            .await;
        assert_eq!(resp.status(), 200, "{query}");
        (v, resp.text().await.unwrap())
    };
    let (r, r_csv) = ask(right).await;
    let (w, w_csv) = ask(wrong).await;
    assert_eq!(entries(&r), entries(&w), "{right} vs {wrong}");
    assert_eq!(r_csv, w_csv, "{right} vs {wrong}");
    (r, r_csv)
}

/// Truncates the log of the stopped broker in `dir` to its first `kept` entries behind the
/// broker's back: the entries, their tree and the head set back, as an operator could.
pub async fn truncate_behind_the_back(dir: &std::path::Path, kept: u64) {
    let sql = format!(
        "DELETE FROM audit_log WHERE seq >= {kept}; {} UPDATE audit_head SET size = {kept};",
        tree_back_to(kept)
    );
    behind_the_back(dir, &sql, None).await;
}

/// The operator's export of the log of the broker in `data_dir` into `out` (`kruispunt audit
/// export`, which must succeed), checked offline by `kruispunt audit verify --dir`: whether the
/// verification passed, and what it printed.
pub fn export_then_verify(data_dir: &std::path::Path, out: &std::path::Path) -> (bool, String) {
    let path = |p: &std::path::Path| p.display().to_string();
    let (ok, text) = kruispunt(&[
        "audit".into(),
        "export".into(),
        "--data-dir".into(),
        path(data_dir),
        "--out".into(),
        path(out),
    ]);
    assert!(ok, "{text}");
    kruispunt(&["audit".into(), "verify".into(), "--dir".into(), path(out)])
}

/// [`export_then_verify`] that must verify; the exported lines.
pub fn export_and_verify(
    data_dir: &std::path::Path,
    out: &std::path::Path,
) -> Vec<kruispunt_sdk::transparency::LogLine> {
    let (ok, text) = export_then_verify(data_dir, out);
    assert!(ok, "{text}");
    std::fs::read_to_string(out.join("entries.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Asserts that the consistency proof `v` a broker served (`GET /v1/audit/proof/consistency`)
/// proves checkpoint `cp` a prefix of `last`.
pub fn assert_served_consistency(
    v: &Value,
    cp: &kruispunt_sdk::transparency::Checkpoint,
    last: &kruispunt_sdk::transparency::Checkpoint,
) {
    let proof = served_proof(v);
    kruispunt_sdk::transparency::verify_consistency(
        cp.size, last.size, &proof, &cp.root, &last.root,
    )
    .unwrap_or_else(|e| panic!("checkpoint of {} entries: {e}", cp.size));
}

/// The hashes of a proof as `GET /v1/audit/proof/consistency` serves it (`{"proof": [base64…]}`).
fn served_proof(v: &Value) -> Vec<[u8; 32]> {
    use base64::Engine as _;
    v["proof"]
        .as_array()
        .unwrap_or_else(|| panic!("no consistency proof: {v}"))
        .iter()
        .map(|h| {
            base64::engine::general_purpose::STANDARD
                .decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect()
}
