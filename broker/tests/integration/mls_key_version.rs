//! The coalition key version over real HTTPS, on SQLite and (when
//! `KRUISPUNT_TEST_POSTGRES_URL` is set) PostgreSQL: who may announce it, that versions only
//! move forward, who may read it; the erasure of superseded signals once the grace period
//! ended (audited once, idempotent, sparing other coalitions' signals and signals that belong
//! to several); and the refusal of uploads under a superseded version after the grace period.

use crate::mls_common::*;
use kruispunt_sdk::IdentifierKind;
use kruispunt_sdk::pseudonym::Pseudonym;
use reqwest::Method;
use serde_json::{Value, json};

const KVO_FLEVOLAND: &str = "kvo-buitengebied-flevoland";
/// A KvK number reported by the coalition's KVO and a municipality (two sources: a hit).
const TENANT: &str = "12345678";
/// A KvK number for the control signals.
const CONTROL: &str = "87654321";

/// Uploads `signals` as `org`; answers the response body (200 expected).
async fn upload(b: &Broker, org: &str, role: &str, signals: Vec<Value>) -> Value {
    let (st, v) = b
        .post(
            "/v1/signals",
            &b.token(org, &[role]),
            &json!({ "signals": signals }),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    v
}

/// Whether Amersfoort's hit/no-hit question on `kvk` under `version` hits.
async fn hits(b: &Broker, kvk: &str, version: u32) -> bool {
    let q = json!({
        "purpose": KVO_PURPOSE, "level": "hit",
        "identifiers": [{ "kind": "kvk", "pseudonym": kvk_pseudonym(kvk, version), "key_version": version }],
    });
    let (st, v) = b
        .post("/v1/matches", &b.token(AMERSFOORT, &["analist"]), &q)
        .await;
    assert_eq!(st, 200, "{v}");
    v["results"][0]["hit"].as_bool().unwrap()
}

/// How many live signals the database holds for `kvk` under `version`.
async fn stored(b: &Broker, kvk: &str, version: u32) -> usize {
    let st = b.state();
    let p = Pseudonym::from_hex(&kvk_pseudonym(kvk, version)).unwrap();
    let at_rest = st.keys.at_rest(p.as_bytes());
    let mut n = 0;
    st.store
        .signals()
        .for_each_live_signal(now(), &mut |r| {
            if r.kind == IdentifierKind::Kvk && r.key_version == version && r.stored == at_rest {
                n += 1;
            }
        })
        .await
        .unwrap();
    n
}

fn key_version_lifecycle(b: Broker) -> TestFuture {
    Box::pin(async move {
        let admin_token = b.token(ADMIN, &[ADMIN_ROLE]);
        let v2 = json!({ "key_version": 2, "grace_days": 14 });

        // The coalition's group must exist first.
        let (st, v) = announce(&b, &admin_token, v2.clone()).await;
        assert_eq!((st, slug(&v)), (404, "not-found"), "{v}");
        let dir = tempfile::tempdir().unwrap();
        let mut admin = Partner::new(&b, ADMIN, &[ADMIN_ROLE], dir.path());
        let info = admin.member.create_group(COALITION).unwrap();
        create_coalition(&admin.api, COALITION, &info)
            .await
            .unwrap();

        // Only the administrator the registry names, with its role, announces: a member without
        // the role, the administrator without it — 403, audited.
        for (org, role) in [(KVO, "signaleerder"), (ADMIN, "analist")] {
            let (st, v) = announce(&b, &b.token(org, &[role]), v2.clone()).await;
            assert_eq!((st, slug(&v)), (403, "not-coalition-admin"), "{org}: {v}");
        }
        // Another organisation cannot even carry the role (the registry's token roles).
        let (st, v) = announce(&b, &b.token(AMERSFOORT, &[ADMIN_ROLE]), v2.clone()).await;
        assert_eq!((st, slug(&v)), (403, "token-role-not-allowed"), "{v}");
        let refused = b.audit_of("coalition.key-version.refused").await;
        assert_eq!(refused.len(), 2);
        assert!(refused.iter().all(|e| e.reasons == ["not_coalition_admin"]));
        assert_eq!(refused[1].actor_org.as_deref(), Some(ADMIN));

        // Signals under version 1: the coalition's own (KVO and a municipality: two sources,
        // so they match), and two controls that must survive the purge — one of another
        // coalition (Flevoland), one the RIEC supplied under a purpose several coalitions
        // share (it belongs to them all).
        let own = kvk_signal(TENANT, 1, KVO_PURPOSE, KVO_DISTRICT);
        assert_eq!(
            upload(&b, KVO, "signaleerder", vec![own.clone()]).await["stored"],
            1
        );
        assert_eq!(
            upload(&b, HEUVELRUG, "signaleerder", vec![own.clone()]).await["stored"],
            1
        );
        let other_coalition = kvk_signal(CONTROL, 1, KVO_PURPOSE, "flevoland");
        let v = upload(&b, KVO_FLEVOLAND, "signaleerder", vec![other_coalition]).await;
        assert_eq!(v["stored"], 1, "{v}");
        let shared = kvk_signal(CONTROL, 1, "ondermijningsbeeld", KVO_DISTRICT);
        let v = upload(&b, ADMIN, "analist", vec![shared]).await;
        assert_eq!(v["stored"], 1, "{v}");
        assert_eq!(stored(&b, CONTROL, 1).await, 2);
        assert!(hits(&b, TENANT, 1).await);

        // Version 2 with a 14-day grace period.
        let before = now();
        let (st, v) = announce(&b, &admin_token, v2.clone()).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["key_version"], 2);
        assert_eq!(v["announced_by"], ADMIN);
        let grace_until = v["grace_until"].as_i64().unwrap();
        assert!((before + 14 * 86_400..=now() + 14 * 86_400).contains(&grace_until));
        // Versions only move forward; the grace period is bounded.
        for body in [v2.clone(), json!({ "key_version": 1 })] {
            let (st, v) = announce(&b, &admin_token, body).await;
            assert_eq!((st, slug(&v)), (409, "key-version-not-forward"), "{v}");
        }
        let (st, v) = announce(
            &b,
            &admin_token,
            json!({ "key_version": 3, "grace_days": 9999 }),
        )
        .await;
        assert_eq!((st, slug(&v)), (400, "invalid-grace-days"), "{v}");
        // Members read it; others learn nothing.
        let path = format!("/v1/coalitions/{COALITION}/key-version");
        let (st, v) = b
            .call(Method::GET, &path, &b.token(KVO, &["signaleerder"]), None)
            .await;
        assert_eq!((st, v["key_version"].as_u64()), (200, Some(2)), "{v}");
        let (st, v) = b
            .call(Method::GET, &path, &b.token(DEALER, &["compliance"]), None)
            .await;
        assert_eq!(st, 404, "{v}");

        // During the grace period nothing is erased, version 1 still matches, and an upload
        // under version 1 is still accepted (partners re-upload at their own pace).
        let st = b.state();
        let purge = kruispunt_broker::mls::key_version::purge_superseded;
        assert_eq!(purge(&st, now()).await.unwrap(), 0);
        assert!(hits(&b, TENANT, 1).await);
        let late = kvk_signal(TENANT, 1, KVO_PURPOSE, KVO_DISTRICT);
        let mut late_other = late.clone();
        late_other["code"] = json!("cash-rent");
        let v = upload(&b, KVO, "signaleerder", vec![late_other]).await;
        assert_eq!(v["stored"], 1, "{v}");
        assert!(b.audit_of("retention.key-version.purge").await.is_empty());

        // After it: the coalition's version-1 signals are erased in one audited transaction and
        // stop matching; the controls stay.
        let later = now() + 15 * 86_400;
        assert_eq!(purge(&st, later).await.unwrap(), 3);
        let e = &only_entry(&b, "retention.key-version.purge").await;
        assert_eq!(e.detail["coalition"], COALITION);
        assert_eq!(e.detail["key_version"], 2);
        assert_eq!(e.detail["count"], 3);
        assert_eq!(e.detail["old_versions"], json!([1]));
        assert_eq!(e.pseudonyms.len(), 3);
        assert_eq!(e.source_orgs, vec![HEUVELRUG.to_string(), KVO.to_string()]);
        assert!(!hits(&b, TENANT, 1).await);
        assert_eq!(stored(&b, TENANT, 1).await, 0);
        assert_eq!(stored(&b, CONTROL, 1).await, 2);
        // Idempotent: nothing more to erase, no new entry.
        assert_eq!(purge(&st, later).await.unwrap(), 0);
        assert_eq!(b.audit_of("retention.key-version.purge").await.len(), 1);

        // Once a grace period is over, an upload under the superseded version is refused per
        // item, naming the field and the rule; the current version and the controls pass.
        // An announcement asks for at least a week (see coalition_takeover.rs); the week having
        // passed is written to the store directly, as the announcement would have left it.
        let (s, v) = announce(
            &b,
            &admin_token,
            json!({ "key_version": 3, "grace_days": 0 }),
        )
        .await;
        assert_eq!((s, slug(&v)), (400, "invalid-grace-days"), "{v}");
        let row = kruispunt_broker::mls::store::KeyVersionRow {
            coalition: COALITION.into(),
            key_version: 3,
            grace_until: now() - 1,
            announced_by: ADMIN.into(),
            announced_at: now() - 8 * 86_400,
        };
        let entry = kruispunt_broker::audit::entry::by(
            None,
            kruispunt_broker::audit::entry::Operation::Collect,
            kruispunt_broker::audit::action::COALITION_KEY_VERSION_ANNOUNCE,
        );
        b.state()
            .store
            .mls()
            .announce_key_version(&row, &entry)
            .await
            .unwrap();
        let v = upload(
            &b,
            KVO,
            "signaleerder",
            vec![
                kvk_signal(TENANT, 2, KVO_PURPOSE, KVO_DISTRICT),
                kvk_signal(TENANT, 3, KVO_PURPOSE, KVO_DISTRICT),
            ],
        )
        .await;
        assert_eq!(
            (v["stored"].as_u64(), v["rejected"].as_u64()),
            (Some(1), Some(1)),
            "{v}"
        );
        let r = &v["results"][0];
        assert_eq!(r["status"], "rejected");
        assert_eq!(r["field"], "key_version");
        let reason = r["reason"].as_str().unwrap();
        assert!(
            reason.contains(COALITION) && reason.contains("re-pseudonymise under version 3"),
            "{reason}"
        );
        assert_eq!(v["results"][1]["status"], "stored");
        assert_eq!(stored(&b, TENANT, 2).await, 0);
        let mut other_coalition = kvk_signal(CONTROL, 1, KVO_PURPOSE, "flevoland");
        other_coalition["code"] = json!("cash-rent");
        let v = upload(&b, KVO_FLEVOLAND, "signaleerder", vec![other_coalition]).await;
        assert_eq!(v["stored"], 1, "{v}");
        let mut shared = kvk_signal(CONTROL, 1, "ondermijningsbeeld", KVO_DISTRICT);
        shared["code"] = json!("cash-rent");
        let v = upload(&b, ADMIN, "analist", vec![shared]).await;
        assert_eq!(v["stored"], 1, "{v}");
        b.stop().await;
    })
}

kruispunt_test_kit::broker_test!(
    key_version_announcement_purge_and_superseded_uploads = key_version_lifecycle
);
