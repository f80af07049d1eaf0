//! Bulk upload into the storage layer: `cargo bench -p kruispunt-broker --bench store_bulk`.
//!
//! Inserts `KRUISPUNT_BENCH_SIGNALS` signals (default 500 000) in batches of the bulk route's chunk
//! (`BULK_CHUNK`, or `KRUISPUNT_BENCH_BATCH`) — each batch
//! one transaction with its audit entry, as the upload route does — into a temporary SQLite file
//! (with `synchronous=FULL`, the broker's setting, and `NORMAL` for comparison) and, when
//! `KRUISPUNT_BENCH_POSTGRES_URL` or `KRUISPUNT_TEST_POSTGRES_URL` is set, into a fresh
//! PostgreSQL database. It prints the rate every `KRUISPUNT_BENCH_STEP` rows (default 100 000)
//! with the CPU-seconds per 1 M rows of this process and, for PostgreSQL, of the server backends
//! serving the bench database; `KRUISPUNT_BENCH_PRELOAD=N` first fills the table with N filler
//! rows (by SQL: ids of the time-ordered form, increasing and older than the measured rows,
//! random pseudonyms) so the rate can be read at millions of stored rows. Rows are uploaded
//! at `KRUISPUNT_BENCH_RATE` per second of the bench clock (default 200 000: how many ids
//! share their upload second) and expire on `KRUISPUNT_BENCH_EXPIRY_DAYS` distinct days
//! (default 365).
//! `KRUISPUNT_BENCH_BACKENDS` (`sqlite-full,sqlite-normal,postgres`) and `KRUISPUNT_BENCH_PARTS`
//! (`bulk,decisions,audit`) select what runs.
//! Also measures one-decision transactions (the match path before group
//! commit), where the per-commit fsync of `synchronous=FULL` shows, and the start-up index scan.
//! Then appends audit entries through the group commit from 1…1024 concurrent callers (each
//! waiting for its commit, as a request handler does).
//! Targets (docs/ARCHITECTURE.md, "Speed targets"): ≥ 200 k signals/s into SQLite, ≥ 100 k/s into PostgreSQL; issue 5:
//! ≥ 20 k audit entries/s appended.
//! Audit append figures (before and after migration 0009, CPU per entry, callgrind instruction
//! counts): docs/AUDIT.md, "Append rate". Under a load average of 8 (2026-11-29), 1024 callers:
//! SQLite 34 k entries per process CPU-s (was 15–22 k), PostgreSQL 84–90 k.
//!
//! **Measured** 2026-11-29 06:00–06:30, release, the 2-core VM otherwise idle, batches of
//! 10 000, ids 200 000 per second, expiry over 365 days; each batch's audit entry is the one the
//! upload route writes ([`kruispunt_broker::ingest::upload_entry`]: every pseudonym and id):
//!
//! | store, table size           | signals/s wall          | CPU-s per 1 M rows         |
//! |-----------------------------|------------------------:|----------------------------|
//! | SQLite FULL, 0 → 1 M        | 210 000–213 000         | 4.0                        |
//! | SQLite FULL, 2.0 M → 2.6 M  | 194 000 (180–204 k)     | 4.1                        |
//! | PostgreSQL, 0 → 1 M         | 137 000                 | 1.2 bench + 5.9 server     |
//! | PostgreSQL, 2.0 M → 2.6 M   | 140 000                 | 1.2 bench + 5.8 server     |
//!
//! (PostgreSQL with the COPY in text form, the same day: 130 k/s and 6.0 server CPU-s empty,
//! 125 k/s and 6.4 at 2 M.)
//!
//! SQLite with smaller commits (`KRUISPUNT_BENCH_BATCH`, 0 → 1 M): 5 000 → 170 k/s (4.8 CPU-s),
//! 2 000 → 120 k/s (6.3), 1 000 → 92 k/s (8.2). The cost per commit is mostly pages written
//! again to the WAL: the right edges of the table and the `id` index, and one leaf of the expiry
//! index per distinct expiry day in the batch (365 here).
//!
//! Before (same day, load ~3): SQLite 13.4 → 16.0 CPU-s per 1 M rows (one JSON chunk per
//! 10 000 rows expanded by `json_each`, and eleven `->>` per row: SQLite re-parsed each row's
//! text for every column), 49 k/s empty. The insert now steps one prepared statement per row on
//! the writer's handle (`kruispunt-sqlite-direct`) and a duplicate shows as `changes() == 0`, with
//! no savepoint and no second query. Before migration 0008 (random-key indexes): 45 CPU-s per
//! 1 M rows at 2 M stored. The start-up scan (`index scan` below) reads the rows the same direct
//! way: 600 k rows/s (through sqlx: 137 k/s).
use kruispunt_broker::audit::action;
use kruispunt_broker::audit::entry::{AuditEntry, Operation};
use kruispunt_broker::store::postgres::PostgresStore;
use kruispunt_broker::store::sqlite::SqliteStore;
use kruispunt_broker::store::{NewSignal, Store, UsageDelta};
use kruispunt_sdk::IdentifierKind;
use kruispunt_test_kit::bench::{self, cpu_seconds, proc_cpu_seconds, splitmix};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

