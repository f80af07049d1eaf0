//! Every proposal and every credential of a handshake message is authorised, against the real
//! broker over HTTPS on SQLite and (when `KRUISPUNT_TEST_POSTGRES_URL` is set) PostgreSQL. A
//! member (a bare openmls client, `mls_rogue`) tries what only the administrator may do, or what
//! nobody may: each is refused with 403, its own problem type, an audit entry with metadata only,
//! and nothing changes in the group.

use crate::mls_common::*;
use crate::mls_rogue::{Rogue, as_org};
use kruispunt_sdk::coalition::http::HttpError;
use kruispunt_sdk::coalition::payload::Payload;
use kruispunt_sdk::coalition::wire;
use kruispunt_sdk::coalition::wire::GroupKind;
use kruispunt_sdk::coalition::{Event, PendingProposal};
use openmls::prelude::*;
use openmls::schedule::PreSharedKeyId;

const POLICE: &str = "politie-midden-nederland";

/// The coalition's group with the administrator, a malicious KVO and an honest Amersfoort.
pub(crate) async fn group_with_rogue(
    b: &Broker,
    dir: &std::path::Path,
) -> (Partner, Rogue, Partner) {
    let mut admin = Partner::new(b, ADMIN, &[ADMIN_ROLE], dir);
    let mut rogue = Rogue::new(b, KVO, &["signaleerder"]);
    let mut amersfoort = Partner::new(b, AMERSFOORT, &["analist"], dir);
    rogue.publish().await;
    amersfoort.publish(1).await;
    admin.found_coalition(&[KVO, AMERSFOORT]).await;
    rogue.join().await;
    rogue.sync(COALITION).await;
    amersfoort.accept_welcomes().await;
    amersfoort.sync(COALITION).await;
    (admin, rogue, amersfoort)
}

/// Asserts a 403 with problem type `slug`, and forgets the refused message.
fn refused(rogue: &mut Rogue, r: Result<impl std::fmt::Debug, HttpError>, slug: &str) {
    let err = r.expect_err(slug);
    assert_eq!(err.status(), Some(403), "{slug}: {err}");
    assert!(format!("{err}").contains(slug), "{slug}: {err}");
    rogue.forget();
}

