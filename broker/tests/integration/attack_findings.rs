//! Regression tests for the security review "Hardening: what an attacker found", one group per
//! finding, each on SQLite and (when `KRUISPUNT_TEST_POSTGRES_URL` is set) on PostgreSQL:
//!
//! 1. During a police embargo the supplier's privacy officer learns nothing about the embargoed
//!    disclosure beyond its summary: not from the disclosure accounting of its customer's
//!    pseudonym, not by guessing the case, requester or purpose in review filters (JSON or CSV).
//! 2. An operator with database access cannot have a recent entry erased by setting its
//!    `time_ms` column into the past, and an erasure forged behind the broker's back (a recent
//!    entry deleted and named in an erase record) is reported by `kruispunt audit verify`.
//! 3. A date the ingest accepts is a date the store accepts: `"2026-+1-+5"` as `observed`
//!    rejects that item only (naming the field), not the whole upload with a 503.
//! 6. Withdrawal asks the policy: a token of the supplying organisation with a role that may
//!    not supply under the signal's purpose (its privacy officer) is refused with 403 and the
//!    policy's reasons, audited, and the signal stays; an invented role ("stagiair") is refused
//!    before that, at authentication (the registry bounds each sector's token roles); the
//!    compliance role withdraws.
//! 7. Free text is bounded before it reaches the permanent audit log or a counter key: a 1 MB
//!    justification (or purpose, or case reference) is a 400 naming the field and its limit,
//!    and a 1 MB signal code rejects its item; nothing is recorded.
//! 11. Tokens: (a) a token living longer than `max_token_lifetime_secs` (default 24 h; one
//!     valid until 2100) is refused as `token-lifetime-too-long`, audited; (b) a header with
//!     `"crit": null` is refused like any `crit`; (c) the token's `jti` is recorded in the
//!     audit entries of its requests (`detail.jti`).

use std::path::Path;

use crate::audit_common::*;
use kruispunt_broker::audit::entry::{AuditEntry, Operation};
use kruispunt_sdk::Pseudonym;
use kruispunt_sdk::transparency::ERASE_ACTION;
use serde_json::{Value, json};

const POLICE: &str = "politie-midden-nederland";
const POLICE_PURPOSE: &str = "opsporing-heling";
const CASE: &str = "ON-2026-0042";

// ---------------------------------------------------------------------------------------------
// Finding 1: embargo bypass.

/// A police disclosure of dealer B's data about the plate GB-001-B, under an embargo until
/// `embargo_until` (Unix s).
fn police_disclosure(at_rest: &str, case: &str, embargo_until: i64) -> AuditEntry {
    let mut e = AuditEntry::new(
        kruispunt_broker::civil::now_millis(),
        Operation::Disclose,
        "match",
    );
    e.actor_org = Some(POLICE.into());
    e.actor_user = Some(format!("rechercheur@{POLICE}"));
    e.recipients = vec![POLICE.into()];
    e.source_orgs = vec![DEALER_B.into()];
    e.purpose = Some(POLICE_PURPOSE.into());
    e.case_reference = Some(case.into());
    e.decision = Some("allow".into());
    e.pseudonyms = vec![at_rest.into()];
    e.detail = json!({ "hits": 1, "embargo_until": embargo_until });
    e
}

