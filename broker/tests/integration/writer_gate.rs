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

/// Store-level: decision batches that come while a paced upload holds SQLite's writer ride in
/// the upload's own transaction (`WriterGate`, "Decisions ride along"), and that keeps every
/// promise of both: each decision is committed and answered once with its counters, each
/// piece's entry names exactly what it stored, and a batch that fails inside the upload's
/// transaction fails alone.
mod riding {
    use std::collections::BTreeSet;
    use std::sync::Arc;
    use std::time::Duration;

    use kruispunt_broker::audit::entry::{AuditEntry, Operation};
    use kruispunt_broker::store::{self, Contribution, NewSignal, PieceAudit, Store, UsageDelta};
    use kruispunt_sdk::IdentifierKind;

    const NOW: i64 = 1_750_000_000;
    const ORG: &str = "bank";
    const PURPOSE: &str = "ondermijning-kvo";
    const DAY: &str = "2025-06-17";

    fn signal(n: u32) -> NewSignal {
        let mut stored = [0x5au8; 32];
        stored[..4].copy_from_slice(&n.to_be_bytes());
        NewSignal::new(
            "vastgoed",
            IdentifierKind::Kenteken,
            stored,
            1,
            "cash-purchase-car",
            "2025-06-01",
            "oost-utrecht",
            vec![PURPOSE.into()],
            NOW + 86_400,
            NOW,
        )
    }

    fn usage() -> UsageDelta {
        UsageDelta {
            org: ORG.into(),
            purpose: PURPOSE.into(),
            day: DAY.into(),
            identifiers: 1,
            no_hits: 0,
        }
    }

    fn query(n: usize) -> AuditEntry {
        AuditEntry {
            actor_org: Some(ORG.into()),
            detail: serde_json::json!({ "n": n }),
            ..AuditEntry::new(NOW * 1000 + n as i64, Operation::Disclose, "match.query")
        }
    }

