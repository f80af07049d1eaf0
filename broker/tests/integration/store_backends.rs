//! The storage layer's behaviour, written once and run on both backends: SQLite (a fresh file per
//! test) and PostgreSQL (a fresh database per test, created through the server named by
//! `KRUISPUNT_TEST_POSTGRES_URL` and dropped afterwards). Without that variable the PostgreSQL
//! tests say so loudly and pass, so a plain `cargo test` works anywhere; CI sets it.

use kruispunt_broker::audit::entry::{AuditEntry, Operation};
use kruispunt_broker::store::postgres::PostgresStore;
use kruispunt_broker::store::{
    self, BudgetRelease, Charge, DecisionStore, IndexRecord, InsertOutcome, NewSignal, SignalId,
    Store, StoreError, StoredSignal, Usage, UsageDelta,
};
use kruispunt_sdk::IdentifierKind;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;

kruispunt_test_kit::on_both_backends!(
    insert_then_reupload_is_duplicate,
    partial_duplicates_in_one_batch,
    invalid_signal_writes_nothing,
    withdraw_only_by_supplier,
    expiry_hides_and_purge_erases_with_audit,
    find_signals_never_crosses_kind_or_key_version,
    rows_are_read_by_id_prefix_in_either_id_form,
    usage_counters_add_up,
    audit_sequence_is_gapless_under_concurrent_appenders,
    audit_entries_round_trip_byte_for_byte,
    for_each_live_signal_streams_every_live_signal,
    concurrent_overlapping_uploads_store_each_signal_once,
    budget_is_never_overspent_by_concurrent_decisions,
    a_failing_batch_fails_every_caller_and_commits_nothing,
    awkward_text_round_trips_on_fresh_and_repeated_uploads,
    privacy_budget_is_charged_once_per_question_and_snapshot,
    privacy_budget_is_never_overspent_by_concurrent_releases,
    cases_are_opened_once_moved_by_compare_and_set_and_read_by_participant,
    consents_are_withdrawn_once_and_only_by_their_issuer,
    signal_feed_records_every_change_in_commit_order,
    case_moments_and_contributions_are_written_with_their_entries,
    a_decision_commits_between_the_pieces_of_a_paced_upload,
);

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const NOW: i64 = 1_750_000_000;
const RIEC: &str = "riec-midden-nederland";
const DAY: i64 = 86_400;

/// A distinct at-rest pseudonym per `n`.
fn stored(n: u32) -> [u8; 32] {
    let mut s = [0xa5u8; 32];
    s[..4].copy_from_slice(&n.to_be_bytes());
    s
}

fn signal(org: &str, n: u32, expires_at: i64) -> NewSignal {
    signal_with(org, IdentifierKind::Kenteken, 1, n, expires_at)
}

fn signal_with(
    org: &str,
    kind: IdentifierKind,
    key_version: u32,
    n: u32,
    expires_at: i64,
) -> NewSignal {
    NewSignal::new(
        org,
        kind,
        stored(n),
        key_version,
        "cash-purchase-car",
        "2025-06-01",
        "oost-utrecht",
        vec!["ondermijning-kvo".into(), "bibob".into()],
        expires_at,
        NOW,
    )
}

fn upload_entry(org: &str, signals: &[NewSignal]) -> AuditEntry {
    AuditEntry {
        actor_org: Some(org.into()),
        pseudonyms: signals.iter().map(|s| hex::encode(s.stored)).collect(),
        detail: serde_json::json!({ "count": signals.len() }),
        ..AuditEntry::new(NOW * 1000, Operation::Collect, "signals.upload")
    }
}

/// Uploads `batch` as `org`, with its upload entry: the outcome per signal.
async fn upload(store: &dyn Store, org: &str, batch: &[NewSignal]) -> Vec<InsertOutcome> {
    store
        .signals()
        .insert_signals(batch, &upload_entry(org, batch))
        .await
        .unwrap()
}

fn entry(action: &str, n: usize) -> AuditEntry {
    AuditEntry {
        detail: serde_json::json!({ "n": n }),
        ..AuditEntry::new(NOW * 1000 + n as i64, Operation::Refuse, action)
    }
}

use kruispunt_test_kit::all_entries;

/// The live signals with one of the `stored` pseudonyms of this kind and key version, read
/// the way the broker reads them: the ids from the index scan, the rows by id prefix.
async fn find(
    store: &dyn Store,
    kind: IdentifierKind,
    key_version: u32,
    stored: &[[u8; 32]],
    now: i64,
) -> Vec<StoredSignal> {
    let mut prefixes = Vec::new();
    store
        .signals()
        .for_each_live_signal(now, &mut |r| {
            if r.kind == kind && r.key_version == key_version && stored.contains(&r.stored) {
                prefixes.push(r.id.prefix8());
            }
        })
        .await
        .unwrap();
    let mut rows = store
        .signals()
        .signals_by_id_prefix(&prefixes)
        .await
        .unwrap();
    rows.retain(|s| {
        s.kind == kind
            && s.key_version == key_version
            && stored.contains(&s.stored)
            && s.expires_at > now
    });
    rows
}

async fn count_live(store: &dyn Store, now: i64) -> u64 {
    store
        .signals()
        .for_each_live_signal(now, &mut |_| {})
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

async fn insert_then_reupload_is_duplicate(store: Arc<dyn Store>) {
    let batch: Vec<NewSignal> = (0..3).map(|n| signal("kvo-oost", n, NOW + DAY)).collect();
    let first = upload(&*store, "kvo-oost", &batch).await;
    assert_eq!(first, vec![InsertOutcome::Inserted; 3]);
    let again = upload(&*store, "kvo-oost", &batch).await;
    assert_eq!(again, vec![InsertOutcome::Duplicate; 3]);
    assert_eq!(count_live(&*store, NOW).await, 3, "no second row");

    // Both attempts are audited, in order.
    let entries = all_entries(&*store).await;
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].0, 0);
    assert_eq!(entries[1].0, 1);
    assert_eq!(entries[0].1, upload_entry("kvo-oost", &batch));

    // What is stored is what was sent.
    let found = find(&*store, IdentifierKind::Kenteken, 1, &[stored(1)], NOW).await;
    assert_eq!(found, vec![StoredSignal::from(batch[1].clone())]);
}

