//! Several brokers on one PostgreSQL database (issue 17): three real `kruispunt serve`
//! processes on one fresh database, each on its own copy of one data directory (the same
//! configuration and keys), take uploads, matches and withdrawals in turn; one of them is killed
//! with SIGKILL while requests are in flight and started again. Afterwards:
//!
//! - every acknowledged upload is stored once (a retry through another broker after the kill is
//!   answered `duplicate` with the original id, or stores it if the first never committed), and
//!   a withdrawal acknowledged by any broker removed it;
//! - a file re-sent through another broker is answered `duplicate` with the original ids, and
//!   one sent through two brokers at the same moment is stored once;
//! - every answered match has its audit entry (its `audit_seq` names an entry of the requester);
//! - every broker's match index equals the database's live signals (`/readyz`'s count and
//!   digest against the database's), and every broker says ready;
//! - the log verifies, and every checkpoint any client saw from any broker is consistent with
//!   the final one — proved by another broker than the one that served it.
//!
//! Runs whenever `KRUISPUNT_TEST_POSTGRES_URL` is set (as `.ci/run` sets it); skipped with a
//! note otherwise (SQLite is one process by design). The load, the clients' retries and the
//! checks afterwards are shared with the database restart test (`pg_restart`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use crate::audit_common::*;
use kruispunt_broker::matching::index::id_digest;
use kruispunt_broker::store::Store;
use kruispunt_sdk::transparency::{LogVerifier, open_checkpoint};
use kruispunt_test_kit::{Options, TestDatabase};
use serde_json::{Value, json};

/// Rounds of load; the kill comes in round [`KILL_ROUND`], the restart two rounds later.
const ROUNDS: usize = 24;
const KILL_ROUND: usize = 10;
/// The broker killed.
const VICTIM: usize = 1;

pub(crate) fn bin() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_kruispunt"))
}

pub(crate) fn plate(n: usize) -> String {
    format!("MB-{n:03}-X")
}

fn upload_body(plates: &[String]) -> Value {
    json!({ "signals": plates.iter().map(|p| signal(p, "cash-car-purchase")).collect::<Vec<_>>() })
}

fn query(p: &str) -> Value {
    json!({ "purpose": PURPOSE, "level": "hit",
            "identifiers": [{ "kind": "kenteken", "pseudonym": pseudonym(p), "key_version": 1 }] })
}

/// What the clients were answered.
#[derive(Default)]
pub(crate) struct Seen {
    /// (org, plate) → the id an upload answered (stored or duplicate).
    pub(crate) uploads: BTreeMap<(String, String), String>,
    /// Ids whose withdrawal was answered 200.
    pub(crate) withdrawn: BTreeSet<String>,
    /// Ids whose withdrawal got no answer or an error (the broker was killed, the database went
    /// away): withdrawn or not, either is right.
    pub(crate) unsure: BTreeSet<String>,
    /// Audit sequence numbers of answered matches.
    pub(crate) matches: Vec<u64>,
    /// Checkpoint notes served, with the broker that served each.
    pub(crate) checkpoints: Vec<(usize, String)>,
}

/// Rounds of trying every broker in turn before [`upload`] gives up: a bound on waiting (a
/// minute on a loaded machine, for a database that is restarting), not a timing the test asserts.
const UPLOAD_TRIES: usize = 300;

