//! Issue 17, "Freshness and speed": on SQLite a bulk upload gives the single writer to a waiting
//! match decision between pieces of its chunk (`WriterGate`). The pieces must keep the upload
//! path's promises: every line is answered once, every piece commits with an entry naming
//! exactly what it stored or answered, a repeat within the batch is named with the signal it
//! repeats, and the log's ids are the stored ids. The waiting decision is made certain by
//! holding the gate's "wanted" mark (as a decision batch does while it waits for the writer)
//! and passing it on piece by piece.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::audit_common::*;
use kruispunt_broker::audit::action;
use serde_json::{Value, json};

/// Lines in the stream: one chunk of the bulk route, several slices of the paced insert.
const LINES: usize = 1_000;

/// A valid plate (sidecode XX-999-X) per (`prefix`, `n < 26 000`).
fn plate(prefix: char, n: usize) -> String {
    let letter = char::from(b'A' + (n / 1_000 % 26) as u8);
    format!("{prefix}{letter}-{:03}-X", n % 1_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_upload_split_for_waiting_decisions_names_every_line_once() {
    let b = Broker::start(None).await;
    let token = b.token(DEALER_A, &["compliance"]);
    let state = b.state();
    let gate = state.store.writer_gate().expect("SQLite has a writer gate");
    gate.set_max_hold(Some(Duration::ZERO));

    // 50 signals stored before: the stream re-sends them (re-uploads, answered `duplicate`).
    let earlier: Vec<Value> = (0..50)
        .map(|n| signal(&plate('P', n), "cash-car-purchase"))
        .collect();
    let (st, v) = b
        .post(
            "/v1/signals",
            token.as_str(),
            &json!({ "signals": earlier }),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let earlier_ids: BTreeSet<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(earlier_ids.len(), 50);

    // Every 10th line a re-upload, every 7th otherwise a repeat of the line before it.
    let mut body = String::new();
    let (mut reuploads, mut repeats) = (0, 0);
    let mut last = String::new();
    for i in 0..LINES {
        let line = if i % 10 == 0 {
            reuploads += 1;
            signal(&plate('P', (i / 10) % 50), "cash-car-purchase").to_string()
        } else if i % 7 == 0 {
            repeats += 1;
            last.clone()
        } else {
            signal(&plate('Q', i), "cash-car-purchase").to_string()
        };
        body.push_str(&line);
        body.push('\n');
        last = line;
    }
    let entries_before = b.audit_of(action::SIGNAL_UPLOAD).await.len();

    let mut waiting = Some(gate.want());
    let upload = {
        let (client, url, token) = (
            b.client.clone(),
            format!("{}/v1/signals/bulk", b.base),
            token.clone(),
        );
        tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        })
    };
    // Each time a piece has committed, the waiting "decision" is served and another one waits.
    let store = b.store().await;
    let mut seen = store.audit().audit_len().await.unwrap();
    let mut polls = 0;
    while !upload.is_finished() {
        let len = store.audit().audit_len().await.unwrap();
        if len > seen {
            seen = len;
            drop(waiting.take());
            waiting = Some(gate.want());
        }
        polls += 1;
        assert!(
            polls < 12_000,
            "the upload did not finish within two minutes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(waiting);
    let (st, v) = upload.await.unwrap();
    assert_eq!(st, 200, "{v}");
    let fresh = LINES - reuploads - repeats;
    assert_eq!(v["stored"], fresh as u64, "{v}");
    assert_eq!(v["duplicates"], (reuploads + repeats) as u64, "{v}");

    let entries = b.audit_of(action::SIGNAL_UPLOAD).await;
    let pieces = &entries[entries_before..];
    assert!(
        pieces.len() >= 2,
        "the chunk was not split: {} entries",
        pieces.len()
    );
    // Every line in exactly one piece's entry.
    let lines: u64 = pieces
        .iter()
        .map(|e| e.detail["signals"].as_u64().unwrap())
        .sum();
    assert_eq!(lines, LINES as u64);
    // An id (a repeat, or a re-upload) is named by one piece only; re-uploads by the first.
    let mut named_in: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for (k, e) in pieces.iter().enumerate() {
        for id in e.detail["ids"].as_array().unwrap() {
            named_in
                .entry(id.as_str().unwrap().to_string())
                .or_default()
                .insert(k);
        }
    }
    assert!(
        named_in.values().all(|pieces| pieces.len() == 1),
        "an id named by two pieces"
    );
    for id in &earlier_ids {
        assert_eq!(
            named_in[id],
            BTreeSet::from([0]),
            "a re-upload outside the first piece"
        );
    }
    assert_eq!(named_in.len(), fresh + earlier_ids.len());
    // The log's ids are the stored ids.
    let mut stored = BTreeSet::new();
    store
        .signals()
        .for_each_live_signal(now(), &mut |r| {
            stored.insert(r.id.to_string());
        })
        .await
        .unwrap();
    let in_log: BTreeSet<String> = entries
        .iter()
        .flat_map(|e| e.detail["ids"].as_array().cloned().unwrap_or_default())
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(in_log, stored);
    assert_eq!(state.index.len(), stored.len());
    drop(store);
    b.stop().await;
}