/// Signals per transaction: the bulk route's chunk unless `KRUISPUNT_BENCH_BATCH` says
/// otherwise (10 000 = one `POST /v1/signals` request).
fn batch_size() -> usize {
    std::env::var("KRUISPUNT_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(kruispunt_broker::routes::signals::BULK_CHUNK)
}
const NOW: i64 = 1_750_000_000;
const DECISIONS: usize = 2_000;

/// Signals uploaded per second of the bench's clock (`KRUISPUNT_BENCH_RATE`, default 200 000,
/// the SQLite target): ids begin with the upload second, so this sets how many ids share a
/// prefix — the rows a batch interleaves with at the right edge of the `id` index.
fn rate() -> u64 {
    bench::env::<usize>("KRUISPUNT_BENCH_RATE")
        .filter(|&n| n > 0)
        .unwrap_or(200_000) as u64
}

/// Distinct expiry days (`KRUISPUNT_BENCH_EXPIRY_DAYS`, default 365): the broker stores
/// `expires_at` day-aligned (observed day + retention), so the expiry index has one key per
/// day; spreading rows over a year of keys is the realistic load on that index.
fn expiry_days() -> u64 {
    bench::env::<usize>("KRUISPUNT_BENCH_EXPIRY_DAYS")
        .filter(|&n| n > 0)
        .unwrap_or(365) as u64
}

/// The day-aligned expiry of row `i` (rows spread over [`expiry_days`] keys).
fn expires(i: u64) -> i64 {
    (NOW / 86_400 + 365 + (i.wrapping_mul(7919) % expiry_days()) as i64) * 86_400
}

/// `n` signals uploaded from `NOW` on at [`rate`] per second, so their ids increase.
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
    let rate = rate();
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
                expires(i as u64),
                NOW + (i as u64 / rate) as i64,
            )
        })
        .collect()
}

/// The entry the upload route writes for `batch` (every pseudonym and id named), built by the
/// route's own [`kruispunt_broker::ingest::upload_entry`].
fn upload_entry(batch: &[NewSignal]) -> AuditEntry {
    let base = AuditEntry {
        actor_org: Some(batch[0].org.clone()),
        actor_user: Some("bulk-loader".into()),
        ..AuditEntry::new(NOW * 1000, Operation::Collect, action::SIGNAL_UPLOAD)
    };
    let purposes: BTreeSet<String> = batch.iter().flat_map(|s| s.purposes.clone()).collect();
    let ids: Vec<_> = batch.iter().map(|s| s.id).collect();
    kruispunt_broker::ingest::upload_entry(
        base,
        Some("bench-policy".into()),
        &purposes,
        batch.iter(),
        &ids,
    )
}

/// Measured rows between two progress lines (`KRUISPUNT_BENCH_STEP`, default 100 000): the
/// rate falls as the table grows, so one average over the run would hide the figure that
/// matters (the rate at the size the broker runs at).
fn step_size() -> usize {
    bench::env::<usize>("KRUISPUNT_BENCH_STEP").unwrap_or(100_000)
}

/// CPU seconds used so far by the PostgreSQL backends serving the bench database (read from
/// `/proc/<pid>/stat`, so PostgreSQL must run on this machine; the WAL writer and checkpointer
/// are shared with other databases and not counted).
struct PgCpu {
    pool: sqlx::PgPool,
}