/// Text the bulk paths must carry exactly (PostgreSQL's COPY text and array literals, SQLite's
/// JSON chunk): quotes, backslashes, commas, braces, spaces, `NULL`, non-ASCII — through the
/// path of a fresh upload and through the path of a batch that repeats a stored signal.
async fn awkward_text_round_trips_on_fresh_and_repeated_uploads(store: Arc<dyn Store>) {
    let awkward = |n: u32, purposes: &[&str]| {
        NewSignal::new(
            r#"org "q" \ x"#,
            IdentifierKind::Iban,
            stored(n),
            1,
            r"code\N,{x}",
            "2024-02-29",
            "district é ✓ \\",
            purposes.iter().map(|p| p.to_string()).collect(),
            NOW + DAY,
            NOW,
        )
    };
    let first = awkward(
        1,
        &[
            r#"a "quoted", {braced}"#,
            r"back\slash\",
            "NULL",
            " spaced ",
        ],
    );
    let batch = [first.clone()];
    let outcomes = upload(&*store, "x", &batch).await;
    assert_eq!(outcomes, vec![InsertOutcome::Inserted]);
    let second = awkward(2, &[r#"\""#, "{}", ",", "ü"]);
    let mixed = [first.clone(), second.clone()];
    let outcomes = upload(&*store, "x", &mixed).await;
    assert_eq!(
        outcomes,
        vec![InsertOutcome::Duplicate, InsertOutcome::Inserted]
    );
    let mut found = find(
        &*store,
        IdentifierKind::Iban,
        1,
        &[stored(1), stored(2)],
        NOW,
    )
    .await;
    found.sort_by_key(|s| s.stored);
    assert_eq!(
        found,
        vec![StoredSignal::from(first), StoredSignal::from(second)]
    );
}

async fn partial_duplicates_in_one_batch(store: Arc<dyn Store>) {
    let a = signal("horeca", 1, NOW + DAY);
    let b = signal("horeca", 2, NOW + DAY);
    let c = signal("horeca", 3, NOW + DAY);
    let d = signal("horeca", 4, NOW + DAY);
    let first = [a.clone(), b.clone()];
    upload(&*store, "horeca", &first).await;
    let mixed = [b, c.clone(), c, a, d];
    let outcomes = upload(&*store, "horeca", &mixed).await;
    use InsertOutcome::{Duplicate, Inserted};
    assert_eq!(
        outcomes,
        vec![Duplicate, Inserted, Duplicate, Duplicate, Inserted]
    );
    assert_eq!(count_live(&*store, NOW).await, 4);
}

async fn invalid_signal_writes_nothing(store: Arc<dyn Store>) {
    let good = signal("kvo-oost", 1, NOW + DAY);
    let mut forged = signal("kvo-oost", 2, NOW + DAY);
    forged.id = SignalId([0; 16]);
    let batch = [good, forged];
    let err = store
        .signals()
        .insert_signals(&batch, &upload_entry("kvo-oost", &batch))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid(ref m) if m.contains("signal 1")),
        "{err}"
    );
    assert!(!err.is_unavailable());
    assert_eq!(count_live(&*store, NOW).await, 0);
    assert_eq!(store.audit().audit_len().await.unwrap(), 0);
}

async fn withdraw_only_by_supplier(store: Arc<dyn Store>) {
    let s = signal("autobranche", 7, NOW + DAY);
    upload(&*store, "autobranche", std::slice::from_ref(&s)).await;
    let withdraw = |org: &str| AuditEntry {
        actor_org: Some(org.into()),
        detail: serde_json::json!({ "signal": s.id.to_string() }),
        ..AuditEntry::new(NOW * 1000, Operation::Erase, "signal.withdraw")
    };

    // `org` withdraws the signal, with its entry.
    let withdraw_as = async |org: &str| {
        store
            .signals()
            .withdraw_signal(org, s.id, &withdraw(org))
            .await
            .unwrap()
    };

    // Another organisation cannot withdraw it, and the attempt writes no entry here (the HTTP
    // layer records the refusal itself).
    let by_other = withdraw_as("horeca").await;
    assert_eq!(by_other, None);
    assert_eq!(store.audit().audit_len().await.unwrap(), 1);
    assert_eq!(count_live(&*store, NOW).await, 1);

    let by_owner = withdraw_as("autobranche").await;
    assert_eq!(by_owner, Some(StoredSignal::from(s.clone())));
    assert_eq!(count_live(&*store, NOW).await, 0);
    let entries = all_entries(&*store).await;
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].1, withdraw("autobranche"));

    // Gone: a second withdrawal finds nothing.
    let again = withdraw_as("autobranche").await;
    assert_eq!(again, None);
    assert_eq!(store.audit().audit_len().await.unwrap(), 2);
}

async fn expiry_hides_and_purge_erases_with_audit(store: Arc<dyn Store>) {
    let batch = [
        signal("vastgoed", 1, NOW + 100),
        signal("vastgoed", 2, NOW + 200),
        signal("vastgoed", 3, NOW + 300),
    ];
    upload(&*store, "vastgoed", &batch).await;
    let all = [stored(1), stored(2), stored(3)];

    // Expired signals are never returned, even before the purge ran.
    let at_150 = find(&*store, IdentifierKind::Kenteken, 1, &all, NOW + 150).await;
    let ids: BTreeSet<SignalId> = at_150.iter().map(|s| s.id).collect();
    assert_eq!(ids, BTreeSet::from([batch[1].id, batch[2].id]));
    assert_eq!(count_live(&*store, NOW + 150).await, 2);

    // `expires_at == now` counts as expired (live means now < expires_at).
    let audit_for = |purged: &[StoredSignal]| AuditEntry {
        pseudonyms: purged.iter().map(|s| hex::encode(s.stored)).collect(),
        source_orgs: purged.iter().map(|s| s.org.clone()).collect(),
        detail: serde_json::json!({ "count": purged.len() }),
        ..AuditEntry::new((NOW + 200) * 1000, Operation::Erase, "retention.purge")
    };
    let purged = store
        .signals()
        .purge_expired(NOW + 200, &audit_for)
        .await
        .unwrap();
    let ids: BTreeSet<SignalId> = purged.iter().map(|s| s.id).collect();
    assert_eq!(ids, BTreeSet::from([batch[0].id, batch[1].id]));
    assert_eq!(count_live(&*store, 0).await, 1, "purged rows are gone");

    let entries = all_entries(&*store).await;
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].1, audit_for(&purged));
    assert_eq!(entries[1].1.pseudonyms.len(), 2);

    // Nothing more to purge: no rows, no entry.
    let none = store
        .signals()
        .purge_expired(NOW + 200, &audit_for)
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(store.audit().audit_len().await.unwrap(), 2);
}

async fn find_signals_never_crosses_kind_or_key_version(store: Arc<dyn Store>) {
    let batch = [
        signal_with("kvo-oost", IdentifierKind::Kenteken, 1, 1, NOW + DAY),
        signal_with("kvo-oost", IdentifierKind::Kenteken, 2, 1, NOW + DAY),
        signal_with("kvo-oost", IdentifierKind::Kvk, 1, 1, NOW + DAY),
        signal_with("horeca", IdentifierKind::Kenteken, 1, 1, NOW + DAY),
        signal_with("horeca", IdentifierKind::Kenteken, 1, 2, NOW + DAY),
    ];
    upload(&*store, "kvo-oost", &batch).await;
    let plates = async |key_version: u32, pseudonyms: &[[u8; 32]]| {
        find(
            &*store,
            IdentifierKind::Kenteken,
            key_version,
            pseudonyms,
            NOW,
        )
        .await
    };
    let found = plates(1, &[stored(1), stored(99)]).await;
    let ids: BTreeSet<SignalId> = found.iter().map(|s| s.id).collect();
    assert_eq!(ids, BTreeSet::from([batch[0].id, batch[3].id]));
    let v2 = plates(2, &[stored(1), stored(2)]).await;
    assert_eq!(v2, vec![StoredSignal::from(batch[1].clone())]);
    let none = find(&*store, IdentifierKind::Iban, 1, &[stored(1)], NOW).await;
    assert!(none.is_empty());
    // More pseudonyms than fit one SQLite IN list.
    let many: Vec<[u8; 32]> = (0..1200).map(stored).collect();
    let found = plates(1, &many).await;
    assert_eq!(found.len(), 3);
}

