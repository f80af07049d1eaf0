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

use std::time::{Duration, Instant};

use kruispunt_broker::mls::authorise::{self, Actor};
use kruispunt_broker::mls::public_state::PublicView;
use kruispunt_sdk::coalition::{Event, Fetched, Member};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_rust_crypto::RustCrypto;

const GROUP: &str = "bench-coalition";
const SIZE: usize = 50;
const ROUNDS: usize = 5;

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

fn main() {
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
