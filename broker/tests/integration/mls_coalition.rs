//! Coalitions over MLS against the real broker over HTTPS, on SQLite and (when
//! `KRUISPUNT_TEST_POSTGRES_URL` is set) PostgreSQL: key packages, a coalition of five
//! organisations receiving the key, equal pseudonyms, a refused add, a restart from persisted
//! state, removal with key rotation, leaving, concurrent commits, the police's case coalition
//! (case channels: `case_channels.rs`) — and the audit entries they leave.

use crate::mls_common::*;
use kruispunt_broker::audit::entry::AuditEntry;
use kruispunt_sdk::IdentifierKind;
use kruispunt_sdk::coalition::{Event, Member, PendingProposal};

fn plate_pseudonym(m: &Member, group: &str) -> (u32, String) {
    let key = m.coalition_key(group).expect("has a coalition key");
    let p = key
        .pseudonymiser(IdentifierKind::Kenteken)
        .pseudonymise("12-ABC-3")
        .unwrap()
        .to_hex();
    (key.version(), p)
}

fn coalition_lifecycle(b: Broker) -> TestFuture {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let mut admin = Partner::new(&b, ADMIN, &[ADMIN_ROLE], dir.path());
        let mut kvo = Partner::new(&b, KVO, &["signaleerder"], dir.path());
        let mut heuvelrug = Partner::new(&b, HEUVELRUG, &["analist"], dir.path());
        let mut amersfoort = Partner::new(&b, AMERSFOORT, &["analist"], dir.path());
        let dealer = Partner::new(&b, DEALER, &["compliance"], dir.path());
        for p in [&kvo, &heuvelrug, &amersfoort, &dealer] {
            p.publish(2).await;
        }

        // A key package naming another organisation than the token is refused.
        let foreign = kvo.member.key_packages(1, false).unwrap();
        let err = amersfoort
            .api
            .publish_key_packages(&foreign)
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(403), "{err}");

        // Only the administrator the registry names for the coalition may create its group.
        let info = admin.member.create_group(COALITION).unwrap();
        let err = create_coalition(&kvo.api, COALITION, &info)
            .await
            .unwrap_err();
        assert_eq!(
            err.status(),
            Some(403),
            "kvo is not the administrator the registry names: {err}"
        );
        assert!(format!("{err}").contains("not-coalition-admin"), "{err}");
        let status = create_coalition(&admin.api, COALITION, &info)
            .await
            .unwrap();
        assert_eq!(status.members, vec![ADMIN.to_string()]);
        assert_eq!(status.epoch, 0);

        // Invite three organisations in one commit; the key follows as an application message.
        let mut kps = Vec::new();
        for org in [KVO, HEUVELRUG, AMERSFOORT] {
            kps.push(admin.api.claim_key_package(org).await.unwrap());
        }
        let out = admin.member.invite(COALITION, &kps).unwrap();
        admin.commit(COALITION, &out).await;
        for p in [&mut kvo, &mut heuvelrug, &mut amersfoort] {
            assert_eq!(p.accept_welcomes().await, vec![COALITION.to_string()]);
            let events = p.sync(COALITION).await;
            assert_eq!(events, vec![Event::KeyReceived { version: 1 }]);
        }
        // All derive the same pseudonyms under version 1.
        let expected = plate_pseudonym(&admin.member, COALITION);
        assert_eq!(expected.0, 1);
        for p in [&kvo, &heuvelrug, &amersfoort] {
            assert_eq!(plate_pseudonym(&p.member, COALITION), expected);
        }
        let status = admin.api.group(COALITION).await.unwrap();
        assert_eq!(status.members.len(), 4);
        assert_eq!(status.epoch, 1);

        // The broker never saw the key: no stored message contains its bytes.
        let key = admin.member.coalition_key(COALITION).unwrap();
        let logged = admin.api.fetch(COALITION, 0).await.unwrap();
        assert!(logged.len() >= 2);
        for m in &logged {
            assert!(
                !m.message
                    .windows(32)
                    .any(|w| w == key.expose_secret().as_slice()),
                "the coalition key travels encrypted"
            );
        }

        // A private partner outside the coalition cannot be added: 403, audited, nothing stored.
        let dealer_kp = admin.api.claim_key_package(DEALER).await.unwrap();
        let bad = admin.member.invite(COALITION, &[dealer_kp]).unwrap();
        let err = admin.api.post(COALITION, &bad).await.unwrap_err();
        assert_eq!(err.status(), Some(403), "{err}");
        assert!(format!("{err}").contains("mls-add-not-allowed"), "{err}");
        admin.member.discard(COALITION).unwrap();
        assert_eq!(admin.api.group(COALITION).await.unwrap().epoch, 1);
        let audit = b.audit().await;
        let refused = audit
            .iter()
            .find(|e| e.action == "mls.commit.refused")
            .expect("the refusal is audited");
        assert_eq!(refused.actor_org.as_deref(), Some(ADMIN));
        assert!(
            refused
                .reasons
                .contains(&"target_not_in_coalition".to_string())
        );
        assert_eq!(refused.detail["target_org"], DEALER);
        // The dealer got no welcome.
        assert!(dealer.api.welcomes(0).await.unwrap().welcomes.is_empty());

        // A member restarts from its persisted state and continues.
        let amersfoort_path = amersfoort.path.clone();
        let amersfoort_api = amersfoort.api.clone();
        drop(amersfoort);
        let mut amersfoort = Partner {
            member: Member::open(&amersfoort_path).unwrap(),
            api: amersfoort_api,
            path: amersfoort_path,
            welcome_cursor: 1,
        };
        assert_eq!(plate_pseudonym(&amersfoort.member, COALITION), expected);

        // Remove heuvelrug: the administrator rotates the key; the others receive version 2.
        let out = admin.member.remove(COALITION, HEUVELRUG).unwrap();
        admin.commit(COALITION, &out).await;
        assert_eq!(plate_pseudonym(&admin.member, COALITION).0, 2);
        for p in [&mut kvo, &mut amersfoort] {
            let events = p.sync(COALITION).await;
            assert_eq!(events.len(), 2, "{events:?}");
            assert!(
                matches!(&events[0], Event::MembersChanged { removed, .. } if removed == &vec![HEUVELRUG.to_string()])
            );
            assert_eq!(events[1], Event::KeyReceived { version: 2 });
            assert_eq!(
                plate_pseudonym(&p.member, COALITION),
                plate_pseudonym(&admin.member, COALITION)
            );
        }
        assert_ne!(plate_pseudonym(&admin.member, COALITION).1, expected.1);
        // The removed organisation: the broker no longer lets it read the log…
        let err = heuvelrug.api.fetch(COALITION, 0).await.unwrap_err();
        assert_eq!(err.status(), Some(403), "{err}");
        // …and even with the messages in hand (from another member) it learns its removal,
        // not the new key.
        let from = heuvelrug.member.cursor(COALITION).unwrap();
        let leaked = kvo.api.fetch(COALITION, from).await.unwrap();
        let events = heuvelrug.member.process(COALITION, &leaked).unwrap();
        assert_eq!(events, vec![Event::RemovedFromGroup]);
        assert!(
            heuvelrug
                .member
                .coalition_key_version(COALITION, 2)
                .is_none()
        );
        assert!(heuvelrug.member.process(COALITION, &leaked[1..]).is_err());
        // Its old-version pseudonyms no longer match what the others now produce.
        assert_eq!(plate_pseudonym(&heuvelrug.member, COALITION).0, 1);

        // Concurrent commits for the same epoch: one wins, the other gets 409 and re-bases.
        let out_kvo = kvo.member.self_update(COALITION).unwrap();
        let out_ams = amersfoort.member.self_update(COALITION).unwrap();
        let (r1, r2) = tokio::join!(
            kvo.api.post(COALITION, &out_kvo),
            amersfoort.api.post(COALITION, &out_ams)
        );
        assert!(
            r1.is_ok() != r2.is_ok(),
            "exactly one commit wins: {r1:?} {r2:?}"
        );
        let (winner, loser) = if r1.is_ok() {
            (&mut kvo, &mut amersfoort)
        } else {
            (&mut amersfoort, &mut kvo)
        };
        let lost = if r1.is_ok() { r2 } else { r1 };
        assert!(lost.unwrap_err().is_conflict());
        winner.member.confirm(COALITION).unwrap();
        loser.member.discard(COALITION).unwrap();
        loser.sync(COALITION).await;
        let retry = loser.member.self_update(COALITION).unwrap();
        loser.commit(COALITION, &retry).await;
        winner.sync(COALITION).await;
        admin.sync(COALITION).await;
        assert_eq!(admin.member.epoch(COALITION), kvo.member.epoch(COALITION));
        assert_eq!(
            admin.member.epoch(COALITION),
            amersfoort.member.epoch(COALITION)
        );
        // The loser is audited when its verified commit lost at the append; when it arrived
        // after the winner's, its epoch was stale and it could not be verified: no entry.
        assert!(b.audit_of("mls.epoch.conflict").await.len() <= 1);

        // kvo leaves: its proposal reaches the administrator, who commits it and rotates.
        let proposal = kvo.member.leave(COALITION).unwrap();
        kvo.api.post_raw(COALITION, &proposal, None).await.unwrap();
        let events = admin.sync(COALITION).await;
        assert_eq!(
            events,
            vec![Event::ProposalReceived {
                from: KVO.to_string()
            }]
        );
        // The administrator's commit says what it commits: kvo's removal of itself.
        let done = admin
            .member
            .commit_pending(COALITION, PendingProposal::own_change)
            .unwrap();
        assert_eq!(
            done.committed,
            vec![PendingProposal {
                from: KVO.into(),
                kind: "remove".into(),
                removes: Some(KVO.into()),
            }]
        );
        assert!(done.refused.is_empty());
        admin.commit(COALITION, &done.outgoing.unwrap()).await;
        assert_eq!(plate_pseudonym(&admin.member, COALITION).0, 3);
        let events = amersfoort.sync(COALITION).await;
        assert_eq!(events.last(), Some(&Event::KeyReceived { version: 3 }));
        assert_eq!(
            admin.api.group(COALITION).await.unwrap().members,
            vec![AMERSFOORT.to_string(), ADMIN.to_string()]
        );
        let events = kvo
            .member
            .process(
                COALITION,
                &admin
                    .api
                    .fetch(COALITION, kvo.member.cursor(COALITION).unwrap())
                    .await
                    .unwrap(),
            )
            .unwrap();
        assert!(events.contains(&Event::RemovedFromGroup), "{events:?}");

        // Every delivery left an entry with metadata only.
        let audit = b.audit().await;
        let deliveries: Vec<&AuditEntry> =
            audit.iter().filter(|e| e.action == "mls.deliver").collect();
        assert!(deliveries.len() >= 8, "{}", deliveries.len());
        for e in &deliveries {
            for field in ["group", "epoch", "seq", "content_type", "size"] {
                assert!(
                    !e.detail[field].is_null(),
                    "{field} missing in {:?}",
                    e.detail
                );
            }
            assert!(e.actor_org.is_some());
            assert!(!e.recipients.is_empty() || e.detail["content_type"] != "application");
            // No message bytes in the entry: it is small.
            assert!(
                e.canonical_json().len() < 1024,
                "{}",
                e.canonical_json().len()
            );
        }
        assert!(
            audit.iter().any(|e| e.action == "mls.key_package.claim"
                && e.source_orgs == vec![DEALER.to_string()])
        );

        b.stop().await;
    })
}