fn member_cannot_act_as_admin(b: Broker) -> TestFuture {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let (mut admin, mut rogue, mut amersfoort) = group_with_rogue(&b, dir.path()).await;
        let before = admin.api.group(COALITION).await.unwrap();

        // A leaf keeps its identity: no UpdatePath or Update to the police's credential.
        let params = as_org(POLICE, &rogue.signer);
        let (provider, signer) = (&rogue.provider, &rogue.signer);
        let commit = rogue
            .group
            .as_mut()
            .unwrap()
            .self_update(provider, signer, params)
            .unwrap()
            .into_commit();
        let r = rogue.post(COALITION, &commit).await;
        refused(&mut rogue, r, "mls-leaf-identity-changed");
        let params = as_org(POLICE, &rogue.signer);
        let (provider, signer) = (&rogue.provider, &rogue.signer);
        let (proposal, _) = rogue
            .group
            .as_mut()
            .unwrap()
            .propose_self_update(provider, signer, params)
            .unwrap();
        let r = rogue.post(COALITION, &proposal).await;
        refused(&mut rogue, r, "mls-leaf-identity-changed");

        // Removing others — the administrator above all — is the administrator's.
        let admin_leaf = rogue.leaf_of(ADMIN);
        let (provider, signer) = (&rogue.provider, &rogue.signer);
        let (commit, _, _) = rogue
            .group
            .as_mut()
            .unwrap()
            .remove_members(provider, signer, &[admin_leaf])
            .unwrap();
        let r = rogue.post(COALITION, &commit).await;
        refused(&mut rogue, r, "mls-remove-refused");
        let ams_leaf = rogue.leaf_of(AMERSFOORT);
        let (provider, signer) = (&rogue.provider, &rogue.signer);
        let (proposal, _) = rogue
            .group
            .as_mut()
            .unwrap()
            .propose_remove_member(provider, signer, ams_leaf)
            .unwrap();
        let r = rogue.post(COALITION, &proposal).await;
        refused(&mut rogue, r, "mls-remove-refused");

        // The group's extensions are the administrator's.
        let commit = rogue.commit_extensions();
        let r = rogue.post(COALITION, &commit).await;
        refused(&mut rogue, r, "mls-extensions-refused");

        // Nobody sends PSK (or ReInit, ExternalInit) proposals.
        let psk = PreSharedKeyId::external(b"shared".to_vec(), vec![7; 32]);
        psk.store(&rogue.provider, &[1; 32]).unwrap();
        let commit = rogue.commit_with(vec![Proposal::PreSharedKey(Box::new(
            PreSharedKeyProposal::new(psk),
        ))]);
        let r = rogue.post(COALITION, &commit).await;
        refused(&mut rogue, r, "mls-proposal-refused");
        // (ReInit falls under the same rule; openmls 0.9's commit builder drops a ReInit
        // proposal given to it, so a client cannot build one to test with here.)

        // Nobody joins by external commit (here: a second leaf of a member).
        let commit = rogue.external_commit();
        let r = rogue.post(COALITION, &commit).await;
        refused(&mut rogue, r, "mls-external-commit-refused");

        // Committing another member's proposal is the administrator's: Amersfoort's request to
        // leave may be committed by the RIEC only.
        let leave = amersfoort.member.leave(COALITION).unwrap();
        amersfoort
            .api
            .post_raw(COALITION, &leave, None)
            .await
            .unwrap();
        rogue.sync(COALITION).await;
        let (provider, signer) = (&rogue.provider, &rogue.signer);
        let (commit, _, _) = rogue
            .group
            .as_mut()
            .unwrap()
            .commit_to_pending_proposals(provider, signer)
            .unwrap();
        let r = rogue.post(COALITION, &commit).await;
        let err = r.expect_err("commit of another's proposal");
        assert_eq!(err.status(), Some(403), "{err}");
        assert!(
            format!("{err}").contains("mls-commit-others-proposals"),
            "{err}"
        );
        rogue
            .group
            .as_mut()
            .unwrap()
            .clear_pending_commit(rogue.provider.storage())
            .unwrap();

        // Nothing changed: same epoch, same members; every refusal audited, metadata only.
        let after = admin.api.group(COALITION).await.unwrap();
        assert_eq!(after.epoch, before.epoch);
        assert_eq!(after.members, before.members);
        let refusals = b.audit_of("mls.commit.refused").await;
        let reasons: Vec<&str> = refusals.iter().map(|e| e.reasons[0].as_str()).collect();
        assert_eq!(
            reasons,
            [
                "leaf_identity_changed",
                "leaf_identity_changed",
                "remove_refused",
                "remove_refused",
                "extensions_refused",
                "proposal_refused",
                "external_commit_refused",
                "commit_others_proposals",
            ]
        );
        for e in &refusals {
            assert_eq!(e.actor_org.as_deref(), Some(KVO));
            assert_eq!(e.decision.as_deref(), Some("deny"));
            let detail = e.detail.to_string();
            assert!(!detail.contains(POLICE), "{detail}");
            assert_eq!(e.detail["group"], COALITION, "{detail}");
        }

        // What members may do still works: a member's own key refresh, and the administrator
        // committing a member's request to leave.
        let (provider, signer) = (&rogue.provider, &rogue.signer);
        let group = rogue.group.as_mut().unwrap();
        group.clear_pending_proposals(provider.storage()).unwrap();
        let commit = group
            .self_update(provider, signer, LeafNodeParameters::default())
            .unwrap()
            .into_commit();
        rogue.post(COALITION, &commit).await.unwrap();
        let (provider, group) = (&rogue.provider, rogue.group.as_mut().unwrap());
        group.merge_pending_commit(provider).unwrap();
        admin.sync(COALITION).await;
        amersfoort.sync(COALITION).await;
        let leave = amersfoort.member.leave(COALITION).unwrap();
        amersfoort
            .api
            .post_raw(COALITION, &leave, None)
            .await
            .unwrap();
        let events = admin.sync(COALITION).await;
        assert_eq!(
            events,
            vec![Event::ProposalReceived {
                from: AMERSFOORT.to_string()
            }]
        );
        let done = admin
            .member
            .commit_pending(COALITION, PendingProposal::own_change)
            .unwrap();
        admin.commit(COALITION, &done.outgoing.unwrap()).await;
        assert_eq!(
            admin.api.group(COALITION).await.unwrap().members,
            vec![KVO.to_string(), ADMIN.to_string()]
        );
        b.stop().await;
    })
}

