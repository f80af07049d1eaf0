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

use std::path::Path;

use crate::audit_common::*;
use kruispunt_broker::audit::entry::{AuditEntry, Operation};
use kruispunt_broker::config::Config;
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

fn entries(v: &Value) -> &Vec<Value> {
    v["entries"].as_array().unwrap_or_else(|| panic!("{v}"))
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
        let (_, r) = b
            .get_json(&format!("/v1/audit/review?{right}"), Some(&ob))
            .await;
        let (_, w) = b
            .get_json(&format!("/v1/audit/review?{wrong}"), Some(&ob))
            .await;
        assert_eq!(entries(&r), entries(&w), "{right} vs {wrong}");
        assert!(entries(&r).is_empty(), "{right}: {r}");
        let csv = b
            .get(&format!("/v1/audit/review?{right}&format=csv"), Some(&ob))
            .await
            .text()
            .await
            .unwrap();
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

/// Runs `statements` on the data directory's database, behind the broker's back.
async fn behind_the_back(dir: &Path, statements: &str) {
    let url = Config::load(dir).unwrap().database;
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::raw_sql(statements).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::raw_sql(statements).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

fn disclosure(time_ms: i64, i: u64) -> AuditEntry {
    AuditEntry {
        actor_org: Some(DEALER_C.into()),
        pseudonyms: vec![format!("{i:064x}")],
        ..AuditEntry::new(time_ms, Operation::Disclose, "match")
    }
}

/// Exports the log as the operator and verifies the export: (success, output).
fn export_and_verify(dir: &Path, name: &str) -> (bool, String) {
    let d = dir.display().to_string();
    let out = dir.join(name).display().to_string();
    let (ok, text) = cli(&["audit", "export", "--data-dir", &d, "--out", &out]);
    assert!(ok, "{text}");
    cli(&["audit", "verify", "--dir", &out])
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
    )
    .await;
    let (ok, out) = cli(&["audit", "erase", "--data-dir", &d, "--before", "2020-01-01"]);
    assert!(ok, "{out}");
    assert!(out.contains("erased 2 audit entries"), "{out}");
    let kept = store.audit().audit_entries(3, 4).await.unwrap();
    assert_eq!(kept.len(), 1, "the recent entry 3 was erased");
    assert_eq!(kept[0].1.time_ms, now);
    let (ok, out) = export_and_verify(dir, "export-a");
    assert!(ok, "{out}");

    // (b) The operator forges an erasure of recent entry 3: deletes its row, salt and index
    // rows, and appends an erase record naming it (the operator holds the keys, so the record
    // is signed like any other). Entry 2, before it and recorded now, shows it was recent.
    behind_the_back(
        dir,
        "DELETE FROM audit_log WHERE seq = 3; \
         UPDATE audit_leaf SET salt = NULL WHERE seq = 3; \
         DELETE FROM audit_pseudonym WHERE seq = 3;",
    )
    .await;
    let mut record = AuditEntry::new(now, Operation::Erase, ERASE_ACTION);
    record.reasons = vec!["audit-retention".into()];
    record.detail = json!({ "before": "2020-01-01", "erased": 1, "runs": [[3, 4]] });
    store.audit().append_audit(&[record]).await.unwrap();
    let (ok, out) = export_and_verify(dir, "export-b");
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
