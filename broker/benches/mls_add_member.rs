//! Figure: the time to add one organisation to a coalition of 50 and get the coalition key to
//! every member. Run: `cargo bench -p kruispunt-broker --bench mls_add_member`.
//!
//! What is measured, per step, with the real code paths (openmls, the SDK's `Member` with its
//! state persisted to disk after every operation, the broker's `PublicView` check):
//! 1. the administrator builds the commit + welcome (`Member::invite`);
//! 2. the broker verifies the commit against the group's public state, merges it and
//!    snapshots the state (what `POST /v1/mls/groups/{id}/messages` does besides SQL);
//! 3. the administrator merges and encrypts the key message (`Member::confirm`);
//! 4. the new member joins from the welcome and reads the key;
//! 5. each of the 49 existing members processes the commit and the key message.
//!
//! HTTP and database round trips are not included (a few ms on loopback each; see the
//! `http_load` bench for the broker's request cost). The critical path is 1+2+3+max(4, one
//! member's 5), since members work in parallel; the sequential sum is printed too.
//!
//! **The checks' cost, side by side** (issue 21): per round, the same commit is checked
//! [`CHECK_REPS`] times each way, alternating, from the same stored state — *without* the
//! authorisation (decode, verify, merge, snapshot: what the broker did before issue 21) and
//! *with* it (the sender's leaf before the verification, the signer, every proposal and
//! credential `mls::authorise` looks at, one policy decision per organisation added, deduped).
//! Then a group log on a SQLite store (the broker of the test kit): a member's fetch *without*
//! the checks (one query of up to 500 messages) and *with* them (`delivery::read_log`: the
//! member's join point, the sizes, then what fits the byte budget), [`CHECK_REPS`] times each way,
//! alternating; the audit entry both write is left out. Medians are printed.
//! `MLS_BENCH_CHECKS_ONLY=1` runs the fetch part (and the next) alone.
//!
//! **The case-state check of a post to a case channel** (issue 16: a closed case's channel takes
//! no more messages): the store work of a post without and with the read of the case's state,
//! side by side, on SQLite and (when `KRUISPUNT_TEST_POSTGRES_URL` is set) on PostgreSQL.
//! `MLS_BENCH_CASE_ONLY=1` runs this part alone. On 7 December 2026 (`--profile dev`, the 2-core
//! machine at load 6–7, three runs): the check alone 0.08–0.12 ms on SQLite and 0.18–0.21 ms on
//! PostgreSQL (medians); the post's store work moved by +0.01 to +0.06 ms on 0.72–1.19 ms
//! (SQLite) and +0.01 to +0.65 ms on 1.1–4.0 ms (PostgreSQL), within the machine's noise.

use std::hint::black_box;
use std::time::{Duration, Instant};

use kruispunt_broker::auth::Principal;
use kruispunt_broker::mls::authorise::{self, Actor};
use kruispunt_broker::mls::delivery;
use kruispunt_broker::mls::public_state::PublicView;
use kruispunt_broker::mls::store::{Expect, GroupKind, GroupRow, NewMessage, NewWelcome};
use kruispunt_policy::{Action, PolicyEngine, Registry};
use kruispunt_sdk::coalition::mls::org_of;
use kruispunt_sdk::coalition::{Event, Fetched, Member};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_rust_crypto::RustCrypto;

const GROUP: &str = "bench-coalition";
const SIZE: usize = 50;
const ROUNDS: usize = 5;
/// Repetitions of each variant per measurement of the checks' cost.
const CHECK_REPS: usize = 30;

fn org(i: usize) -> String {
    format!("partner-{i:02}")
}

