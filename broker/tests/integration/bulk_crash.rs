//! The SQLite broker killed during a bulk upload (issue 17, "Faults"): the real `kruispunt
//! serve` process takes a large NDJSON stream on `POST /v1/signals/bulk` and is killed with
//! SIGKILL once some of its chunks have committed, then started again on the same data
//! directory. Afterwards:
//!
//! - every stored signal is named by an upload entry of the audit log and every id an upload
//!   entry names is stored: no effect without its entry, no entry without its effect (each
//!   chunk commits with its entry or not at all);
//! - the match index rebuilt at the start equals the database's live signals (`/readyz`'s count
//!   and digest against the database's);
//! - the log verifies (exported and checked offline by `kruispunt audit verify`);
//! - the client, which got no answer, sends the same file again: every line is answered, the
//!   ones committed before the kill as `duplicate` with their stored ids, the rest stored, so
//!   the file is stored exactly once.
//!
//! And the same when the upload was split into pieces (`sigkill_during_a_split_bulk_upload_on_sqlite`):
//! matches hammering the broker meanwhile each wait for SQLite's one writer with their audit
//! entry, so the upload commits what it has and lets them pass (the writer gate,
//! docs/ARCHITECTURE.md "The SQLite writer"); the kill comes once the log shows a piece. Every
//! committed piece must be whole — its entry names exactly rows that are stored, with their
//! pseudonyms, and every stored row of the upload is named by one piece — and every match
//! answered before the kill has its entry.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::audit_common::*;
use crate::multibroker::{bin, live, settled};
use kruispunt_broker::audit::action;
use kruispunt_broker::audit::entry::AuditEntry;
use kruispunt_broker::routes::signals::BULK_CHUNK;
use kruispunt_broker::store::Store;
use kruispunt_test_kit::Options;
use serde_json::{Value, json};

/// Lines in the stream: several chunks of the bulk route (10 000 lines each), so that the kill
/// falls between chunk commits with some committed and some not.
const LINES: usize = 120_000;

fn plate(n: usize) -> String {
    let letter = |i: usize| char::from(b'A' + (i % 26) as u8);
    format!(
        "{}{}-{:03}-{}",
        letter(n / 26_000),
        letter(n / 1_000),
        n % 1_000,
        letter(n)
    )
}

/// `lines` signals of dealer A, one per line.
fn ndjson(lines: usize) -> String {
    let mut body = String::with_capacity(lines * 260);
    for n in 0..lines {
        body.push_str(&signal(&plate(n), "cash-car-purchase").to_string());
        body.push('\n');
    }
    body
}

/// The ids named by the log's upload entries of dealer A.
async fn ids_in_the_log(b: &Broker) -> BTreeSet<String> {
    b.audit_of(action::SIGNAL_UPLOAD)
        .await
        .iter()
        .filter(|e| e.actor_org.as_deref() == Some(DEALER_A))
        .flat_map(|e| e.detail["ids"].as_array().cloned().unwrap_or_default())
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The ids of dealer A's live signals in the database.
async fn ids_stored(b: &Broker) -> BTreeSet<String> {
    rows_stored(b).await.into_keys().collect()
}

/// Dealer A's live signals in the database: id → stored (at-rest) pseudonym, in hex.
async fn rows_stored(b: &Broker) -> BTreeMap<String, String> {
    let mut ids = BTreeMap::new();
    b.store()
        .await
        .signals()
        .for_each_live_signal(kruispunt_test_kit::now(), &mut |r| {
            if r.org == DEALER_A {
                ids.insert(r.id.to_string(), hex::encode(r.stored));
            }
        })
        .await
        .unwrap();
    ids
}

/// Streams `body` to `b`'s bulk route as dealer A, from a task of its own.
fn stream(
    b: &Broker,
    token: &str,
    body: &str,
) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let (client, url, token, body) = (
        b.client.clone(),
        format!("{}/v1/signals/bulk", b.base),
        token.to_string(),
        body.to_string(),
    );
    tokio::spawn(async move {
        client
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
    })
}

/// SIGKILL: no chance to finish the chunk or piece in flight, or to answer.
fn sigkill(pid: u32) {
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
}

/// Asserts that the stream `upload` got no successful answer: the kill came first.
async fn unanswered(upload: tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>) {
    let answered = upload.await.unwrap();
    assert!(
        answered.is_err() || !answered.as_ref().unwrap().status().is_success(),
        "the upload finished before the kill; make the stream longer: {answered:?}"
    );
}

