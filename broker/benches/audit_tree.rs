//! The audit log's stored Merkle tree at scale:
//! `cargo bench -p kruispunt-broker --bench audit_tree`.
//!
//! Builds a log of `KRUISPUNT_BENCH_LEAVES` entries (default 10 000 000) in a temporary SQLite
//! file opened with the broker's own options ([`SqliteStore::tune`], `synchronous=FULL`),
//! through the broker's own append path: [`AuditStore::append_audit`](kruispunt_broker::store::AuditStore::append_audit) with batches of 10 000 entries,
//! each one group-commit transaction that inserts the entries and grows the stored tree (leaves,
//! salts, interior nodes, the right border) by them. The entries are synthetic but of the size
//! of a real match entry, and name no pseudonyms.
//!
//! Then times, through [`AuditLog`] (what the HTTP routes call), `KRUISPUNT_BENCH_PROOFS`
//! (default 10 000) inclusion proofs for random leaves at the full tree size and 1 000
//! consistency proofs from random earlier sizes, verifying every proof with the SDK verifier
//! (outside the timed call). Target (issue 5): ≤ 1 ms per inclusion proof.
//! Reports build time, wall and CPU time, database size and peak RSS.
//! Measured (2026-11-29, idle machine): 10 M entries built at 51.6 k/s; inclusion proof p50
//! 265 µs, p99 489 µs; consistency proof p50 240 µs, p99 329 µs (at load ≈ 2: p50 667 µs, p99
//! 1.1 ms; details: docs/AUDIT.md).

use kruispunt_broker::audit::action;
use kruispunt_broker::audit::entry::{AuditEntry, Operation};
use kruispunt_broker::audit::log::AuditLog;
use kruispunt_broker::keys::BrokerKeys;
use kruispunt_broker::store::Store;
use kruispunt_broker::store::sqlite::SqliteStore;
use kruispunt_sdk::transparency::{Frontier, leaf_hash, verify_consistency, verify_inclusion};
use kruispunt_test_kit::bench::{self, env_or, splitmix};
use sqlx::sqlite::SqliteConnectOptions;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Entries per append (one transaction each).
const BATCH: u64 = 10_000;
const CONSISTENCY_PROOFS: usize = 1_000;

/// A synthetic entry of about the size of a real match entry.
fn entry(seq: u64) -> AuditEntry {
    AuditEntry {
        actor_org: Some("kvo-oost".into()),
        actor_user: Some("analist@kvo-oost".into()),
        purpose: Some("autobranche-contante-aankopen".into()),
        decision: Some("allow".into()),
        detail: serde_json::json!({ "hits": seq % 7, "identifiers": 1 }),
        ..AuditEntry::new(
            1_750_000_000_000 + seq as i64,
            Operation::Consult,
            action::MATCH,
        )
    }
}

/// Process CPU time (user + system); zero where it cannot be read.
fn cpu_time() -> Duration {
    Duration::try_from_secs_f64(bench::cpu_seconds()).unwrap_or_default()
}

/// `VmHWM` (peak RSS) and `VmRSS` from `/proc/self/status`, in MiB.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn db_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let total: Duration = times.iter().sum();
    println!(
        "{label}: n={} mean={:.1?} p50={:.1?} p99={:.1?} max={:.1?}",
        times.len(),
        total / times.len() as u32,
        percentile(&times, 0.50),
        percentile(&times, 0.99),
        times[times.len() - 1],
    );
}

fn main() {
    let leaves = env_or::<u64>("KRUISPUNT_BENCH_LEAVES", 10_000_000).max(2);
    let proofs = env_or::<u64>("KRUISPUNT_BENCH_PROOFS", 10_000).max(1) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(leaves, proofs));
}

async fn run(size: u64, proofs: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let options = SqliteStore::tune(SqliteConnectOptions::from_str(&url).expect("url"));
    let store = SqliteStore::open(options, false).await.expect("open store");

    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("key");
    let keys = BrokerKeys::from_parts(&[7u8; 32], pkcs8.as_ref()).expect("keys");
    let log = AuditLog::new("bench.kruispunt.example", &keys).expect("audit log");

    // Build through the broker's append path.
    println!("appending {size} entries (batches of {BATCH}) …");
    let (wall0, cpu0) = (Instant::now(), cpu_time());
    let mut appended = 0;
    while appended < size {
        let end = (appended + BATCH).min(size);
        let batch: Vec<AuditEntry> = (appended..end).map(entry).collect();
        store.audit().append_audit(&batch).await.expect("append");
        appended = end;
        if end.is_multiple_of(1_000_000) {
            println!(
                "  {end} entries after {:.1?} (CPU {:.1?})",
                wall0.elapsed(),
                cpu_time() - cpu0
            );
        }
    }
    let (build_wall, build_cpu) = (wall0.elapsed(), cpu_time() - cpu0);
    assert_eq!(store.audit().audit_tree_size().await.expect("size"), size);
    // The reference: the root recomputed from the stored leaves alone.
    let mut reference = Frontier::new();
    let mut start = 0;
    while start < size {
        let end = (start + 100_000).min(size);
        for row in store
            .audit()
            .audit_tree_leaves(start, end)
            .await
            .expect("leaves")
        {
            reference.append(leaf_hash(&row.leaf), |_, _| {});
        }
        start = end;
    }
    let root = log.root_at(&store, size).await.expect("root");
    assert_eq!(root, reference.root(), "stored tree's root");
    println!(
        "build: {size} entries in {build_wall:.1?} wall, {build_cpu:.1?} CPU \
         ({:.0} entries/s wall); database files {:.1} MiB",
        size as f64 / build_wall.as_secs_f64(),
        db_size(dir.path()) as f64 / (1 << 20) as f64
    );

    // Inclusion proofs at the full size.
    let mut state = 0x1234_5678;
    let mut times = Vec::with_capacity(proofs);
    let (wall0, cpu0) = (Instant::now(), cpu_time());
    for _ in 0..proofs {
        let index = splitmix(&mut state) % size;
        let t = Instant::now();
        let (leaf, proof) = log
            .inclusion_proof(&store, index, size)
            .await
            .expect("inclusion proof");
        times.push(t.elapsed());
        let stored = store
            .audit()
            .audit_tree_leaves(index, index + 1)
            .await
            .expect("leaf");
        assert_eq!(leaf, leaf_hash(&stored[0].leaf));
        verify_inclusion(index, size, &leaf, &proof, &root).expect("inclusion proof verifies");
    }
    println!(
        "inclusion proofs: {:.1?} wall, {:.1?} CPU in total",
        wall0.elapsed(),
        cpu_time() - cpu0
    );
    report(&format!("inclusion proof at size {size}"), times);

    // Consistency proofs from random earlier sizes (their roots computed outside the timing).
    let mut times = Vec::with_capacity(CONSISTENCY_PROOFS);
    for _ in 0..CONSISTENCY_PROOFS {
        let first = 1 + splitmix(&mut state) % (size - 1);
        let old_root = log.root_at(&store, first).await.expect("old root");
        let t = Instant::now();
        let proof = log
            .consistency_proof(&store, first, size)
            .await
            .expect("consistency proof");
        times.push(t.elapsed());
        verify_consistency(first, size, &proof, &old_root, &root)
            .expect("consistency proof verifies");
    }
    report(&format!("consistency proof to size {size}"), times);

    let (peak, now) = rss();
    println!("RSS: peak {peak:.0} MiB, now {now:.0} MiB");
}