/// The read behind match details and re-upload checks: every row whose id begins with one of
/// the prefixes, expired or not, time-ordered and legacy (`id == digest`) ids alike.
async fn rows_are_read_by_id_prefix_in_either_id_form(store: Arc<dyn Store>) {
    let timed = signal("kvo-oost", 1, NOW + DAY);
    let expired = signal("kvo-oost", 2, NOW - DAY);
    let mut legacy = signal("kvo-oost", 3, NOW + DAY);
    legacy.id = SignalId::legacy(&legacy.digest);
    let other = signal("horeca", 1, NOW + DAY);
    let batch = [
        timed.clone(),
        expired.clone(),
        legacy.clone(),
        other.clone(),
    ];
    let outcomes = upload(&*store, "kvo-oost", &batch).await;
    assert_eq!(outcomes, vec![InsertOutcome::Inserted; 4]);
    assert_eq!(
        timed.id.0[..4],
        (NOW as u32).to_be_bytes(),
        "time-ordered id"
    );
    assert!(timed.id.is_of(&timed.digest) && legacy.id.is_of(&legacy.digest));

    let by = |ids: &[SignalId]| {
        let store = store.clone();
        let prefixes: Vec<[u8; 8]> = ids.iter().map(SignalId::prefix8).collect();
        async move {
            let mut rows = store
                .signals()
                .signals_by_id_prefix(&prefixes)
                .await
                .unwrap();
            rows.sort_by_key(|s| s.id);
            rows
        }
    };
    let mut want = vec![
        StoredSignal::from(timed.clone()),
        StoredSignal::from(expired.clone()),
        StoredSignal::from(legacy.clone()),
    ];
    want.sort_by_key(|s| s.id);
    // Repeated prefixes return each row once.
    assert_eq!(by(&[timed.id, expired.id, legacy.id, timed.id]).await, want);
    assert_eq!(by(&[other.id]).await, vec![StoredSignal::from(other)]);
    assert!(by(&[SignalId([0x42; 16])]).await.is_empty());
    assert!(
        store
            .signals()
            .signals_by_id_prefix(&[])
            .await
            .unwrap()
            .is_empty()
    );
    // The same content uploaded a second later has another id: the store stores it (the upload
    // path is what recognises it, see api_broker), and a repeat of the same id is a duplicate.
    let later = NewSignal::new(
        timed.org.clone(),
        timed.kind,
        timed.stored,
        timed.key_version,
        timed.code.clone(),
        timed.observed.clone(),
        timed.district.clone(),
        timed.purposes.clone(),
        timed.expires_at,
        NOW + 1,
    );
    assert_eq!(later.digest, timed.digest);
    assert_ne!(later.id, timed.id);
    let again = [timed.clone(), later.clone()];
    let outcomes = upload(&*store, "kvo-oost", &again).await;
    assert_eq!(
        outcomes,
        vec![InsertOutcome::Duplicate, InsertOutcome::Inserted]
    );
    // An empty batch writes its audit entry only.
    let before = store.audit().audit_len().await.unwrap();
    let none = upload(&*store, "kvo-oost", &[]).await;
    assert!(none.is_empty());
    assert_eq!(store.audit().audit_len().await.unwrap(), before + 1);
}

async fn usage_counters_add_up(store: Arc<dyn Store>) {
    let delta = |identifiers, no_hits| UsageDelta {
        org: "politie-mn".into(),
        purpose: "ondermijning".into(),
        day: "2025-06-02".into(),
        identifiers,
        no_hits,
    };
    let decision = |n| AuditEntry {
        actor_org: Some("politie-mn".into()),
        purpose: Some("ondermijning".into()),
        case_reference: Some("MN-2025-001".into()),
        decision: Some("allow".into()),
        ..AuditEntry::new(NOW * 1000 + n, Operation::Consult, "match")
    };
    let record = async |delta: Option<UsageDelta>, n: i64| {
        store
            .decisions()
            .record_decision(delta, &decision(n))
            .await
            .unwrap()
    };
    let usage = async |org: &str, purpose: &str, day: &str| {
        store.decisions().usage(org, purpose, day).await.unwrap()
    };
    let s0 = record(Some(delta(10, 7)), 0).await;
    let s1 = record(Some(delta(5, 5)), 1).await;
    let s2 = record(None, 2).await;
    assert_eq!((s0, s1, s2), (0, 1, 2));
    assert_eq!(
        usage("politie-mn", "ondermijning", "2025-06-02").await,
        Usage {
            identifiers: 15,
            queries: 2,
            no_hits: 12
        }
    );
    assert_eq!(
        usage("politie-mn", "ondermijning", "2025-06-03").await,
        Usage::default()
    );
    assert_eq!(
        usage("riec", "ondermijning", "2025-06-02").await,
        Usage::default()
    );
    let entries = all_entries(&*store).await;
    assert_eq!(
        entries.into_iter().map(|(_, e)| e).collect::<Vec<_>>(),
        vec![decision(0), decision(1), decision(2)]
    );
}

async fn audit_sequence_is_gapless_under_concurrent_appenders(store: Arc<dyn Store>) {
    const TASKS: usize = 8;
    const ROUNDS: usize = 50;
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for round in 0..ROUNDS {
                let n = task * 1000 + round;
                match round % 3 {
                    // Single appends, pairs, and decisions with usage all share the counter.
                    0 => seqs.extend(
                        store
                            .audit()
                            .append_audit(&[entry("auth.refused", n)])
                            .await
                            .unwrap(),
                    ),
                    1 => {
                        let pair = [entry("audit.read", n), entry("audit.read", n + 500)];
                        let got = store.audit().append_audit(&pair).await.unwrap();
                        assert_eq!(got[1], got[0] + 1, "a batch gets consecutive numbers");
                        seqs.extend(got);
                    }
                    _ => {
                        let usage = UsageDelta {
                            org: format!("org-{task}"),
                            purpose: "p".into(),
                            day: "2025-06-02".into(),
                            identifiers: 1,
                            no_hits: 1,
                        };
                        seqs.push(
                            store
                                .decisions()
                                .record_decision(Some(usage), &entry("match", n))
                                .await
                                .unwrap(),
                        );
                    }
                }
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for handle in handles {
        all.extend(handle.await.unwrap());
    }
    let len = store.audit().audit_len().await.unwrap();
    assert_eq!(len as usize, all.len());
    all.sort_unstable();
    assert_eq!(
        all,
        (0..len).collect::<Vec<_>>(),
        "every number once, none missing"
    );
    let entries = store.audit().audit_entries(0, len).await.unwrap();
    let seqs: Vec<u64> = entries.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (0..len).collect::<Vec<_>>());
    assert!(
        store
            .audit()
            .audit_entries(len, len + 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// 64 concurrent requests of 3 identifiers against a budget of 100 (group commit puts many in
/// one transaction): exactly 33 are accepted, the others write nothing, and the counters and
/// the log agree.
async fn budget_is_never_overspent_by_concurrent_decisions(store: Arc<dyn Store>) {
    const BUDGET: u64 = 100;
    let mut handles = Vec::new();
    for n in 0..64usize {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let usage = UsageDelta {
                org: "politie-mn".into(),
                purpose: "ondermijning".into(),
                day: "2025-06-02".into(),
                identifiers: 3,
                no_hits: 1,
            };
            store
                .decisions()
                .record_decision_within_budget(usage, BUDGET, &entry("match", n), Vec::new())
                .await
                .unwrap()
        }));
    }
    let mut accepted = Vec::new();
    for handle in handles {
        if let Some(seq) = handle.await.unwrap() {
            accepted.push(seq);
        }
    }
    assert_eq!(accepted.len(), 33, "3 × 33 = 99 ≤ 100 < 3 × 34");
    let usage = store
        .decisions()
        .usage("politie-mn", "ondermijning", "2025-06-02")
        .await
        .unwrap();
    assert_eq!(
        usage,
        Usage {
            identifiers: 99,
            queries: 33,
            no_hits: 33
        }
    );
    accepted.sort_unstable();
    assert_eq!(
        accepted,
        (0..33).collect::<Vec<_>>(),
        "only accepted ones are logged"
    );
    assert_eq!(store.audit().audit_len().await.unwrap(), 33);
    // Unbounded decisions (refusals) still count, beyond the budget.
    let over = UsageDelta {
        org: "politie-mn".into(),
        purpose: "ondermijning".into(),
        day: "2025-06-02".into(),
        identifiers: 5,
        no_hits: 0,
    };
    assert_eq!(
        store
            .decisions()
            .record_decision_within_budget(over.clone(), BUDGET, &entry("match", 99), Vec::new())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .decisions()
            .record_decision(Some(over), &entry("refuse", 100))
            .await
            .unwrap(),
        33
    );
    assert_eq!(
        store
            .decisions()
            .usage("politie-mn", "ondermijning", "2025-06-02")
            .await
            .unwrap()
            .identifiers,
        104
    );
}