kruispunt_test_kit::broker_test!(
    coalition_key_distribution_rotation_and_refusals = coalition_lifecycle
);

/// A private partner into the police's case coalition (the RIEC casusoverleg): refused by the
/// registry. (Case channels under a registered case: `case_channels.rs`.)
fn police_case_coalition(b: Broker) -> TestFuture {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let mut riec = Partner::new(&b, ADMIN, &[ADMIN_ROLE], dir.path());
        let horeca = Partner::new(&b, "horeca-gooi", &["compliance"], dir.path());
        horeca.publish(1).await;
        let police_case = "politie-casus-riec-midden-nederland";
        let info = riec.member.create_group(police_case).unwrap();
        create_coalition(&riec.api, police_case, &info)
            .await
            .unwrap();
        let kp = riec.api.claim_key_package("horeca-gooi").await.unwrap();
        let out = riec.member.invite(police_case, &[kp]).unwrap();
        let err = riec.api.post(police_case, &out).await.unwrap_err();
        assert_eq!(err.status(), Some(403), "{err}");
        assert!(horeca.api.welcomes(0).await.unwrap().welcomes.is_empty());
        // Outsiders cannot read a group's log.
        assert_eq!(
            horeca.api.fetch(police_case, 0).await.unwrap_err().status(),
            Some(403)
        );
        b.stop().await;
    })
}