/// Key payloads count only from the administrator's leaf (pinned at join): a member sending
/// a "new" version, another key under the current version, or `u32::MAX` changes nothing in
/// the others' state — each is skipped and reported — and the administrator's rotation still
/// arrives.
fn key_only_from_admin(b: Broker) -> TestFuture {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let (mut admin, mut rogue, mut amersfoort) = group_with_rogue(&b, dir.path()).await;
        let genuine = admin.member.coalition_key(COALITION).unwrap();
        // A member reads from where it joined, whatever it asks: not the invite commit before.
        let joined = amersfoort.api.fetch(COALITION, 0).await.unwrap();
        let everything = admin.api.fetch(COALITION, 0).await.unwrap();
        assert_eq!(everything[0].seq, 0);
        assert!(
            joined[0].seq > 0,
            "{:?}",
            joined.iter().map(|m| m.seq).collect::<Vec<_>>()
        );
        assert_eq!(
            amersfoort
                .member
                .coalition_key(COALITION)
                .unwrap()
                .version(),
            1
        );
        let mut seqs = Vec::new();
        for version in [2, 1, u32::MAX] {
            let payload = Payload::CoalitionKey {
                version,
                key: wire::b64(&[version as u8 ^ 0x5a; 32]),
            };
            let (provider, signer) = (&rogue.provider, &rogue.signer);
            let msg = rogue
                .group
                .as_mut()
                .unwrap()
                .create_message(provider, signer, &payload.to_bytes())
                .unwrap();
            seqs.push(rogue.post(COALITION, &msg).await.unwrap().seq);
        }
        for p in [&mut amersfoort, &mut admin] {
            let events = p.sync(COALITION).await;
            assert_eq!(events.len(), 3, "{events:?}");
            for (e, seq) in events.iter().zip(&seqs) {
                match e {
                    Event::Skipped { seq: s, reason } => {
                        assert_eq!(s, seq);
                        assert!(reason.contains("not the group's administrator"), "{reason}");
                    }
                    other => panic!("{other:?}"),
                }
            }
            let key = p.member.coalition_key(COALITION).unwrap();
            assert_eq!(key.version(), 1);
            assert_eq!(key.expose_secret(), genuine.expose_secret());
            assert!(p.member.coalition_key_version(COALITION, 2).is_none());
        }
        // The administrator removes the rogue and rotates: version 2 arrives at Amersfoort.
        let out = admin.member.remove(COALITION, KVO).unwrap();
        admin.commit(COALITION, &out).await;
        let events = amersfoort.sync(COALITION).await;
        assert_eq!(events.last(), Some(&Event::KeyReceived { version: 2 }));
        assert_eq!(amersfoort.key_bytes(), admin.key_bytes());
        b.stop().await;
    })
}

/// One member cannot freeze the group: a junk application message is skipped and reported by
/// the others (who go on with the next message), and a replayed ciphertext is refused by the
/// broker (409, audited).
fn bad_message_skipped_replay_refused(b: Broker) -> TestFuture {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let (mut admin, mut rogue, mut amersfoort) = group_with_rogue(&b, dir.path()).await;
        // A ciphertext with its last byte flipped: the broker cannot tell, members can.
        let (provider, signer) = (&rogue.provider, &rogue.signer);
        let mut junk = rogue
            .group
            .as_mut()
            .unwrap()
            .create_message(provider, signer, b"{}")
            .unwrap()
            .to_bytes()
            .unwrap();
        *junk.last_mut().unwrap() ^= 1;
        let junk_seq = rogue
            .api
            .post_raw(COALITION, &junk, None)
            .await
            .unwrap()
            .seq;
        let detail = amersfoort
            .member
            .case_detail(COALITION, "RIEC-MN-2026-0042", "schuur verhuurd")
            .unwrap();
        amersfoort
            .api
            .post_raw(COALITION, &detail, None)
            .await
            .unwrap();
        let events = admin.sync(COALITION).await;
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(
            matches!(&events[0], Event::Skipped { seq, .. } if *seq == junk_seq),
            "{events:?}"
        );
        assert!(
            matches!(&events[1], Event::CaseDetail { from, .. } if from == AMERSFOORT),
            "{events:?}"
        );

        // The same ciphertext again (from the log, by any member): refused.
        let err = rogue
            .api
            .post_raw(COALITION, &detail, None)
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(409), "{err}");
        assert!(format!("{err}").contains("mls-replayed"), "{err}");
        let refused = b.audit_of("mls.commit.refused").await;
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].reasons, ["replayed"]);
        b.stop().await;
    })
}