/// The broker's check of one handshake message, as the delivery service does it; returns the
/// snapshot and the time the authorisation of its proposals and credentials took
/// (`mls::authorise`, issue 21), which is part of the whole.
fn broker_accepts(view: &mut PublicView, crypto: &RustCrypto, bytes: &[u8]) -> (Vec<u8>, Duration) {
    let msg = MlsMessageIn::tls_deserialize_exact(bytes).unwrap();
    let pm = msg.try_into_protocol_message().unwrap();
    let processed = view.process(crypto, pm).unwrap();
    let Sender::Member(leaf) = *processed.sender() else {
        panic!("a member's commit")
    };
    let t_authorise;
    match processed.into_content() {
        ProcessedMessageContent::StagedCommitMessage(staged) => {
            let admin = org(0);
            let actor = Actor {
                leaf,
                is_admin: true,
                admin_org: &admin,
            };
            let t = Instant::now();
            authorise::check_commit(view, &actor, &staged, |_| true).unwrap();
            t_authorise = t.elapsed();
            view.merge(*staged).unwrap()
        }
        other => panic!("expected a commit, got {other:?}"),
    }
    (view.to_bytes(), t_authorise)
}

/// The broker's check of one commit before issue 21: decode, verify against the state, merge,
/// snapshot.
fn commit_without_checks(view: &mut PublicView, crypto: &RustCrypto, bytes: &[u8]) -> Vec<u8> {
    let msg = MlsMessageIn::tls_deserialize_exact(bytes).unwrap();
    let pm = msg.try_into_protocol_message().unwrap();
    match view.process(crypto, pm).unwrap().into_content() {
        ProcessedMessageContent::StagedCommitMessage(staged) => view.merge(*staged).unwrap(),
        other => panic!("expected a commit, got {other:?}"),
    }
    view.to_bytes()
}

/// The same with the checks `delivery::post_message` adds: the sender's leaf before the
/// verification, the signer after it, `authorise::check_commit`, and one policy decision per
/// organisation the commit adds (deduped).
fn commit_with_checks(
    view: &mut PublicView,
    crypto: &RustCrypto,
    bytes: &[u8],
    policy: &PolicyEngine,
    principal: &Principal,
) -> Vec<u8> {
    let admin = org(0);
    let msg = MlsMessageIn::tls_deserialize_exact(bytes).unwrap();
    let pm = msg.try_into_protocol_message().unwrap();
    if let ProtocolMessage::PublicMessage(public) = &pm
        && let Sender::Member(leaf) = public.sender()
    {
        assert_eq!(view.org_at(*leaf).as_deref(), Some(admin.as_str()));
    }
    let processed = view.process(crypto, pm).unwrap();
    assert_eq!(org_of(processed.credential()).unwrap(), admin);
    let Sender::Member(leaf) = *processed.sender() else {
        panic!("a member's commit")
    };
    match processed.into_content() {
        ProcessedMessageContent::StagedCommitMessage(staged) => {
            let actor = Actor {
                leaf,
                is_admin: true,
                admin_org: &admin,
            };
            authorise::check_commit(view, &actor, &staged, |o| o.starts_with("partner-")).unwrap();
            let mut added: Vec<String> = staged
                .add_proposals()
                .map(|a| org_of(a.add_proposal().key_package().leaf_node().credential()).unwrap())
                .collect();
            added.sort();
            added.dedup();
            for _ in &added {
                // The bench's organisations are not in the registry: the decision is asked
                // for a coalition member of the same registry, which costs the same.
                let mut input = principal.policy_input(Action::CoalitionAdd, "", 0);
                input.coalition = Some("kvo-buitengebied-oost-utrecht".into());
                input.target_org = Some("gemeente-amersfoort".into());
                assert!(policy.decide(black_box(&input)).unwrap().allow);
            }
            view.merge(*staged).unwrap()
        }
        other => panic!("expected a commit, got {other:?}"),
    }
    view.to_bytes()
}

/// The RIEC as the token names it (the coalition's administrator in the registry).
fn riec() -> Principal {
    Principal {
        org: "riec-midden-nederland".into(),
        sector: "riec".into(),
        public: true,
        user: "bench".into(),
        roles: vec!["coalitiebeheerder".into()],
        scope: None,
        token_id: None,
        key_id: "bench".into(),
        expires_at: i64::MAX,
    }
}

