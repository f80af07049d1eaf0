//! `kruispunt audit verify` and `kruispunt audit export` against a real broker on a real SQLite
//! database: a clean log verifies (over HTTPS, from an export, trust on first use), and an
//! entry edited, or deleted, in the database is named.

mod audit_common;

use std::path::Path;

use audit_common::*;
use kruispunt_sdk::transparency::LogLine;

struct Out {
    ok: bool,
    stdout: String,
}

async fn cli(args: Vec<String>) -> Out {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kruispunt"))
            .args(&args)
            .env_remove("KRUISPUNT_TOKEN")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        Out {
            ok: out.status.success(),
            stdout: format!("{stdout}{stderr}"),
        }
    })
    .await
    .unwrap()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn read_lines(dir: &Path) -> Vec<LogLine> {
    std::fs::read_to_string(dir.join("entries.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_on_a_clean_log_and_names_an_edited_or_deleted_entry() {
    let b = Broker::start(None).await;
    b.traffic().await;
    b.sync().await;
    let work = tempfile::tempdir().unwrap();
    let trusted = work.path().join("trusted");
    let officer = b.token(DEALER_A, &[OFFICER]);
    let remote = |extra: &[&str]| {
        let mut v: Vec<String> = vec![
            "audit".into(),
            "verify".into(),
            "--url".into(),
            b.base.clone(),
            "--token".into(),
            officer.clone(),
            "--ca".into(),
            s(&b.ca_path),
        ];
        v.extend(extra.iter().map(|x| x.to_string()));
        v
    };

    // Clean: verifies, trusting the checkpoint on first use, then extending it.
    let out = cli(remote(&["--trusted", &s(&trusted)])).await;
    assert!(out.ok, "{}", out.stdout);
    assert!(out.stdout.contains("first use"), "{}", out.stdout);
    let ta = b.token(DEALER_A, &["compliance"]);
    b.post("/v1/matches", Some(&ta), &match_query(PURPOSE))
        .await;
    b.sync().await;
    let out = cli(remote(&["--trusted", &s(&trusted)])).await;
    assert!(out.ok, "{}", out.stdout);
    assert!(
        out.stdout.contains("extends the checkpoint trusted"),
        "{}",
        out.stdout
    );

    // Export from the data directory (every entry in full) and over HTTPS; both verify offline.
    let full = work.path().join("full");
    let out = cli(vec![
        "audit".into(),
        "export".into(),
        "--data-dir".into(),
        s(b.dir.path()),
        "--out".into(),
        s(&full),
    ])
    .await;
    assert!(out.ok, "{}", out.stdout);
    let lines = read_lines(&full);
    assert!(lines.iter().all(|l| l.entry.is_some() && l.salt.is_some()));
    let out = cli(vec![
        "audit".into(),
        "verify".into(),
        "--dir".into(),
        s(&full),
    ])
    .await;
    assert!(out.ok, "{}", out.stdout);
    let partial = work.path().join("partial");
    let mut args = remote(&[]);
    args[1] = "export".into();
    args.extend(["--out".into(), s(&partial)]);
    let out = cli(args).await;
    assert!(out.ok, "{}", out.stdout);
    let shown = read_lines(&partial)
        .iter()
        .filter(|l| l.entry.is_some())
        .count();
    assert!(
        shown >= 1 && shown < lines.len(),
        "an officer sees its own organisation's entries"
    );
    let out = cli(vec![
        "audit".into(),
        "verify".into(),
        "--dir".into(),
        s(&partial),
    ])
    .await;
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
    let out = cli(vec![
        "audit".into(),
        "verify".into(),
        "--dir".into(),
        s(&edited),
    ])
    .await;
    assert!(!out.ok);
    assert!(
        out.stdout.contains("entry 2 does not match"),
        "{}",
        out.stdout
    );

    // Someone edits the match entry that dealer A's officer can see, in the database itself.
    let target = lines
        .iter()
        .find(|l| {
            let e = l.entry.as_ref().unwrap();
            e.action == "match"
                && e.source_orgs.iter().any(|o| o == DEALER_A)
                && e.actor_org.as_deref() == Some(DEALER_C)
        })
        .expect("dealer C's match of dealer A's signal")
        .index;
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        s(&b.dir.path().join("kruispunt.db"))
    ))
    .await
    .unwrap();
    let original: Vec<u8> = sqlx::query_scalar("SELECT entry FROM audit_log WHERE seq = $1")
        .bind(target as i64)
        .fetch_one(&db)
        .await
        .unwrap();
    let forged = String::from_utf8(original.clone())
        .unwrap()
        .replace(DEALER_C, DEALER_B);
    sqlx::query("UPDATE audit_log SET entry = $1 WHERE seq = $2")
        .bind(forged.as_bytes())
        .bind(target as i64)
        .execute(&db)
        .await
        .unwrap();
    let out = cli(remote(&["--trusted", &s(&trusted)])).await;
    assert!(!out.ok, "{}", out.stdout);
    assert!(
        out.stdout
            .contains(&format!("entry {target} does not match its leaf")),
        "{}",
        out.stdout
    );
    let forged_export = work.path().join("forged");
    let out = cli(vec![
        "audit".into(),
        "export".into(),
        "--data-dir".into(),
        s(b.dir.path()),
        "--out".into(),
        s(&forged_export),
    ])
    .await;
    assert!(out.ok, "{}", out.stdout);
    let out = cli(vec![
        "audit".into(),
        "verify".into(),
        "--dir".into(),
        s(&forged_export),
    ])
    .await;
    assert!(
        out.stdout
            .contains(&format!("entry {target} does not match")),
        "{}",
        out.stdout
    );

    // Put it back: verifies again. Then delete a row: named as missing.
    sqlx::query("UPDATE audit_log SET entry = $1 WHERE seq = $2")
        .bind(&original)
        .bind(target as i64)
        .execute(&db)
        .await
        .unwrap();
    let out = cli(remote(&["--trusted", &s(&trusted)])).await;
    assert!(out.ok, "{}", out.stdout);
    sqlx::query("DELETE FROM audit_log WHERE seq = 1")
        .execute(&db)
        .await
        .unwrap();
    let out = cli(remote(&["--trusted", &s(&trusted)])).await;
    assert!(!out.ok, "{}", out.stdout);
    assert!(out.stdout.contains("entry 1 is missing"), "{}", out.stdout);
    db.close().await;
    b.stop().await;
}