/// A batch that cannot be committed fails as a whole: every caller in it gets a 503-class
/// error and none of its entries is in the log. Two decisions of i64::MAX identifiers each:
/// whether they share a batch or not, the batch holding the second one would push the counter
/// beyond BIGINT and cannot commit.
async fn a_failing_batch_fails_every_caller_and_commits_nothing(store: Arc<dyn Store>) {
    let big = UsageDelta {
        org: "o".into(),
        purpose: "p".into(),
        day: "2025-06-02".into(),
        identifiers: i64::MAX as u64,
        no_hits: 0,
    };
    let (e1, e2) = (entry("match", 1), entry("match", 2));
    let (a, b) = tokio::join!(
        store.decisions().record_decision(Some(big.clone()), &e1),
        store.decisions().record_decision(Some(big.clone()), &e2),
    );
    let failed = [&a, &b].iter().filter(|r| r.is_err()).count();
    assert!(failed >= 1, "a counter beyond BIGINT cannot be committed");
    for r in [&a, &b] {
        if let Err(e) = r {
            assert!(e.is_unavailable(), "{e}");
        }
    }
    let logged = store.audit().audit_len().await.unwrap() as usize;
    assert_eq!(
        logged,
        2 - failed,
        "a failed caller's entry is not in the log"
    );
}

async fn audit_entries_round_trip_byte_for_byte(store: Arc<dyn Store>) {
    let rich = AuditEntry {
        actor_org: Some("politie-mn".into()),
        actor_user: Some("agent-17".into()),
        purpose: Some("ondermijning".into()),
        legal_basis: Some("wpg-art-20".into()),
        case_reference: Some("MN-2025-001".into()),
        decision: Some("allow".into()),
        reasons: vec!["purpose.active".into(), "scope.ok".into()],
        policy_hash: Some("sha256:00ff".into()),
        pseudonyms: vec![hex::encode(stored(1))],
        source_orgs: vec!["kvo-oost".into()],
        recipients: vec!["politie-mn".into()],
        detail: serde_json::json!({ "level": "hit", "ünïcode": "é\"\\\n", "n": [1, 2.5, null] }),
        ..AuditEntry::new(NOW * 1000, Operation::Disclose, "match")
    };
    let entries = [entry("auth.refused", 0), rich.clone()];
    assert_eq!(
        store.audit().append_audit(&entries).await.unwrap(),
        vec![0, 1]
    );
    assert_eq!(
        store.audit().append_audit(&[]).await.unwrap(),
        Vec::<u64>::new()
    );
    let leaves = store.audit().audit_leaves(0, 2).await.unwrap();
    assert_eq!(leaves[1], (1, rich.canonical_json()));
    let read = store.audit().audit_entries(1, 2).await.unwrap();
    assert_eq!(read, vec![(1, rich)]);
}

async fn for_each_live_signal_streams_every_live_signal(store: Arc<dyn Store>) {
    // Larger than one SQLite statement (2978 rows) and with several kinds and expiries.
    let batch: Vec<NewSignal> = (0..7000u32)
        .map(|n| {
            let kind = IdentifierKind::ALL[n as usize % IdentifierKind::ALL.len()];
            let expires = if n % 7 == 0 { NOW - 1 } else { NOW + DAY };
            let s = signal_with("kvo-oost", kind, 1 + n % 2, n, expires);
            // A third in a gemeente, a third also in a wijk, a third in neither.
            match n % 3 {
                0 => s.in_area(Some("GM0307".into()), None),
                1 => s.in_area(Some("GM0344".into()), Some("WK034405".into())),
                _ => s,
            }
        })
        .collect();
    let outcomes = store
        .signals()
        .insert_signals(&batch, &upload_entry("kvo-oost", &batch[..3]))
        .await
        .unwrap();
    assert!(outcomes.iter().all(|o| *o == InsertOutcome::Inserted));
    let expected_live = batch.iter().filter(|s| s.expires_at > NOW).count() as u64;

    let mut seen: Vec<IndexRecord> = Vec::new();
    let count = store
        .signals()
        .for_each_live_signal(NOW, &mut |r| seen.push(r))
        .await
        .unwrap();
    assert_eq!(count, expected_live);
    assert_eq!(seen.len() as u64, expected_live);
    let ids: BTreeSet<SignalId> = seen.iter().map(|r| r.id).collect();
    assert_eq!(ids.len() as u64, expected_live);

    for s in [&batch[8], &batch[9], &batch[10]] {
        let record = seen.iter().find(|r| r.id == s.id).expect("streamed");
        assert_eq!(
            record,
            &IndexRecord {
                id: s.id,
                kind: s.kind,
                key_version: s.key_version,
                stored: s.stored,
                org: s.org.clone(),
                code: s.code.clone(),
                expires_at: s.expires_at,
                purposes: s.purposes.clone(),
                observed_day: kruispunt_broker::civil::parse_date(&s.observed).unwrap(),
                district: s.district.clone(),
                gemeente: s.gemeente.clone(),
                wijk: s.wijk.clone(),
            }
        );
    }
    assert_eq!(
        (batch[9].gemeente.as_deref(), batch[10].wijk.as_deref()),
        (Some("GM0307"), Some("WK034405")),
        "the records above cover both shapes"
    );
    // And read back whole, by id prefix (the re-upload check and the details read).
    let read = store
        .signals()
        .signals_by_id_prefix(&[batch[10].id.prefix8(), batch[8].id.prefix8()])
        .await
        .unwrap();
    for s in [&batch[8], &batch[10]] {
        let row = read.iter().find(|r| r.id == s.id).expect("read back");
        assert_eq!(row, &StoredSignal::from(s.clone()));
        assert!(s.same_observation(row));
    }
    assert_eq!(
        store.audit().audit_len().await.unwrap(),
        1,
        "one entry for the whole batch"
    );
}