/// Runs `with` and `without` `reps` times each, alternating (so a change of the machine's load
/// hits both alike); returns their medians.
fn side_by_side(
    reps: usize,
    mut with: impl FnMut() -> Duration,
    mut without: impl FnMut() -> Duration,
) -> (Duration, Duration) {
    let (mut a, mut b) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
    for i in 0..reps {
        if i % 2 == 0 {
            a.push(with());
            b.push(without());
        } else {
            b.push(without());
            a.push(with());
        }
    }
    a.sort();
    b.sort();
    (a[reps / 2], b[reps / 2])
}

/// The fetch side by side on a SQLite store: a log of `count` messages of `size` bytes, read
/// from the start by a member that joined at sequence 1.
fn fetch_cost(rt: &tokio::runtime::Runtime, count: u64, size: usize) {
    rt.block_on(async {
        let b = kruispunt_test_kit::Broker::start(None).await;
        let st = b.state();
        let id = format!("bench-fetch-{count}-{size}");
        let (creator, reader) = ("riec-midden-nederland", "gemeente-amersfoort");
        let row = GroupRow {
            id: id.clone(),
            coalition: "kvo-buitengebied-oost-utrecht".into(),
            kind: GroupKind::Coalition,
            allowed: None,
            epoch: 0,
            revision: 0,
            epoch_revision: 0,
            next_seq: 0,
            from_seq: 0,
            members: vec![reader.into(), creator.into()],
            state: Vec::new(),
            created_by: creator.into(),
            case_reference: None,
        };
        let entry = || {
            kruispunt_broker::audit::entry::AuditEntry::new(
                0,
                kruispunt_broker::audit::entry::Operation::Collect,
                "bench",
            )
        };
        let mls = st.store.mls();
        mls.create_group(&row, 0, &entry()).await.unwrap();
        for i in 0..count {
            let mut data = vec![0u8; size];
            data[..8].copy_from_slice(&i.to_be_bytes());
            let welcomes = if i == 0 {
                vec![NewWelcome {
                    org: reader.into(),
                    data: vec![1],
                }]
            } else {
                Vec::new()
            };
            let message = NewMessage {
                epoch: 0,
                sender: creator.into(),
                content_type: "application",
                data,
            };
            mls.append_message(&id, Expect::Epoch(0), &message, None, &welcomes, 0, &|_| {
                entry()
            })
            .await
            .unwrap();
        }
        let principal = Principal {
            org: reader.into(),
            sector: "gemeente".into(),
            roles: vec!["analist".into()],
            ..riec()
        };
        let mut with = Vec::new();
        let mut without = Vec::new();
        for i in 0..CHECK_REPS {
            for pass in [i % 2 == 0, i % 2 != 0] {
                let t = Instant::now();
                let rows = if pass {
                    delivery::member_group(&st, &principal, &id).await.unwrap();
                    delivery::read_log(&st, &principal, &id, 0).await.unwrap()
                } else {
                    delivery::member_group(&st, &principal, &id).await.unwrap();
                    mls.messages(&id, 0, delivery::FETCH_LIMIT).await.unwrap()
                };
                let took = t.elapsed();
                black_box(&rows);
                if pass {
                    with.push((took, rows.len()));
                } else {
                    without.push((took, rows.len()));
                }
            }
        }
        with.sort();
        without.sort();
        let (w, n_with) = with[CHECK_REPS / 2];
        let (wo, n_without) = without[CHECK_REPS / 2];
        println!(
            "fetch of a log of {count} × {} KiB: without the checks {:.3} ms ({n_without} \
             messages, one query), with them {:.3} ms ({n_with} messages from the join point, \
             sized to the {} MiB budget) → {:+.3} ms",
            size / 1024,
            ms(wo),
            ms(w),
            delivery::FETCH_BYTES / (1024 * 1024),
            ms(w) - ms(wo)
        );
        b.stop().await;
    });
}

