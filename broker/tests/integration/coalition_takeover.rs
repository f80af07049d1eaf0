//! Coalition channels that no single member can hijack, against the real broker over HTTPS on
//! SQLite and (when `KRUISPUNT_TEST_POSTGRES_URL` is set) PostgreSQL. Roles are self-asserted
//! in partner-signed tokens, so neither "holds the administrator role" nor "created the group
//! first" may make an organisation a coalition's administrator: the registry names it. A case
//! channel cannot take a coalition's group id, and no announcement can make the retention task
//! erase a coalition's signals at once or refuse its uploads for good.

use crate::mls_common::*;
use reqwest::Method;
use serde_json::json;

/// A member holding the administrator role in its own token is not the administrator: the
/// registry names the RIEC, so the KVO registering the coalition's group first is refused
/// (403, audited) and the RIEC can still create it.
fn member_cannot_create_coalition_group(b: Broker) -> TestFuture {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        // A municipality of the coalition claims the administrator role in its own token: the
        // registry lets no municipality carry it (refused at authentication) ...
        let mut imposter = Partner::new(&b, AMERSFOORT, &[ADMIN_ROLE], dir.path());
        let info = imposter.member.create_group(COALITION).unwrap();
        let err = create_coalition(&imposter.api, COALITION, &info)
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(403), "{err}");
        assert!(format!("{err}").contains("token-role-not-allowed"), "{err}");
        // ... and with a role it may hold it is not the coalition's administrator.
        let mut imposter = Partner::new(&b, AMERSFOORT, &["analist"], dir.path());
        let info = imposter.member.create_group(COALITION).unwrap();
        let err = create_coalition(&imposter.api, COALITION, &info)
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(403), "{err}");
        assert!(format!("{err}").contains("not-coalition-admin"), "{err}");
        let refused = b.audit_of("mls.group.refused").await;
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].reasons, ["not_coalition_admin"]);
        assert_eq!(refused[0].actor_org.as_deref(), Some(AMERSFOORT));

        // The registered administrator, with its registered role, creates it.
        let mut admin = Partner::new(&b, ADMIN, &[ADMIN_ROLE], dir.path());
        let info = admin.member.create_group(COALITION).unwrap();
        let status = create_coalition(&admin.api, COALITION, &info)
            .await
            .unwrap();
        assert_eq!(status.members, vec![ADMIN.to_string()]);
        b.stop().await;
    })
}

/// The administrator's role alone is not enough either: the registry bounds which roles each
/// organisation's tokens may carry, and a KVO token claiming `coalitiebeheerder` is refused at
/// authentication, on every endpoint, with its own problem type and an audit entry.
fn token_role_outside_registry_is_refused(b: Broker) -> TestFuture {
    Box::pin(async move {
        let path = format!("/v1/coalitions/{COALITION}/key-version");
        let token = b.token(KVO, &["signaleerder", ADMIN_ROLE]);
        let (st, v) = b.call(Method::GET, &path, &token, None).await;
        assert_eq!((st, slug(&v)), (403, "token-role-not-allowed"), "{v}");
        let (st, v) = announce(&b, &token, json!({ "key_version": 2 })).await;
        assert_eq!((st, slug(&v)), (403, "token-role-not-allowed"), "{v}");
        let (st, v) = b
            .post("/v1/signals", &token, &json!({ "signals": [] }))
            .await;
        assert_eq!((st, slug(&v)), (403, "token-role-not-allowed"), "{v}");
        let refusals = b.audit_of("auth.refused").await;
        let n = refusals
            .iter()
            .filter(|e| e.reasons == ["token-role-not-allowed"])
            .count();
        assert_eq!(n, 3, "{refusals:?}");
        // Its own roles still work.
        let (st, v) = b
            .call(Method::GET, &path, &b.token(KVO, &["signaleerder"]), None)
            .await;
        assert_eq!((st, slug(&v)), (404, "not-found"), "{v}");
        b.stop().await;
    })
}

/// A case channel lives in its own namespace: it cannot be registered under a coalition's id
/// (which would block the coalition's own group forever).
fn case_channel_cannot_take_coalition_id(b: Broker) -> TestFuture {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let mut kvo = Partner::new(&b, KVO, &["signaleerder"], dir.path());
        let info = kvo.member.create_group(COALITION).unwrap();
        let err = kvo
            .api
            .create_group(
                COALITION,
                kruispunt_sdk::coalition::wire::GroupKind::Case,
                COALITION,
                None,
                Some("RIEC-MN-2026-0042".into()),
                &info,
            )
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(400), "{err}");
        assert!(format!("{err}").contains("invalid-group-id"), "{err}");
        let mut admin = Partner::new(&b, ADMIN, &[ADMIN_ROLE], dir.path());
        let info = admin.member.create_group(COALITION).unwrap();
        create_coalition(&admin.api, COALITION, &info)
            .await
            .unwrap();
        b.stop().await;
    })
}

/// Even the administrator cannot announce a version that makes the coalition's signals erased
/// at once and its uploads refused for good: a grace period of at least a week, and only the
/// successor of the current version.
fn announcement_is_bounded(b: Broker) -> TestFuture {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let mut admin = Partner::new(&b, ADMIN, &[ADMIN_ROLE], dir.path());
        let info = admin.member.create_group(COALITION).unwrap();
        create_coalition(&admin.api, COALITION, &info)
            .await
            .unwrap();
        let token = b.token(ADMIN, &[ADMIN_ROLE]);
        let (st, v) = announce(&b, &token, json!({ "key_version": 2, "grace_days": 0 })).await;
        assert_eq!((st, slug(&v)), (400, "invalid-grace-days"), "{v}");
        for version in [u32::MAX, 3] {
            let (st, v) = announce(&b, &token, json!({ "key_version": version })).await;
            assert_eq!(
                (st, slug(&v)),
                (409, "key-version-not-forward"),
                "{version}: {v}"
            );
        }
        let (st, v) = announce(&b, &token, json!({ "key_version": 2, "grace_days": 7 })).await;
        assert_eq!(st, 200, "{v}");
        let (st, v) = announce(&b, &token, json!({ "key_version": 4 })).await;
        assert_eq!((st, slug(&v)), (409, "key-version-not-forward"), "{v}");
        let (st, v) = announce(&b, &token, json!({ "key_version": 3 })).await;
        assert_eq!(st, 200, "{v}");
        b.stop().await;
    })
}

kruispunt_test_kit::broker_test!(
    coalition_group_only_by_registered_admin = member_cannot_create_coalition_group
);
kruispunt_test_kit::broker_test!(
    coalition_case_channel_own_namespace = case_channel_cannot_take_coalition_id
);
kruispunt_test_kit::broker_test!(
    coalition_key_version_announcement_bounded = announcement_is_bounded
);
kruispunt_test_kit::broker_test!(
    coalition_token_role_outside_registry = token_role_outside_registry_is_refused
);
