//! Authorisation: a partner claiming a role the registry does not allow its organisation, a
//! scoped token used beyond its scope, and the supplier's privacy officer trying to learn of an
//! embargoed police hit — against `kruispunt serve`.

use super::*;
use kruispunt_sdk::token::TokenScope;
use kruispunt_test_kit::token::police_scope;
use serde_json::{Value, json};

const POLICE: &str = "politie-midden-nederland";
const POLICE_PURPOSE: &str = "politie-opsporing-wpg19";
const CASE: &str = "ON-2026-0042";
const OM: &str = "om-midden-nederland";
const RIEC: &str = "riec-midden-nederland";

fn item(kind: &str, plate: &str, purposes: &[&str]) -> Value {
    json!({
        "kind": kind, "pseudonym": pseudonym(plate), "key_version": 1, "code": "cash-car-purchase",
        "observed": "2026-11-01", "district": "oost-utrecht", "purposes": purposes
    })
}

async fn upload(b: &Broker, token: &str, items: Value) -> Value {
    let (st, v) = b
        .post("/v1/signals", Some(token), &json!({ "signals": items }))
        .await;
    assert_eq!(st, 200, "{v}");
    v
}

async fn withdraw(b: &Broker, token: &str, id: &str) -> (u16, Value, String) {
    b.send(
        reqwest::Method::DELETE,
        &format!("/v1/signals/{id}"),
        Some(token),
        None,
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Roles the registry does not allow the organisation.

async fn invented_and_foreign_roles_are_refused(b: &Broker) {
    b.traffic().await;
    let v = upload(
        b,
        &b.token(DEALER_A, &["compliance"]),
        json!([item("kenteken", "RL-001-A", &[PURPOSE])]),
    )
    .await;
    let id = v["results"][0]["id"].as_str().unwrap().to_string();
    let refused_before = b.audit_of("auth.refused").await.len();
    // An invented role, and the police's role claimed by a car dealer.
    for role in ["stagiair", "rechercheur", "coalitiebeheerder"] {
        let t = b.token(DEALER_C, &[role]);
        let v = problem(
            b.post_typed("/v1/matches", Some(&t), &match_query(PURPOSE))
                .await,
            403,
            "token-role-not-allowed",
        );
        assert!(v.get("results").is_none(), "{role}: {v}");
        let t = b.token(DEALER_A, &[role]);
        problem(withdraw(b, &t, &id).await, 403, "token-role-not-allowed");
        let (st, v, _) = b
            .send(
                reqwest::Method::GET,
                "/v1/audit/review",
                Some(&b.token(DEALER_A, &["privacy-officer", role])),
                None,
            )
            .await;
        assert_eq!(
            st, 403,
            "{role}: a forbidden role next to an allowed one: {v}"
        );
    }
    let refused = b.audit_of("auth.refused").await;
    assert!(refused.len() > refused_before, "the refusals are audited");
    assert!(
        refused[refused_before..]
            .iter()
            .all(|e| e.reasons == ["token-role-not-allowed"]),
        "{refused:?}"
    );
    // The signal is still there: its supplier's compliance officer withdraws it.
    let (st, v, _) = withdraw(b, &b.token(DEALER_A, &["compliance"]), &id).await;
    assert_eq!(st, 200, "{v}");
}

attack_tests!(
    invented_and_foreign_roles_are_refused_on_sqlite,
    invented_and_foreign_roles_are_refused_on_postgres = invented_and_foreign_roles_are_refused
);

// ---------------------------------------------------------------------------------------------
// A scoped token beyond its scope.

async fn a_scoped_token_stays_in_its_scope(b: &Broker) {
    // Dealer A's token scoped to the dealers' purpose and the kind `vin`.
    let scoped = b.token_with(DEALER_A, &["compliance"], |c| {
        c.scope = Some(TokenScope::new(PURPOSE).kinds(["vin"]))
    });
    // Upload: another kind, another purpose — nothing stored.
    let v = upload(
        b,
        &scoped,
        json!([
            item("kenteken", "SC-001-A", &[PURPOSE]),
            item("vin", "SC-002-A", &[POLICE_PURPOSE])
        ]),
    )
    .await;
    assert_eq!(
        (&v["stored"], &v["rejected"]),
        (&json!(0), &json!(2)),
        "{v}"
    );
    assert!(
        v["results"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("scope_exceeded_kinds")
    );
    assert!(
        v["results"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("scope_purpose_mismatch")
    );

    // Withdraw: what the unscoped token uploaded of another kind stays.
    let plain = b.token(DEALER_A, &["compliance"]);
    let v = upload(b, &plain, json!([item("kenteken", "SC-003-A", &[PURPOSE])])).await;
    let id = v["results"][0]["id"].as_str().unwrap().to_string();
    let p = problem(withdraw(b, &scoped, &id).await, 403, "policy-denied");
    assert!(p.to_string().contains("scope_exceeded_kinds"), "{p}");
    let last = b.audit_of("signal.withdraw").await.pop().unwrap();
    assert_eq!(last.decision.as_deref(), Some("deny"), "{last:?}");
    let (st, v, _) = withdraw(b, &plain, &id).await;
    assert_eq!(
        st, 200,
        "the signal stayed until its own token withdrew it: {v}"
    );

    // Aggregates: a RIEC analyst's token scoped to another purpose gets no picture.
    let question = json!({ "purpose": "ondermijningsbeeld", "measure": "subjects",
        "group_by": ["district", "theme"], "from": "2026-01-01", "to": "2026-12-31" });
    let riec_scoped = b.token_with(RIEC, &["analist"], |c| {
        c.scope = Some(TokenScope::new("kvo-buitengebied-signalering"))
    });
    let p = problem(
        b.post_typed("/v1/aggregates", Some(&riec_scoped), &question)
            .await,
        403,
        "policy-denied",
    );
    assert!(p.to_string().contains("scope_purpose_mismatch"), "{p}");
    assert!(p.get("cells").is_none(), "{p}");
    // The control: the same question with an unscoped token is answered.
    let (st, v, _) = b
        .post_typed(
            "/v1/aggregates",
            Some(&b.token(RIEC, &["analist"])),
            &question,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(v["cells"].is_array(), "{v}");
}

attack_tests!(
    a_scoped_token_stays_in_its_scope_on_sqlite,
    a_scoped_token_stays_in_its_scope_on_postgres = a_scoped_token_stays_in_its_scope
);

// ---------------------------------------------------------------------------------------------
// Finding 1: the embargo bypass.

async fn text(b: &Broker, path: &str, token: &str) -> String {
    let resp = b.get(path, Some(token)).await;
    assert_eq!(resp.status(), 200, "{path}");
    resp.text().await.unwrap()
}

/// Registers case CASE (the RIEC's case director, with the police and the OM taking part) and
/// the officer of justice's consent for plate queries in it; answers the consent's id.
async fn registered_consent(b: &Broker) -> String {
    let (st, v) = b
        .post(
            "/v1/cases",
            Some(b.token(RIEC, &["casusregisseur"]).as_str()),
            &json!({ "reference": CASE, "gemeente": "GM0344", "themes": ["criminele-families"],
                "legal_frame": ["riec-convenant", "wpg-art-19"], "participants": [POLICE, OM] }),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let resp = b
        .mtls_client(OM)
        .post(format!("{}/v1/consents", b.base))
        .bearer_auth(b.token(OM, &["officier-van-justitie"]))
        .json(&json!({ "case_reference": CASE, "purpose": POLICE_PURPOSE, "kinds": ["kenteken"],
            "max_identifiers": 5, "ceiling": "categories", "valid_until": kruispunt_test_kit::now() + 86_400 }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

async fn the_embargo_tells_the_supplier_nothing(b: &Broker) {
    b.traffic().await; // dealers A and B supply GB-001-B; dealer C has a hit on it
    // Dealer B also supplies the plate for police investigations.
    let v = upload(
        b,
        &b.token(DEALER_B, &["compliance"]),
        json!([item("kenteken", "GB-001-B", &[POLICE_PURPOSE])]),
    )
    .await;
    assert_eq!(v["stored"], 1, "{v}");
    // A detective asks about it in case CASE, registered by the RIEC, under the officer of
    // justice's consent, through the police's own client certificate: a hit, under a 30-day
    // embargo.
    let consent = registered_consent(b).await;
    let detective = b.token_with(POLICE, &["rechercheur"], |c| {
        c.scope = Some(police_scope(CASE, &consent, 5, None))
    });
    let q = json!({ "purpose": POLICE_PURPOSE, "level": "hit", "case_reference": CASE,
        "legal_basis": "wpg-art-19", "consent_id": consent,
        "identifiers": [{ "kind": "kenteken", "pseudonym": pseudonym("GB-001-B"), "key_version": 1 }] });
    let resp = b
        .mtls_client(POLICE)
        .post(format!("{}/v1/matches", b.base))
        .bearer_auth(&detective)
        .json(&q)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        (status.as_u16(), &v["results"][0]["hit"]),
        (200, &json!(true)),
        "{v}"
    );
    let police_match = b.audit_of("match").await.pop().unwrap();
    assert_eq!(police_match.actor_org.as_deref(), Some(POLICE));
    assert!(
        police_match.detail["embargo_until"].as_i64() > Some(now()),
        "{police_match:?}"
    );
    b.sync().await;

    // Dealer B's privacy officer tries to learn of it.
    let ob = b.token(DEALER_B, &[OFFICER]);
    let plate = pseudonym("GB-001-B");
    // (a) The disclosure accounting of its customer's plate: dealer C's match only.
    for all in ["false", "true"] {
        let path = format!("/v1/audit/disclosures?pseudonym={plate}&all={all}");
        let (status, v) = b.get_json(&path, Some(&ob)).await;
        assert_eq!(status, 200, "{v}");
        assert!(!entries(&v).is_empty(), "{v}");
        for l in entries(&v) {
            assert_ne!(l["entry"]["actor_org"], POLICE, "{l}");
            assert!(l["withheld"].is_null() && l["summary"].is_null(), "{l}");
        }
        let csv = text(b, &format!("{path}&format=csv"), &ob).await;
        assert!(!csv.contains(POLICE) && !csv.contains("embargo,"), "{csv}");
    }
    // (b) Guessing the case, the requester or the purpose in review filters: what the guess
    // finds is the supplier's own entries only (its own upload under the police purpose), never
    // the police query, nor a summary of it.
    for guess in [
        format!("case={CASE}"),
        format!("partner={POLICE}"),
        format!("purpose={POLICE_PURPOSE}"),
    ] {
        let (status, v) = b
            .get_json(&format!("/v1/audit/review?{guess}"), Some(&ob))
            .await;
        assert_eq!(status, 200, "{v}");
        for l in entries(&v) {
            assert_eq!(l["entry"]["actor_org"], DEALER_B, "{guess}: {l}");
            assert!(l["withheld"].is_null(), "{guess}: {l}");
        }
    }
    // A right guess of the case or the requester answers exactly as a wrong one, in JSON and
    // in CSV.
    for (right, wrong) in [
        (format!("case={CASE}"), "case=ON-2026-9999".to_string()),
        (
            format!("partner={POLICE}"),
            "partner=politie-oost".to_string(),
        ),
    ] {
        let (r, _) = a_guess_answers_as_a_wrong_one(b, &ob, &right, &wrong).await;
        assert!(!r.to_string().contains(CASE), "{right}: {r}");
    }
    // Nowhere in what the officer may read does the police query or its case appear (but in
    // the entries of the officer's own reads, which record its guesses).
    let (_, all) = b.get_json("/v1/audit/review", Some(&ob)).await;
    for l in entries(&all) {
        assert_ne!(l["entry"]["actor_org"], POLICE, "{l}");
        if l["entry"]["action"] != "audit.read" {
            assert!(!l.to_string().contains(CASE), "{l}");
        }
    }
}

attack_tests!(
    the_embargo_tells_the_supplier_nothing_on_sqlite,
    the_embargo_tells_the_supplier_nothing_on_postgres = the_embargo_tells_the_supplier_nothing
);