/// Repetitions of each variant of a post to a case channel (with and without the case-state
/// check).
const CASE_REPS: usize = 400;

/// The case-state check of a post to a case channel (`case_channel::check_open`, issue 16),
/// side by side on the store `b` runs on: the store work of an application message's post —
/// the group read (`delivery::member_group`) and the append with its audit entry — *without*
/// the check and *with* it (one read of the case's state by its primary key), [`CASE_REPS`]
/// times each way, alternating. The decryption-free rest of a post (decoding the message) is
/// the same either way and left out.
async fn case_check_cost(b: kruispunt_test_kit::Broker) {
    use kruispunt_sdk::cases::{Case, CaseState, LegalFrame};
    let st = b.state();
    let backend = st.store.backend();
    let (id, case) = ("case.bench-0001", "BENCH-0001");
    let creator = "riec-midden-nederland";
    let entry = || {
        kruispunt_broker::audit::entry::AuditEntry::new(
            0,
            kruispunt_broker::audit::entry::Operation::Collect,
            "bench",
        )
    };
    st.store
        .cases()
        .open_case(
            &Case {
                reference: case.into(),
                gemeente: "GM0344".into(),
                themes: vec!["criminele-families".into()],
                legal_frame: vec![LegalFrame::RiecConvenant],
                participants: vec![creator.into(), "politie-midden-nederland".into()],
                state: CaseState::Open,
                intervention: None,
                result: None,
                opened_by: creator.into(),
                opened_at: 0,
                updated_by: creator.into(),
                updated_at: 0,
            },
            "bench",
            &entry(),
        )
        .await
        .unwrap();
    let row = GroupRow {
        id: id.into(),
        coalition: "politie-casus-riec-midden-nederland".into(),
        kind: GroupKind::Case,
        allowed: Some(vec![creator.into(), "politie-midden-nederland".into()]),
        epoch: 0,
        revision: 0,
        epoch_revision: 0,
        next_seq: 0,
        from_seq: 0,
        members: vec![creator.into()],
        state: Vec::new(),
        created_by: creator.into(),
        case_reference: Some(case.into()),
    };
    let mls = st.store.mls();
    mls.create_group(&row, 0, &entry()).await.unwrap();
    let principal = riec();
    let mut with = Vec::new();
    let mut without = Vec::new();
    let mut check = Vec::new();
    for i in 0..2 * CASE_REPS {
        let checked = i % 2 == 0;
        let message = NewMessage {
            epoch: 0,
            sender: creator.into(),
            content_type: "application",
            data: (i as u64).to_be_bytes().repeat(64),
        };
        let t = Instant::now();
        let group = delivery::member_group(&st, &principal, id).await.unwrap();
        if checked {
            let c = Instant::now();
            kruispunt_broker::mls::case_channel::check_open(&st, &principal, &group)
                .await
                .unwrap();
            check.push(c.elapsed());
        }
        mls.append_message(id, Expect::Epoch(0), &message, None, &[], 0, &|_| entry())
            .await
            .unwrap();
        let took = t.elapsed();
        if checked {
            with.push(took);
        } else {
            without.push(took);
        }
    }
    for v in [&mut with, &mut without, &mut check] {
        v.sort();
    }
    let (w, wo, c) = (
        with[CASE_REPS / 2],
        without[CASE_REPS / 2],
        check[CASE_REPS / 2],
    );
    println!(
        "post to a case channel on {backend} (group read + append with its audit entry), median \
         of {CASE_REPS} each: without the case-state check {:.3} ms, with it {:.3} ms → {:+.3} ms; \
         the check alone {:.3} ms (p90 {:.3} ms)",
        ms(wo),
        ms(w),
        ms(w) - ms(wo),
        ms(c),
        ms(check[CASE_REPS * 9 / 10])
    );
    b.stop().await;
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    if std::env::var_os("MLS_BENCH_CASE_ONLY").is_none() {
        if std::env::var_os("MLS_BENCH_CHECKS_ONLY").is_none() {
            add_member();
        }
        fetch_cost(&rt, 200, 1024);
        fetch_cost(&rt, 40, 200 * 1024);
    }
    rt.block_on(async {
        case_check_cost(kruispunt_test_kit::Broker::start(None).await).await;
        let opts = kruispunt_test_kit::Options {
            unlimited: true,
            ..Default::default()
        };
        if let Some(b) =
            kruispunt_test_kit::Broker::start_on_postgres("bench_case_check", opts).await
        {
            case_check_cost(b).await;
        }
    });
}

