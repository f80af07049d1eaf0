//! Cases and the public prosecutor's consents (docs/CASES.md): who may open, move, read,
//! consent and withdraw — and what another partner, a participant or an operator could learn or
//! break that the registry and the policy did not grant — and the police matches that rest on
//! them: every refusal at its boundary, closure → refusal and withdrawal → refusal at once, on
//! both backends, and through a second real `kruispunt serve` process sharing the PostgreSQL
//! database (polled for at most the 60 s bound of issue 16).

use kruispunt_sdk::cases::{
    CaseOpenRequest, CaseResult, CaseState, CaseStateRequest, Consent, ConsentRequest,
    InterventionKind, LegalFrame,
};
use kruispunt_sdk::client::{Client, ClientError, RetryPolicy};
use kruispunt_sdk::token::TokenScope;
use kruispunt_sdk::wire::{IdentifierRef, Level, MatchRequest};
use kruispunt_test_kit::{Broker, Options, now};
use serde_json::json;

pub(crate) const RIEC: &str = "riec-midden-nederland";
pub(crate) const POLICE: &str = "politie-midden-nederland";
pub(crate) const OM: &str = "om-midden-nederland";
pub(crate) const UTRECHT: &str = "gemeente-utrecht";
pub(crate) const ALMERE: &str = "gemeente-almere";
pub(crate) const KVO: &str = "kvo-buitengebied-oost-utrecht";
pub(crate) const WPG19: &str = "politie-opsporing-wpg19";
pub(crate) const REGISSEUR: &str = "casusregisseur";
pub(crate) const OVJ: &str = "officier-van-justitie";

kruispunt_test_kit::per_backend_tests!(on_broker:
    case_life_and_who_may_steer_it_on_sqlite, case_life_and_who_may_steer_it_on_postgres = case_life_and_who_may_steer_it;
    consents_four_eyes_and_withdrawal_on_sqlite, consents_four_eyes_and_withdrawal_on_postgres = consents_four_eyes_and_withdrawal;
    police_matches_rest_on_the_case_and_the_consent_on_sqlite, police_matches_rest_on_the_case_and_the_consent_on_postgres = police_matches_rest_on_the_case_and_the_consent;
);

/// The SDK's client as `partner`'s user with `roles` (and `scope`), presenting the partner's
/// development client certificate when it has one (the police and the OM must: mTLS).
pub(crate) fn client_of(
    b: &Broker,
    partner: &str,
    roles: &[&str],
    scope: Option<TokenScope>,
) -> Client {
    let token = b.token_with(partner, roles, |c| c.scope = scope);
    let mut builder = Client::builder(&b.base)
        .ca_pem(&std::fs::read(&b.ca_path).unwrap())
        .token(kruispunt_sdk::client::TokenSource::fixed(token))
        .retry(RetryPolicy::none());
    let clients = b.data_dir().join("tls/clients");
    if let (Ok(c), Ok(k)) = (
        std::fs::read(clients.join(format!("{partner}.pem"))),
        std::fs::read(clients.join(format!("{partner}.key"))),
    ) {
        builder = builder.client_identity_pem(&c, &k);
    }
    builder.build().unwrap()
}

/// Writes `consent` into the database as an operator or a misconfigured registry could, past
/// the API's checks.
async fn consent_behind_the_back(b: &Broker, consent: &Consent) {
    let entry = kruispunt_broker::audit::entry::by(
        None,
        kruispunt_broker::audit::entry::Operation::Collect,
        "consent.issue",
    );
    let state = b.state();
    let cases = state.store.cases();
    cases.issue_consent(consent, "x", &entry).await.unwrap();
}

/// The problem type and reasons of a refusal.
pub(crate) fn refusal<T: std::fmt::Debug>(r: Result<T, ClientError>) -> (String, Vec<String>) {
    let e = r.expect_err("refused");
    let p = e.problem().unwrap_or_else(|| panic!("not a problem: {e}"));
    (p.slug().to_string(), p.details.reasons.clone())
}