    /// A fresh SQLite file with pacing at every slice.
    async fn store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        let store = store::connect(&url).await.unwrap();
        let gate = store.writer_gate().expect("SQLite has a writer gate");
        gate.set_max_hold(Some(Duration::ZERO));
        assert!(gate.rides(), "riding is the default");
        store
    }

    /// Uploads `batch` paced, in the background; each piece's entry names its members.
    fn upload(
        store: &Arc<dyn Store>,
        batch: Vec<NewSignal>,
    ) -> tokio::task::JoinHandle<Vec<store::InsertOutcome>> {
        let store = store.clone();
        tokio::spawn(async move {
            let named = batch.clone();
            let audit_for = move |members: &[usize], _first: bool| AuditEntry {
                actor_org: Some("vastgoed".into()),
                pseudonyms: members
                    .iter()
                    .map(|&i| hex::encode(named[i].stored))
                    .collect(),
                ..AuditEntry::new(NOW * 1000, Operation::Collect, "signals.upload")
            };
            let audit_for: PieceAudit<'_> = &audit_for;
            store
                .signals()
                .insert_signals_paced(&batch, audit_for)
                .await
                .unwrap()
        })
    }

    /// A fresh SQLite file (in the returned directory) with a paced upload of 40 000 signals
    /// running on it.
    async fn uploading() -> (
        tempfile::TempDir,
        Arc<dyn Store>,
        Vec<NewSignal>,
        tokio::task::JoinHandle<Vec<store::InsertOutcome>>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let batch: Vec<NewSignal> = (0..40_000).map(signal).collect();
        let running = upload(&store, batch.clone());
        (dir, store, batch, running)
    }

    /// Each piece's entry names exactly what it stored, every signal once, all stored; the
    /// tree covers the log.
    async fn upload_is_whole(store: &dyn Store, batch: &[NewSignal]) {
        let entries = kruispunt_test_kit::all_entries(store).await;
        let mut named = BTreeSet::new();
        for (_, e) in entries.iter().filter(|(_, e)| e.action == "signals.upload") {
            for p in &e.pseudonyms {
                assert!(named.insert(p.clone()), "a signal named by two pieces");
            }
        }
        let all: BTreeSet<String> = batch.iter().map(|s| hex::encode(s.stored)).collect();
        assert_eq!(named, all);
        let mut live = 0usize;
        store
            .signals()
            .for_each_live_signal(NOW, &mut |_| live += 1)
            .await
            .unwrap();
        assert_eq!(live, batch.len());
        assert_eq!(
            store.audit().audit_tree_size().await.unwrap(),
            entries.len() as u64
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn decisions_ride_in_the_uploads_transaction_and_keep_their_counters() {
        let (dir, store, batch, running) = uploading().await;
        let gate = store.writer_gate().unwrap();
        let mut seqs = Vec::new();
        while !running.is_finished() {
            seqs.push(
                store
                    .decisions()
                    .record_decision(Some(usage()), &query(seqs.len()))
                    .await
                    .unwrap(),
            );
        }
        let outcomes = running.await.unwrap();
        assert!(
            outcomes
                .iter()
                .all(|o| *o == store::InsertOutcome::Inserted)
        );
        assert!(
            gate.batches_carried() > 0,
            "no decision rode in the upload ({} decisions)",
            seqs.len()
        );
        upload_is_whole(&*store, &batch).await;

        // Every decision answered once, with its own entry, in the order asked.
        let entries = kruispunt_test_kit::all_entries(&*store).await;
        let decided: Vec<u64> = entries
            .iter()
            .filter(|(_, e)| e.action == "match.query")
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(decided, seqs);
        // At least one committed inside the upload: between two of its pieces.
        let action = |s: u64| entries[s as usize].1.action.as_str();
        assert!(
            seqs.iter().any(|&s| s > 0
                && action(s - 1) == "signals.upload"
                && (s as usize + 1) < entries.len()
                && action(s + 1) == "signals.upload"),
            "no decision between two pieces"
        );
        // The counters the match path reads (the writer's mirror) are the committed ones.
        let mirrored = store.decisions().usage(ORG, PURPOSE, DAY).await.unwrap();
        assert_eq!(mirrored.queries, seqs.len() as u64);
        assert_eq!(mirrored.identifiers, seqs.len() as u64);
        drop(store);
        let reopened = store::connect(&format!("sqlite://{}", dir.path().join("k.db").display()))
            .await
            .unwrap();
        let committed = reopened.decisions().usage(ORG, PURPOSE, DAY).await.unwrap();
        assert_eq!(committed, mirrored);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_that_fails_inside_the_uploads_transaction_fails_alone() {
        let (_dir, store, batch, running) = uploading().await;
        let gate = store.writer_gate().unwrap();
        // A contribution to a case that is not registered: the foreign key refuses it.
        let nowhere = Contribution {
            case_reference: "GEEN-ZAAK".into(),
            org: "vastgoed".into(),
            signal: [1; 8],
            disclosed_at: NOW,
            embargo_until: None,
        };
        let mut refused = 0;
        while !running.is_finished() {
            let r = store
                .decisions()
                .record_decision_within_budget(
                    usage(),
                    1_000_000,
                    &query(refused),
                    vec![nowhere.clone()],
                )
                .await;
            assert!(r.is_err(), "a contribution to no case was committed");
            refused += 1;
        }
        let outcomes = running.await.expect("the upload went on");
        assert!(
            outcomes
                .iter()
                .all(|o| *o == store::InsertOutcome::Inserted)
        );
        assert!(
            gate.batches_carried() > 0,
            "no failing batch rode in the upload ({refused} tried)"
        );
        upload_is_whole(&*store, &batch).await;
        let entries = kruispunt_test_kit::all_entries(&*store).await;
        assert!(entries.iter().all(|(_, e)| e.action == "signals.upload"));
        let usage = store.decisions().usage(ORG, PURPOSE, DAY).await.unwrap();
        assert_eq!(usage.queries, 0, "a failed batch's counters were committed");
    }
}