/// Claiming another organisation's key package needs a relation: a coalition holding both
/// into which the policy lets the claimer add it (or a case channel allowing both). A partner
/// without one is refused (403, audited); the administrator is handed at most
/// `CLAIMS_PER_DAY` packages a day (429); a last-resort package claimed again by the same
/// claimer leaves no new audit entry.
fn claims_need_a_relation(b: Broker) -> TestFuture {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let kvo = Partner::new(&b, KVO, &["signaleerder"], dir.path());
        let dealer = Partner::new(&b, DEALER, &["compliance"], dir.path());
        let amersfoort = Partner::new(&b, AMERSFOORT, &["analist"], dir.path());
        let admin = Partner::new(&b, ADMIN, &[ADMIN_ROLE], dir.path());
        kvo.publish(2).await;
        amersfoort.publish(1).await;
        // A dealer outside the coalition, and a coalition member that may not add: refused.
        for (p, org) in [(&dealer, KVO), (&kvo, AMERSFOORT)] {
            let err = p.api.claim_key_package(org).await.unwrap_err();
            assert_eq!(err.status(), Some(403), "{err}");
            assert!(format!("{err}").contains("mls-claim-no-relation"), "{err}");
        }
        let refused: Vec<_> = b
            .audit_of("mls.key_package.claim")
            .await
            .into_iter()
            .filter(|e| e.reasons == ["no_relation"])
            .collect();
        assert_eq!(refused.len(), 2);
        // The administrator: two ordinary packages, then the last-resort one, twice.
        let mut refs = Vec::new();
        for _ in 0..4 {
            let kp = admin.api.claim_key_package(KVO).await.unwrap();
            refs.push(kp);
        }
        assert_eq!(refs[2], refs[3], "the last-resort package again");
        let handed: Vec<_> = b
            .audit_of("mls.key_package.claim")
            .await
            .into_iter()
            .filter(|e| e.decision.as_deref() != Some("deny"))
            .collect();
        assert_eq!(
            handed.len(),
            3,
            "no entry for the repeated last-resort claim"
        );
        // The quota: 20 a day per claimer and organisation.
        kvo.publish(30).await;
        let mut more = 0;
        loop {
            match admin.api.claim_key_package(KVO).await {
                Ok(_) => more += 1,
                Err(e) => {
                    assert_eq!(e.status(), Some(429), "{e}");
                    assert!(format!("{e}").contains("mls-claim-quota"), "{e}");
                    break;
                }
            }
            assert!(more < 100, "no quota");
        }
        assert_eq!(3 + more, 20);
        b.stop().await;
    })
}

/// The administrator — nobody else — re-initialises a group under the same id (audited); the
/// members join the new group through its welcome, which replaces their old state, and keep
/// the coalition key.
fn admin_reinitialises_group(b: Broker) -> TestFuture {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let (mut admin, _rogue, mut amersfoort) = group_with_rogue(&b, dir.path()).await;
        // A member (with a GroupInfo of its own making) and an outsider: refused.
        let mut other = kruispunt_sdk::coalition::Member::new(AMERSFOORT, None).unwrap();
        let info = other.create_group(COALITION).unwrap();
        let err = amersfoort
            .api
            .reinit_group(COALITION, GroupKind::Coalition, COALITION, &info)
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(403), "{err}");
        assert!(format!("{err}").contains("mls-not-group-admin"), "{err}");
        let dealer = b.mls(DEALER, &["compliance"]);
        let err = dealer
            .reinit_group(COALITION, GroupKind::Coalition, COALITION, &info)
            .await
            .unwrap_err();
        assert!(format!("{err}").contains("mls-not-a-member"), "{err}");
        assert_eq!(b.audit_of("mls.group.refused").await.len(), 2);

        let info = admin.member.reinit_group(COALITION).unwrap();
        let status = admin
            .api
            .reinit_group(COALITION, GroupKind::Coalition, COALITION, &info)
            .await
            .unwrap();
        assert_eq!(
            (status.epoch, status.members.clone()),
            (0, vec![ADMIN.to_string()])
        );
        let entry = only_entry(&b, "mls.group.reinit").await;
        assert_eq!(entry.detail["group"], COALITION);
        // The old members read no more; invited again, they join the new group.
        let kp = admin.api.claim_key_package(AMERSFOORT).await.unwrap();
        let out = admin.member.invite(COALITION, &[kp]).unwrap();
        admin.commit(COALITION, &out).await;
        assert_eq!(
            amersfoort.accept_welcomes().await,
            vec![COALITION.to_string()]
        );
        let events = amersfoort.sync(COALITION).await;
        assert_eq!(events, vec![Event::KeyReceived { version: 1 }]);
        assert_eq!(amersfoort.member.epoch(COALITION), Some(1));
        assert_eq!(amersfoort.key_bytes(), admin.key_bytes());
        b.stop().await;
    })
}

