//! Case channels tied to the case register (issue 16; docs/COALITIONS.md, "Case channels";
//! docs/CASES.md, "The revocation guarantee"): a channel is registered only under a registered
//! case that is open or in intervention, by a case director who takes part in it; it holds the
//! case's participants only; and once the case is closed it takes no more messages or commits —
//! on both backends, and through a second `kruispunt serve` process on the same PostgreSQL
//! database. Alongside: what an organisation outside the case, a participant and a member of the
//! channel could learn or break.

use kruispunt_sdk::coalition::Event;
use kruispunt_sdk::coalition::Member;
use kruispunt_sdk::coalition::http::{BrokerMls, HttpError};
use kruispunt_sdk::coalition::wire::{GroupKind, GroupStatus, b64};
use kruispunt_test_kit::Options;
use serde_json::{Value, json};

use crate::mls_common::*;

const RIEC: &str = ADMIN;
const POLICE: &str = "politie-midden-nederland";
const OM: &str = "om-midden-nederland";
const UTRECHT: &str = "gemeente-utrecht";
/// A municipality that steers cases but does not take part in this one.
const ALMERE: &str = "gemeente-almere";
const REGISSEUR: &str = "casusregisseur";
/// The coalition a case channel names (a label: the case decides who is in it).
const CASUS: &str = "politie-casus-riec-midden-nederland";
const CASE: &str = "MN-2026-0500";
const GROUP: &str = "case.mn-2026-0500";

kruispunt_test_kit::per_backend_tests!(on_broker:
    case_channel_follows_the_register_on_sqlite, case_channel_follows_the_register_on_postgres = case_channel_follows_the_register;
);

/// A partner whose delivery-service client presents its development client certificate when
/// it has one (the police and the OM must: mTLS).
fn partner(b: &Broker, org: &str, roles: &[&str], dir: &std::path::Path) -> Partner {
    let path = dir.join(format!("{org}.mls"));
    let has_cert = b.data_dir().join(format!("tls/clients/{org}.pem")).exists();
    let client = if has_cert {
        b.mtls_client(org)
    } else {
        b.client.clone()
    };
    Partner {
        member: Member::new(org, Some(&path)).unwrap(),
        api: BrokerMls::new(client, b.base.clone(), b.token(org, roles)),
        path,
        welcome_cursor: 0,
    }
}

/// The RIEC's case director opens `reference` with `participants`.
async fn open_case(b: &Broker, reference: &str, participants: &[&str]) {
    let (st, v) = b
        .post(
            "/v1/cases",
            &b.token(RIEC, &[REGISSEUR]),
            &json!({
                "reference": reference, "gemeente": "GM0344", "themes": ["criminele-families"],
                "legal_frame": ["riec-convenant", "wpg-art-19"], "participants": participants,
            }),
        )
        .await;
    assert_eq!(st, 200, "{v}");
}

/// The RIEC's case director closes `reference`.
async fn close_case(b: &Broker, reference: &str) {
    let (st, v) = b
        .post(
            &format!("/v1/cases/{reference}/state"),
            &b.token(RIEC, &[REGISSEUR]),
            &json!({ "state": "closed", "result": "intervened" }),
        )
        .await;
    assert_eq!(st, 200, "{v}");
}

/// `POST /v1/mls/groups` of case channel `group` under `case` as `org` with `roles` (a fresh
/// MLS identity: the answer is decided before the GroupInfo is looked at).
async fn register(
    b: &Broker,
    org: &str,
    roles: &[&str],
    group: &str,
    case: &str,
    allowed: Option<&[&str]>,
) -> (u16, Value) {
    let mut member = Member::new(org, None).unwrap();
    let info = member.create_group(group).unwrap();
    let mut body = json!({
        "group_id": group, "kind": "case", "coalition": CASUS, "case_reference": case,
        "group_info": b64(&info),
    });
    if let Some(list) = allowed {
        body["allowed"] = json!(list);
    }
    b.post("/v1/mls/groups", &b.token(org, roles), &body).await
}

/// `riec` (the RIEC's case director) registers the case's channel [`GROUP`] under [`CASE`].
async fn register_channel(riec: &mut Partner) -> GroupStatus {
    let info = riec.member.create_group(GROUP).unwrap();
    riec.api
        .create_group(
            GROUP,
            GroupKind::Case,
            CASUS,
            None,
            Some(CASE.into()),
            &info,
        )
        .await
        .unwrap()
}

