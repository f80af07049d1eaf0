//! What issue 21 left after its first round, against the real broker over HTTPS on SQLite and
//! (when `KRUISPUNT_TEST_POSTGRES_URL` is set) PostgreSQL: a message for a stale epoch writes no
//! audit entry before anything about it was verified (finding 9); a leaf whose credential names
//! no organisation is shown, not hidden (finding 9); a member's proposals do not send the
//! administrator's commit back with 409, and `commit_pending` says what it commits and commits
//! only what the administrator accepts (finding 8); the logs are compacted below the oldest
//! member's join point (finding 5).

use crate::coalition_authorise::group_with_rogue;
use crate::mls_common::*;
use crate::mls_rogue::{Rogue, credential};
use kruispunt_sdk::coalition::mls::{CIPHERSUITE, Provider, WIRE_FORMAT_POLICY};
use kruispunt_sdk::coalition::wire::GroupKind;
use kruispunt_sdk::coalition::{Event, Member, PendingProposal, UNREADABLE_LEAF};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;

/// A message for an epoch the group left is answered 409 without an audit entry: it cannot be
/// verified against the group's state (its signature covers that epoch's context), so an entry
/// would record a request nobody is known to have made — and let anyone holding a member's
/// token fill the audit log with junk.
fn stale_epoch_is_not_audited_unverified(b: Broker) -> TestFuture {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let (mut admin, mut rogue, _amersfoort) = group_with_rogue(&b, dir.path()).await;
        // The member makes a proposal for the current epoch and keeps it back…
        let proposal = rogue.propose_update();
        rogue.forget();
        // …while the administrator's commit moves the group on.
        let out = admin.member.self_update(COALITION).unwrap();
        admin.commit(COALITION, &out).await;
        let entries = b.audit().await.len();

        // Now stale: 409, and nothing written — nor for a copy whose last byte (its
        // membership tag) is broken.
        let err = rogue.post(COALITION, &proposal).await.unwrap_err();
        assert_eq!(err.status(), Some(409), "{err}");
        assert!(format!("{err}").contains("mls-epoch-conflict"), "{err}");
        let mut junk = proposal.to_bytes().unwrap();
        *junk.last_mut().unwrap() ^= 0x5a;
        let err = rogue
            .api
            .post_raw(COALITION, &junk, None)
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(409), "{err}");
        assert!(b.audit_of("mls.epoch.conflict").await.is_empty());
        assert_eq!(b.audit().await.len(), entries);
        b.stop().await;
    })
}

/// A fresh openmls group `id` of `admin`'s making holding the key packages `add` (merged).
fn local_group(admin: &Rogue, id: &str, add: &[KeyPackage]) -> (MlsGroup, Option<MlsMessageOut>) {
    let config = MlsGroupCreateConfig::builder()
        .ciphersuite(CIPHERSUITE)
        .wire_format_policy(WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build();
    let mut group = MlsGroup::new_with_group_id(
        &admin.provider,
        &admin.signer,
        &config,
        GroupId::from_slice(id.as_bytes()),
        credential(&admin.org, &admin.signer),
    )
    .unwrap();
    let (_, welcome, _) = group
        .add_members(&admin.provider, &admin.signer, add)
        .unwrap();
    group.merge_pending_commit(&admin.provider).unwrap();
    (group, Some(welcome))
}

/// A key package whose basic credential names no organisation (not a partner id).
fn ghost_key_package() -> KeyPackage {
    let provider = Provider::default();
    let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).unwrap();
    signer.store(provider.storage()).unwrap();
    let cred = CredentialWithKey {
        credential: BasicCredential::new(b"Politie Midden-Nederland".to_vec()).into(),
        signature_key: signer.public().into(),
    };
    KeyPackage::builder()
        .build(CIPHERSUITE, &provider, &signer, cred)
        .unwrap()
        .key_package()
        .clone()
}