async fn embargo_tells_the_supplier_nothing(b: &Broker) {
    b.traffic().await; // dealers A and B supply GB-001-B; dealer C matches it
    let st = b.state();
    let plate = pseudonym("GB-001-B");
    let at_rest = hex::encode(
        st.keys
            .at_rest(Pseudonym::from_hex(&plate).unwrap().as_bytes()),
    );
    st.store
        .audit()
        .append_audit(&[police_disclosure(&at_rest, CASE, now() + 86_400)])
        .await
        .unwrap();
    b.sync().await;
    let ob = b.token(DEALER_B, &[OFFICER]);

    // (a) The disclosure accounting of its customer's pseudonym: only dealer C's match, in
    // full; the embargoed police disclosure is not there at all (nor with `all`, nor in CSV).
    for all in ["false", "true"] {
        let (status, v) = b
            .get_json(
                &format!("/v1/audit/disclosures?pseudonym={plate}&all={all}"),
                Some(&ob),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        for l in entries(&v) {
            assert!(l["withheld"].is_null() && l["summary"].is_null(), "{l}");
            assert_ne!(l["entry"]["actor_org"], POLICE, "{l}");
        }
        if all == "false" {
            assert_eq!(entries(&v).len(), 1, "{v}");
            assert_eq!(entries(&v)[0]["entry"]["recipients"], json!([DEALER_C]));
        }
    }
    let csv = b
        .get(
            &format!("/v1/audit/disclosures?pseudonym={plate}&format=csv"),
            Some(&ob),
        )
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    let row = csv.lines().nth(1).unwrap();
    assert!(row.contains(DEALER_C) && !row.contains(POLICE), "{csv}");

    // (b) Review filters on what the summary does not show: a right guess answers exactly as a
    // wrong one (no line), in JSON and in CSV.
    for (right, wrong) in [
        (format!("case={CASE}"), "case=ON-2026-9999".to_string()),
        (
            format!("partner={POLICE}"),
            "partner=politie-oost".to_string(),
        ),
        (
            format!("purpose={POLICE_PURPOSE}"),
            "purpose=opsporing-anders".to_string(),
        ),
        (
            format!("case={CASE}&operation=disclose"),
            "case=ON-2026-9999&operation=disclose".to_string(),
        ),
    ] {
        let (r, csv) = a_guess_answers_as_a_wrong_one(b, &ob, &right, &wrong).await;
        assert!(entries(&r).is_empty(), "{right}: {r}");
        assert_eq!(csv.lines().count(), 1, "{right}: {csv}");
    }
    // What the summary does show still filters: the embargoed line is there, as a summary.
    let (_, v) = b
        .get_json("/v1/audit/review?operation=disclose", Some(&ob))
        .await;
    let lines = entries(&v);
    assert_eq!(lines.len(), 1, "{v}");
    assert_eq!(lines[0]["withheld"], "embargo");
    assert!(lines[0].get("entry").is_none() && lines[0].get("salt").is_none());

    // Once an embargo has ended, the disclosure shows in full, in the accounting and filters.
    st.store
        .audit()
        .append_audit(&[police_disclosure(&at_rest, "ON-2025-0001", now() - 1)])
        .await
        .unwrap();
    b.sync().await;
    let (_, v) = b
        .get_json(
            &format!("/v1/audit/disclosures?pseudonym={plate}"),
            Some(&ob),
        )
        .await;
    let police: Vec<&Value> = entries(&v)
        .iter()
        .filter(|l| l["entry"]["actor_org"] == POLICE)
        .collect();
    assert_eq!(police.len(), 1, "{v}");
    assert_eq!(police[0]["entry"]["case_reference"], "ON-2025-0001");
    let (_, v) = b
        .get_json("/v1/audit/review?case=ON-2025-0001", Some(&ob))
        .await;
    assert_eq!(entries(&v).len(), 1, "{v}");
}

kruispunt_test_kit::per_backend_tests!(on_broker:
    embargo_tells_the_supplier_nothing_on_sqlite, embargo_tells_the_supplier_nothing_on_postgres =
        embargo_tells_the_supplier_nothing
);

// ---------------------------------------------------------------------------------------------
// Finding 2: a recent entry made to look lawfully erased.

/// 2019-01-01T00:00:00Z in Unix ms.
const OLD: i64 = 1_546_300_800_000;

fn cli(args: &[&str]) -> (bool, String) {
    kruispunt(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
}

fn disclosure(time_ms: i64, i: u64) -> AuditEntry {
    AuditEntry {
        actor_org: Some(DEALER_C.into()),
        pseudonyms: vec![format!("{i:064x}")],
        ..AuditEntry::new(time_ms, Operation::Disclose, "match")
    }
}

async fn erasure_goes_by_committed_time(dir: &Path) {
    let store = kruispunt_test_kit::on_data_dir::store(dir).await;
    let now = kruispunt_broker::civil::now_millis();
    // Entries 0, 1 old; 2, 3, 4 recent.
    let log: Vec<AuditEntry> = (0..5)
        .map(|i| disclosure(if i < 2 { OLD + i as i64 } else { now }, i))
        .collect();
    store.audit().append_audit(&log).await.unwrap();
    let d = dir.display().to_string();

    // (a) The operator moves entry 3's `time_ms` column into the past, then erases.
    behind_the_back(
        dir,
        &format!("UPDATE audit_log SET time_ms = {OLD} WHERE seq = 3"),
        None,
    )
    .await;
    let (ok, out) = cli(&["audit", "erase", "--data-dir", &d, "--before", "2020-01-01"]);
    assert!(ok, "{out}");
    assert!(out.contains("erased 2 audit entries"), "{out}");
    let kept = store.audit().audit_entries(3, 4).await.unwrap();
    assert_eq!(kept.len(), 1, "the recent entry 3 was erased");
    assert_eq!(kept[0].1.time_ms, now);
    let (ok, out) = export_then_verify(dir, &dir.join("export-a"));
    assert!(ok, "{out}");

    // (b) The operator forges an erasure of recent entry 3: deletes its row, salt and index
    // rows, and appends an erase record naming it (the operator holds the keys, so the record
    // is signed like any other). Entry 2, before it and recorded now, shows it was recent.
    behind_the_back(
        dir,
        "DELETE FROM audit_log WHERE seq = 3; \
         UPDATE audit_leaf SET salt = NULL WHERE seq = 3; \
         DELETE FROM audit_pseudonym WHERE seq = 3;",
        None,
    )
    .await;
    let mut record = AuditEntry::new(now, Operation::Erase, ERASE_ACTION);
    record.reasons = vec!["audit-retention".into()];
    record.detail = json!({ "before": "2020-01-01", "erased": 1, "runs": [[3, 4]] });
    store.audit().append_audit(&[record]).await.unwrap();
    let (ok, out) = export_then_verify(dir, &dir.join("export-b"));
    assert!(!ok, "a forged erasure verified: {out}");
    assert!(
        out.contains("entry 3 is shown as erased, but entry 2 before it"),
        "{out}"
    );
}

kruispunt_test_kit::per_backend_tests!(on_data_dir:
    erasure_goes_by_committed_time_on_sqlite, erasure_goes_by_committed_time_on_postgres =
        erasure_goes_by_committed_time
);

// ---------------------------------------------------------------------------------------------
// Finding 3: a date the ingest accepts and the store refuses.

async fn a_bad_date_rejects_its_item_only(b: &Broker) {
    let t = b.token(DEALER_A, &["compliance"]);
    let mut bad = signal("GB-002-C", "cash-car-purchase");
    bad["observed"] = json!("2026-+1-+5");
    let batch = json!({ "signals": [
        signal("GB-001-B", "cash-car-purchase"),
        bad,
        signal("GB-003-D", "split-payments"),
    ] });
    let (status, v) = b.post("/v1/signals", Some(&t), &batch).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (&v["stored"], &v["rejected"]),
        (&json!(2), &json!(1)),
        "{v}"
    );
    assert_eq!(v["results"][1]["status"], "rejected", "{v}");
    assert_eq!(v["results"][1]["field"], "observed", "{v}");
    for i in [0, 2] {
        assert_eq!(v["results"][i]["status"], "stored", "{v}");
    }
}

kruispunt_test_kit::per_backend_tests!(on_broker:
    a_bad_date_rejects_its_item_only_on_sqlite, a_bad_date_rejects_its_item_only_on_postgres =
        a_bad_date_rejects_its_item_only
);

// ---------------------------------------------------------------------------------------------
// Finding 6: withdrawal never asked the policy.

async fn withdrawal_asks_the_policy(b: &Broker) {
    let t = b.token(DEALER_A, &["compliance"]);
    let batch = json!({ "signals": [signal("GB-006-W", "cash-car-purchase")] });
    let (status, v) = b.post("/v1/signals", Some(&t), &batch).await;
    assert_eq!(status, 200, "{v}");
    let id = v["results"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/v1/signals/{id}");

    let intern = b.token(DEALER_A, &["stagiair"]);
    let (status, v, _) = b
        .send(reqwest::Method::DELETE, &path, Some(&intern), None)
        .await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(
        v["type"], "urn:kruispunt:problem:token-role-not-allowed",
        "{v}"
    );

    let officer = b.token(DEALER_A, &["privacy-officer"]);
    let (status, v, ct) = b
        .send(reqwest::Method::DELETE, &path, Some(&officer), None)
        .await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(ct, "application/problem+json");
    assert_eq!(v["type"], "urn:kruispunt:problem:policy-denied", "{v}");
    assert_eq!(v["reasons"], json!(["supplier_role_not_allowed"]), "{v}");
    let refused = b.audit_of("signal.withdraw").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].operation, Operation::Refuse);
    assert_eq!(refused[0].decision.as_deref(), Some("deny"));
    assert_eq!(refused[0].reasons, vec!["supplier_role_not_allowed"]);
    assert_eq!(refused[0].purpose.as_deref(), Some(PURPOSE));
    assert!(refused[0].policy_hash.is_some());

    // The signal is still there: its supplier's compliance officer withdraws it.
    let (status, v, _) = b.send(reqwest::Method::DELETE, &path, Some(&t), None).await;
    assert_eq!(status, 200, "{v}");
    let log = b.audit_of("signal.withdraw").await;
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[1].operation, Operation::Erase);
    assert_eq!(log[1].decision.as_deref(), Some("allow"));
    assert!(log[1].policy_hash.is_some());
}