/// Uploads `p` for `org` through broker `via`; on a failed request (the broker is down or was
/// killed mid-request, or answered 503 because its database is) retries through the next
/// brokers, and again after a pause when none took it, as a partner's client does. Records the
/// id answered.
pub(crate) async fn upload(brokers: &[Broker], seen: &mut Seen, org: &str, p: &str, via: usize) {
    for _ in 0..UPLOAD_TRIES {
        for k in 0..brokers.len() {
            let b = &brokers[(via + k) % brokers.len()];
            let t = b.token(org, &["compliance"]);
            let Ok(r) = b
                .client
                .post(format!("{}/v1/signals", b.base))
                .bearer_auth(&t)
                .json(&upload_body(&[p.to_string()]))
                .send()
                .await
            else {
                continue;
            };
            if r.status() != 200 {
                continue;
            }
            let Ok(v) = r.json::<Value>().await else {
                continue;
            };
            let id = v["results"][0]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{v}"))
                .to_string();
            if let Some(before) = seen.uploads.get(&(org.into(), p.into())) {
                assert_eq!(&id, before, "a re-sent upload answers the original id");
            }
            seen.uploads.insert((org.into(), p.into()), id);
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no broker took the upload");
}

/// Asks for a hit on `p` as dealer C through broker `via`; `None` if that broker did not answer
/// the match (no answer, or an error status).
pub(crate) async fn ask(b: &Broker, seen: &mut Seen, p: &str) -> Option<bool> {
    let t = b.token(DEALER_C, &["compliance"]);
    let r = b
        .client
        .post(format!("{}/v1/matches", b.base))
        .bearer_auth(&t)
        .json(&query(p))
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    let v: Value = r.json().await.ok()?;
    let seq = v["audit_seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("a match answer names its entry: {v}"));
    seen.matches.push(seq);
    Some(v["results"][0]["hit"].as_bool().unwrap())
}

/// Withdraws dealer A's signal of `p` through `b`; records it when answered 200, as unsure
/// when not answered or answered with an error.
pub(crate) async fn withdraw(b: &Broker, seen: &mut Seen, p: &str) {
    let id = seen.uploads[&(DEALER_A.to_string(), p.to_string())].clone();
    let t = b.token(DEALER_A, &["compliance"]);
    let answered = b
        .client
        .delete(format!("{}/v1/signals/{id}", b.base))
        .bearer_auth(&t)
        .send()
        .await;
    match answered {
        Ok(r) if r.status() == 200 => seen.withdrawn.insert(id),
        _ => seen.unsure.insert(id),
    };
}

pub(crate) async fn checkpoint(b: &Broker) -> Option<String> {
    let r = b
        .client
        .get(format!("{}/v1/audit/checkpoint", b.base))
        .send()
        .await
        .ok()?;
    (r.status() == 200).then_some(r.text().await.ok()?)
}

/// The database's live signals: how many and their digest (as the index computes it).
pub(crate) async fn live(store: &dyn Store) -> (u64, u64) {
    let mut digest = 0u64;
    let n = store
        .signals()
        .for_each_live_signal(kruispunt_test_kit::now(), &mut |r| {
            digest = digest.wrapping_add(id_digest(&r.id));
        })
        .await
        .unwrap();
    (n, digest)
}

/// Waits until every broker is ready and its index equals the database's live signals.
/// A bound on waiting (a minute on a loaded machine), not a timing the test asserts.
pub(crate) async fn settled(brokers: &[Broker], store: &dyn Store) {
    let (n, digest) = live(store).await;
    let want = format!("{digest:016x}");
    let mut last = Vec::new();
    for _ in 0..600 {
        last.clear();
        for b in brokers {
            let r = b.get("/readyz", None::<&str>).await;
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            last.push((status, v));
        }
        if last.iter().all(|(status, v)| {
            *status == 200 && v["signals_indexed"] == n && v["index_digest"] == want.as_str()
        }) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the brokers' indexes never equalled the database's {n} live signals ({want}): {last:?}"
    );
}

/// Round `round` of the load, with `fault` (a kill, a database restart, or nothing) happening
/// while its uploads are in flight: dealers A and B upload the round's plate through two
/// brokers, dealer C asks for the previous round's plate through the third, and every other
/// round A withdraws the plate of two rounds ago through yet another; every broker's checkpoint
/// is read.
pub(crate) async fn load_round(
    brokers: &[Broker],
    seen: &mut Seen,
    round: usize,
    fault: impl std::future::Future<Output = ()>,
) {
    let n = brokers.len();
    let p = plate(round);
    let mut mine = Seen::default();
    let work = async {
        upload(brokers, &mut mine, DEALER_A, &p, round % n).await;
        upload(brokers, &mut mine, DEALER_B, &p, (round + 1) % n).await;
    };
    tokio::join!(fault, work);
    seen.uploads.append(&mut mine.uploads);
    if round >= 1 {
        let _ = ask(&brokers[(round + 2) % n], seen, &plate(round - 1)).await;
    }
    if round >= 2 && round.is_multiple_of(2) {
        withdraw(&brokers[(round + 1) % n], seen, &plate(round - 2)).await;
    }
    for (i, b) in brokers.iter().enumerate() {
        if let Some(note) = checkpoint(b).await {
            seen.checkpoints.push((i, note));
        }
    }
}

/// What must hold after `rounds` rounds of [`load_round`] and whatever fault, on `store`, the
/// brokers' one database (`also`: ids acknowledged outside the rounds):
///
/// - every index equals the database's live signals, through every broker: a plate both
///   dealers hold and A never withdrew is a hit, one A withdrew is not, asked through each;
/// - every acknowledged upload is stored once, every acknowledged withdrawal removed it, and
///   nothing is stored beyond what was acknowledged;
/// - every answered match has its entry;
/// - every checkpoint any broker served is consistent with the final one, proved by another
///   broker, and the whole log, as the operator exports it, verifies against the final one.
pub(crate) async fn assert_survived(
    brokers: &[Broker],
    store: &dyn Store,
    seen: &mut Seen,
    rounds: usize,
    also: &BTreeSet<String>,
) {
    settled(brokers, store).await;
    let kept = plate(rounds - 1);
    let gone = plate(2);
    assert!(
        seen.withdrawn
            .contains(&seen.uploads[&(DEALER_A.into(), gone.clone())]),
        "the withdrawal of {gone} was answered"
    );
    for b in brokers {
        assert_eq!(ask(b, seen, &kept).await, Some(true));
        assert_eq!(ask(b, seen, &gone).await, Some(false));
    }

    // Every acknowledged upload is stored once; every acknowledged withdrawal removed it.
    let mut stored: BTreeSet<String> = BTreeSet::new();
    let mut per_source: HashMap<(String, [u8; 32]), usize> = HashMap::new();
    store
        .signals()
        .for_each_live_signal(kruispunt_test_kit::now(), &mut |r| {
            stored.insert(r.id.to_string());
            *per_source.entry((r.org.clone(), r.stored)).or_default() += 1;
        })
        .await
        .unwrap();
    for ((org, p), id) in &seen.uploads {
        if seen.unsure.contains(id) {
            continue;
        }
        let want = !seen.withdrawn.contains(id);
        assert_eq!(stored.contains(id), want, "{org} {p} {id}");
    }
    assert!(
        per_source.values().all(|&n| n == 1),
        "no source holds a pseudonym twice"
    );
    let acknowledged: BTreeSet<&String> = seen.uploads.values().chain(also).collect();
    let beyond: Vec<&String> = stored
        .iter()
        .filter(|id| !acknowledged.contains(id))
        .collect();
    assert!(
        beyond.is_empty(),
        "nothing stored beyond what was acknowledged: {beyond:?}"
    );

    // Every answered match has its entry.
    for &seq in &seen.matches {
        let e = store.audit().audit_entries(seq, seq + 1).await.unwrap();
        assert_eq!(e.len(), 1, "entry {seq}");
        assert_eq!(e[0].1.action, "match", "entry {seq}");
        assert_eq!(e[0].1.actor_org.as_deref(), Some(DEALER_C), "entry {seq}");
    }

    // Checkpoints: every broker publishes the whole tree; each checkpoint any broker served is
    // consistent with the final one, proved by another broker.
    for b in brokers {
        b.sync().await;
    }
    let key = brokers[0]
        .get("/v1/audit/key", None::<&str>)
        .await
        .text()
        .await
        .unwrap();
    let final_note = checkpoint(&brokers[2]).await.unwrap();
    let (last, _) = open_checkpoint(&final_note, &key).unwrap();
    let tc = brokers[0].token(DEALER_C, &["compliance"]);
    assert!(seen.checkpoints.len() >= rounds * 2);
    let mut sizes = BTreeSet::new();
    let mut before = 0;
    for (served_by, note) in &seen.checkpoints {
        let (cp, _) = open_checkpoint(note, &key).unwrap();
        assert!(cp.size <= last.size);
        // Read one after another from the three brokers in turn: a verifier holding one
        // broker's checkpoint is never handed a smaller one by the next.
        assert!(
            cp.size >= before,
            "broker {served_by} served {} entries after another served {before}",
            cp.size
        );
        before = cp.size;
        sizes.insert(cp.size);
        if cp.size == 0 {
            continue;
        }
        let prover = &brokers[(served_by + 1) % brokers.len()];
        let v: Value = prover
            .get(
                &format!(
                    "/v1/audit/proof/consistency?first={}&second={}",
                    cp.size, last.size
                ),
                Some(&tc),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_served_consistency(&v, &cp, &last);
    }
    eprintln!(
        "{} checkpoints seen ({} sizes), final tree {}, {} uploads, {} withdrawals ({} unsure), \
         {} matches",
        seen.checkpoints.len(),
        sizes.len(),
        last.size,
        seen.uploads.len(),
        seen.withdrawn.len(),
        seen.unsure.len(),
        seen.matches.len()
    );

    // The whole log, as the operator exports it, verifies against the final checkpoint.
    let work = tempfile::tempdir().unwrap();
    let export = work.path().join("export");
    let lines = export_and_verify(brokers[0].data_dir(), &export);
    let exported = std::fs::read_to_string(export.join("checkpoint")).unwrap();
    let (exported, _) = open_checkpoint(&exported, &key).unwrap();
    let mut verifier = LogVerifier::new(Some(last.clone()));
    for line in &lines {
        verifier.push(line).unwrap();
    }
    verifier.finish(&exported).unwrap();
}

/// Stops the brokers, the first (which owns the database) last.
pub(crate) async fn stop_all(brokers: Vec<Broker>) {
    let mut brokers = brokers.into_iter();
    let owner = brokers.next().unwrap();
    for b in brokers {
        b.stop().await;
    }
    owner.stop().await;
}

/// Three `kruispunt serve` processes on `db`: the first on a fresh data directory, the others
/// on copies of it (the same configuration and keys), as an operator adds brokers.
pub(crate) async fn three_serve_processes(db: TestDatabase) -> Vec<Broker> {
    let opts = Options {
        serve: Some(bin()),
        unlimited: true,
        ..Options::default()
    };
    let first = Broker::start_on(db, opts).await;
    let second = first.serve_copy().await;
    let third = first.serve_copy().await;
    vec![first, second, third]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_brokers_on_one_database_survive_a_kill() {
    let Some(db) = TestDatabase::create("multibroker").await else {
        eprintln!(
            "SKIPPED three_brokers_on_one_database_survive_a_kill: several brokers need \
             PostgreSQL; set KRUISPUNT_TEST_POSTGRES_URL (SQLite is one process by design)"
        );
        return;
    };
    let mut brokers = three_serve_processes(db).await;
    let store = brokers[0].store().await;
    let mut seen = Seen::default();

    // Re-upload recognition across brokers: a file stored through one broker and re-sent
    // through another is answered `duplicate`, with the original ids.
    let file: Vec<String> = (900..905).map(plate).collect();
    let ta = brokers[0].token(DEALER_A, &["compliance"]);
    let (st, v, _) = brokers[0]
        .post_typed("/v1/signals", Some(&ta), &upload_body(&file))
        .await;
    assert_eq!((st, v["stored"].as_u64()), (200, Some(5)), "{v}");
    let ids = |v: &Value| -> Vec<String> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let original = ids(&v);
    settled(&brokers, &*store).await;
    let (st, again, _) = brokers[2]
        .post_typed("/v1/signals", Some(&ta), &upload_body(&file))
        .await;
    assert_eq!(st, 200, "{again}");
    assert_eq!(
        (again["stored"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(5)),
        "re-sent through another broker: {again}"
    );
    assert_eq!(ids(&again), original);
    // The same file sent at the same moment through two brokers is stored once: within one
    // second the database's unique id makes the later one a duplicate (ids carry the upload
    // second); across a second's boundary the organisation's upload lock, which holds across
    // brokers, orders them so the later one finds the first in its index.
    let twice: Vec<String> = (950..960).map(plate).collect();
    let body = upload_body(&twice);
    let ((st1, one, _), (st2, two, _)) = tokio::join!(
        brokers[0].post_typed("/v1/signals", Some(&ta), &body),
        brokers[1].post_typed("/v1/signals", Some(&ta), &body),
    );
    assert_eq!((st1, st2), (200, 200), "{one} {two}");
    assert_eq!(
        one["stored"].as_u64().unwrap() + two["stored"].as_u64().unwrap(),
        10,
        "{one} {two}"
    );
    assert_eq!(ids(&one), ids(&two));

    // The load, with the kill in round KILL_ROUND while its uploads are in flight, and the
    // restart two rounds later.
    let mut victim_pid = None;
    for round in 0..ROUNDS {
        if round == KILL_ROUND {
            victim_pid = brokers[VICTIM].pid();
        }
        let kill = async {
            if round == KILL_ROUND {
                // While this round's requests are in flight: SIGKILL, no clean stop.
                let pid = victim_pid.expect("the victim runs").to_string();
                let status = std::process::Command::new("kill")
                    .args(["-KILL", &pid])
                    .status()
                    .unwrap();
                assert!(status.success());
            }
        };
        load_round(&brokers, &mut seen, round, kill).await;
        if round == KILL_ROUND + 2 {
            let victim = brokers.remove(VICTIM);
            brokers.insert(VICTIM, victim.restart().await);
        }
    }

    // Re-upload through the restarted broker of a plate stored through another.
    upload(&brokers, &mut seen, DEALER_B, &plate(ROUNDS - 1), VICTIM).await;
    let also: BTreeSet<String> = original.iter().chain(&ids(&one)).cloned().collect();
    assert_survived(&brokers, &*store, &mut seen, ROUNDS, &also).await;
    stop_all(brokers).await;
}