kruispunt_test_kit::broker_test!(
    police_case_coalition_refuses_a_private_partner = police_case_coalition
);

fn protocol_refusals(b: Broker) -> TestFuture {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let mut riec = Partner::new(&b, ADMIN, &[ADMIN_ROLE], dir.path());
        let mut kvo = Partner::new(&b, KVO, &["signaleerder"], dir.path());
        kvo.publish(1).await;
        let info = riec.member.create_group(COALITION).unwrap();
        create_coalition(&riec.api, COALITION, &info).await.unwrap();
        // Registering the same group twice: 409.
        let err = create_coalition(&riec.api, COALITION, &info)
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(409), "{err}");
        // Without the administrator role the policy refuses the creator.
        let plain = b.mls(ADMIN, &["analist"]);
        let other = riec
            .member
            .create_group("politie-casus-riec-midden-nederland")
            .unwrap();
        let err = create_coalition(&plain, "politie-casus-riec-midden-nederland", &other)
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(403), "{err}");

        // A key message prepared at epoch 0, posted after the group moved to epoch 1: 409.
        let stale = riec.member.key_message(COALITION).unwrap();
        let kp = riec.api.claim_key_package(KVO).await.unwrap();
        let out = riec.member.invite(COALITION, &[kp]).unwrap();
        riec.commit(COALITION, &out).await;
        let err = riec
            .api
            .post_raw(COALITION, &stale, None)
            .await
            .unwrap_err();
        assert!(err.is_conflict(), "{err}");
        // A commit whose welcome is missing is refused, and nothing changes.
        kvo.accept_welcomes().await;
        kvo.sync(COALITION).await;
        let upd = kvo.member.self_update(COALITION).unwrap();
        let err = kvo
            .api
            .post_raw(COALITION, &upd.message, Some(b"not a welcome"))
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(400), "{err}");
        kvo.member.discard(COALITION).unwrap();

        // Malformed input: problem+json naming the field.
        let token = b.token(KVO, &["signaleerder"]);
        let url = format!("{}/v1/mls/groups/{COALITION}/messages", b.base);
        for (body, needle) in [
            (serde_json::json!({"message": "%%%"}), "message"),
            (serde_json::json!({"message": "AAAA"}), "message"),
            (serde_json::json!({"message": "AAAA", "extra": 1}), "extra"),
        ] {
            let resp = b
                .client
                .post(&url)
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 400);
            assert_eq!(
                resp.headers()["content-type"].to_str().unwrap(),
                "application/problem+json"
            );
            let v: serde_json::Value = resp.json().await.unwrap();
            assert!(v["detail"].as_str().unwrap().contains(needle), "{v}");
        }
        let resp = b
            .client
            .get(format!("{url}?form=3"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        // No token: 401, audited.
        let resp = b.client.get(&url).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401);
        // A non-member cannot post into the group.
        let outsider = b.mls(AMERSFOORT, &["analist"]);
        let err = outsider
            .post_raw(COALITION, &stale, None)
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(403), "{err}");
        // Claims: an organisation without packages, an unknown organisation.
        assert_eq!(
            riec.api
                .claim_key_package(AMERSFOORT)
                .await
                .unwrap_err()
                .status(),
            Some(404)
        );
        assert_eq!(
            riec.api
                .claim_key_package("nobody")
                .await
                .unwrap_err()
                .status(),
            Some(404)
        );
        // The last-resort package is handed out again and again; ordinary ones once.
        kvo.publish(0).await;
        let a = riec.api.claim_key_package(KVO).await.unwrap();
        let c = riec.api.claim_key_package(KVO).await.unwrap();
        assert_eq!(a, c, "only the last-resort package is left");
        b.stop().await;
    })
}