async fn concurrent_overlapping_uploads_store_each_signal_once(store: Arc<dyn Store>) {
    // Four partners' uploads overlap in pairs and run at once; sorting by id inside each batch
    // keeps PostgreSQL from deadlocking, and every signal ends up stored exactly once.
    let mut handles = Vec::new();
    for task in 0..4u32 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let range = (task / 2) * 1000..(task / 2) * 1000 + 1500;
            let batch: Vec<NewSignal> = range
                .rev()
                .map(|n| signal("kvo-oost", n, NOW + DAY))
                .collect();
            store
                .signals()
                .insert_signals(&batch, &upload_entry("kvo-oost", &batch[..1]))
                .await
                .unwrap()
                .into_iter()
                .filter(|o| *o == InsertOutcome::Inserted)
                .count()
        }));
    }
    let mut inserted = 0;
    for handle in handles {
        inserted += handle.await.unwrap();
    }
    assert_eq!(inserted, 2500);
    assert_eq!(count_live(&*store, NOW).await, 2500);
    assert_eq!(store.audit().audit_len().await.unwrap(), 4);
}

// ---------------------------------------------------------------------------------------------
// Backend-specific
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sqlite_file_persists_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    {
        let store = store::connect(&url).await.unwrap();
        let s = [signal("kvo-oost", 1, NOW + DAY)];
        upload(&*store, "kvo-oost", &s).await;
    }
    let store = store::connect(&url).await.unwrap();
    store.ping().await.unwrap();
    assert_eq!(count_live(&*store, NOW).await, 1);
    assert_eq!(store.audit().audit_len().await.unwrap(), 1);
    store.migrate().await.expect("migrations are idempotent");
}

#[tokio::test]
async fn sqlite_in_memory_works() {
    let store = store::connect("sqlite::memory:").await.unwrap();
    let s = [signal("kvo-oost", 1, NOW + DAY)];
    upload(&*store, "kvo-oost", &s).await;
    assert_eq!(count_live(&*store, NOW).await, 1);
}

#[tokio::test]
async fn unknown_url_scheme_is_a_config_error() {
    let err = store::connect("mysql://localhost/k").await.err().unwrap();
    assert!(matches!(err, StoreError::Config(_)), "{err}");
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    // Nothing listens on port 1: the error must map to 503, not to a crash or a 500.
    let options = PgConnectOptions::from_str("postgres://postgres@127.0.0.1:1/none").unwrap();
    let err = PostgresStore::connect_with(
        PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(2)),
        options,
    )
    .await
    .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// The ondermijningsbeeld's privacy budget
// ---------------------------------------------------------------------------------------------

fn release<'a>(
    month: &'a str,
    snapshot: &'a str,
    question: &'a [u8],
    answer: &'a [u8],
) -> BudgetRelease<'a> {
    BudgetRelease {
        org: RIEC,
        purpose: "ondermijningsbeeld",
        month,
        snapshot,
        question,
        epsilon_micro: 500_000,
        monthly_micro: 1_200_000,
        answer,
    }
}

/// Charges `r` and returns what the month has left; fails unless it was charged.
async fn charged(d: &dyn DecisionStore, r: &BudgetRelease<'_>, audit: &AuditEntry) -> u64 {
    match d.charge_release(r, audit).await.unwrap() {
        Charge::Charged { left_micro, .. } => left_micro,
        other => panic!("not charged: {other:?}"),
    }
}

/// Spent, kept per snapshot, refused when the month's budget does not cover it, fresh in the
/// next month; a refusal and a repeat write nothing.
async fn privacy_budget_is_charged_once_per_question_and_snapshot(store: Arc<dyn Store>) {
    let d = store.decisions();
    let audit = entry("aggregate.release", 1);
    assert_eq!(
        charged(d, &release("2026-12", "3600:1", b"q1", b"answer 1"), &audit).await,
        700_000
    );
    // The same question in the same snapshot: the kept answer, nothing charged.
    let c = d
        .charge_release(&release("2026-12", "3600:1", b"q1", b"other"), &audit)
        .await
        .unwrap();
    assert_eq!(
        c,
        Charge::Answered {
            answer: b"answer 1".to_vec(),
            left_micro: 700_000
        }
    );
    let answered = |snapshot| d.answered_release(RIEC, "ondermijningsbeeld", snapshot, b"q1");
    assert_eq!(
        answered("3600:1").await.unwrap(),
        Some(b"answer 1".to_vec())
    );
    assert_eq!(answered("3600:2").await.unwrap(), None);
    // The same question in the next snapshot is a new release.
    assert_eq!(
        charged(d, &release("2026-12", "3600:2", b"q1", b"answer 2"), &audit).await,
        200_000
    );
    let len = store.audit().audit_len().await.unwrap();
    let c = d
        .charge_release(&release("2026-12", "3600:2", b"q2", b"answer 3"), &audit)
        .await
        .unwrap();
    assert_eq!(
        c,
        Charge::Exhausted {
            left_micro: 200_000
        }
    );
    assert_eq!(
        store.audit().audit_len().await.unwrap(),
        len,
        "a refusal writes nothing"
    );
    assert_eq!(
        d.budget_spent(RIEC, "ondermijningsbeeld", "2026-12")
            .await
            .unwrap(),
        1_000_000
    );
    // Another organisation, another month: budgets of their own.
    let other = BudgetRelease {
        org: "politie-midden-nederland",
        ..release("2026-12", "3600:2", b"q2", b"a")
    };
    assert!(matches!(
        d.charge_release(&other, &audit).await.unwrap(),
        Charge::Charged { .. }
    ));
    assert_eq!(
        charged(d, &release("2027-01", "3600:3", b"q2", b"a"), &audit).await,
        700_000
    );
    assert_eq!(
        d.budget_spent("nobody", "ondermijningsbeeld", "2026-12")
            .await
            .unwrap(),
        0
    );
}

/// Twenty concurrent releases of distinct questions against a budget of two: exactly two are
/// charged, with exactly two audit entries.
async fn privacy_budget_is_never_overspent_by_concurrent_releases(store: Arc<dyn Store>) {
    let before = store.audit().audit_len().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..20u32 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let q = i.to_be_bytes();
            let r = BudgetRelease {
                monthly_micro: 1_000_000,
                ..release("2026-12", "3600:1", &q, b"a")
            };
            store
                .decisions()
                .charge_release(&r, &entry("aggregate.release", i as usize))
                .await
                .unwrap()
        }));
    }
    let mut charged = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Charge::Charged { .. }) {
            charged += 1;
        }
    }
    assert_eq!(charged, 2);
    assert_eq!(store.audit().audit_len().await.unwrap(), before + 2);
    assert_eq!(
        store
            .decisions()
            .budget_spent("riec-midden-nederland", "ondermijningsbeeld", "2026-12")
            .await
            .unwrap(),
        1_000_000
    );
}

