//! Someone who can write the database but not the key folder, while `kruispunt serve` is
//! stopped: an audit entry rewritten (leaf, nodes and border recomputed), the log truncated —
//! the restarted process refuses to serve, naming what differs, and signs nothing; and a
//! recent entry deleted and dressed up as a lawful erasure — the operator's `audit verify`
//! names it.

use super::*;
use kruispunt_broker::audit::anchor;
use kruispunt_broker::audit::entry::{AuditEntry, Operation};
use kruispunt_sdk::transparency::ERASE_ACTION;
use serde_json::json;

/// Starts `kruispunt serve` on SQLite (`pg: None`) or on a PostgreSQL database of its own named
/// `pg`; `None` when PostgreSQL is not configured.
async fn serve_on(pg: Option<&str>) -> Option<Broker> {
    match pg {
        None => Some(serve(serve_opts()).await),
        Some(name) => Broker::start_on_postgres(name, serve_opts()).await,
    }
}

/// The restart was refused: the process ended before listening, saying `says` and where the
/// recovery is documented.
fn refused(outcome: Result<Broker, (Broker, anyhow::Error)>, says: &str) -> Broker {
    match outcome {
        Ok(_) => panic!("kruispunt serve started on a tampered log (expected: {says})"),
        Err((b, e)) => {
            let msg = format!("{e:#}");
            assert!(msg.contains(says), "{msg}");
            assert!(
                msg.contains("Refusing to serve") && msg.contains("docs/OPERATIONS.md"),
                "{msg}"
            );
            b
        }
    }
}

async fn a_forged_log_is_not_served(pg: Option<&str>) {
    let Some(b) = serve_on(pg).await else { return };
    let anchor_path = anchor::path_in(b.data_dir());
    b.traffic().await;
    let size = b.sync().await;
    assert!(size >= 3, "{size}");
    let dir = b.data_dir().to_path_buf();
    let signed = std::fs::read_to_string(&anchor_path).unwrap();

    // A normal stop and start works.
    let mut b = b.restart().await;
    assert_eq!(b.sync().await, size);

    // 1. Entry 1 rewritten as dealer C's, its leaf, the nodes and the border recomputed.
    let mut forged = b.audit().await[1].clone();
    assert_ne!(forged.actor_org.as_deref(), Some(DEALER_C));
    forged.actor_org = Some(DEALER_C.into());
    b.pause().await;
    behind_the_back(
        &dir,
        "UPDATE audit_log SET entry = $1 WHERE seq = 1",
        Some(forged.canonical_json()),
    )
    .await;
    behind_the_back(&dir, &tree_back_to(1), None).await;
    let b = refused(b.try_restart().await, "entries were rewritten");
    assert_eq!(std::fs::read_to_string(&anchor_path).unwrap(), signed);

    // 2. The log truncated (two entries and their tree gone, the head set back).
    let kept = size - 2;
    truncate_behind_the_back(&dir, kept).await;
    let b = refused(
        b.try_restart().await,
        &format!("has {kept} entries, but this broker signed a checkpoint of {size}"),
    );
    // Nothing was signed over the forged trees.
    assert_eq!(std::fs::read_to_string(&anchor_path).unwrap(), signed);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_log_is_not_served_on_sqlite() {
    a_forged_log_is_not_served(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_log_is_not_served_on_postgres() {
    a_forged_log_is_not_served(Some("a_forged_log_is_not_served_on_postgres")).await;
}

/// 2019-01-01T00:00:00Z in Unix ms.
const OLD: i64 = 1_546_300_800_000;

fn cli(args: &[&str]) -> (bool, String) {
    kruispunt(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
}

async fn a_recent_entry_cannot_pass_for_erased(pg: Option<&str>) {
    let Some(mut b) = serve_on(pg).await else {
        return;
    };
    b.traffic().await; // entries 0, 1, 2: all recent
    let size = b.sync().await;
    let dir = b.data_dir().to_path_buf();
    let d = dir.display().to_string();
    let victim = b.audit().await[1].clone();
    b.pause().await;

    // (a) Entry 1's `time_ms` column moved into the past, then an erasure of everything before
    // 2020: nothing is erased (erasure goes by the time inside the committed entry).
    behind_the_back(
        &dir,
        &format!("UPDATE audit_log SET time_ms = {OLD} WHERE seq = 1"),
        None,
    )
    .await;
    let (ok, out) = cli(&["audit", "erase", "--data-dir", &d, "--before", "2020-01-01"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("no audit entry recorded before 2020-01-01"),
        "{out}"
    );

    // (b) Entry 1 deleted as an erasure would (row, salt, index rows) and an erase record
    // naming it appended (the operator holds the keys, so it is signed like any other).
    behind_the_back(
        &dir,
        "DELETE FROM audit_log WHERE seq = 1; \
         UPDATE audit_leaf SET salt = NULL WHERE seq = 1; \
         DELETE FROM audit_pseudonym WHERE seq = 1;",
        None,
    )
    .await;
    let store = kruispunt_test_kit::on_data_dir::store(&dir).await;
    let mut record = AuditEntry::new(victim.time_ms, Operation::Erase, ERASE_ACTION);
    record.reasons = vec!["audit-retention".into()];
    record.detail = json!({ "before": "2020-01-01", "erased": 1, "runs": [[1, 2]] });
    store.audit().append_audit(&[record]).await.unwrap();
    // The broker serves on (the tree is unchanged and extended), but verification names it.
    let b = b.restart().await;
    assert_eq!(b.sync().await, size + 1);
    let (ok, out) = export_then_verify(&dir, &dir.join("export"));
    assert!(!ok, "a forged erasure verified: {out}");
    assert!(
        out.contains("entry 1 is shown as erased, but entry 0 before it"),
        "{out}"
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recent_entry_cannot_pass_for_erased_on_sqlite() {
    a_recent_entry_cannot_pass_for_erased(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recent_entry_cannot_pass_for_erased_on_postgres() {
    a_recent_entry_cannot_pass_for_erased(Some(
        "a_recent_entry_cannot_pass_for_erased_on_postgres",
    ))
    .await;
}