kruispunt_test_kit::per_backend_tests!(on_broker:
    withdrawal_asks_the_policy_on_sqlite, withdrawal_asks_the_policy_on_postgres =
        withdrawal_asks_the_policy
);

// ---------------------------------------------------------------------------------------------
// Finding 7: unbounded free text in the permanent audit log.

async fn free_text_is_bounded(b: &Broker) {
    let st = b.state();
    let before = st.store.audit().audit_len().await.unwrap();
    let t = b.token(DEALER_C, &["compliance"]);
    let huge = "x".repeat(1 << 20);
    for (field, limit) in [
        (
            "justification",
            kruispunt_sdk::wire::MAX_JUSTIFICATION_BYTES,
        ),
        ("purpose", kruispunt_sdk::wire::MAX_SHORT_TEXT_BYTES),
        ("case_reference", kruispunt_sdk::wire::MAX_SHORT_TEXT_BYTES),
    ] {
        let mut q = match_query(PURPOSE);
        q["level"] = json!("categories");
        q["justification"] = json!("Contante aankoop van EUR 25.000 zonder herkomst.");
        q["case_reference"] = json!(CASE);
        q[field] = json!(huge);
        let (status, v, ct) = b
            .send(reqwest::Method::POST, "/v1/matches", Some(&t), Some(&q))
            .await;
        assert_eq!(status, 400, "{field}: {v}");
        assert_eq!(ct, "application/problem+json");
        assert_eq!(v["type"], "urn:kruispunt:problem:text-too-long", "{v}");
        let detail = v["detail"].as_str().unwrap();
        assert!(
            detail.contains(field) && detail.contains(&limit.to_string()),
            "{field}: {detail}"
        );
    }
    let mut bad = signal("GB-007-T", "cash-car-purchase");
    bad["code"] = json!(huge);
    let (status, v) = b
        .post(
            "/v1/signals",
            Some(&b.token(DEALER_A, &["compliance"])),
            &json!({ "signals": [bad] }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["results"][0]["status"], "rejected", "{v}");
    assert_eq!(v["results"][0]["field"], "code", "{v}");
    assert!(
        v["results"][0]["reason"].as_str().unwrap().len() < 200,
        "{v}"
    );
    assert_eq!(st.store.audit().audit_len().await.unwrap(), before);
}

kruispunt_test_kit::per_backend_tests!(on_broker:
    free_text_is_bounded_on_sqlite, free_text_is_bounded_on_postgres = free_text_is_bounded
);

// ---------------------------------------------------------------------------------------------
// Finding 11: token lifetime, `crit: null`, and the `jti` in the audit trail.

/// 2100-01-01T00:00:00Z in Unix s.
const YEAR_2100: i64 = 4_102_444_800;

/// Asks a match with `token`: the status and the problem `type` (if any).
async fn ask(b: &Broker, token: &str) -> (u16, Value) {
    b.post("/v1/matches", Some(token), &match_query(PURPOSE))
        .await
}

async fn tokens_are_bounded_and_traced(b: &Broker) {
    let roles = ["compliance"];
    // (a) A token valid until 2100 is refused, with its own problem type, audited.
    let forever = b.token_with(DEALER_C, &roles, |c| c.exp = YEAR_2100);
    let (status, v) = ask(b, &forever).await;
    assert_eq!(status, 401, "{v}");
    assert_eq!(
        v["type"], "urn:kruispunt:problem:token-lifetime-too-long",
        "{v}"
    );
    let refused = b.audit_of("auth.refused").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].reasons, vec!["token-lifetime-too-long"]);
    // A day exactly is accepted; a second more is not.
    let day = b.token_with(DEALER_C, &roles, |c| c.exp = c.iat + 86_400);
    let (status, v) = ask(b, &day).await;
    assert_eq!(status, 200, "{v}");
    let longer = b.token_with(DEALER_C, &roles, |c| c.exp = c.iat + 86_401);
    let (status, v) = ask(b, &longer).await;
    assert_eq!(status, 401, "{v}");

    // (b) `"crit": null` is a `crit` member: refused as malformed, audited.
    let now = now();
    let payload = json!({ "iss": DEALER_C, "sub": format!("user@{DEALER_C}"),
        "aud": b.aud, "exp": now + 600, "iat": now,
        "roles": roles });
    let (good, _) = hand_signed(b, DEALER_C, json!({ "alg": "EdDSA" }), &payload);
    let (status, v) = ask(b, &good).await;
    assert_eq!(status, 200, "the hand-built token is otherwise good: {v}");
    let (crit, _) = hand_signed(
        b,
        DEALER_C,
        json!({ "alg": "EdDSA", "crit": null }),
        &payload,
    );
    let (status, v) = ask(b, &crit).await;
    assert_eq!(status, 401, "{v}");
    assert_eq!(v["type"], "urn:kruispunt:problem:token-malformed", "{v}");
    assert!(v["detail"].as_str().unwrap().contains("crit"), "{v}");

    // (c) The `jti` is in the entry the request wrote.
    let traced = b.token_with(DEALER_C, &roles, |c| c.jti = Some("jti-0042".into()));
    let (status, v) = ask(b, &traced).await;
    assert_eq!(status, 200, "{v}");
    let matches = b.audit_of("match").await;
    let last = matches.last().unwrap();
    assert_eq!(last.detail["jti"], "jti-0042", "{last:?}");
    assert!(
        last.detail["identifiers"].is_number(),
        "the rest of the detail stays: {last:?}"
    );
}

kruispunt_test_kit::per_backend_tests!(on_broker:
    tokens_are_bounded_and_traced_on_sqlite, tokens_are_bounded_and_traced_on_postgres =
        tokens_are_bounded_and_traced
);