// ---------------------------------------------------------------------------------------------
// Cases and consents (docs/CASES.md)
// ---------------------------------------------------------------------------------------------

fn a_case(reference: &str, opener: &str, participants: &[&str]) -> kruispunt_sdk::cases::Case {
    use kruispunt_sdk::cases::{Case, CaseState, LegalFrame};
    Case {
        reference: reference.into(),
        gemeente: "GM0344".into(),
        themes: vec!["criminele-families".into(), "horeca".into()],
        legal_frame: vec![LegalFrame::RiecConvenant, LegalFrame::WpgArt19],
        participants: participants.iter().map(|p| p.to_string()).collect(),
        state: CaseState::Open,
        intervention: None,
        result: None,
        opened_by: opener.into(),
        opened_at: NOW,
        updated_by: opener.into(),
        updated_at: NOW,
    }
}

async fn cases_are_opened_once_moved_by_compare_and_set_and_read_by_participant(
    store: Arc<dyn Store>,
) {
    use kruispunt_sdk::cases::{CaseResult, CaseState, InterventionKind};
    use store::CaseMove;
    let cases = store.cases();
    let case = a_case("MN-2026-0001", "riec", &["politie", "riec"]);
    let seq = cases
        .open_case(&case, "regisseur", &entry("case.open", 1))
        .await
        .unwrap()
        .expect("opened");
    // The same reference again: nothing written, no entry.
    let again = a_case("MN-2026-0001", "politie", &["politie"]);
    assert_eq!(
        cases
            .open_case(&again, "x", &entry("case.open", 2))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.audit().audit_len().await.unwrap(), seq + 1);
    assert_eq!(
        cases.case("MN-2026-0001").await.unwrap(),
        Some(case.clone())
    );
    assert_eq!(cases.case("MN-2026-0002").await.unwrap(), None);
    // A second case only the gemeente takes part in.
    let other = a_case("MN-2026-0002", "gemeente", &["gemeente"]);
    cases
        .open_case(&other, "g", &entry("case.open", 3))
        .await
        .unwrap()
        .unwrap();
    let refs =
        |v: Vec<kruispunt_sdk::cases::Case>| v.into_iter().map(|c| c.reference).collect::<Vec<_>>();
    assert_eq!(
        refs(cases.cases_of("politie").await.unwrap()),
        ["MN-2026-0001"]
    );
    assert_eq!(
        refs(cases.cases_of("gemeente").await.unwrap()),
        ["MN-2026-0002"]
    );
    assert!(cases.cases_of("kvo").await.unwrap().is_empty());
    // The listed case carries its participants.
    assert_eq!(cases.cases_of("politie").await.unwrap(), vec![case.clone()]);

    // open → intervention, by compare-and-set: a second move from `open` finds it moved.
    let to_intervention = CaseMove {
        from: CaseState::Open,
        to: CaseState::Intervention,
        intervention: Some(InterventionKind::Bestuurlijk),
        result: None,
        by_org: "politie",
        by_user: "r",
        at: NOW + 10,
    };
    let before = store.audit().audit_len().await.unwrap();
    assert_eq!(
        cases.case_closure("MN-2026-0001").await.unwrap(),
        Some(None),
        "open: no closure"
    );
    assert!(
        cases
            .move_case("MN-2026-0001", &to_intervention, &entry("case.state", 4))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        cases.case_closure("MN-2026-0001").await.unwrap(),
        Some(None)
    );
    assert_eq!(
        cases
            .move_case("MN-2026-0001", &to_intervention, &entry("case.state", 5))
            .await
            .unwrap(),
        None,
        "the case is no longer open"
    );
    assert_eq!(store.audit().audit_len().await.unwrap(), before + 1);
    let close = CaseMove {
        from: CaseState::Intervention,
        to: CaseState::Closed,
        intervention: None,
        result: Some(CaseResult::Intervened),
        by_org: "riec",
        by_user: "regisseur",
        at: NOW + 20,
    };
    let closing = cases
        .move_case("MN-2026-0001", &close, &entry("case.state", 6))
        .await
        .unwrap()
        .unwrap();
    // The closure's entry is recorded with the case (what an embargo tied to it ends with).
    assert_eq!(
        cases.case_closure("MN-2026-0001").await.unwrap(),
        Some(Some(closing))
    );
    assert_eq!(cases.case_closure("MN-2026-0404").await.unwrap(), None);
    let closed = cases.case("MN-2026-0001").await.unwrap().unwrap();
    assert_eq!(closed.state, CaseState::Closed);
    assert_eq!(closed.intervention, Some(InterventionKind::Bestuurlijk));
    assert_eq!(closed.result, Some(CaseResult::Intervened));
    assert_eq!(
        (closed.updated_by.as_str(), closed.updated_at),
        ("riec", NOW + 20)
    );
    assert_eq!((closed.opened_by.as_str(), closed.opened_at), ("riec", NOW));
    // Unknown cases do not move.
    assert_eq!(
        cases
            .move_case("MN-2026-0404", &close, &entry("case.state", 7))
            .await
            .unwrap(),
        None
    );
    // Every change's entry is in the log, in order.
    let actions: Vec<String> = all_entries(&*store)
        .await
        .into_iter()
        .map(|(_, e)| e.action)
        .collect();
    assert_eq!(
        actions,
        ["case.open", "case.open", "case.state", "case.state"]
    );
}

async fn consents_are_withdrawn_once_and_only_by_their_issuer(store: Arc<dyn Store>) {
    use kruispunt_sdk::cases::Consent;
    use kruispunt_sdk::wire::Level;
    let cases = store.cases();
    cases
        .open_case(
            &a_case("MN-2026-0003", "politie", &["politie"]),
            "r",
            &entry("case.open", 1),
        )
        .await
        .unwrap()
        .unwrap();
    let consent = Consent {
        id: "ovj-0123".into(),
        case_reference: "MN-2026-0003".into(),
        purpose: "politie-opsporing-wpg19".into(),
        kinds: vec!["kenteken".into(), "kvk".into()],
        max_identifiers: 7,
        ceiling: Level::Categories,
        valid_until: NOW + 86_400,
        issued_by: "om".into(),
        issued_at: NOW,
        withdrawn_at: None,
    };
    cases
        .issue_consent(&consent, "ovj", &entry("consent.issue", 2))
        .await
        .unwrap();
    assert_eq!(
        cases.consent("ovj-0123").await.unwrap(),
        Some(consent.clone())
    );
    assert_eq!(cases.consent("ovj-9999").await.unwrap(), None);
    // A consent for a case that is not registered is not stored (and its entry not appended).
    let orphan = Consent {
        id: "ovj-0124".into(),
        case_reference: "MN-2026-0404".into(),
        ..consent.clone()
    };
    let before = store.audit().audit_len().await.unwrap();
    assert!(
        cases
            .issue_consent(&orphan, "ovj", &entry("consent.issue", 3))
            .await
            .is_err()
    );
    assert_eq!(store.audit().audit_len().await.unwrap(), before);
    assert_eq!(cases.consent("ovj-0124").await.unwrap(), None);
    // Another organisation cannot withdraw it; the issuer can, once.
    assert_eq!(
        cases
            .withdraw_consent(
                "ovj-0123",
                "politie",
                "r",
                NOW + 5,
                &entry("consent.withdraw", 4)
            )
            .await
            .unwrap(),
        None
    );
    assert!(
        cases
            .withdraw_consent(
                "ovj-0123",
                "om",
                "ovj",
                NOW + 6,
                &entry("consent.withdraw", 5)
            )
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        cases
            .withdraw_consent(
                "ovj-0123",
                "om",
                "ovj",
                NOW + 7,
                &entry("consent.withdraw", 6)
            )
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        cases
            .consent("ovj-0123")
            .await
            .unwrap()
            .unwrap()
            .withdrawn_at,
        Some(NOW + 6)
    );
    let actions: Vec<String> = all_entries(&*store)
        .await
        .into_iter()
        .map(|(_, e)| e.action)
        .collect();
    assert_eq!(actions, ["case.open", "consent.issue", "consent.withdraw"]);
}