pub(crate) fn open_request(reference: &str, participants: &[&str]) -> CaseOpenRequest {
    CaseOpenRequest {
        reference: reference.into(),
        gemeente: "GM0344".into(),
        themes: vec!["criminele-families".into()],
        legal_frame: vec![LegalFrame::RiecConvenant, LegalFrame::WpgArt19],
        participants: participants.iter().map(|p| p.to_string()).collect(),
    }
}

pub(crate) fn consent_request(case: &str) -> ConsentRequest {
    ConsentRequest {
        case_reference: case.into(),
        purpose: WPG19.into(),
        kinds: vec!["kenteken".into()],
        max_identifiers: 5,
        ceiling: Level::Categories,
        valid_until: now() + 86_400,
    }
}

async fn case_life_and_who_may_steer_it(b: &Broker) {
    let riec = client_of(b, RIEC, &[REGISSEUR], None);
    let case = riec
        .open_case(&open_request("MN-2026-0100", &[POLICE, OM, UTRECHT]))
        .await
        .unwrap();
    assert_eq!(case.state, CaseState::Open);
    assert_eq!(case.opened_by, RIEC);
    assert_eq!(case.participants, [UTRECHT, OM, POLICE, RIEC]);
    let opened = b.audit_of("case.open").await;
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].case_reference.as_deref(), Some("MN-2026-0100"));
    assert_eq!(opened[0].actor_org.as_deref(), Some(RIEC));
    assert_eq!(opened[0].recipients, case.participants);

    // The reference is taken, by anyone.
    let police = client_of(b, POLICE, &[REGISSEUR], None);
    assert_eq!(
        refusal(police.open_case(&open_request("MN-2026-0100", &[])).await).0,
        "case-exists"
    );

    // Who may not open a case. A municipality claiming the OM's role in its own token: refused
    // at authentication (the registry bounds the roles of a sector's tokens), audited.
    let before = b.audit_of("auth.refused").await.len();
    let opens = async |org: &str, role: &str, reference: &str| {
        let client = client_of(b, org, &[role], None);
        refusal(client.open_case(&open_request(reference, &[])).await)
    };
    assert_eq!(
        opens(UTRECHT, OVJ, "MN-2026-0101").await.0,
        "token-role-not-allowed"
    );
    assert_eq!(b.audit_of("auth.refused").await.len(), before + 1);
    // A private partner cannot even claim the case role; with its own roles it is refused by
    // the registry's [cases] (audited case.refused).
    assert_eq!(
        opens(KVO, REGISSEUR, "MN-2026-0102").await.0,
        "token-role-not-allowed"
    );
    assert_eq!(
        opens(KVO, "signaleerder", "MN-2026-0102").await,
        (
            "case-role-not-allowed".to_string(),
            vec!["case_role_not_allowed".to_string()]
        )
    );
    // The OM consents, it does not steer cases; a detective without the case role neither.
    assert_eq!(
        opens(OM, REGISSEUR, "MN-2026-0103").await.0,
        "token-role-not-allowed"
    );
    assert_eq!(
        opens(POLICE, "rechercheur", "MN-2026-0103").await.0,
        "case-role-not-allowed"
    );
    let refused = b.audit_of("case.refused").await;
    assert_eq!(refused.len(), 2);
    assert!(
        refused
            .iter()
            .all(|e| e.reasons == ["case_role_not_allowed"])
    );
    // Nothing of those was registered.
    for reference in ["MN-2026-0102", "MN-2026-0103"] {
        let stored = b.state().store.cases().case(reference).await.unwrap();
        assert!(stored.is_none(), "{reference}");
    }

    // What may not be in a case: each refusal names the field.
    let invalid = |field: &str, r: Result<_, ClientError>| {
        let e = r.expect_err("invalid");
        let p = e.problem().unwrap();
        assert_eq!(p.slug(), "invalid-case", "{p}");
        assert!(
            p.details.detail.starts_with(&format!("{field}:")),
            "{field}: {p}"
        );
    };
    let mut private = open_request("MN-2026-0104", &["horeca-utrecht"]);
    invalid("participants", riec.open_case(&private).await);
    private.participants = vec!["onbekend".into()];
    invalid("participants", riec.open_case(&private).await);
    let mut theme = open_request("MN-2026-0104", &[]);
    theme.themes = vec!["wapenhandel".into()];
    invalid("themes", riec.open_case(&theme).await);
    let mut gemeente = open_request("MN-2026-0104", &[]);
    gemeente.gemeente = "GM9999".into();
    invalid("gemeente", riec.open_case(&gemeente).await);
    let mut frame = open_request("MN-2026-0104", &[]);
    frame.legal_frame.clear();
    invalid("legal_frame", riec.open_case(&frame).await);
    // A municipality steers its own gemeente's cases only.
    let utrecht = client_of(b, UTRECHT, &[REGISSEUR], None);
    let mut almere_case = open_request("MN-2026-0105", &[]);
    almere_case.gemeente = "GM0034".into();
    invalid("gemeente", utrecht.open_case(&almere_case).await);
    let own = utrecht
        .open_case(&open_request("MN-2026-0105", &[POLICE]))
        .await
        .unwrap();
    assert_eq!(own.participants, [UTRECHT, POLICE]);
    // A reference that is not a path segment.
    let (st, v) = b
        .post(
            "/v1/cases",
            Some(&b.token(RIEC, &[REGISSEUR])),
            &json!({"reference": "a/b", "gemeente": "GM0344", "themes": ["horeca"],
                    "legal_frame": ["wet-bibob"], "participants": []}),
        )
        .await;
    assert_eq!(
        (st, v["type"].as_str()),
        (400, Some("urn:kruispunt:problem:invalid-case")),
        "{v}"
    );
    assert_eq!(v["field"], "reference");
    // Strict JSON: an unknown field is refused.
    let (st, _) = b
        .post(
            "/v1/cases",
            Some(&b.token(RIEC, &[REGISSEUR])),
            &json!({"reference": "MN-2026-0106", "gemeente": "GM0344", "themes": ["horeca"],
                    "legal_frame": ["wet-bibob"], "participants": [], "state": "closed"}),
        )
        .await;
    assert_eq!(st, 400);

    // Reading: participants and the opener only; anyone else gets the same 404 as for a case
    // that does not exist, and does not see it listed.
    assert_eq!(
        client_of(b, POLICE, &["rechercheur"], None)
            .case("MN-2026-0100")
            .await
            .unwrap(),
        case
    );
    let almere = client_of(b, ALMERE, &[REGISSEUR], None);
    let (not_taking_part, _) = refusal(almere.case("MN-2026-0100").await);
    let (absent, _) = refusal(almere.case("MN-2026-0999").await);
    assert_eq!(
        (not_taking_part.as_str(), absent.as_str()),
        ("not-found", "not-found")
    );
    assert!(almere.cases().await.unwrap().cases.is_empty());
    let listed: Vec<String> = client_of(b, POLICE, &["analist"], None)
        .cases()
        .await
        .unwrap()
        .cases
        .into_iter()
        .map(|c| c.reference)
        .collect();
    assert_eq!(listed, ["MN-2026-0100", "MN-2026-0105"]);
    assert_eq!(
        client_of(b, OM, &[OVJ], None)
            .cases()
            .await
            .unwrap()
            .cases
            .len(),
        1,
        "the OM takes part in one"
    );
    // A municipality outside the case cannot move it (audited), nor learn that it exists.
    let move_to = |state, intervention, result| CaseStateRequest {
        state,
        intervention,
        result,
    };
    let close = move_to(CaseState::Closed, None, Some(CaseResult::NoGrounds));
    assert_eq!(
        refusal(almere.move_case("MN-2026-0100", &close).await).0,
        "not-found"
    );
    assert_eq!(
        refusal(almere.move_case("MN-2026-0999", &close).await).0,
        "not-found"
    );
    // Both refusals read the same in the outsider's own entries (its privacy officer reads
    // them): neither tells that MN-2026-0100 exists; each keeps the reference asked.
    let refused: Vec<(Vec<String>, Option<String>)> = b
        .audit_of("case.refused")
        .await
        .into_iter()
        .skip(2)
        .map(|e| (e.reasons, e.case_reference))
        .collect();
    assert_eq!(
        refused,
        [
            (
                vec!["case_unknown".to_string()],
                Some("MN-2026-0100".to_string())
            ),
            (
                vec!["case_unknown".to_string()],
                Some("MN-2026-0999".to_string())
            )
        ]
    );
    assert_eq!(
        b.state()
            .store
            .cases()
            .case("MN-2026-0100")
            .await
            .unwrap()
            .unwrap()
            .state,
        CaseState::Open
    );

    // The life of a case: open → intervention (with its kind) → closed (with its result);
    // nothing else. A participating organisation's case director moves it.
    let police = client_of(b, POLICE, &[REGISSEUR], None);
    let (slug, _) = refusal(
        police
            .move_case("MN-2026-0100", &move_to(CaseState::Closed, None, None))
            .await,
    );
    assert_eq!(slug, "invalid-case", "closing needs a result");
    let (slug, _) = refusal(
        police
            .move_case(
                "MN-2026-0100",
                &move_to(CaseState::Intervention, None, None),
            )
            .await,
    );
    assert_eq!(slug, "invalid-case", "an intervention needs its kind");
    let (slug, _) = refusal(
        police
            .move_case("MN-2026-0100", &move_to(CaseState::Open, None, None))
            .await,
    );
    assert_eq!(slug, "case-transition-not-allowed");
    let moved = police
        .move_case(
            "MN-2026-0100",
            &move_to(
                CaseState::Intervention,
                Some(InterventionKind::Bestuurlijk),
                None,
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        (moved.state, moved.intervention),
        (CaseState::Intervention, Some(InterventionKind::Bestuurlijk))
    );
    assert_eq!(moved.updated_by, POLICE);
    let (slug, _) = refusal(
        police
            .move_case("MN-2026-0100", &move_to(CaseState::Open, None, None))
            .await,
    );
    assert_eq!(slug, "case-transition-not-allowed");
    let closed = riec
        .move_case(
            "MN-2026-0100",
            &move_to(CaseState::Closed, None, Some(CaseResult::Intervened)),
        )
        .await
        .unwrap();
    assert_eq!(
        (closed.state, closed.result),
        (CaseState::Closed, Some(CaseResult::Intervened))
    );
    assert_eq!(
        closed.intervention,
        Some(InterventionKind::Bestuurlijk),
        "kept"
    );
    let (slug, _) = refusal(
        riec.move_case(
            "MN-2026-0100",
            &move_to(
                CaseState::Intervention,
                Some(InterventionKind::Fiscaal),
                None,
            ),
        )
        .await,
    );
    assert_eq!(slug, "case-transition-not-allowed");
    // open → closed directly.
    let direct = utrecht
        .move_case(
            "MN-2026-0105",
            &move_to(CaseState::Closed, None, Some(CaseResult::NoGrounds)),
        )
        .await
        .unwrap();
    assert_eq!(direct.state, CaseState::Closed);
    // Every transition is an entry naming the case, its participants and the move.
    let moves: Vec<(String, serde_json::Value, serde_json::Value)> = b
        .audit_of("case.state")
        .await
        .into_iter()
        .map(|e| {
            (
                e.case_reference.unwrap(),
                e.detail["from"].clone(),
                e.detail["to"].clone(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            ("MN-2026-0100".into(), json!("open"), json!("intervention")),
            (
                "MN-2026-0100".into(),
                json!("intervention"),
                json!("closed")
            ),
            ("MN-2026-0105".into(), json!("open"), json!("closed")),
        ]
    );
}

async fn consents_four_eyes_and_withdrawal(b: &Broker) {
    let riec = client_of(b, RIEC, &[REGISSEUR], None);
    riec.open_case(&open_request("MN-2026-0200", &[POLICE]))
        .await
        .unwrap();
    let om = client_of(b, OM, &[OVJ], None);
    let consent: Consent = om
        .issue_consent(&consent_request("MN-2026-0200"))
        .await
        .unwrap();
    assert!(
        consent.id.starts_with("ovj-") && consent.id.len() == 36,
        "{}",
        consent.id
    );
    assert_eq!(
        (consent.issued_by.as_str(), consent.withdrawn_at),
        (OM, None)
    );
    let issued = b.audit_of("consent.issue").await;
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].detail["consent_id"], json!(consent.id));
    assert_eq!(issued[0].case_reference.as_deref(), Some("MN-2026-0200"));
    assert_eq!(issued[0].legal_basis.as_deref(), Some("wpg-art-19"));

    // Four eyes: the police cannot consent to their own query — not by claiming the OM's role
    // (the registry bounds the police's token roles), not with a role of their own.
    let police_ovj = client_of(b, POLICE, &[OVJ], None);
    assert_eq!(
        refusal(
            police_ovj
                .issue_consent(&consent_request("MN-2026-0200"))
                .await
        )
        .0,
        "token-role-not-allowed"
    );
    for role in [REGISSEUR, "rechercheur"] {
        let police = client_of(b, POLICE, &[role], None);
        let (slug, reasons) = refusal(police.issue_consent(&consent_request("MN-2026-0200")).await);
        assert_eq!(
            (slug.as_str(), reasons),
            (
                "consent-role-not-allowed",
                vec!["consent_role_not_allowed".to_string()]
            )
        );
    }
    // The OM's detectives (rechercheur) do not consent either: only the officer's role.
    let om_detective = client_of(b, OM, &["rechercheur"], None);
    assert_eq!(
        refusal(
            om_detective
                .issue_consent(&consent_request("MN-2026-0200"))
                .await
        )
        .0,
        "consent-role-not-allowed"
    );
    assert_eq!(b.audit_of("consent.refused").await.len(), 3);
    assert_eq!(b.audit_of("consent.issue").await.len(), 1);

    // A consent never promises more than its purpose allows; each refusal names the field.
    let invalid = |field: &str, r: Result<Consent, ClientError>| {
        let e = r.expect_err("invalid");
        let p = e.problem().unwrap();
        assert_eq!(p.slug(), "invalid-consent", "{p}");
        assert!(
            p.details.detail.starts_with(&format!("{field}:")),
            "{field}: {p}"
        );
    };
    let mut r = consent_request("MN-2026-0200");
    r.purpose = "politie-opsporing-wpg20".into();
    invalid("purpose", om.issue_consent(&r).await);
    let mut r = consent_request("MN-2026-0200");
    r.kinds = vec!["kenteken".into(), "wapen".into()];
    invalid("kinds", om.issue_consent(&r).await);
    let mut r = consent_request("MN-2026-0200");
    r.max_identifiers = 0;
    invalid("max_identifiers", om.issue_consent(&r).await);
    r.max_identifiers = 51;
    invalid("max_identifiers", om.issue_consent(&r).await);
    let mut r = consent_request("MN-2026-0200");
    r.valid_until = now() - 1;
    invalid("valid_until", om.issue_consent(&r).await);
    r.valid_until = now() + 400 * 86_400;
    invalid("valid_until", om.issue_consent(&r).await);
    invalid(
        "case_reference",
        om.issue_consent(&consent_request("MN-2026-0404")).await,
    );

    // Withdrawal: only by the issuing organisation; the police cannot withdraw (or learn more
    // than a refusal); a second withdrawal is a conflict.
    let police = client_of(b, POLICE, &[REGISSEUR], None);
    assert_eq!(
        refusal(police.withdraw_consent(&consent.id).await).0,
        "consent-role-not-allowed"
    );
    assert_eq!(
        refusal(
            om.withdraw_consent("ovj-00000000000000000000000000000000")
                .await
        )
        .0,
        "not-found"
    );
    let withdrawn = om.withdraw_consent(&consent.id).await.unwrap();
    assert!(withdrawn.withdrawn_at.is_some());
    assert_eq!(
        refusal(om.withdraw_consent(&consent.id).await).0,
        "consent-withdrawn"
    );
    let w = b.audit_of("consent.withdraw").await;
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].detail["consent_id"], json!(consent.id));
    // A consent issued by another organisation (written into the database, as an operator or a
    // second prosecutor's office could have) is not the OM's to withdraw: 404, audited.
    let foreign = Consent {
        id: "ovj-11111111111111111111111111111111".into(),
        issued_by: "om-elders".into(),
        withdrawn_at: None,
        ..consent.clone()
    };
    consent_behind_the_back(b, &foreign).await;
    assert_eq!(
        refusal(om.withdraw_consent(&foreign.id).await).0,
        "not-found"
    );
    assert_eq!(
        b.audit_of("consent.refused").await.last().unwrap().reasons,
        ["consent_not_issuer"]
    );
    assert!(
        b.state()
            .store
            .cases()
            .consent(&foreign.id)
            .await
            .unwrap()
            .unwrap()
            .withdrawn_at
            .is_none()
    );

    // No consent under a closed case.
    riec.move_case(
        "MN-2026-0200",
        &CaseStateRequest {
            state: CaseState::Closed,
            intervention: None,
            result: Some(CaseResult::Other),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        refusal(om.issue_consent(&consent_request("MN-2026-0200")).await).0,
        "case-closed"
    );
}

