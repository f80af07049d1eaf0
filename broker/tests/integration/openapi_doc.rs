//! The checked-in OpenAPI document stays in step with the router and the wire types.

use kruispunt_broker::routes::openapi::OPENAPI_JSON;
use serde_json::Value;

#[test]
fn every_route_is_documented_and_the_document_parses() {
    let doc: Value = serde_json::from_str(OPENAPI_JSON).expect("docs/openapi.json is JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let app = include_str!("../../src/app.rs");
    let mut routes = 0;
    for line in app.lines() {
        if let Some(rest) = line.trim().strip_prefix(".route(\"") {
            let path = rest.split('"').next().unwrap();
            assert!(
                doc["paths"].get(path).is_some(),
                "route {path} is not in docs/openapi.json"
            );
            routes += 1;
        }
    }
    assert!(routes >= 6, "found only {routes} routes in app.rs");
}

/// The keys of a JSON object, sorted.
fn sorted_keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[test]
fn documented_request_fields_match_the_wire_types() {
    use kruispunt_sdk::wire::{MatchRequest, SignalIn};
    let doc: Value = serde_json::from_str(OPENAPI_JSON).unwrap();
    let fields = |schema: &str| sorted_keys(&doc["components"]["schemas"][schema]["properties"]);
    let sample = serde_json::json!({
        "kind": "kvk", "pseudonym": "00", "key_version": 1, "code": "c", "observed": "2026-01-01",
        "district": "d", "gemeente": "GM0344", "wijk": "WK034405", "purposes": ["p"],
        "expires": "2026-02-01"
    });
    let s: SignalIn = serde_json::from_value(sample.clone()).unwrap();
    let keys = sorted_keys(&serde_json::to_value(&s).unwrap());
    assert_eq!(keys, fields("SignalIn"));
    let m: MatchRequest = serde_json::from_value(serde_json::json!({
        "purpose": "p", "coalition": "c", "identifiers": [], "level": "hit", "case_reference": "r",
        "legal_basis": "b", "consent_id": "i", "justification": "j"
    }))
    .unwrap();
    let keys = sorted_keys(&serde_json::to_value(&m).unwrap());
    assert_eq!(keys, fields("MatchRequest"));
    let a: kruispunt_sdk::beeld::AggregateRequest = serde_json::from_value(serde_json::json!({
        "purpose": "p", "measure": "subjects", "group_by": ["unit"], "from": "2026-01-01",
        "to": "2026-01-31", "filter": {"district": ["d"]}, "totals": true
    }))
    .unwrap();
    let keys = sorted_keys(&serde_json::to_value(&a).unwrap());
    assert_eq!(keys, fields("AggregateRequest"));
    let c: kruispunt_sdk::cases::CaseOpenRequest = serde_json::from_value(serde_json::json!({
        "reference": "r", "gemeente": "GM0344", "themes": ["t"], "legal_frame": ["wet-bibob"],
        "participants": ["p"]
    }))
    .unwrap();
    let keys = sorted_keys(&serde_json::to_value(&c).unwrap());
    assert_eq!(keys, fields("CaseOpenRequest"));
    let s: kruispunt_sdk::cases::CaseStateRequest = serde_json::from_value(serde_json::json!({
        "state": "intervention", "intervention": "fiscaal", "result": "other"
    }))
    .unwrap();
    let keys = sorted_keys(&serde_json::to_value(&s).unwrap());
    assert_eq!(keys, fields("CaseStateRequest"));
    let o: kruispunt_sdk::cases::ConsentRequest = serde_json::from_value(serde_json::json!({
        "case_reference": "r", "purpose": "p", "kinds": ["kenteken"], "max_identifiers": 5,
        "ceiling": "hit", "valid_until": 1
    }))
    .unwrap();
    let keys = sorted_keys(&serde_json::to_value(&o).unwrap());
    assert_eq!(keys, fields("ConsentRequest"));
}

/// Every problem type of the error table in docs/API.md is listed in the OpenAPI document's
/// `x-problem-types` (with `text-too-long` and the types the HTTP edge writes among them).
#[test]
fn every_documented_problem_type_is_in_the_openapi_document() {
    let doc: Value = serde_json::from_str(OPENAPI_JSON).unwrap();
    let listed = &doc["components"]["schemas"]["Problem"]["x-problem-types"];
    let api = include_str!("../../../docs/API.md");
    let table = api.split("## Errors (RFC 9457)").nth(1).unwrap();
    let table = table.split("\n## ").next().unwrap();
    let mut n = 0;
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap();
        for slug in first.split('`').skip(1).step_by(2) {
            assert!(
                listed.get(slug).is_some(),
                "{slug} is not in x-problem-types"
            );
            n += 1;
        }
    }
    assert!(n >= 30, "found only {n} problem types in docs/API.md");
    for slug in [
        "text-too-long",
        "body-too-large",
        "bad-request",
        "uri-too-long",
        "headers-too-large",
        "request-timeout",
    ] {
        assert!(listed.get(slug).is_some(), "{slug}");
    }
}