/// A leaf whose credential names no organisation is a member all the same: the broker counts
/// it (a group registered as "the administrator alone" with such a leaf beside it is refused),
/// and the SDK's roster shows it, marked, instead of leaving it out.
fn unreadable_leaves_are_shown(b: Broker) -> TestFuture {
    Box::pin(async move {
        let admin = Rogue::new(&b, ADMIN, &[ADMIN_ROLE]);
        let (group, _) = local_group(&admin, COALITION, &[ghost_key_package()]);
        let info = group
            .export_group_info(admin.provider.crypto(), &admin.signer, true)
            .unwrap()
            .to_bytes()
            .unwrap();
        let err = create_coalition(&admin.api, COALITION, &info)
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(400), "{err}");
        assert!(format!("{err}").contains("invalid-group"), "{err}");
        assert!(b.audit_of("mls.group.create").await.is_empty());

        // A member joining a group that holds such a leaf sees it in the roster.
        let mut amersfoort = Member::new(AMERSFOORT, None).unwrap();
        let kp = amersfoort.key_packages(1, false).unwrap().remove(0);
        let MlsMessageBodyIn::KeyPackage(kp) =
            MlsMessageIn::tls_deserialize_exact(&kp).unwrap().extract()
        else {
            panic!("not a key package")
        };
        let kp = kp
            .validate(admin.provider.crypto(), ProtocolVersion::Mls10)
            .unwrap();
        let id = "coalition-with-a-ghost";
        let (_, welcome) = local_group(&admin, id, &[ghost_key_package(), kp]);
        amersfoort
            .join(id, &welcome.unwrap().to_bytes().unwrap(), 0)
            .unwrap();
        assert_eq!(
            amersfoort.members(id),
            vec![
                ADMIN.to_string(),
                format!("{UNREADABLE_LEAF}1"),
                AMERSFOORT.to_string()
            ]
        );
        b.stop().await;
    })
}

/// A member's standalone proposals do not keep the administrator's commits at 409: a commit
/// needs its epoch, not the state every proposal changes. And the administrator's
/// `commit_pending` says what it commits and commits only what its `accept` accepts.
fn proposals_do_not_stall_commits(b: Broker) -> TestFuture {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let (mut admin, mut rogue, mut amersfoort) = group_with_rogue(&b, dir.path()).await;
        let propose = async |rogue: &mut Rogue| {
            let proposal = rogue.propose_update();
            rogue.post(COALITION, &proposal).await.unwrap();
        };
        let update = PendingProposal {
            from: KVO.into(),
            kind: "update".into(),
            removes: None,
        };

        // An administrator that does not commit members' key refreshes: refused, dropped, no
        // commit; it is told which.
        propose(&mut rogue).await;
        assert_eq!(
            admin.sync(COALITION).await,
            vec![Event::ProposalReceived { from: KVO.into() }]
        );
        let done = admin
            .member
            .commit_pending(COALITION, |p| p.kind != "update")
            .unwrap();
        assert_eq!(
            (done.outgoing, done.committed, done.refused),
            (None, vec![], vec![update.clone()])
        );
        assert!(admin.member.pending_proposals(COALITION).is_empty());

        // The administrator builds a commit; a member's proposal reaches the broker first; the
        // commit is accepted all the same.
        let out = admin.member.self_update(COALITION).unwrap();
        propose(&mut rogue).await;
        let posted = admin.api.post(COALITION, &out).await;
        assert!(posted.is_ok(), "{posted:?}");
        admin.member.confirm(COALITION).unwrap();
        admin.sync(COALITION).await;
        assert!(b.audit_of("mls.epoch.conflict").await.is_empty());
        // The other members follow: the two proposals, then the commit that leaves them out.
        let events = amersfoort.sync(COALITION).await;
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(
            matches!(events[2], Event::MembersChanged { .. }),
            "{events:?}"
        );
        assert_eq!(
            amersfoort.member.epoch(COALITION),
            admin.member.epoch(COALITION)
        );
        b.stop().await;
    })
}