/// A plate's identifier for a match (the pseudonym's value does not matter to the gating).
fn plate() -> IdentifierRef {
    IdentifierRef {
        kind: "kenteken".into(),
        pseudonym: "ab".repeat(32),
        key_version: 1,
    }
}

pub(crate) fn police_query(level: Level) -> MatchRequest {
    MatchRequest {
        purpose: WPG19.into(),
        coalition: None,
        identifiers: vec![plate()],
        level,
        case_reference: None,
        legal_basis: None,
        consent_id: None,
        justification: (level > Level::Hit)
            .then(|| "Verdachte huurt drie schuren; nodig om de verhuurders te bepalen.".into()),
    }
}

/// A detective's scope: the case, the consent, plates, at most `max` identifiers.
pub(crate) fn scope(case: &str, consent: &str, max: u64) -> TokenScope {
    kruispunt_test_kit::token::police_scope(case, consent, max, None)
}

async fn police_matches_rest_on_the_case_and_the_consent(b: &Broker) {
    let riec = client_of(b, RIEC, &[REGISSEUR], None);
    let om = client_of(b, OM, &[OVJ], None);
    riec.open_case(&open_request("MN-2026-0300", &[POLICE, OM]))
        .await
        .unwrap();
    riec.open_case(&open_request("MN-2026-0301", &[POLICE]))
        .await
        .unwrap();
    riec.open_case(&open_request("MN-2026-0302", &[UTRECHT]))
        .await
        .unwrap();
    let a = om
        .issue_consent(&consent_request("MN-2026-0300"))
        .await
        .unwrap();
    let detective = |case: &str, consent: &str, max: u64| {
        client_of(b, POLICE, &["rechercheur"], Some(scope(case, consent, max)))
    };

    // Inside the case and the consent: answered.
    let ok = detective("MN-2026-0300", &a.id, 5);
    ok.match_identifiers(&police_query(Level::Hit))
        .await
        .unwrap();
    ok.match_identifiers(&police_query(Level::Categories))
        .await
        .unwrap();

    // Every refusal at its boundary, each with its own problem type and reason, audited.
    // (case, consent, the token scope's most identifiers, level, problem type, reason)
    #[rustfmt::skip]
    let cases = [
        // A case nobody registered.
        ("MN-2026-0999", a.id.as_str(), 5, Level::Hit, "case-unknown", "case_unknown"),
        // A case the police do not take part in.
        ("MN-2026-0302", &a.id, 5, Level::Hit, "case-not-participant", "case_not_participant"),
        // The consent of case A used under case B.
        ("MN-2026-0301", &a.id, 5, Level::Hit, "consent-other-case", "consent_other_case"),
        // A consent id the OM never issued (the free-form ids of before).
        ("MN-2026-0300", "OvJ-MN-2026-17", 5, Level::Hit, "consent-unknown", "consent_unknown"),
        // A token scope wider than the consent (10 identifiers against 5).
        ("MN-2026-0300", &a.id, 10, Level::Hit, "consent-scope-exceeded", "consent_scope_exceeded"),
        // A level above the consent's ceiling.
        ("MN-2026-0300", &a.id, 5, Level::Details, "consent-scope-exceeded", "consent_scope_exceeded"),
    ];
    let denials_before = denied_matches(b).await;
    for (case, consent, max, level, slug, reason) in cases {
        let (got, reasons) = refusal(
            detective(case, consent, max)
                .match_identifiers(&police_query(level))
                .await,
        );
        assert_eq!(got, slug, "{reasons:?}");
        assert!(reasons.iter().any(|r| r == reason), "{slug}: {reasons:?}");
    }
    assert_eq!(denied_matches(b).await, denials_before + cases.len());

    // A consent the requester's own organisation issued (written into the database, as a
    // misconfigured registry or an operator could): four eyes, refused.
    let own = Consent {
        id: "ovj-22222222222222222222222222222222".into(),
        issued_by: POLICE.into(),
        ..a.clone()
    };
    consent_behind_the_back(b, &own).await;
    let (slug, _) = refusal(
        detective("MN-2026-0300", &own.id, 5)
            .match_identifiers(&police_query(Level::Hit))
            .await,
    );
    assert_eq!(slug, "consent-self-issued");

    // Withdrawal → the very next query under the consent is refused.
    om.withdraw_consent(&a.id).await.unwrap();
    let (slug, reasons) = refusal(ok.match_identifiers(&police_query(Level::Hit)).await);
    assert_eq!(
        (slug.as_str(), reasons),
        ("consent-withdrawn", vec!["consent_withdrawn".to_string()])
    );

    // Closure → the very next query under the case is refused, whatever the consent.
    let b2 = om
        .issue_consent(&consent_request("MN-2026-0300"))
        .await
        .unwrap();
    let fresh = detective("MN-2026-0300", &b2.id, 5);
    fresh
        .match_identifiers(&police_query(Level::Hit))
        .await
        .unwrap();
    riec.move_case(
        "MN-2026-0300",
        &CaseStateRequest {
            state: CaseState::Intervention,
            intervention: Some(InterventionKind::Strafrechtelijk),
            result: None,
        },
    )
    .await
    .unwrap();
    fresh
        .match_identifiers(&police_query(Level::Hit))
        .await
        .expect("intervention still allows queries");
    riec.move_case(
        "MN-2026-0300",
        &CaseStateRequest {
            state: CaseState::Closed,
            intervention: None,
            result: Some(CaseResult::Intervened),
        },
    )
    .await
    .unwrap();
    let (slug, reasons) = refusal(fresh.match_identifiers(&police_query(Level::Hit)).await);
    assert_eq!(
        (slug.as_str(), reasons),
        ("case-closed", vec!["case_closed".to_string()])
    );
    let last = b.audit_of("match").await.pop().unwrap();
    assert_eq!(last.decision.as_deref(), Some("deny"));
    assert_eq!(last.reasons, ["case_closed"]);
    assert_eq!(last.case_reference.as_deref(), Some("MN-2026-0300"));
}