/// The signal feed (migration 0015): every upload, withdrawal and purge writes one change keyed
/// by its own audit entry's sequence number, in commit order; a decision writes none; a read
/// from a cursor returns exactly the changes at and above it and moves the cursor to the log's
/// size; pruning raises the mark a lagging follower checks.
async fn signal_feed_records_every_change_in_commit_order(store: Arc<dyn Store>) {
    use kruispunt_broker::store::feed::FeedChange;
    let start = store.signals().feed_position().await.unwrap();
    assert_eq!(start, 0);
    let batch = [
        signal("vastgoed", 1, NOW + 100),
        signal("vastgoed", 2, NOW + DAY),
        signal("vastgoed", 3, NOW + DAY),
    ];
    upload(&*store, "vastgoed", &batch).await; // seq 0
    // A re-upload of the same ids: an audit entry (seq 1) but no change.
    upload(&*store, "vastgoed", &batch[..1]).await;
    // An entry that changes no signal (seq 2).
    store
        .audit()
        .append_audit(&[entry("match.query", 1)])
        .await
        .unwrap();
    let withdrawal = AuditEntry::new(NOW * 1000, Operation::Erase, "signal.withdraw");
    let withdrawn = store
        .signals()
        .withdraw_signal("vastgoed", batch[2].id, &withdrawal)
        .await
        .unwrap()
        .expect("withdrawn"); // seq 3
    let purge =
        |_: &[StoredSignal]| AuditEntry::new(NOW * 1000, Operation::Erase, "retention.purge");
    let purged = store
        .signals()
        .purge_expired(NOW + 100, &purge)
        .await
        .unwrap(); // seq 4
    assert_eq!(purged.len(), 1);

    let page = store.signals().feed_read(0, 100).await.unwrap();
    assert_eq!(page.head, 5);
    assert_eq!(page.next, 5, "the cursor moves to the log's size");
    assert_eq!(page.pruned_below, 0);
    let seqs: Vec<u64> = page.changes.iter().map(|c| c.seq).collect();
    assert_eq!(
        seqs,
        [0, 3, 4],
        "one change per signal-changing entry, in order"
    );
    let mut ids: Vec<SignalId> = batch.iter().map(|s| s.id).collect();
    ids.sort();
    assert_eq!(page.changes[0].inserted, ids);
    assert!(page.changes[0].removed.is_empty());
    let removed = |c: &FeedChange| {
        c.removed
            .iter()
            .map(|r| (r.id, r.kind, r.key_version, r.stored))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        removed(&page.changes[1]),
        [(
            withdrawn.id,
            withdrawn.kind,
            withdrawn.key_version,
            withdrawn.stored
        )]
    );
    assert_eq!(
        removed(&page.changes[2]),
        [(batch[0].id, batch[0].kind, 1, stored(1))]
    );
    // The change keyed 3 is the withdrawal's own audit entry.
    let entries = all_entries(&*store).await;
    assert_eq!(entries[3].1.action, "signal.withdraw");

    // From a cursor, and a page cut short.
    let from_1 = store.signals().feed_read(1, 1).await.unwrap();
    assert_eq!(
        from_1.changes.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [3]
    );
    assert_eq!(from_1.next, 4);
    let at_end = store.signals().feed_read(5, 100).await.unwrap();
    assert!(at_end.changes.is_empty());
    assert_eq!(at_end.next, 5);

    // A key-version erasure (seq 5) is a removal change too.
    let old = signal_with("vastgoed", IdentifierKind::Kenteken, 0, 9, NOW + DAY);
    upload(&*store, "vastgoed", std::slice::from_ref(&old)).await; // seq 5
    let erased = store
        .mls()
        .purge_below_version(1, &|_| true, &purge)
        .await
        .unwrap(); // seq 6
    assert_eq!(erased.len(), 1);
    let page = store.signals().feed_read(5, 100).await.unwrap();
    assert_eq!(
        page.changes.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [5, 6]
    );
    assert_eq!(page.changes[0].inserted, [old.id]);
    assert_eq!(
        removed(&page.changes[1]),
        [(old.id, old.kind, 0, stored(9))]
    );

    // Pruning what is older than now takes everything and raises the mark.
    let pruned = store
        .signals()
        .feed_prune(kruispunt_broker::civil::now_millis() + 1)
        .await
        .unwrap();
    assert_eq!(pruned, 5);
    let after = store.signals().feed_read(0, 100).await.unwrap();
    assert!(after.changes.is_empty());
    assert_eq!(after.pruned_below, 7);
    assert_eq!(store.signals().feed_prune(0).await.unwrap(), 0);
}