kruispunt_test_kit::broker_test!(
    protocol_refusals_are_problems_and_change_nothing = protocol_refusals
);

fn expired_key_packages(b: Broker) -> TestFuture {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let kvo = Partner::new(&b, KVO, &["signaleerder"], dir.path());
        let amersfoort = Partner::new(&b, AMERSFOORT, &["analist"], dir.path());
        kvo.publish(2).await;
        amersfoort.publish(1).await;
        let riec = b.mls(ADMIN, &[ADMIN_ROLE]);
        riec.claim_key_package(KVO).await.unwrap(); // an ordinary one, now claimed
        let st = b.state();
        let purge = kruispunt_broker::retention::purge_key_packages;

        // Within their lifetime nothing is erased.
        assert_eq!(purge(&st, now()).await.unwrap(), 0);
        assert!(b.audit_of("retention.key-packages.purge").await.is_empty());

        // Past it (openmls' default lifetime: 12 weeks) every package goes — claimed or not,
        // last-resort too (an expired one is never handed out) — in one audited erasure.
        let later = now() + 85 * 86_400;
        assert_eq!(purge(&st, later).await.unwrap(), 5);
        let e = &only_entry(&b, "retention.key-packages.purge").await;
        assert_eq!(
            e.operation,
            kruispunt_broker::audit::entry::Operation::Erase
        );
        assert_eq!(e.detail["count"], 5);
        assert_eq!(
            e.detail["per_org"],
            serde_json::json!({ AMERSFOORT: 2, KVO: 3 })
        );
        assert_eq!(e.detail["last_resort"], 2);
        assert_eq!(e.detail["claimed"], 1);
        assert_eq!(e.source_orgs, vec![AMERSFOORT.to_string(), KVO.to_string()]);
        // Idempotent: nothing left, no new entry.
        assert_eq!(purge(&st, later).await.unwrap(), 0);
        assert_eq!(b.audit_of("retention.key-packages.purge").await.len(), 1);
        for org in [KVO, AMERSFOORT] {
            let err = riec.claim_key_package(org).await.unwrap_err();
            assert_eq!(err.status(), Some(404), "{err}");
        }

        // Publishing again restores the directory, with a last-resort package handed out
        // again and again.
        kvo.publish(0).await;
        let a = riec.claim_key_package(KVO).await.unwrap();
        let c = riec.claim_key_package(KVO).await.unwrap();
        assert_eq!(a, c, "only the last-resort package is left, and it is kept");
        b.stop().await;
    })
}

kruispunt_test_kit::broker_test!(
    expired_key_packages_are_erased_and_audited = expired_key_packages
);