async fn denied_matches(b: &Broker) -> usize {
    b.audit_of("match")
        .await
        .iter()
        .filter(|e| e.decision.as_deref() == Some("deny"))
        .count()
}

/// The bound of issue 16: a grant that rests on a case or a consent ends within this on every
/// broker process.
const REVOCATION_BOUND: std::time::Duration = std::time::Duration::from_secs(60);

/// Asks `ask` until it is refused, for at most [`REVOCATION_BOUND`]: answers the refusal's
/// problem type and reasons. (The broker reads the case and the consent on every request, so
/// the first ask after the revocation is refused; the loop asserts the bound, not a timing.)
async fn refused_within_the_bound<T: std::fmt::Debug>(
    mut ask: impl AsyncFnMut() -> Result<T, ClientError>,
) -> (String, Vec<String>) {
    let deadline = std::time::Instant::now() + REVOCATION_BOUND;
    loop {
        match ask().await {
            Err(e) => return refusal::<T>(Err(e)),
            Ok(answer) => assert!(
                std::time::Instant::now() < deadline,
                "still answered {REVOCATION_BOUND:?} after the revocation: {answer:?}"
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Two real `kruispunt serve` processes on one PostgreSQL database: a consent withdrawn and a
/// case closed through the first refuse the next police query through the second, within the
/// bound of issue 16.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_holds_on_a_second_serve_process() {
    let opts = Options {
        serve: Some(std::path::PathBuf::from(env!("CARGO_BIN_EXE_kruispunt"))),
        unlimited: true,
        ..Options::default()
    };
    let Some(first) = Broker::start_on_postgres("revocation_second_serve", opts).await else {
        return;
    };
    let second = first.serve_copy().await;
    let riec = client_of(&first, RIEC, &[REGISSEUR], None);
    let om = client_of(&first, OM, &[OVJ], None);
    riec.open_case(&open_request("MN-2026-0400", &[POLICE]))
        .await
        .unwrap();
    riec.open_case(&open_request("MN-2026-0401", &[POLICE]))
        .await
        .unwrap();
    let a = om
        .issue_consent(&consent_request("MN-2026-0400"))
        .await
        .unwrap();
    let c = om
        .issue_consent(&consent_request("MN-2026-0401"))
        .await
        .unwrap();
    let on_second = |case: &str, consent: &str| {
        client_of(
            &second,
            POLICE,
            &["rechercheur"],
            Some(scope(case, consent, 5)),
        )
    };
    let under_a = on_second("MN-2026-0400", &a.id);
    let under_c = on_second("MN-2026-0401", &c.id);
    under_a
        .match_identifiers(&police_query(Level::Hit))
        .await
        .unwrap();
    under_c
        .match_identifiers(&police_query(Level::Hit))
        .await
        .unwrap();
    om.withdraw_consent(&a.id).await.unwrap();
    let (slug, reasons) = refused_within_the_bound(async || {
        under_a.match_identifiers(&police_query(Level::Hit)).await
    })
    .await;
    assert_eq!(
        (slug.as_str(), reasons),
        ("consent-withdrawn", vec!["consent_withdrawn".to_string()])
    );
    riec.move_case(
        "MN-2026-0401",
        &CaseStateRequest {
            state: CaseState::Closed,
            intervention: None,
            result: Some(CaseResult::Transferred),
        },
    )
    .await
    .unwrap();
    let (slug, reasons) = refused_within_the_bound(async || {
        under_c.match_identifiers(&police_query(Level::Hit)).await
    })
    .await;
    assert_eq!(
        (slug.as_str(), reasons),
        ("case-closed", vec!["case_closed".to_string()])
    );
    // Both refusals are on the record, written by the second process.
    let refused: Vec<_> = first
        .audit_of("match")
        .await
        .into_iter()
        .filter(|e| e.decision.as_deref() == Some("deny"))
        .map(|e| (e.case_reference, e.reasons))
        .collect();
    assert_eq!(
        refused,
        [
            (
                Some("MN-2026-0400".into()),
                vec!["consent_withdrawn".to_string()]
            ),
            (Some("MN-2026-0401".into()), vec!["case_closed".to_string()]),
        ]
    );
    second.stop().await;
    first.stop().await;
}