/// What one member can make the broker store and send is bounded: key packages living longer
/// than the broker keeps track of, too many unclaimed ones, standalone proposals piling up
/// (each grows the state read on every request), and
/// fetches of many large messages (a byte budget per fetch; the rest follows).
fn storage_and_work_bounded(b: Broker) -> TestFuture {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let (mut admin, mut rogue, mut amersfoort) = group_with_rogue(&b, dir.path()).await;
        // A key package valid for ten years: refused.
        let long = rogue.key_package_valid_for(10 * 365 * 86_400);
        let err = rogue.api.publish_key_packages(&[long]).await.unwrap_err();
        assert_eq!(err.status(), Some(400), "{err}");
        assert!(format!("{err}").contains("lifetime"), "{err}");
        // At most 200 unclaimed packages at a time (its one package was claimed).
        for _ in 0..2 {
            let many: Vec<Vec<u8>> = (0..100)
                .map(|_| rogue.key_package_valid_for(7 * 86_400))
                .collect();
            rogue.api.publish_key_packages(&many).await.unwrap();
        }
        let one = rogue.key_package_valid_for(7 * 86_400);
        let err = rogue.api.publish_key_packages(&[one]).await.unwrap_err();
        assert_eq!(err.status(), Some(429), "{err}");
        assert!(format!("{err}").contains("mls-too-many"), "{err}");

        // Two standalone proposals per member wait for the commit, not more.
        for i in 0..3 {
            let (provider, signer) = (&rogue.provider, &rogue.signer);
            let (proposal, _) = rogue
                .group
                .as_mut()
                .unwrap()
                .propose_self_update(provider, signer, LeafNodeParameters::default())
                .unwrap();
            let r = rogue.post(COALITION, &proposal).await;
            if i < 2 {
                r.unwrap();
            } else {
                let err = r.unwrap_err();
                assert_eq!(err.status(), Some(429), "{err}");
                assert!(format!("{err}").contains("mls-too-many"), "{err}");
            }
        }
        rogue.forget();
        // The administrator commits what is pending; the group goes on.
        let events = admin.sync(COALITION).await;
        assert_eq!(events.len(), 2, "{events:?}");
        // The administrator sees what it would commit.
        let update = PendingProposal {
            from: KVO.into(),
            kind: "update".into(),
            removes: None,
        };
        assert_eq!(
            admin.member.pending_proposals(COALITION),
            vec![update.clone(); 2]
        );
        let done = admin
            .member
            .commit_pending(COALITION, PendingProposal::own_change)
            .unwrap();
        assert_eq!(done.committed, vec![update; 2]);
        admin.commit(COALITION, &done.outgoing.unwrap()).await;
        amersfoort.sync(COALITION).await;

        // Five messages of 900 kB: a fetch carries at most 4 MiB; the rest follows.
        let text = "x".repeat(900_000);
        let from = amersfoort.member.cursor(COALITION).unwrap();
        for _ in 0..5 {
            let m = amersfoort
                .member
                .case_detail(COALITION, "RIEC-MN-2026-0042", &text)
                .unwrap();
            amersfoort.api.post_raw(COALITION, &m, None).await.unwrap();
        }
        let first = admin.api.fetch(COALITION, from).await.unwrap();
        let size: usize = first.iter().map(|m| m.message.len()).sum();
        assert!(first.len() < 5 && !first.is_empty(), "{}", first.len());
        assert!(size <= 4 * 1024 * 1024, "{size}");
        let rest = admin
            .api
            .fetch(COALITION, first.last().unwrap().seq + 1)
            .await
            .unwrap();
        assert_eq!(first.len() + rest.len(), 5);
        b.stop().await;
    })
}

kruispunt_test_kit::broker_test!(coalition_storage_and_work_bounded = storage_and_work_bounded);
kruispunt_test_kit::broker_test!(coalition_admin_reinitialises_group = admin_reinitialises_group);
kruispunt_test_kit::broker_test!(coalition_claims_need_a_relation = claims_need_a_relation);
kruispunt_test_kit::broker_test!(
    coalition_bad_message_skipped_replay_refused = bad_message_skipped_replay_refused
);
kruispunt_test_kit::broker_test!(coalition_member_cannot_act_as_admin = member_cannot_act_as_admin);
kruispunt_test_kit::broker_test!(coalition_key_only_from_admin = key_only_from_admin);