impl PgCpu {
    async fn seconds(&self) -> f64 {
        let pids: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&self.pool)
        .await
        .expect("pg_stat_activity");
        pids.iter()
            .map(|pid| proc_cpu_seconds(&format!("/proc/{pid}/stat")))
            .filter(|s| s.is_finite())
            .sum()
    }
}

async fn bulk(
    label: &str,
    store: &dyn Store,
    data: &[NewSignal],
    preloaded: u64,
    server: Option<&PgCpu>,
) {
    let server_cpu = || async {
        match server {
            Some(pg) => pg.seconds().await,
            None => 0.0,
        }
    };
    let (cpu, server0) = (cpu_seconds(), server_cpu().await);
    let start = Instant::now();
    let mut done = 0usize;
    for step in data.chunks(step_size().max(1)) {
        let (step_cpu, step_server, step_start) =
            (cpu_seconds(), server_cpu().await, Instant::now());
        for batch in step.chunks(batch_size()) {
            store
                .signals()
                .insert_signals(batch, &upload_entry(batch))
                .await
                .expect("insert");
        }
        let secs = step_start.elapsed().as_secs_f64();
        let per_m = 1e6 / step.len() as f64;
        let own = (cpu_seconds() - step_cpu) * per_m;
        let other = (server_cpu().await - step_server) * per_m;
        let from = preloaded + done as u64;
        done += step.len();
        println!(
            "{label:<34} rows {from:>9}..{:>9}: {:>8.0} signals/s wall; CPU-s per 1 M rows: \
             {own:.1} bench process{}",
            from + step.len() as u64,
            step.len() as f64 / secs,
            if server.is_some() {
                format!(" + {other:.1} PostgreSQL backends")
            } else {
                String::new()
            },
        );
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let other = server_cpu().await - server0;
    println!(
        "{label:<34} {:>9} signals in {secs:>6.2} s = {:>9.0} signals/s \
         (CPU-s per 1 M rows: {:.1} bench process{})",
        data.len(),
        data.len() as f64 / secs,
        cpu * 1e6 / data.len() as f64,
        if server.is_some() {
            format!(
                " + {:.1} PostgreSQL backends",
                other * 1e6 / data.len() as f64
            )
        } else {
            String::new()
        },
    );

    // Re-uploading the first batch: all duplicates.
    let first = &data[..batch_size().min(data.len())];
    let start = Instant::now();
    store
        .signals()
        .insert_signals(first, &upload_entry(first))
        .await
        .expect("reupload");
    println!(
        "{label:<34} re-upload of one batch (all duplicates): {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );

    let start = Instant::now();
    let mut kept = 0u64;
    let n = store
        .signals()
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
        let entry = AuditEntry::new(NOW * 1000 + i as i64, Operation::Consult, action::MATCH);
        store
            .decisions()
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

/// A realistic match entry (~0.5 kB of canonical JSON).
fn match_entry(i: u64) -> AuditEntry {
    let mut e = AuditEntry::new(NOW * 1000 + i as i64, Operation::Disclose, action::MATCH);
    e.actor_org = Some("politie-mn".into());
    e.actor_user = Some("agent-17".into());
    e.purpose = Some("ondermijning-kvo".into());
    e.legal_basis = Some("wpg-art-20".into());
    e.case_reference = Some("MN-2025-0042".into());
    e.decision = Some("allow".into());
    e.policy_hash = Some(format!("sha256:{}", "ab".repeat(32)));
    e.pseudonyms = vec![hex::encode(i.to_le_bytes().repeat(4))];
    e.source_orgs = vec!["kvo-oost".into(), "autobranche-mn".into()];
    e.recipients = vec!["politie-mn".into()];
    e
}

/// Audit appends through the group commit: `tasks` concurrent callers, each appending one
/// entry at a time and waiting for its commit (as request handlers do), for `secs` seconds.
/// Half the calls are match decisions (usage increment + entry), half plain appends.
async fn audit_append(label: &str, store: Arc<dyn Store>) {
    for tasks in [1usize, 64, 256, 1024] {
        let secs = 2.0;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let before = store.audit().audit_len().await.expect("len");
        let cpu = cpu_seconds();
        let start = Instant::now();
        let mut handles = Vec::new();
        for t in 0..tasks {
            let (store, stop) = (store.clone(), stop.clone());
            handles.push(tokio::spawn(async move {
                let mut i = t as u64 * 1_000_000;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    if i.is_multiple_of(2) {
                        store
                            .audit()
                            .append_audit(&[match_entry(i)])
                            .await
                            .expect("append");
                    } else {
                        let usage = UsageDelta {
                            org: "politie-mn".into(),
                            purpose: "ondermijning-kvo".into(),
                            day: "2025-06-02".into(),
                            identifiers: 1,
                            no_hits: 0,
                        };
                        store
                            .decisions()
                            .record_decision_within_budget(
                                usage,
                                u64::MAX >> 2,
                                &match_entry(i),
                                Vec::new(),
                            )
                            .await
                            .expect("decision");
                    }
                }
            }));
        }
        tokio::time::sleep(std::time::Duration::from_secs_f64(secs)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for h in handles {
            h.await.expect("task");
        }
        let elapsed = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu;
        let n = store.audit().audit_len().await.expect("len") - before;
        println!(
            "{label:<34} audit append (group commit), {tasks:>4} concurrent callers: {:>8.0} entries/s \
             ({n} in {elapsed:.2} s; this process used {cpu:.2} CPU-s = {:.0} entries per CPU-s)",
            n as f64 / elapsed,
            n as f64 / cpu
        );
    }
}

/// `KRUISPUNT_BENCH_PARTS` (default `bulk,decisions,audit`) selects what to run.
fn part(name: &str) -> bool {
    std::env::var("KRUISPUNT_BENCH_PARTS").map_or(true, |v| v.split(',').any(|p| p.trim() == name))
}

/// Rows already in the table before the measured upload (`KRUISPUNT_BENCH_PRELOAD`, default 0):
/// filler with random ids and pseudonyms, written by SQL in a few large transactions, so the
/// rate can be measured at millions of stored rows without first uploading them at that rate.
fn preload() -> u64 {
    bench::env::<usize>("KRUISPUNT_BENCH_PRELOAD").unwrap_or(0) as u64
}

/// The upload second of the first filler row: the filler is uploaded at [`rate`] per second
/// and ends before `NOW`, so its ids are of the new form, increasing, and below the measured
/// rows' (as in a database that has been receiving uploads).
fn filler_start(preloaded: u64) -> i64 {
    NOW - (preloaded / rate()) as i64 - 1
}

/// Filler rows per preload transaction.
const PRELOAD_CHUNK: u64 = 1_000_000;

/// `KRUISPUNT_BENCH_BACKENDS` (default `sqlite-full,sqlite-normal,postgres`) selects the stores.
fn backend(name: &str) -> bool {
    std::env::var("KRUISPUNT_BENCH_BACKENDS")
        .map_or(true, |v| v.split(',').any(|p| p.trim() == name))
}

async fn sqlite(data: &[NewSignal], synchronous: SqliteSynchronous, label: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let options =
        SqliteStore::tune(SqliteConnectOptions::new().filename(dir.path().join("bench.db")))
            .synchronous(synchronous);
    let store = SqliteStore::open(options.clone(), false)
        .await
        .expect("open SQLite");
    let preloaded = preload();
    if preloaded > 0 {
        let start = Instant::now();
        let mut conn = options
            .synchronous(SqliteSynchronous::Off)
            .connect()
            .await
            .expect("preload connection");
        let mut left = preloaded;
        while left > 0 {
            let n = left.min(PRELOAD_CHUNK);
            sqlx::query(&format!(
                "INSERT INTO signals (id, org, kind, key_version, stored, code, observed, \
                 district, purposes, expires_at, uploaded_at) \
                 WITH RECURSIVE n(x) AS (SELECT {first} UNION ALL SELECT x + 1 FROM n \
                 WHERE x < {last}) \
                 SELECT unhex(printf('%08x', {t0} + x / {rate}) || hex(randomblob(12))), 'filler', \
                 'kenteken', 1, randomblob(32), 'cash-purchase-car', '2025-06-01', \
                 'oost-utrecht', '[\"ondermijning-kvo\"]', \
                 ({day0} + x * 7919 % {days}) * 86400, {t0} + x / {rate} FROM n",
                first = preloaded - left,
                last = preloaded - left + n - 1,
                t0 = filler_start(preloaded),
                rate = rate(),
                day0 = NOW / 86_400 + 365,
                days = expiry_days(),
            ))
            .execute(&mut conn)
            .await
            .expect("preload");
            left -= n;
        }
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
            .expect("checkpoint");
        let _ = conn.close().await;
        println!(
            "{label:<34} preloaded {preloaded} filler rows in {:.1} s",
            start.elapsed().as_secs_f64()
        );
    }
    if part("bulk") {
        bulk(label, &store, data, preloaded, None).await;
    }
    if part("decisions") {
        decisions(label, &store).await;
    }
    let store = Arc::new(store);
    if part("audit") {
        audit_append(label, store.clone()).await;
    }
    store.close().await;
}

async fn postgres(url: &str, data: &[NewSignal]) {
    // A database of the bench's own on that server, dropped at the end.
    let db = kruispunt_test_kit::TestDatabase::create_on(url).await;
    let store = PostgresStore::connect_with(PgPoolOptions::new().max_connections(4), db.options())
        .await
        .expect("open PostgreSQL");
    let monitor = PgCpu {
        pool: PgPoolOptions::new()
            .max_connections(1)
            .connect_with(db.options())
            .await
            .expect("monitor connection"),
    };
    let preloaded = preload();
    if preloaded > 0 {
        let start = Instant::now();
        let mut done = 0u64;
        while done < preloaded {
            let n = (preloaded - done).min(PRELOAD_CHUNK);
            sqlx::query(
                "INSERT INTO signals (id, org, kind, key_version, stored, code, observed, \
                 district, purposes, expires_at, uploaded_at) \
                 SELECT int4send(($3 + g / $4)::int4) \
                 || substr(decode(md5('filler' || g), 'hex'), 1, 12), 'filler', 'kenteken', 1, \
                 sha256(int8send(g)), 'cash-purchase-car', DATE '2025-06-01', 'oost-utrecht', \
                 ARRAY['ondermijning-kvo'], ($5 + g * 7919 % $6) * 86400, $3 + g / $4 \
                 FROM generate_series($1::bigint, $2::bigint) g",
            )
            .bind(done as i64)
            .bind((done + n - 1) as i64)
            .bind(filler_start(preloaded))
            .bind(rate() as i64)
            .bind(NOW / 86_400 + 365)
            .bind(expiry_days() as i64)
            .execute(&monitor.pool)
            .await
            .expect("preload");
            done += n;
        }
        sqlx::query("VACUUM ANALYZE signals")
            .execute(&monitor.pool)
            .await
            .expect("vacuum");
        sqlx::query("CHECKPOINT")
            .execute(&monitor.pool)
            .await
            .expect("checkpoint");
        println!(
            "postgres                           preloaded {preloaded} filler rows in {:.1} s",
            start.elapsed().as_secs_f64()
        );
    }
    let store = Arc::new(store);
    if part("bulk") {
        bulk("postgres", &*store, data, preloaded, Some(&monitor)).await;
    }
    if part("decisions") {
        decisions("postgres", &*store).await;
    }
    if part("audit") {
        audit_append("postgres", store.clone()).await;
    }
    monitor.pool.close().await;
    store.close().await;
    db.drop_database().await;
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
            "generated {n} signals (ids derived) in {:.2} s; batches of {}",
            start.elapsed().as_secs_f64(),
            batch_size()
        );
        if backend("sqlite-full") {
            sqlite(&data, SqliteSynchronous::Full, "sqlite (WAL, synchronous=FULL)").await;
        }
        if backend("sqlite-normal") {
            sqlite(&data, SqliteSynchronous::Normal, "sqlite (WAL, synchronous=NORMAL)").await;
        }
        if backend("postgres") {
            match std::env::var("KRUISPUNT_BENCH_POSTGRES_URL")
                .or_else(|_| std::env::var("KRUISPUNT_TEST_POSTGRES_URL"))
            {
                Ok(url) => postgres(&url, &data).await,
                Err(_) => println!(
                    "postgres: SKIPPED (set KRUISPUNT_BENCH_POSTGRES_URL or KRUISPUNT_TEST_POSTGRES_URL)"
                ),
            }
        }
    });
}
