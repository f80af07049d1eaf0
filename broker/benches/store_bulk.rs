//! Bulk upload into the storage layer: `cargo bench -p kruispunt-broker --bench store_bulk`.
//!
//! Inserts `KRUISPUNT_BENCH_SIGNALS` signals (default 500 000) in batches of 10 000 — each batch
//! one transaction with its audit entry, as the upload route does — into a temporary SQLite file
//! (with `synchronous=FULL`, the broker's setting, and `NORMAL` for comparison) and, when
//! `KRUISPUNT_BENCH_POSTGRES_URL` or `KRUISPUNT_TEST_POSTGRES_URL` is set, into a fresh
//! PostgreSQL database. Also measures one-decision transactions (the match path before group
//! commit), where the per-commit fsync of `synchronous=FULL` shows, and the start-up index scan.
//! Targets (DESIGN.md): ≥ 200 k signals/s into SQLite, ≥ 100 k/s into PostgreSQL.

use kruispunt_broker::audit_entry::{AuditEntry, Operation};
use kruispunt_broker::store::postgres::PostgresStore;
use kruispunt_broker::store::sqlite::SqliteStore;
use kruispunt_broker::store::{NewSignal, Store, UsageDelta};
use kruispunt_sdk::IdentifierKind;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

const BATCH: usize = 10_000;
const NOW: i64 = 1_750_000_000;
const DECISIONS: usize = 2_000;

/// Deterministic pseudo-random bytes (SplitMix64): realistic, uniformly spread pseudonyms.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn signals(n: usize, seed: u64) -> Vec<NewSignal> {
    let mut state = seed;
    let orgs = [
        "kvo-oost",
        "autobranche-mn",
        "horeca-utrecht",
        "vastgoed-flevoland",
    ];
    let codes = [
        "cash-purchase-car",
        "barn-rental-offer",
        "cash-payment-rent",
        "frequent-owner-change",
    ];
    (0..n)
        .map(|i| {
            let mut stored = [0u8; 32];
            for chunk in stored.chunks_mut(8) {
                chunk.copy_from_slice(&splitmix(&mut state).to_le_bytes());
            }
            NewSignal::new(
                orgs[i % orgs.len()],
                IdentifierKind::ALL[i % 3],
                stored,
                1,
                codes[i % codes.len()],
                "2025-06-01",
                "oost-utrecht",
                vec!["ondermijning-kvo".into()],
                NOW + 365 * 86_400,
                NOW,
            )
        })
        .collect()
}

fn upload_entry(batch: &[NewSignal]) -> AuditEntry {
    AuditEntry {
        actor_org: Some(batch[0].org.clone()),
        detail: serde_json::json!({ "count": batch.len() }),
        ..AuditEntry::new(NOW * 1000, Operation::Collect, "signals.upload")
    }
}

/// CPU seconds used by this process so far (all threads; Linux), to tell work from waiting on
/// a machine shared with other jobs. SQLite runs in this process; PostgreSQL does not.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which ends with ')'): utime and stime are 14th and 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(11) + ticks(12)) / 100.0 // USER_HZ is 100 on Linux
}

async fn bulk(label: &str, store: &dyn Store, data: &[NewSignal]) {
    let cpu = cpu_seconds();
    let start = Instant::now();
    for batch in data.chunks(BATCH) {
        store
            .insert_signals(batch, &upload_entry(batch))
            .await
            .expect("insert");
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    println!(
        "{label:<34} {:>9} signals in {secs:>6.2} s = {:>9.0} signals/s \
         (this process used {cpu:.2} CPU-s = {:.0} signals per CPU-s)",
        data.len(),
        data.len() as f64 / secs,
        data.len() as f64 / cpu
    );

    // Re-uploading the first batch: all duplicates.
    let start = Instant::now();
    store
        .insert_signals(&data[..BATCH.min(data.len())], &upload_entry(data))
        .await
        .expect("reupload");
    println!(
        "{label:<34} re-upload of one batch (all duplicates): {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );

    let start = Instant::now();
    let mut kept = 0u64;
    let n = store
        .for_each_live_signal(NOW, &mut |r| kept += u64::from(r.stored[0] == 0))
        .await
        .expect("scan");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{label:<34} index scan {n} live signals in {secs:.2} s = {:.0}/s",
        n as f64 / secs
    );
}

async fn decisions(label: &str, store: &dyn Store) {
    let start = Instant::now();
    for i in 0..DECISIONS {
        let usage = UsageDelta {
            org: "politie-mn".into(),
            purpose: "ondermijning".into(),
            day: "2025-06-02".into(),
            identifiers: 1,
            no_hits: 1,
        };
        let entry = AuditEntry::new(NOW * 1000 + i as i64, Operation::Consult, "match");
        store
            .record_decision(Some(usage), &entry)
            .await
            .expect("decision");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{label:<34} {DECISIONS} one-entry decision transactions: {:>7.0}/s ({:.2} ms each)",
        DECISIONS as f64 / secs,
        secs * 1e3 / DECISIONS as f64
    );
}

async fn sqlite(data: &[NewSignal], synchronous: SqliteSynchronous, label: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let options =
        SqliteStore::tune(SqliteConnectOptions::new().filename(dir.path().join("bench.db")))
            .synchronous(synchronous);
    let store = SqliteStore::open(options, false)
        .await
        .expect("open SQLite");
    bulk(label, &store, data).await;
    decisions(label, &store).await;
    store.close().await;
}

async fn postgres(url: &str, data: &[NewSignal]) {
    let base = PgConnectOptions::from_str(url).expect("PostgreSQL URL");
    let db = format!("kp_bench_{}", std::process::id());
    let mut admin = base
        .clone()
        .database("postgres")
        .connect()
        .await
        .expect("connect");
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&mut admin)
        .await
        .expect("create db");
    let store =
        PostgresStore::connect_with(PgPoolOptions::new().max_connections(4), base.database(&db))
            .await
            .expect("open PostgreSQL");
    let store = Arc::new(store);
    bulk("postgres", &*store, data).await;
    decisions("postgres", &*store).await;
    store.close().await;
    sqlx::query(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop db");
    let _ = admin.close().await;
}

fn main() {
    let n: usize = std::env::var("KRUISPUNT_BENCH_SIGNALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let start = Instant::now();
        let data = signals(n, 42);
        println!(
            "generated {n} signals (ids derived) in {:.2} s; batches of {BATCH}",
            start.elapsed().as_secs_f64()
        );
        sqlite(&data, SqliteSynchronous::Full, "sqlite (WAL, synchronous=FULL)").await;
        sqlite(&data, SqliteSynchronous::Normal, "sqlite (WAL, synchronous=NORMAL)").await;
        match std::env::var("KRUISPUNT_BENCH_POSTGRES_URL").or_else(|_| std::env::var("KRUISPUNT_TEST_POSTGRES_URL")) {
            Ok(url) => postgres(&url, &data).await,
            Err(_) => println!("postgres: SKIPPED (set KRUISPUNT_BENCH_POSTGRES_URL or KRUISPUNT_TEST_POSTGRES_URL)"),
        }
    });
}