fn add_member() {
    let policy = PolicyEngine::embedded_with_registry(Registry::embedded()).unwrap();
    let principal = riec();
    let dir = tempfile::tempdir().unwrap();
    let crypto = RustCrypto::default();
    let mut admin = Member::new(&org(0), Some(&dir.path().join("admin.mls"))).unwrap();
    let info = admin.create_group(GROUP).unwrap();
    let MlsMessageBodyIn::GroupInfo(info) = MlsMessageIn::tls_deserialize_exact(info.as_slice())
        .unwrap()
        .extract()
    else {
        panic!("not a group info")
    };
    let mut view = PublicView::from_group_info(&crypto, info, GROUP).unwrap();
    let mut log: Vec<Vec<u8>> = Vec::new();

    // Set-up (not timed): 48 members join, so the group holds 49.
    let mut members: Vec<Member> = (1..SIZE - 1)
        .map(|i| Member::new(&org(i), Some(&dir.path().join(format!("{i}.mls")))).unwrap())
        .collect();
    let kps: Vec<Vec<u8>> = members
        .iter()
        .map(|m| m.key_packages(1, false).unwrap().remove(0))
        .collect();
    let out = admin.invite(GROUP, &kps).unwrap();
    broker_accepts(&mut view, &crypto, &out.message);
    log.push(out.message);
    let follow = admin.confirm(GROUP).unwrap();
    let from = log.len() as u64;
    log.extend(follow);
    for m in &mut members {
        m.join(GROUP, out.welcome.as_ref().unwrap(), from).unwrap();
    }
    let fetched = |log: &[Vec<u8>], from: u64| -> Vec<Fetched> {
        log.iter()
            .enumerate()
            .skip(from as usize)
            .map(|(i, b)| Fetched {
                seq: i as u64,
                message: b.clone(),
            })
            .collect()
    };
    for m in &mut members {
        let f = fetched(&log, m.cursor(GROUP).unwrap());
        assert_eq!(
            m.process(GROUP, &f).unwrap(),
            vec![Event::KeyReceived { version: 1 }]
        );
    }
    admin.process(GROUP, &fetched(&log, 0)).unwrap();
    assert_eq!(view.members().len(), SIZE - 1);

    let mut rows = Vec::new();
    for round in 0..ROUNDS {
        let newcomer_path = dir.path().join(format!("new-{round}.mls"));
        let mut newcomer = Member::new(&org(SIZE - 1), Some(&newcomer_path)).unwrap();
        let kp = newcomer.key_packages(1, false).unwrap();

        let t = Instant::now();
        let out = admin.invite(GROUP, &kp).unwrap();
        let t_invite = t.elapsed();

        // The checks' cost on this commit, side by side, from the same stored state.
        let before = view.to_bytes();
        let fresh = || PublicView::load(&before, GROUP).unwrap();
        let (with, without) = side_by_side(
            CHECK_REPS,
            || {
                let mut v = fresh();
                let t = Instant::now();
                black_box(commit_with_checks(
                    &mut v,
                    &crypto,
                    &out.message,
                    &policy,
                    &principal,
                ));
                t.elapsed()
            },
            || {
                let mut v = fresh();
                let t = Instant::now();
                black_box(commit_without_checks(&mut v, &crypto, &out.message));
                t.elapsed()
            },
        );
        println!(
            "round {round}: the broker's check of the commit adding the {SIZE}th: without the \
             checks {:.3} ms, with them {:.3} ms → {:+.3} ms ({:+.1} %), medians of {CHECK_REPS} each",
            ms(without),
            ms(with),
            ms(with) - ms(without),
            (ms(with) / ms(without) - 1.0) * 100.0
        );

        let t = Instant::now();
        let (snapshot, t_authorise) = broker_accepts(&mut view, &crypto, &out.message);
        let t_broker = t.elapsed();

        let t = Instant::now();
        let follow = admin.confirm(GROUP).unwrap();
        let t_confirm = t.elapsed();
        let commit_seq = log.len() as u64;
        log.push(out.message.clone());
        log.extend(follow);
        admin
            .process(GROUP, &fetched(&log, admin.cursor(GROUP).unwrap()))
            .unwrap();

        let t = Instant::now();
        newcomer
            .join(GROUP, out.welcome.as_ref().unwrap(), commit_seq + 1)
            .unwrap();
        let got = newcomer
            .process(GROUP, &fetched(&log, commit_seq + 1))
            .unwrap();
        let t_join = t.elapsed();
        assert!(
            matches!(got.as_slice(), [Event::KeyReceived { .. }]),
            "{got:?}"
        );

        let mut per_member = Vec::with_capacity(members.len());
        for m in &mut members {
            let f = fetched(&log, m.cursor(GROUP).unwrap());
            let t = Instant::now();
            let ev = m.process(GROUP, &f).unwrap();
            per_member.push(t.elapsed());
            assert!(
                ev.iter().any(|e| matches!(e, Event::KeyReceived { .. })),
                "{ev:?}"
            );
        }
        assert_eq!(view.members().len(), SIZE);
        let slowest = per_member.iter().max().copied().unwrap_or_default();
        let all_members: Duration = per_member.iter().sum();
        let critical = t_invite + t_broker + t_confirm + t_join.max(slowest);
        let sequential = t_invite + t_broker + t_confirm + t_join + all_members;
        rows.push((critical, sequential));
        println!(
            "round {round}: invite {:.2} ms, broker check {:.2} ms (of which authorisation {:.3} ms; state {} KiB), confirm+key {:.2} ms, \
             join+key {:.2} ms, existing member {:.2} ms each (slowest {:.2}) → critical path {:.2} ms, \
             sequential {:.2} ms",
            ms(t_invite),
            ms(t_broker),
            ms(t_authorise),
            snapshot.len() / 1024,
            ms(t_confirm),
            ms(t_join),
            ms(all_members) / per_member.len() as f64,
            ms(slowest),
            ms(critical),
            ms(sequential)
        );

        // Remove the newcomer again (not timed), so the next round adds the 50th once more.
        let out = admin.remove(GROUP, &org(SIZE - 1)).unwrap();
        let (_, t_authorise_remove) = broker_accepts(&mut view, &crypto, &out.message);
        println!(
            "round {round}: removal commit, authorisation {:.3} ms",
            ms(t_authorise_remove)
        );
        log.push(out.message);
        log.extend(admin.confirm(GROUP).unwrap());
        admin
            .process(GROUP, &fetched(&log, admin.cursor(GROUP).unwrap()))
            .unwrap();
        for m in &mut members {
            let f = fetched(&log, m.cursor(GROUP).unwrap());
            m.process(GROUP, &f).unwrap();
        }
    }
    rows.sort();
    let (critical, sequential) = rows[rows.len() / 2];
    println!(
        "median over {ROUNDS} rounds, adding the {SIZE}th organisation and giving all {SIZE} the key: \
         critical path {:.2} ms, all work sequential {:.2} ms",
        ms(critical),
        ms(sequential)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
