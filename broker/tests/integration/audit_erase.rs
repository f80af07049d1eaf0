//! `kruispunt audit erase`: entries past the audit retention period lose their content and salt,
//! their leaves stay, the erasure is itself an entry, and the log still verifies — erased
//! entries shown as erased. A date within the retention period is refused. On SQLite, and on
//! PostgreSQL when `KRUISPUNT_TEST_POSTGRES_URL` is set.

use std::path::Path;

use kruispunt_broker::audit::entry::{AuditEntry, Operation};
use kruispunt_sdk::transparency::{LogLine, Withheld};

/// 2019-01-01T00:00:00Z in Unix ms.
const OLD: i64 = 1_546_300_800_000;
/// 2020-01-01T00:00:00Z in Unix ms: the cut-off used below. Entries from then on are kept; the
/// log's time order being exact only within a few minutes, kept entries this close to the
/// cut-off may lie between erased ones.
const KEPT: i64 = 1_577_836_800_000;

fn kruispunt(args: &[&str]) -> (bool, String) {
    crate::audit_common::kruispunt(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
}

fn entry(time_ms: i64, i: u64) -> AuditEntry {
    AuditEntry {
        actor_org: Some("autoschade-almere".into()),
        pseudonyms: vec![format!("{i:064x}")],
        ..AuditEntry::new(time_ms, Operation::Disclose, "match")
    }
}

async fn erase_and_verify(dir: &Path) {
    let store = kruispunt_test_kit::on_data_dir::store(dir).await;
    let now = kruispunt_broker::civil::now_millis();
    // Seven old entries, interleaved with ones from just after the cut-off.
    let entries: Vec<AuditEntry> = (0..10)
        .map(|i| {
            entry(
                if i % 3 == 2 {
                    KEPT + i as i64
                } else {
                    OLD + i as i64
                },
                i,
            )
        })
        .collect();
    store.audit().append_audit(&entries).await.unwrap();
    let d = dir.display().to_string();

    let (ok, out) = kruispunt(&["audit", "erase", "--data-dir", &d, "--before", "2099-01-01"]);
    assert!(!ok, "{out}");
    assert!(out.contains("kept at least"), "{out}");
    assert_eq!(
        store.audit().audit_len().await.unwrap(),
        10,
        "nothing erased"
    );

    let (ok, out) = kruispunt(&["audit", "erase", "--data-dir", &d, "--before", "2020-01-01"]);
    assert!(ok, "{out}");
    assert!(out.contains("erased 7 audit entries"), "{out}");
    let (ok, out) = kruispunt(&["audit", "erase", "--data-dir", &d, "--before", "2020-01-01"]);
    assert!(ok && out.contains("no audit entry"), "{out}");

    let export = dir.join("export");
    let e = export.display().to_string();
    let (ok, out) = kruispunt(&["audit", "export", "--data-dir", &d, "--out", &e]);
    assert!(ok, "{out}");
    let (ok, out) = kruispunt(&["audit", "verify", "--dir", &e]);
    assert!(ok, "{out}");
    assert!(
        out.contains("7 entries erased after their retention period, each recorded"),
        "{out}"
    );
    let lines: Vec<LogLine> = std::fs::read_to_string(export.join("entries.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 11);
    for (i, line) in lines[..10].iter().enumerate() {
        if i % 3 == 2 {
            assert!(line.entry.is_some(), "entry {i} is recent");
        } else {
            assert_eq!(line.withheld, Some(Withheld::Erased), "entry {i}");
            assert!(line.entry.is_none() && line.salt.is_none());
        }
    }
    let record = lines[10].entry.as_ref().unwrap();
    assert_eq!(record.operation, Operation::Erase);
    assert_eq!(record.detail["erased"], 7);
    assert_eq!(
        record.detail["runs"],
        serde_json::json!([[0, 2], [3, 5], [6, 8], [9, 10]])
    );
    // The disclosure index forgets the erased entries.
    let named = |i: u64| {
        let mut p = [0u8; 32];
        p[24..].copy_from_slice(&i.to_be_bytes());
        p
    };
    let naming = async |i: u64| {
        store
            .audit()
            .audit_tree_naming(&named(i), 10)
            .await
            .unwrap()
    };
    assert!(naming(0).await.is_empty());
    assert_eq!(naming(2).await.len(), 1);
    // Appending goes on after an erasure.
    store.audit().append_audit(&[entry(now, 99)]).await.unwrap();
    assert_eq!(store.audit().audit_tree_size().await.unwrap(), 12);

    // Erasure records name no person and are never erased: without them a verifier could not
    // tell an erasure from a deletion behind the broker's back.
    let old_record = AuditEntry::new(OLD, Operation::Erase, "audit.erase");
    store.audit().append_audit(&[old_record]).await.unwrap();
    let (ok, out) = kruispunt(&["audit", "erase", "--data-dir", &d, "--before", "2020-01-01"]);
    assert!(ok && out.contains("no audit entry"), "{out}");
    assert_eq!(
        store.audit().audit_len().await.unwrap(),
        13,
        "no erasure was recorded"
    );
}

kruispunt_test_kit::per_backend_tests!(on_data_dir:
    erasure_keeps_the_log_verifiable_on_sqlite, erasure_keeps_the_log_verifiable_on_postgres =
        erase_and_verify
);
