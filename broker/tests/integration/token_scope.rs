//! A token's scope bounds every action the token takes, not only matches: a token scoped to one
//! purpose and kind cannot upload signals of another kind or under another purpose, cannot
//! withdraw them, and reads only the audit entries of its purpose. On both backends.

use crate::audit_common::*;
use kruispunt_sdk::token::TokenScope;
use serde_json::{Value, json};

const POLICE_PURPOSE: &str = "politie-opsporing-wpg19";

fn item(kind: &str, plate: &str, purpose: &str) -> Value {
    json!({
        "kind": kind, "pseudonym": pseudonym(plate), "key_version": 1, "code": "cash-car-purchase",
        "observed": "2026-11-01", "district": "oost-utrecht", "purposes": [purpose]
    })
}

/// Dealer A's token scoped to the dealers' purpose and the kind `vin`.
fn scoped(b: &Broker, roles: &[&str]) -> String {
    b.token_with(DEALER_A, roles, |c| {
        c.scope = Some(TokenScope::new(PURPOSE).kinds(["vin"]))
    })
}

async fn upload(b: &Broker, token: &str, items: Value) -> Value {
    let (st, v) = b
        .post("/v1/signals", Some(token), &json!({ "signals": items }))
        .await;
    assert_eq!(st, 200, "{v}");
    v
}

async fn the_scope_bounds_every_action(b: &Broker) {
    let plain = b.token(DEALER_A, &["compliance"]);
    let scoped_token = scoped(b, &["compliance"]);

    // Upload: another kind, another purpose — both refused, naming the scope; nothing stored.
    let v = upload(
        b,
        &scoped_token,
        json!([
            item("kenteken", "SC-001-A", PURPOSE),
            item("vin", "SC-002-A", POLICE_PURPOSE)
        ]),
    )
    .await;
    assert_eq!(
        (v["stored"].as_u64(), v["rejected"].as_u64()),
        (Some(0), Some(2)),
        "{v}"
    );
    let reasons = |i: usize| v["results"][i]["reason"].as_str().unwrap().to_string();
    assert!(reasons(0).contains("scope_exceeded_kinds"), "{v}");
    assert!(reasons(1).contains("scope_purpose_mismatch"), "{v}");
    // Within the scope it uploads.
    let v = upload(b, &scoped_token, json!([item("vin", "SC-003-A", PURPOSE)])).await;
    assert_eq!(v["stored"], 1, "{v}");
    let own_in_scope = v["results"][0]["id"].as_str().unwrap().to_string();

    // Withdraw: what the plain token uploaded of another kind, or under another purpose, is
    // beyond the scoped token (403, audited, the signals stay); its own signal it withdraws.
    let v = upload(
        b,
        &plain,
        json!([
            item("kenteken", "SC-004-A", PURPOSE),
            item("vin", "SC-005-A", POLICE_PURPOSE)
        ]),
    )
    .await;
    assert_eq!(v["stored"], 2, "{v}");
    for (i, reason) in [(0, "scope_exceeded_kinds"), (1, "scope_purpose_mismatch")] {
        let id = v["results"][i]["id"].as_str().unwrap();
        let (st, p) = b
            .call(
                reqwest::Method::DELETE,
                &format!("/v1/signals/{id}"),
                Some(&scoped_token),
                None,
            )
            .await;
        assert_eq!(st, 403, "{p}");
        assert!(p.to_string().contains(reason), "{p}");
        let refused = b.audit_of("signal.withdraw").await;
        let last = refused.last().unwrap();
        assert_eq!(last.decision.as_deref(), Some("deny"), "{last:?}");
        assert!(last.reasons.iter().any(|r| r == reason), "{last:?}");
    }
    let (st, p) = b
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/signals/{own_in_scope}"),
            Some(&scoped_token),
            None,
        )
        .await;
    assert_eq!(st, 200, "{p}");
    for (i, _) in [(0, ()), (1, ())] {
        let id = v["results"][i]["id"].as_str().unwrap();
        let (st, p) = b
            .call(
                reqwest::Method::DELETE,
                &format!("/v1/signals/{id}"),
                Some(&plain),
                None,
            )
            .await;
        assert_eq!(st, 200, "the plain token withdraws what it uploaded: {p}");
    }

    // Audit reads: the officer's scoped token sees the entries of its purpose in full, and
    // those under another purpose as leaves only; the unscoped officer sees both.
    let size = b.sync().await;
    let officer = b.token(DEALER_A, &[OFFICER]);
    let scoped_officer = scoped(b, &[OFFICER]);
    let full = |v: &Value| -> Vec<String> {
        v["entries"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .filter_map(|l| l["entry"]["purpose"].as_str().map(str::to_string))
            .collect()
    };
    let (st, all) = b
        .get_json(
            "/v1/audit/review?partner=autobedrijf-de-vecht",
            Some(&officer),
        )
        .await;
    assert_eq!(st, 200, "{all}");
    let seen = full(&all);
    assert!(seen.iter().any(|p| p == POLICE_PURPOSE), "{all}");
    assert!(seen.iter().any(|p| p == PURPOSE), "{all}");
    for path in [
        "/v1/audit/review?partner=autobedrijf-de-vecht".to_string(),
        format!("/v1/audit/review?purpose={POLICE_PURPOSE}"),
        format!("/v1/audit/entries?start=0&end={size}"),
    ] {
        let (st, v) = b.get_json(&path, Some(&scoped_officer)).await;
        assert_eq!(st, 200, "{path}: {v}");
        let seen = full(&v);
        assert!(seen.iter().all(|p| p == PURPOSE), "{path}: {v}");
        if path.contains("partner=") || path.contains("entries") {
            assert!(!seen.is_empty(), "{path}: {v}");
        }
    }
}

kruispunt_test_kit::per_backend_tests!(on_broker:
    the_scope_bounds_every_action_on_sqlite, the_scope_bounds_every_action_on_postgres =
        the_scope_bounds_every_action
);
