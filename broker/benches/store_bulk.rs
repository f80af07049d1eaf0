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
//! rows (random ids and pseudonyms, by SQL) so the rate can be read at millions of stored rows.
//! `KRUISPUNT_BENCH_BACKENDS` (`sqlite-full,sqlite-normal,postgres`) and `KRUISPUNT_BENCH_PARTS`
//! (`bulk,decisions,audit`) select what runs.
//! Also measures one-decision transactions (the match path before group
//! commit), where the per-commit fsync of `synchronous=FULL` shows, and the start-up index scan.
//! Then appends audit entries through the group commit from 1…1024 concurrent callers (each
//! waiting for its commit, as a request handler does).
//! Targets (DESIGN.md): ≥ 200 k signals/s into SQLite, ≥ 100 k/s into PostgreSQL; issue 5:
//! ≥ 20 k audit entries/s appended.
//! Audit append figures (before and after migration 0009, CPU per entry, callgrind instruction
//! counts): docs/AUDIT.md, "Append rate". Under a load average of 8 (2026-11-29), 1024 callers:
//! SQLite 34 k entries per process CPU-s (was 15–22 k), PostgreSQL 84–90 k.
//!
//! **Measured** (2026-11-28, 2 shared cores under a load average of 4–5 from other builds, so
//! wall-clock is pessimistic; batches of 10 000; CPU-s per 1 M rows is the figure to compare):
//!
//! | store, table size           | signals/s wall | CPU-s per 1 M rows                |
//! |-----------------------------|---------------:|-----------------------------------|
//! | SQLite FULL, 0 → 100 k      | 56 500         | 10.9                              |
//! | SQLite FULL, 400 k → 500 k  | 16 400         | 31.9                              |
//! | SQLite FULL, 2.0 M → 2.2 M  | 10 600         | 45.4                              |
//! | PostgreSQL, 0 → 400 k       | 54 000         | 1.7 bench + 10.3 server backends  |
//! | PostgreSQL, 2.0 M → 2.2 M   | 35 600         | 1.3 bench + 16.1 server backends  |
//!
//! Neither target holds into millions of rows, and no pragma changes that: the cost is the two
//! unique/lookup indexes on *random* keys (`id`, a content hash; `stored`, a keyed hash). Once
//! an index has more leaf pages than a batch has rows, every row dirties its own page in each,
//! and SQLite writes each dirty page whole into the WAL (then again at checkpoint): ~8 KiB per
//! row at 2 M rows. The same schema without those two indexes appends at ~340 k rows/s (1.7
//! CPU-µs/row) into 1.5 M rows; with only the `id` index it falls to 46 k/s at 1–1.5 M rows
//! (sqlite3 3.40 experiment, same pragmas). A bigger page cache with `mmap_size` (no gain), a
//! 1 or 2 KiB page size (slower), a narrower `stored` index (`substr(stored,1,8)`: +20–25 %)
//! and 100 000-row commits (2× at 1–2 M rows, but the write lock is then held for seconds)
//! were measured and do not reach the figure; see docs/OPERATIONS.md (sizing).
//! PostgreSQL: COPY straight into `signals` (the staged `INSERT … ON CONFLICT` only when an
//! id is already stored) costs the server 10.6 CPU-s per 1 M rows instead of 17.7 (measured in
//! isolation on 50 000 rows, small table) — ~95 k rows per backend CPU-second.
//! End to end (`http_load`, `POST /v1/signals/bulk`, 100 k → 200 k rows, SQLite FULL):
//! 30 800 signals/s wall, 33 CPU-s per 1 M rows including the in-process TLS client.

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
    proc_cpu_seconds("/proc/self/stat")
}

/// utime + stime of the process whose `stat` file is `path`, in seconds.
fn proc_cpu_seconds(path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(path) else {
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

/// Measured rows between two progress lines (`KRUISPUNT_BENCH_STEP`, default 100 000): the
/// rate falls as the table grows, so one average over the run would hide the figure that
/// matters (the rate at the size the broker runs at).
fn step_size() -> usize {
    env_usize("KRUISPUNT_BENCH_STEP").unwrap_or(100_000)
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
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
    let start = Instant::now();
    store
        .insert_signals(&data[..batch_size().min(data.len())], &upload_entry(data))
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

/// A realistic match entry (~0.5 kB of canonical JSON).
fn match_entry(i: u64) -> AuditEntry {
    let mut e = AuditEntry::new(NOW * 1000 + i as i64, Operation::Disclose, "match");
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
        let before = store.audit_len().await.expect("len");
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
                        store.append_audit(&[match_entry(i)]).await.expect("append");
                    } else {
                        let usage = UsageDelta {
                            org: "politie-mn".into(),
                            purpose: "ondermijning-kvo".into(),
                            day: "2025-06-02".into(),
                            identifiers: 1,
                            no_hits: 0,
                        };
                        store
                            .record_decision_within_budget(usage, u64::MAX >> 2, &match_entry(i))
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
        let n = store.audit_len().await.expect("len") - before;
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
    env_usize("KRUISPUNT_BENCH_PRELOAD").unwrap_or(0) as u64
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
                 WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {n}) \
                 SELECT randomblob(16), 'filler', 'kenteken', 1, randomblob(32), \
                 'cash-purchase-car', '2025-06-01', 'oost-utrecht', '[\"ondermijning-kvo\"]', \
                 {expires}, {NOW} FROM n",
                expires = NOW + 365 * 86_400
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
    let store = PostgresStore::connect_with(
        PgPoolOptions::new().max_connections(4),
        base.clone().database(&db),
    )
    .await
    .expect("open PostgreSQL");
    let monitor = PgCpu {
        pool: PgPoolOptions::new()
            .max_connections(1)
            .connect_with(base.database(&db))
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
                 SELECT decode(md5('filler' || g), 'hex'), 'filler', 'kenteken', 1, \
                 sha256(int8send(g)), 'cash-purchase-car', DATE '2025-06-01', 'oost-utrecht', \
                 ARRAY['ondermijning-kvo'], $3, $4 FROM generate_series($1::bigint, $2::bigint) g",
            )
            .bind(done as i64)
            .bind((done + n - 1) as i64)
            .bind(NOW + 365 * 86_400)
            .bind(NOW)
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