/// The message and welcome logs are compacted below the oldest current member's join point:
/// nothing any member can fetch is lost, what none can is erased in one audited step.
fn logs_compacted_below_join_points(b: Broker) -> TestFuture {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let mut admin = Partner::new(&b, ADMIN, &[ADMIN_ROLE], dir.path());
        let mut kvo = Partner::new(&b, KVO, &["signaleerder"], dir.path());
        let mut heuvelrug = Partner::new(&b, HEUVELRUG, &["signaleerder"], dir.path());
        let mut amersfoort = Partner::new(&b, AMERSFOORT, &["analist"], dir.path());
        for p in [&kvo, &heuvelrug, &amersfoort] {
            p.publish(2).await;
        }
        let st = b.state();
        let compact = kruispunt_broker::retention::compact_mls_logs;
        admin.found_coalition(&[KVO, HEUVELRUG]).await; // seq 0 (commit), 1 (key)
        kvo.accept_welcomes().await;
        kvo.sync(COALITION).await;
        heuvelrug.accept_welcomes().await;
        heuvelrug.sync(COALITION).await;
        let out = admin.member.remove(COALITION, HEUVELRUG).unwrap();
        admin.commit(COALITION, &out).await; // seq 2 (commit), 3 (key version 2)
        kvo.sync(COALITION).await;

        // The administrator joined at 0: every message stays; the removed member's welcome
        // goes.
        assert_eq!(compact(&st).await.unwrap(), 0);
        let e = only_entry(&b, "retention.mls-log.compact").await;
        assert_eq!(
            e.operation,
            kruispunt_broker::audit::entry::Operation::Erase
        );
        assert_eq!(
            e.detail["groups"],
            serde_json::json!([{ "group": COALITION, "below_seq": 0, "messages": 0, "welcomes": 1 }])
        );
        assert!(heuvelrug.api.welcomes(0).await.unwrap().welcomes.is_empty());
        assert_eq!(kvo.api.welcomes(0).await.unwrap().welcomes.len(), 1);

        // Re-initialised at seq 4 and the members invited again (seq 4, 5): the old
        // incarnation's messages and KVO's first welcome are of no use to anyone.
        let info = admin.member.reinit_group(COALITION).unwrap();
        admin
            .api
            .reinit_group(COALITION, GroupKind::Coalition, COALITION, &info)
            .await
            .unwrap();
        let kps = vec![
            admin.api.claim_key_package(KVO).await.unwrap(),
            admin.api.claim_key_package(AMERSFOORT).await.unwrap(),
        ];
        let out = admin.member.invite(COALITION, &kps).unwrap();
        admin.commit(COALITION, &out).await;
        kvo.accept_welcomes().await;
        amersfoort.accept_welcomes().await;
        assert_eq!(compact(&st).await.unwrap(), 4);
        let entries = b.audit_of("retention.mls-log.compact").await;
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[1].detail["groups"],
            serde_json::json!([{ "group": COALITION, "below_seq": 4, "messages": 4, "welcomes": 1 }])
        );
        let left = st.store.mls().messages(COALITION, 0, 100).await.unwrap();
        assert_eq!(left.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![4, 5]);
        // Nothing left to compact: no entry.
        assert_eq!(compact(&st).await.unwrap(), 0);
        assert_eq!(b.audit_of("retention.mls-log.compact").await.len(), 2);

        // The members go on: both read the key, and what one says reaches the other.
        for p in [&mut kvo, &mut amersfoort] {
            assert_eq!(
                p.sync(COALITION).await,
                vec![Event::KeyReceived { version: 2 }]
            );
        }
        let msg = kvo
            .member
            .case_detail(COALITION, "RIEC-MN-2026-0042", "leegstaande schuur")
            .unwrap();
        kvo.api.post_raw(COALITION, &msg, None).await.unwrap();
        let events = amersfoort.sync(COALITION).await;
        assert!(
            matches!(&events[..], [Event::CaseDetail { from, .. }] if from == KVO),
            "{events:?}"
        );
        b.stop().await;
    })
}

kruispunt_test_kit::broker_test!(
    coalition_stale_epoch_not_audited_unverified = stale_epoch_is_not_audited_unverified
);
kruispunt_test_kit::broker_test!(coalition_unreadable_leaves_shown = unreadable_leaves_are_shown);
kruispunt_test_kit::broker_test!(
    coalition_proposals_do_not_stall_commits = proposals_do_not_stall_commits
);
kruispunt_test_kit::broker_test!(
    coalition_logs_compacted_below_join_points = logs_compacted_below_join_points
);
