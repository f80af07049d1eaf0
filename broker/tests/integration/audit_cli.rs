//! `kruispunt audit verify` and `kruispunt audit export` against a real broker on a real SQLite
//! database: a clean log verifies (over HTTPS, from an export, trust on first use); and, on
//! SQLite and on PostgreSQL, an entry edited, deleted or reordered in the database itself is
//! named — both by `verify --url` (a privacy officer whose organisation the entry concerns) and
//! by `verify --dir` of the operator's export.

use std::path::Path;

use crate::audit_common::*;
use kruispunt_sdk::transparency::LogLine;

struct Out {
    ok: bool,
    stdout: String,
}

async fn cli<S: AsRef<str>>(args: &[S]) -> Out {
    let args: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
    let (ok, stdout) = tokio::task::spawn_blocking(move || kruispunt(&args))
        .await
        .unwrap();
    Out { ok, stdout }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `kruispunt audit verify --dir DIR`: an export checked offline.
async fn verify_dir(dir: &Path) -> Out {
    cli(&["audit", "verify", "--dir", &s(dir)]).await
}

/// `kruispunt audit export --data-dir`: the operator's export of `b`'s log into `out`.
async fn export_data_dir(b: &Broker, out: &Path) -> Out {
    let o = cli(&[
        "audit",
        "export",
        "--data-dir",
        &s(b.dir.path()),
        "--out",
        &s(out),
    ])
    .await;
    if o.ok {
        // Every organisation's entries: readable by the operator only.
        use std::os::unix::fs::PermissionsExt;
        for f in ["entries.jsonl", "checkpoint", "key"] {
            let mode = std::fs::metadata(out.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
    o
}

/// The arguments of `kruispunt audit verify --url` against `b` as `token`, then `extra`.
fn verify_url(b: &Broker, token: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "audit".into(),
        "verify".into(),
        "--url".into(),
        b.base.clone(),
        "--token".into(),
        token.into(),
        "--ca".into(),
        s(&b.ca_path),
    ];
    v.extend(extra.iter().map(|x| x.to_string()));
    v
}

fn read_lines(dir: &Path) -> Vec<LogLine> {
    std::fs::read_to_string(dir.join("entries.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_on_a_clean_log_and_names_entries_tampered_with_in_sqlite() {
    let b = Broker::start(None).await;
    b.traffic().await;
    b.sync().await;
    let work = tempfile::tempdir().unwrap();
    let trusted = work.path().join("trusted");
    let officer = b.token(DEALER_A, &[OFFICER]);
    let remote = |extra: &[&str]| verify_url(&b, &officer, extra);

    // Clean: verifies, trusting the checkpoint on first use, then extending it.
    let out = cli(&remote(&["--trusted", &s(&trusted)])).await;
    assert!(out.ok, "{}", out.stdout);
    assert!(out.stdout.contains("first use"), "{}", out.stdout);
    let ta = b.token(DEALER_A, &["compliance"]);
    b.post("/v1/matches", Some(&ta), &match_query(PURPOSE))
        .await;
    b.sync().await;
    let out = cli(&remote(&["--trusted", &s(&trusted)])).await;
    assert!(out.ok, "{}", out.stdout);
    assert!(
        out.stdout.contains("extends the checkpoint trusted"),
        "{}",
        out.stdout
    );

    // Export from the data directory (every entry in full) and over HTTPS; both verify offline.
    let full = work.path().join("full");
    let out = export_data_dir(&b, &full).await;
    assert!(out.ok, "{}", out.stdout);
    let lines = read_lines(&full);
    assert!(lines.iter().all(|l| l.entry.is_some() && l.salt.is_some()));
    let out = verify_dir(&full).await;
    assert!(out.ok, "{}", out.stdout);
    let partial = work.path().join("partial");
    let mut args = remote(&[]);
    args[1] = "export".into();
    args.extend(["--out".into(), s(&partial)]);
    let out = cli(&args).await;
    assert!(out.ok, "{}", out.stdout);
    let shown = read_lines(&partial)
        .iter()
        .filter(|l| l.entry.is_some())
        .count();
    assert!(
        shown >= 1 && shown < lines.len(),
        "an officer sees its own organisation's entries"
    );
    let out = verify_dir(&partial).await;
    assert!(out.ok, "{}", out.stdout);

    // An export edited offline: the line is named.
    let edited = work.path().join("edited");
    std::fs::create_dir_all(&edited).unwrap();
    for f in ["checkpoint", "key"] {
        std::fs::copy(full.join(f), edited.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(full.join("entries.jsonl")).unwrap();
    let mut rows: Vec<String> = text.lines().map(String::from).collect();
    rows[2] = rows[2].replacen("\"time_ms\":", "\"time_ms\":1", 1);
    std::fs::write(edited.join("entries.jsonl"), rows.join("\n")).unwrap();
    let out = verify_dir(&edited).await;
    assert!(!out.ok);
    assert!(
        out.stdout.contains("entry 2 does not match"),
        "{}",
        out.stdout
    );

    let db = Db::Sqlite(
        sqlx::SqlitePool::connect(&format!(
            "sqlite://{}",
            s(&b.dir.path().join("kruispunt.db"))
        ))
        .await
        .unwrap(),
    );
    tampering_is_named(&b, &db).await;
    db.close().await;
    b.stop().await;
}

/// The same tampering on PostgreSQL (skipped without `KRUISPUNT_TEST_POSTGRES_URL`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_entries_tampered_with_in_postgres() {
    let Some(pg) = TestDatabase::create("audit_tamper").await else {
        return;
    };
    let b = Broker::start(Some(pg.url.clone())).await;
    assert_eq!(b.state().store.backend(), "postgres");
    b.traffic().await;
    b.sync().await;
    let db = Db::Postgres(sqlx::PgPool::connect(&pg.url).await.unwrap());
    tampering_is_named(&b, &db).await;
    db.close().await;
    b.stop().await;
    pg.drop_database().await;
}

/// The broker's database, opened behind its back.
enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Evaluates `$body` with `$pool` bound to whichever pool `$db` holds: the queries are written
/// once, the two pool types stay apart.
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

impl Db {
    async fn entry(&self, seq: u64) -> Vec<u8> {
        const Q: &str = "SELECT entry FROM audit_log WHERE seq = $1";
        with_pool!(self, p => sqlx::query_scalar(Q).bind(seq as i64).fetch_one(p).await).unwrap()
    }

    async fn set_entry(&self, seq: u64, bytes: &[u8]) {
        const Q: &str = "UPDATE audit_log SET entry = $1 WHERE seq = $2";
        let n = with_pool!(self, p => sqlx::query(Q)
            .bind(bytes)
            .bind(seq as i64)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .unwrap();
        assert_eq!(n, 1);
    }

    /// Runs `sql` (several statements) as given.
    async fn run(&self, sql: &str) {
        with_pool!(self, p => sqlx::raw_sql(sql).execute(p).await.map(|_| ())).unwrap()
    }

    /// Swaps the rows `a` and `b` of the log: each takes the other's place (sequence number).
    async fn swap(&self, a: u64, b: u64) {
        let parked = 1u64 << 62;
        self.run(&format!(
            "BEGIN; \
             UPDATE audit_log SET seq = {parked} WHERE seq = {a}; \
             UPDATE audit_log SET seq = {a} WHERE seq = {b}; \
             UPDATE audit_log SET seq = {b} WHERE seq = {parked}; \
             COMMIT;"
        ))
        .await
    }

    async fn close(&self) {
        with_pool!(self, p => p.close().await)
    }
}

/// The tamper scaffolding shared by both backends: an entry edited, two entries reordered, an
/// entry deleted — each must make verification fail naming the entry, over HTTPS (an officer of
/// the organisation the entries concern) and from the operator's export; each undone tampering
/// must verify again.
async fn tampering_is_named(b: &Broker, db: &Db) {
    let work = tempfile::tempdir().unwrap();
    let trusted = work.path().join("trusted");
    let officer = b.token(DEALER_A, &[OFFICER]);
    let exports = std::sync::atomic::AtomicUsize::new(0);
    // Verifies over HTTPS and from a fresh operator's export; `None` expects success, `Some`
    // a failure whose output contains the text.
    let check = async |expect: Option<String>| {
        b.sync().await;
        let remote = cli(&verify_url(b, &officer, &["--trusted", &s(&trusted)])).await;
        let out = work.path().join(format!(
            "export-{}",
            exports.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let export = export_data_dir(b, &out).await;
        assert!(export.ok, "{}", export.stdout);
        let local = verify_dir(&out).await;
        for (how, got) in [("--url", remote), ("--dir", local)] {
            match &expect {
                None => assert!(got.ok, "verify {how}: {}", got.stdout),
                Some(text) => {
                    assert!(!got.ok, "verify {how} passed: {}", got.stdout);
                    assert!(got.stdout.contains(text), "verify {how}: {}", got.stdout);
                }
            }
        }
        out
    };
    let clean = check(None).await;
    assert!(
        read_lines(&clean).len() >= 3,
        "the operator's export holds the traffic's entries"
    );
    // The entries the officer of dealer A may see, in log order.
    let concerning: Vec<(u64, kruispunt_sdk::transparency::AuditEntry)> = read_lines(&clean)
        .into_iter()
        .filter_map(|l| Some((l.index, l.entry?)))
        .filter(|(_, e)| {
            e.actor_org.as_deref() == Some(DEALER_A) || e.source_orgs.iter().any(|o| o == DEALER_A)
        })
        .collect();

    // Edit: dealer C's match of dealer A's signal, made to look like dealer B's.
    let target = concerning
        .iter()
        .find(|(_, e)| e.action == "match" && e.actor_org.as_deref() == Some(DEALER_C))
        .unwrap_or_else(|| {
            panic!(
                "dealer C's match of dealer A's signal in {}",
                std::fs::read_to_string(clean.join("entries.jsonl")).unwrap()
            )
        })
        .0;
    let original = db.entry(target).await;
    let forged = String::from_utf8(original.clone())
        .unwrap()
        .replace(DEALER_C, DEALER_B);
    db.set_entry(target, forged.as_bytes()).await;
    check(Some(format!("entry {target} does not match its leaf"))).await;
    db.set_entry(target, &original).await;
    check(None).await;

    // Reorder: two of dealer A's entries change places.
    let (a, c) = (concerning[0].0, concerning[1].0);
    assert!(a < c);
    db.swap(a, c).await;
    check(Some(format!("entry {a} does not match its leaf"))).await;
    db.swap(a, c).await;
    check(None).await;

    // Delete: the row is gone while its leaf and salt remain.
    db.run(&format!("DELETE FROM audit_log WHERE seq = {a}"))
        .await;
    check(Some(format!("entry {a} is missing"))).await;

    // Delete with its salt: it now looks like a lawful erasure, but no audit.erase entry
    // records it.
    db.run(&format!(
        "UPDATE audit_leaf SET salt = NULL WHERE seq = {a}"
    ))
    .await;
    check(Some(format!(
        "entry {a} is shown as erased, but no audit.erase entry records its erasure"
    )))
    .await;
}
