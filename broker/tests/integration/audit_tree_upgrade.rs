//! A database from before migration 0007, whose tree a follower left behind the entries, is
//! caught up by the next append (or `audit_tree_catch_up`), in one transaction: afterwards the
//! tree covers every entry, each leaf commits to its entry, and later appends extend it. On
//! SQLite, and on PostgreSQL when `KRUISPUNT_TEST_POSTGRES_URL` is set.

use std::sync::Arc;

use crate::audit_common::TestDatabase;
use kruispunt_broker::audit::entry::{AuditEntry, Operation};
use kruispunt_broker::store::{self, Store};
use kruispunt_sdk::transparency::{Frontier, commitment, leaf_hash};

fn entry(i: i64) -> AuditEntry {
    AuditEntry {
        actor_org: Some("autoschade-almere".into()),
        pseudonyms: vec![format!("{:064x}", i % 3)],
        ..AuditEntry::new(1_764_000_000_000 + i, Operation::Consult, "match")
    }
}

/// Every leaf commits to its stored entry, and the stored tree's root is the root of the leaves.
async fn assert_tree_covers_the_log(store: &dyn Store) {
    let len = store.audit().audit_len().await.unwrap();
    assert_eq!(store.audit().audit_tree_size().await.unwrap(), len);
    let rows = store.audit().audit_tree_leaves(0, len).await.unwrap();
    assert_eq!(rows.len() as u64, len);
    let mut frontier = Frontier::new();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.seq, i as u64);
        let entry = row.entry.as_ref().expect("entry");
        assert_eq!(commitment(&row.salt.unwrap(), entry), row.leaf, "leaf {i}");
        frontier.append(leaf_hash(&row.leaf), |_, _| {});
    }
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let keys = kruispunt_broker::keys::BrokerKeys::from_parts(&[7u8; 32], pkcs8.as_ref()).unwrap();
    let log = kruispunt_broker::audit::log::AuditLog::new("upgrade-test", &keys).unwrap();
    assert_eq!(log.root_at(store, len).await.unwrap(), frontier.root());
    // The disclosure index follows the entries too.
    let named = store
        .audit()
        .audit_tree_naming(&[0u8; 32], 1_000)
        .await
        .unwrap()
        .len() as u64;
    assert_eq!(named, len.div_ceil(3));
}

/// Turns the stored tree back into one that a follower had extended only to `kept` leaves, as
/// before migration 0007: later leaves and the nodes over them gone, no border.
const BEHIND: &str = "\
    DELETE FROM audit_leaf WHERE seq >= {kept}; \
    DELETE FROM audit_pseudonym WHERE seq >= {kept}; \
    DELETE FROM audit_node WHERE ((node & 72057594037927935) + 1) << CAST(node >> 56 AS INTEGER) > {kept}; \
    UPDATE audit_head SET frontier = NULL;";

async fn upgrade(store: Arc<dyn Store>, behind: impl AsyncFn(&str)) {
    let batch: Vec<AuditEntry> = (0..40).map(entry).collect();
    store.audit().append_audit(&batch).await.unwrap();
    assert_tree_covers_the_log(&*store).await;

    // Caught up by the next append.
    behind(&BEHIND.replace("{kept}", "13")).await;
    assert_eq!(store.audit().audit_tree_size().await.unwrap(), 13);
    let batch: Vec<AuditEntry> = (40..45).map(entry).collect();
    assert_eq!(
        store.audit().append_audit(&batch).await.unwrap(),
        (40..45).collect::<Vec<u64>>()
    );
    assert_tree_covers_the_log(&*store).await;

    // Caught up at start-up, from nothing.
    behind(&BEHIND.replace("{kept}", "0")).await;
    assert_eq!(store.audit().audit_tree_size().await.unwrap(), 0);
    store.audit().audit_tree_catch_up().await.unwrap();
    assert_tree_covers_the_log(&*store).await;
    store.audit().audit_tree_catch_up().await.unwrap(); // nothing left to do
    let batch: Vec<AuditEntry> = (45..48).map(entry).collect();
    store.audit().append_audit(&batch).await.unwrap();
    assert_tree_covers_the_log(&*store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_left_behind_is_caught_up_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    std::fs::write(dir.path().join("k.db"), b"").unwrap();
    let store = store::connect(&url).await.unwrap();
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    upgrade(store, async |sql: &str| {
        sqlx::raw_sql(sql).execute(&db).await.unwrap();
    })
    .await;
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_left_behind_is_caught_up_on_postgres() {
    let Some(pg) = TestDatabase::create("audit_upgrade").await else {
        return;
    };
    let store = store::connect(&pg.url).await.unwrap();
    let db = sqlx::PgPool::connect(&pg.url).await.unwrap();
    upgrade(store, async |sql: &str| {
        sqlx::raw_sql(sql).execute(&db).await.unwrap();
    })
    .await;
    db.close().await;
    pg.drop_database().await;
}