/// What a refusal tells its reader: status, type, detail and reasons.
fn told(st: u16, v: &Value) -> Value {
    json!({ "status": st, "type": v["type"], "detail": v["detail"], "reasons": v["reasons"] })
}

fn refused_as(err: &HttpError, slug: &str) {
    assert_eq!(err.status(), Some(403), "{err}");
    assert!(format!("{err}").contains(slug), "{slug}: {err}");
}

async fn case_channel_follows_the_register(b: &Broker) {
    let dir = tempfile::tempdir().unwrap();

    // No case channel under a case the register does not hold; audited.
    let (st, unknown) = register(b, RIEC, &[REGISSEUR], GROUP, CASE, None).await;
    assert_eq!((st, slug(&unknown)), (403, "case-unknown"), "{unknown}");
    assert_eq!(unknown["reasons"], json!(["case_unknown"]));
    let refused = b.audit_of("mls.group.refused").await;
    assert_eq!(refused.last().unwrap().reasons, ["case_unknown"]);
    assert_eq!(
        refused.last().unwrap().case_reference.as_deref(),
        Some(CASE)
    );

    open_case(b, CASE, &[POLICE, OM, UTRECHT]).await;

    // An organisation outside the case is told exactly what it is told for a case that does not
    // exist: it learns nothing of the case, and not that it exists — nor does its privacy
    // officer from the audit entry of the refusal.
    let (st, v) = register(b, ALMERE, &[REGISSEUR], GROUP, CASE, None).await;
    let (st2, v2) = register(b, ALMERE, &[REGISSEUR], GROUP, "MN-2026-0599", None).await;
    assert_eq!(told(st, &v), told(st2, &v2));
    assert_eq!(told(st, &v), told(403, &unknown));
    let refused = b.audit_of("mls.group.refused").await;
    let (outsider, guess) = (&refused[refused.len() - 2], &refused[refused.len() - 1]);
    assert_eq!(outsider.actor_org.as_deref(), Some(ALMERE));
    assert_eq!(outsider.case_reference.as_deref(), Some(CASE));
    assert_eq!(guess.case_reference.as_deref(), Some("MN-2026-0599"));
    assert_eq!(outsider.reasons, ["case_unknown"]);
    assert_eq!(outsider.reasons, guess.reasons);
    assert_eq!(outsider.detail["refused"], guess.detail["refused"]);

    // A participant without the case role (a municipal analyst), and a private partner: the
    // case role is the registry's, asked of the token alone.
    let (st, v) = register(b, UTRECHT, &["analist"], GROUP, CASE, None).await;
    assert_eq!((st, slug(&v)), (403, "case-role-not-allowed"), "{v}");
    let (st, v) = register(b, KVO, &["signaleerder"], GROUP, CASE, None).await;
    assert_eq!((st, slug(&v)), (403, "case-role-not-allowed"), "{v}");
    // The coalitions' administrator role is not the case role.
    let (st, v) = register(b, RIEC, &[ADMIN_ROLE], GROUP, CASE, None).await;
    assert_eq!((st, slug(&v)), (403, "case-role-not-allowed"), "{v}");

    // A list naming an organisation outside the case (the KVO that supplied signals): refused,
    // naming no one.
    let (st, v) = register(
        b,
        RIEC,
        &[REGISSEUR],
        GROUP,
        CASE,
        Some(&[RIEC, POLICE, KVO]),
    )
    .await;
    assert_eq!((st, slug(&v)), (403, "case-member-not-participant"), "{v}");
    assert!(!v.to_string().contains(KVO), "{v}");
    let refused = b.audit_of("mls.group.refused").await;
    assert_eq!(refused.last().unwrap().reasons, ["target_not_participant"]);
    assert_eq!(refused.last().unwrap().detail["refused"], 1);
    assert!(
        b.audit_of("mls.group.create").await.is_empty(),
        "nothing registered yet"
    );

    // The RIEC's case director registers the channel: it may hold the case's participants.
    let mut riec = partner(b, RIEC, &[REGISSEUR], dir.path());
    let mut police = partner(b, POLICE, &[REGISSEUR, "rechercheur"], dir.path());
    let mut utrecht = partner(b, UTRECHT, &["analist"], dir.path());
    let kvo = partner(b, KVO, &["signaleerder"], dir.path());
    let almere = partner(b, ALMERE, &[REGISSEUR], dir.path());
    for p in [&police, &utrecht, &kvo, &almere] {
        p.publish(1).await;
    }
    let status = register_channel(&mut riec).await;
    assert_eq!(status.members, [RIEC]);
    let created = only_entry(b, "mls.group.create").await;
    assert_eq!(created.case_reference.as_deref(), Some(CASE));
    assert_eq!(
        created.detail["allowed"],
        json!([UTRECHT, OM, POLICE, RIEC])
    );

    // Its case director invites the police and the municipality.
    let kps = vec![
        riec.api.claim_key_package(POLICE).await.unwrap(),
        riec.api.claim_key_package(UTRECHT).await.unwrap(),
    ];
    let out = riec.member.invite(GROUP, &kps).unwrap();
    riec.commit(GROUP, &out).await;
    assert_eq!(police.accept_welcomes().await, [GROUP]);
    assert_eq!(utrecht.accept_welcomes().await, [GROUP]);
    police.sync(GROUP).await;
    utrecht.sync(GROUP).await;

    // A detail travels among the participants.
    let text = "Bestelbus met kenteken uit de zaak gezien bij de loods, 02:10";
    let msg = police.member.case_detail(GROUP, CASE, text).unwrap();
    police.api.post_raw(GROUP, &msg, None).await.unwrap();
    assert_eq!(
        utrecht.sync(GROUP).await,
        vec![Event::CaseDetail {
            from: POLICE.into(),
            case_reference: CASE.into(),
            text: text.into()
        }]
    );

    // The KVO supplied signals but does not take part: even the RIEC holding the coalitions'
    // administrator role (which hands it the KVO's key package through their coalition) cannot
    // bring it in, and the answer names no one.
    let riec_both = b.mls(RIEC, &[REGISSEUR, ADMIN_ROLE]);
    let kp = riec_both.claim_key_package(KVO).await.unwrap();
    let out = riec.member.invite(GROUP, &[kp]).unwrap();
    let (st, v) = b
        .post(
            &format!("/v1/mls/groups/{GROUP}/messages"),
            &b.token(RIEC, &[REGISSEUR, ADMIN_ROLE]),
            &json!({ "message": b64(&out.message), "welcome": b64(out.welcome.as_ref().unwrap()) }),
        )
        .await;
    assert_eq!((st, slug(&v)), (403, "mls-add-not-allowed"), "{v}");
    assert_eq!(v["reasons"], json!(["not_admitted_to_case_channel"]));
    assert!(!v.to_string().contains(KVO), "{v}");
    let refused = b.audit_of("mls.commit.refused").await;
    assert!(
        refused
            .last()
            .unwrap()
            .reasons
            .contains(&"target_not_participant".to_string())
    );
    riec.member.discard(GROUP).unwrap();
    assert!(kvo.api.welcomes(0).await.unwrap().welcomes.is_empty());
    // Nor through the channel: an organisation outside the case is no relation of its creator.
    let err = riec.api.claim_key_package(ALMERE).await.unwrap_err();
    refused_as(&err, "mls-claim-no-relation");

    // A member that is not the channel's creator learns no list by claiming, and the group's
    // status shows its members, not who may become one.
    let err = police.api.claim_key_package(UTRECHT).await.unwrap_err();
    refused_as(&err, "mls-claim-no-relation");
    let (st, v) = b
        .get_json(
            &format!("/v1/mls/groups/{GROUP}"),
            &b.token(UTRECHT, &["analist"]),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(v.get("allowed").is_none(), "{v}");
    // An outsider gets the answer it gets for a group that does not exist.
    let err = almere.api.fetch(GROUP, 0).await.unwrap_err();
    let none = almere.api.fetch("case.mn-2026-0599", 0).await.unwrap_err();
    refused_as(&err, "mls-not-a-member");
    assert_eq!(
        format!("{err}").replace(GROUP, "G"),
        format!("{none}").replace("case.mn-2026-0599", "G")
    );

    // The case is closed: its channel takes nothing more, audited; members keep what they read.
    close_case(b, CASE).await;
    let closure = b.audit_of("case.state").await.pop().unwrap();
    assert_eq!(closure.detail["channels"], json!([GROUP]));
    let msg = police.member.case_detail(GROUP, CASE, "nog iets").unwrap();
    let err = police.api.post_raw(GROUP, &msg, None).await.unwrap_err();
    refused_as(&err, "case-channel-closed");
    let refusal = only_entry(b, "mls.message.refused").await;
    assert_eq!(refusal.reasons, ["case_closed"]);
    assert_eq!(refusal.case_reference.as_deref(), Some(CASE));
    assert_eq!(refusal.actor_org.as_deref(), Some(POLICE));
    assert_eq!(refusal.detail["group"], GROUP);
    // Commits too: the creator's key refresh.
    let out = riec.member.self_update(GROUP).unwrap();
    let err = riec.api.post(GROUP, &out).await.unwrap_err();
    refused_as(&err, "case-channel-closed");
    riec.member.discard(GROUP).unwrap();
    assert_eq!(b.audit_of("mls.message.refused").await.len(), 2);
    // The raw problem: its own type and the reason.
    let (st, v) = b
        .post(
            &format!("/v1/mls/groups/{GROUP}/messages"),
            &b.token(UTRECHT, &["analist"]),
            &json!({ "message": b64(&msg) }),
        )
        .await;
    assert_eq!((st, slug(&v)), (403, "case-channel-closed"), "{v}");
    assert_eq!(v["reasons"], json!(["case_closed"]));
    assert!(utrecht.api.fetch(GROUP, 0).await.is_ok());
    // No new channel under the closed case (a participant is told why; an outsider is not),
    // and the closed channel invites no one.
    let (st, v) = register(b, RIEC, &[REGISSEUR], "case.mn-2026-0500-b", CASE, None).await;
    assert_eq!((st, slug(&v)), (403, "case-closed"), "{v}");
    let (st, v) = register(b, ALMERE, &[REGISSEUR], "case.mn-2026-0500-b", CASE, None).await;
    assert_eq!(told(st, &v), told(403, &unknown));
    let err = riec.api.claim_key_package(UTRECHT).await.unwrap_err();
    refused_as(&err, "mls-claim-no-relation");
    // Nor is it started again under the same id.
    let info = riec.member.reinit_group(GROUP).unwrap();
    let err = riec
        .api
        .reinit_group(GROUP, GroupKind::Case, CASUS, &info)
        .await
        .unwrap_err();
    refused_as(&err, "case-channel-closed");
}

/// Two real `kruispunt serve` processes on one PostgreSQL database: a case closed through one
/// ends its channel on the other at once (the post reads the case's state; nothing is cached).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_case_ends_its_channel_on_a_second_serve_process() {
    let opts = Options {
        serve: Some(std::path::PathBuf::from(env!("CARGO_BIN_EXE_kruispunt"))),
        unlimited: true,
        ..Options::default()
    };
    let Some(first) = Broker::start_on_postgres("case_channel_second_serve", opts).await else {
        return;
    };
    let second = first.serve_copy().await;
    let dir = tempfile::tempdir().unwrap();
    open_case(&first, CASE, &[POLICE]).await;
    let mut riec = partner(&first, RIEC, &[REGISSEUR], dir.path());
    let mut police = partner(&first, POLICE, &["rechercheur"], dir.path());
    police.publish(1).await;
    register_channel(&mut riec).await;
    let kp = riec.api.claim_key_package(POLICE).await.unwrap();
    let out = riec.member.invite(GROUP, &[kp]).unwrap();
    riec.commit(GROUP, &out).await;
    assert_eq!(police.accept_welcomes().await, [GROUP]);
    police.sync(GROUP).await;

    // The police post through the second process: delivered.
    let on_second = BrokerMls::new(
        second.mtls_client(POLICE),
        second.base.clone(),
        second.token(POLICE, &["rechercheur"]),
    );
    let msg = police.member.case_detail(GROUP, CASE, "eerste").unwrap();
    on_second.post_raw(GROUP, &msg, None).await.unwrap();
    // Closed through the first; the next post through the second is refused.
    close_case(&first, CASE).await;
    let msg = police.member.case_detail(GROUP, CASE, "tweede").unwrap();
    let err = on_second.post_raw(GROUP, &msg, None).await.unwrap_err();
    refused_as(&err, "case-channel-closed");
    let refusal = only_entry(&first, "mls.message.refused").await;
    assert_eq!(refusal.reasons, ["case_closed"]);
    assert_eq!(refusal.actor_org.as_deref(), Some(POLICE));
    second.stop().await;
    first.stop().await;
}