/// The same tampering on PostgreSQL (skipped without `KRUISPUNT_TEST_POSTGRES_URL`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_an_entry_edited_in_postgres() {
    let Ok(url) = std::env::var("KRUISPUNT_TEST_POSTGRES_URL") else {
        eprintln!(
            "SKIPPED: KRUISPUNT_TEST_POSTGRES_URL not set — the PostgreSQL tamper test did not run"
        );
        return;
    };
    let db = format!("kp_audit_tamper_{}", std::process::id());
    let base = &url[..url.rfind('/').unwrap()];
    let admin = sqlx::PgPool::connect(&format!("{base}/postgres"))
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await
        .unwrap();
    let dburl = format!("{base}/{db}");
    let b = Broker::start(Some(dburl.clone())).await;
    assert_eq!(b.state().store.backend(), "postgres");
    b.traffic().await;
    b.sync().await;
    let officer = b.token(DEALER_C, &[OFFICER]);
    let args = vec![
        "audit".to_string(),
        "verify".into(),
        "--url".into(),
        b.base.clone(),
        "--token".into(),
        officer,
        "--ca".into(),
        s(&b.ca_path),
    ];
    let out = cli(args.clone()).await;
    assert!(out.ok, "{}", out.stdout);
    let pool = sqlx::PgPool::connect(&dburl).await.unwrap();
    let seq: i64 = sqlx::query_scalar(
        "SELECT seq FROM audit_log WHERE actor_org = $1 AND action = 'match' ORDER BY seq LIMIT 1",
    )
    .bind(DEALER_C)
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE audit_log SET entry = convert_to(replace(convert_from(entry, 'UTF8'), 'allow', 'deny'), 'UTF8') WHERE seq = $1",
    )
    .bind(seq)
    .execute(&pool)
    .await
    .unwrap();
    let out = cli(args).await;
    assert!(!out.ok, "{}", out.stdout);
    assert!(
        out.stdout
            .contains(&format!("entry {seq} does not match its leaf")),
        "{}",
        out.stdout
    );
    pool.close().await;
    b.stop().await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
}