/// The moments of a case's moves (the picture's `open_cases`/`interventions`) are written with
/// the move; the signals a match under a case disclosed are written with the match's entry, under
/// its sequence number — and not at all when the decision is over its budget.
async fn case_moments_and_contributions_are_written_with_their_entries(store: Arc<dyn Store>) {
    use kruispunt_sdk::cases::{CaseResult, CaseState, InterventionKind};
    use store::{CaseMove, Contribution};
    let cases = store.cases();
    for (n, r) in ["MN-2026-0701", "MN-2026-0702"].into_iter().enumerate() {
        cases
            .open_case(
                &a_case(r, "riec", &["politie"]),
                "regisseur",
                &entry("case.open", n),
            )
            .await
            .unwrap()
            .expect("opened");
    }
    let moved = |from, to, intervention, result, at| CaseMove {
        from,
        to,
        intervention,
        result,
        by_org: "riec",
        by_user: "regisseur",
        at,
    };
    cases
        .move_case(
            "MN-2026-0701",
            &moved(
                CaseState::Open,
                CaseState::Intervention,
                Some(InterventionKind::Fiscaal),
                None,
                NOW + DAY,
            ),
            &entry("case.state", 3),
        )
        .await
        .unwrap()
        .expect("moved");
    cases
        .move_case(
            "MN-2026-0701",
            &moved(
                CaseState::Intervention,
                CaseState::Closed,
                None,
                Some(CaseResult::Intervened),
                NOW + 2 * DAY,
            ),
            &entry("case.state", 4),
        )
        .await
        .unwrap()
        .expect("closed");
    let spans = cases.case_spans().await.unwrap();
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0].reference, "MN-2026-0701");
    assert_eq!(spans[0].opened_at, NOW);
    assert_eq!(
        spans[0].intervention,
        Some((InterventionKind::Fiscaal, NOW + DAY))
    );
    assert_eq!(spans[0].closed_at, Some(NOW + 2 * DAY));
    assert_eq!(spans[0].participants, ["riec", "politie"]);
    assert_eq!(spans[1].intervention, None);
    assert_eq!(spans[1].closed_at, None);

    let contribution = |case: &str, org: &str, signal: u8| Contribution {
        case_reference: case.into(),
        org: org.into(),
        signal: [signal; 8],
        disclosed_at: NOW + 3 * DAY,
        embargo_until: Some(NOW + 33 * DAY),
    };
    let usage = |identifiers| UsageDelta {
        org: "politie".into(),
        purpose: "wpg19".into(),
        day: "2025-06-05".into(),
        identifiers,
        no_hits: 0,
    };
    let seq = store
        .decisions()
        .record_decision_within_budget(
            usage(2),
            10,
            &entry("match", 5),
            vec![
                contribution("MN-2026-0701", "dealer-a", 1),
                contribution("MN-2026-0701", "dealer-b", 2),
                contribution("MN-2026-0702", "dealer-a", 3),
            ],
        )
        .await
        .unwrap()
        .expect("within budget");
    // Over budget: neither the entry nor its contributions.
    assert_eq!(
        store
            .decisions()
            .record_decision_within_budget(
                usage(20),
                10,
                &entry("match", 6),
                vec![contribution("MN-2026-0702", "dealer-a", 9)],
            )
            .await
            .unwrap(),
        None
    );
    let mine = cases.contributions_of("dealer-a").await.unwrap();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert!(mine.iter().all(|c| c.signal != [9; 8]));
    let closed = mine
        .iter()
        .find(|c| c.case_reference == "MN-2026-0701")
        .unwrap();
    assert_eq!(closed.signal, [1; 8]);
    assert_eq!(closed.embargo_until, Some(NOW + 33 * DAY));
    assert_eq!(
        closed.intervention,
        Some((InterventionKind::Fiscaal, NOW + DAY))
    );
    assert_eq!(cases.contributions_of("dealer-b").await.unwrap().len(), 1);
    assert!(cases.contributions_of("politie").await.unwrap().is_empty());
    assert_eq!(store.audit().audit_len().await.unwrap(), seq + 1);
}

/// Issue 17: a match decision that waits for SQLite's single writer during a bulk upload
/// commits between two pieces of it, not after the whole chunk. The waiting decision is made
/// certain by holding the writer gate's "wanted" mark from the start (a decision batch holds
/// it while it waits for the writer), with pacing at every slice (`max_hold` zero). Afterwards:
/// every piece committed its signals with an entry naming exactly those (its signal-feed change
/// lists them), the pieces together stored every signal once, the decision's entry lies between
/// the first piece and the rest in the log's commit order, and the tree covers the whole log.
/// PostgreSQL has no gate: the paced upload is one transaction with the entry of them all.
async fn a_decision_commits_between_the_pieces_of_a_paced_upload(store: Arc<dyn Store>) {
    use kruispunt_broker::store::PieceAudit;
    let batch: Vec<NewSignal> = (0..1_000)
        .map(|n| signal("vastgoed", n, NOW + DAY))
        .collect();
    // What the store asked `audit_for` for: (members, first piece).
    type Asked = Vec<(Vec<usize>, bool)>;
    let pieces: Arc<std::sync::Mutex<Asked>> = Arc::default();
    let upload = {
        let (store, batch, pieces) = (store.clone(), batch.clone(), pieces.clone());
        tokio::spawn(async move {
            let named = batch.clone();
            let audit_for = move |members: &[usize], first: bool| {
                pieces.lock().unwrap().push((members.to_vec(), first));
                let signals: Vec<NewSignal> = members.iter().map(|&i| named[i].clone()).collect();
                upload_entry("vastgoed", &signals)
            };
            let audit_for: PieceAudit<'_> = &audit_for;
            let all = store
                .signals()
                .insert_signals_paced(&batch, audit_for)
                .await
                .unwrap();
            assert!(all.iter().all(|o| *o == InsertOutcome::Inserted));
        })
    };
    let decision = || async {
        let usage = UsageDelta {
            org: "bank".into(),
            purpose: "ondermijning-kvo".into(),
            day: "2025-06-17".into(),
            identifiers: 1,
            no_hits: 1,
        };
        store
            .decisions()
            .record_decision(Some(usage), &entry("match.query", 7))
            .await
            .unwrap()
    };
    let decided_at = match store.writer_gate() {
        Some(gate) => {
            gate.set_max_hold(Some(std::time::Duration::ZERO));
            let waiting = gate.want();
            // The upload commits its first piece and then waits for the waiting decision.
            let mut polls = 0;
            while store.audit().audit_len().await.unwrap() == 0 {
                polls += 1;
                assert!(polls < 6_000, "the first piece never committed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            let seq = decision().await;
            drop(waiting);
            Some(seq)
        }
        None => None,
    };
    upload.await.unwrap();
    let after = decision().await;

    let entries = all_entries(&*store).await;
    assert_eq!(after, entries.len() as u64 - 1, "the last decision is last");
    assert_eq!(
        store.audit().audit_tree_size().await.unwrap(),
        entries.len() as u64
    );
    let uploads: Vec<&(u64, AuditEntry)> = entries
        .iter()
        .filter(|(_, e)| e.action == "signals.upload")
        .collect();
    let pieces = pieces.lock().unwrap().clone();
    // The store asks for the whole upload's entry first, before it knows whether it splits.
    let used = if uploads.len() == 1 {
        &pieces[..1]
    } else {
        &pieces[1..]
    };
    assert_eq!(used.len(), uploads.len(), "one entry per committed piece");
    match decided_at {
        Some(seq) => {
            assert!(uploads.len() >= 2, "the upload was split");
            assert_eq!(seq, 1, "the decision came right after the first piece");
            assert_eq!(uploads[0].0, 0);
            assert!(uploads[1..].iter().all(|(s, _)| *s > seq));
            assert!(used[0].1 && used[1..].iter().all(|(_, first)| !first));
        }
        None => assert_eq!(used[0].0.len(), batch.len()),
    }
    // Each entry names exactly what its piece's commit stored.
    let feed = store.signals().feed_read(0, 1_000).await.unwrap();
    let mut stored_once = BTreeSet::new();
    for ((seq, e), (members, _)) in uploads.iter().zip(used) {
        let named: BTreeSet<String> = members
            .iter()
            .map(|&i| hex::encode(batch[i].stored))
            .collect();
        assert_eq!(e.pseudonyms.iter().cloned().collect::<BTreeSet<_>>(), named);
        let change = feed
            .changes
            .iter()
            .find(|c| c.seq == *seq)
            .expect("a change per piece");
        let mut ids: Vec<SignalId> = members.iter().map(|&i| batch[i].id).collect();
        ids.sort();
        assert_eq!(
            change.inserted, ids,
            "the piece stored exactly what its entry names"
        );
        for i in members {
            assert!(stored_once.insert(*i), "signal {i} in two pieces");
        }
    }
    assert_eq!(stored_once.len(), batch.len());
    assert_eq!(count_live(&*store, NOW).await, batch.len() as u64);
}
