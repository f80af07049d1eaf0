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

use std::collections::BTreeSet;
use std::time::Duration;

use crate::audit_common::*;
use crate::multibroker::{bin, live, settled};
use kruispunt_broker::audit::action;
use kruispunt_test_kit::Options;
use serde_json::Value;

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

fn ndjson() -> String {
    let mut body = String::with_capacity(LINES * 260);
    for n in 0..LINES {
        body.push_str(&signal(&plate(n), "cash-car-purchase").to_string());
        body.push('\n');
    }
    body
}

/// The ids named by the log's upload entries.
async fn ids_in_the_log(b: &Broker) -> BTreeSet<String> {
    b.audit_of(action::SIGNAL_UPLOAD)
        .await
        .iter()
        .flat_map(|e| e.detail["ids"].as_array().cloned().unwrap_or_default())
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The ids of the database's live signals.
async fn ids_stored(b: &Broker) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    b.store()
        .await
        .signals()
        .for_each_live_signal(kruispunt_test_kit::now(), &mut |r| {
            ids.insert(r.id.to_string());
        })
        .await
        .unwrap();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_bulk_upload_on_sqlite() {
    let b = Broker::start_with(Options {
        serve: Some(bin()),
        unlimited: true,
        ..Options::default()
    })
    .await;
    let body = ndjson();
    let token = b.token(DEALER_A, &["compliance"]);
    let pid = b.pid().expect("a `kruispunt serve` process");

    // The stream, from a task of its own; the kill comes once a chunk has committed (the test
    // watches the database, as an operator could).
    let upload = {
        let (client, url, token, body) = (
            b.client.clone(),
            format!("{}/v1/signals/bulk", b.base),
            token.clone(),
            body.clone(),
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
    };
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
    // SIGKILL: no chance to finish the chunk in flight or to answer.
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let answered = upload.await.unwrap();
    assert!(
        answered.is_err() || !answered.as_ref().unwrap().status().is_success(),
        "the upload finished before the kill; make LINES larger: {answered:?}"
    );

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

    // The client sends the file again: the committed lines are duplicates, answered with
    // their ids; the rest is stored; the file is stored exactly once.
    let r = b
        .client
        .post(format!("{}/v1/signals/bulk", b.base))
        .bearer_auth(&token)
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
    assert_eq!(v["stored"], (LINES - stored.len()) as u64, "{v}");
    let after = ids_stored(&b).await;
    assert_eq!(after.len(), LINES);
    assert!(stored.is_subset(&after));
    assert_eq!(ids_in_the_log(&b).await, after);
    settled(std::slice::from_ref(&b), store.as_ref()).await;
    b.stop().await;
}