/// The client, which got no answer, sends the whole file of `lines` lines again to the
/// restarted broker: the lines committed before the kill (`stored`) are answered `duplicate`,
/// the rest stored, so the file is stored exactly once, every stored signal named by the log.
async fn resend_stores_the_rest(
    b: &Broker,
    token: &str,
    body: String,
    lines: usize,
    stored: &BTreeSet<String>,
) {
    let r = b
        .client
        .post(format!("{}/v1/signals/bulk", b.base))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .timeout(Duration::from_secs(600))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["rejected"], 0, "{v}");
    assert_eq!(v["duplicates"], stored.len() as u64, "{v}");
    assert_eq!(v["stored"], (lines - stored.len()) as u64, "{v}");
    let after = ids_stored(b).await;
    assert!(stored.is_subset(&after));
    assert_eq!(ids_in_the_log(b).await, after);
    let store = b.store().await;
    settled(std::slice::from_ref(b), store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_bulk_upload_on_sqlite() {
    let b = Broker::start_with(Options {
        serve: Some(bin()),
        unlimited: true,
        ..Options::default()
    })
    .await;
    let body = ndjson(LINES);
    let token = b.token(DEALER_A, &["compliance"]);
    let pid = b.pid().expect("a `kruispunt serve` process");

    // The kill comes once a chunk has committed (the test watches the database, as an operator
    // could).
    let upload = stream(&b, &token, &body);
    let store = b.store().await;
    let mut committed = 0;
    for _ in 0..1_200 {
        committed = live(store.as_ref()).await.0;
        if committed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(committed > 0, "no chunk committed within a minute");
    drop(store);
    sigkill(pid);
    unanswered(upload).await;

    let b = b.restart().await;
    let stored = ids_stored(&b).await;
    assert!(
        !stored.is_empty() && stored.len() < LINES,
        "{} stored",
        stored.len()
    );
    assert_eq!(
        ids_in_the_log(&b).await,
        stored,
        "the stored signals and the ids the log's upload entries name differ"
    );
    let store = b.store().await;
    settled(std::slice::from_ref(&b), store.as_ref()).await;

    // The offline check of the whole log.
    let export = tempfile::tempdir().unwrap();
    export_and_verify(b.data_dir(), &export.path().join("export"));

    resend_stores_the_rest(&b, &token, body, LINES, &stored).await;
    assert_eq!(ids_stored(&b).await.len(), LINES);
    b.stop().await;
}

/// Lines of the split stream: six chunks, so that the kill (which comes as soon as a piece has
/// committed) finds most of it still to come.
const SPLIT_LINES: usize = 60_000;

/// Plates dealer B stores first, which the hammering matches ask about (hits: no sweep).
const ASKED: usize = 20;

/// Concurrent clients asking for matches during the upload.
const HAMMERS: usize = 4;

/// Asks dealer B's plates as dealer C through `b`, one match after another, until `stop` or the
/// broker stops answering; answers the audit sequence numbers of the matches answered 200.
fn hammer(b: &Broker, k: usize, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<u64>> {
    let (client, url, token) = (
        b.client.clone(),
        format!("{}/v1/matches", b.base),
        b.token(DEALER_C, &["compliance"]),
    );
    tokio::spawn(async move {
        let mut answered = Vec::new();
        let mut n = k;
        while !stop.load(Ordering::Relaxed) {
            let query = json!({ "purpose": PURPOSE, "level": "hit", "identifiers": [
                { "kind": "kenteken", "pseudonym": pseudonym(&asked(n % ASKED)), "key_version": 1 }
            ] });
            let Ok(r) = client
                .post(&url)
                .bearer_auth(&token)
                .json(&query)
                .send()
                .await
            else {
                break;
            };
            if r.status() == 200
                && let Ok(v) = r.json::<Value>().await
            {
                answered.push(v["audit_seq"].as_u64().expect("a match names its entry"));
            }
            n += HAMMERS;
        }
        answered
    })
}

fn asked(n: usize) -> String {
    format!("HB-{n:03}-Z")
}

/// Dealer A's upload entries from position `from` of the log on.
async fn upload_pieces(store: &dyn Store, from: u64) -> Vec<AuditEntry> {
    let len = store.audit().audit_len().await.unwrap();
    store
        .audit()
        .audit_entries(from, len)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| e.action == action::SIGNAL_UPLOAD && e.actor_org.as_deref() == Some(DEALER_A))
        .collect()
}

/// Whether `pieces` show a split: a piece committed with fewer lines than a chunk (unsplit,
/// every committed entry of the stream names a whole chunk).
fn split(pieces: &[AuditEntry]) -> bool {
    pieces
        .iter()
        .any(|e| e.detail["signals"].as_u64().unwrap() < BULK_CHUNK as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_split_bulk_upload_on_sqlite() {
    let b = Broker::start_with(Options {
        serve: Some(bin()),
        unlimited: true,
        ..Options::default()
    })
    .await;
    let tb = b.token(DEALER_B, &["compliance"]);
    let known: Vec<Value> = (0..ASKED)
        .map(|n| signal(&asked(n), "cash-car-purchase"))
        .collect();
    let (st, v) = b
        .post("/v1/signals", Some(&tb), &json!({ "signals": known }))
        .await;
    assert_eq!(st, 200, "{v}");
    let store = b.store().await;
    let from = store.audit().audit_len().await.unwrap();
    let body = ndjson(SPLIT_LINES);
    let token = b.token(DEALER_A, &["compliance"]);
    let pid = b.pid().expect("a `kruispunt serve` process");

    let stop = Arc::new(AtomicBool::new(false));
    let hammers: Vec<_> = (0..HAMMERS).map(|k| hammer(&b, k, stop.clone())).collect();
    let upload = stream(&b, &token, &body);
    // The kill comes once the log shows the upload split: a piece smaller than a chunk.
    // A bound on waiting (a minute on a loaded machine), not a timing the test asserts.
    let mut polls = 0;
    while !split(&upload_pieces(store.as_ref(), from).await) {
        polls += 1;
        assert!(polls < 600, "the upload was not split within a minute");
        assert!(!upload.is_finished(), "the upload ended unsplit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(store);
    sigkill(pid);
    stop.store(true, Ordering::Relaxed);
    let mut matches = Vec::new();
    for h in hammers {
        matches.extend(h.await.unwrap());
    }
    unanswered(upload).await;

    let b = b.restart().await;
    let store = b.store().await;
    let rows = rows_stored(&b).await;
    let pieces = upload_pieces(store.as_ref(), from).await;
    assert!(split(&pieces), "the log shows the split after the restart");
    assert!(
        !rows.is_empty() && rows.len() < SPLIT_LINES,
        "{} stored",
        rows.len()
    );
    // Every committed piece is whole: its entry names stored rows only, each with its at-rest
    // pseudonym; no row is named twice, and none is stored without a piece naming it.
    let mut named = BTreeSet::new();
    for (k, e) in pieces.iter().enumerate() {
        let ids: Vec<&str> = e.detail["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(e.detail["signals"], ids.len(), "piece {k}");
        let pseudonyms: BTreeSet<&str> = ids
            .iter()
            .map(|id| {
                rows.get(*id)
                    .unwrap_or_else(|| panic!("piece {k} names {id}, which is not stored"))
                    .as_str()
            })
            .collect();
        let in_entry: BTreeSet<&str> = e.pseudonyms.iter().map(String::as_str).collect();
        assert_eq!(in_entry, pseudonyms, "piece {k} names other pseudonyms");
        for id in ids {
            assert!(named.insert(id.to_string()), "{id} named by two pieces");
        }
    }
    let stored: BTreeSet<String> = rows.keys().cloned().collect();
    assert_eq!(named, stored, "a stored row no piece names");
    // Every match answered before the kill has its entry.
    assert!(
        !matches.is_empty(),
        "no match was answered during the upload"
    );
    for &seq in &matches {
        let e = store.audit().audit_entries(seq, seq + 1).await.unwrap();
        assert_eq!(e.len(), 1, "entry {seq}");
        assert_eq!(e[0].1.action, "match", "entry {seq}");
        assert_eq!(e[0].1.actor_org.as_deref(), Some(DEALER_C), "entry {seq}");
    }
    settled(std::slice::from_ref(&b), store.as_ref()).await;
    let export = tempfile::tempdir().unwrap();
    export_and_verify(b.data_dir(), &export.path().join("export"));
    eprintln!(
        "{} pieces committed ({} rows) before the kill, {} matches answered",
        pieces.len(),
        stored.len(),
        matches.len()
    );

    resend_stores_the_rest(&b, &token, body, SPLIT_LINES, &stored).await;
    assert_eq!(ids_stored(&b).await.len(), SPLIT_LINES);
    b.stop().await;
}
