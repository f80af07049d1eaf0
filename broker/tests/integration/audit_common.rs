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
