//! Cases in the ondermijningsbeeld and the feedback to the partners who signal, on SQLite and
//! PostgreSQL against a real HTTPS broker:
//!
//! - `open_cases` and `interventions` as measures of `POST /v1/aggregates`: counted per
//!   gemeente, theme and intervention kind, released or suppressed by the picture's rules, and
//!   refused with a problem naming `group_by` where a case has no such dimension (wijk, code);
//! - `GET /v1/feedback`: a supplier sees counts of its own signals' contributions only, an
//!   embargoed contribution is not counted until its embargo ends (the answer does not move
//!   when the police query hits), small counts are withheld, a partner that supplies nothing is
//!   refused (audited), and neither the answer nor its audit entry names a case or a subject.
//!
//! Answers that depend on a later moment (a published snapshot, an ended embargo) call the flow
//! with an explicit clock, as `beeld.rs` does; the HTTP shape is tested on the same broker.

use kruispunt_broker::beeld;
use kruispunt_broker::cases::feedback;
use kruispunt_broker::civil::day_of;
use kruispunt_sdk::beeld::{AggregateRequest, Cell, Dimension, Measure, SuppressionReason};
use kruispunt_sdk::cases::{
    CaseOpenRequest, CaseResult, CaseState, CaseStateRequest, ConsentRequest, FeedbackQuery,
    InterventionKind, LegalFrame,
};
use kruispunt_sdk::wire::{IdentifierRef, Level, MatchRequest};
use kruispunt_test_kit::{Broker, now};
use serde_json::json;

use super::beeld::{plate, principal};
use super::cases::{client_of, refusal};

const RIEC: &str = "riec-midden-nederland";
const POLICE: &str = "politie-midden-nederland";
const OM: &str = "om-midden-nederland";
const UTRECHT: &str = "gemeente-utrecht";
const DEALER: &str = "autohandel-amersfoort";
const OTHER_DEALER: &str = "autobedrijf-de-vecht";
const WPG19: &str = "politie-opsporing-wpg19";
const PICTURE: &str = "ondermijningsbeeld";
const REGISSEUR: &str = "casusregisseur";

kruispunt_test_kit::per_backend_tests!(on_broker:
    cases_are_measures_of_the_picture_on_sqlite, cases_are_measures_of_the_picture_on_postgres = cases_are_measures_of_the_picture;
    feedback_to_the_suppliers_on_sqlite, feedback_to_the_suppliers_on_postgres = feedback_to_the_suppliers;
);

fn case(reference: &str, gemeente: &str, participants: &[&str]) -> CaseOpenRequest {
    CaseOpenRequest {
        reference: reference.into(),
        gemeente: gemeente.into(),
        themes: vec!["criminele-families".into(), "vastgoed".into()],
        legal_frame: vec![LegalFrame::RiecConvenant, LegalFrame::WpgArt19],
        participants: participants.iter().map(|p| p.to_string()).collect(),
    }
}

fn intervention(kind: InterventionKind) -> CaseStateRequest {
    CaseStateRequest {
        state: CaseState::Intervention,
        intervention: Some(kind),
        result: None,
    }
}

fn question(measure: Measure, group_by: Vec<Dimension>) -> AggregateRequest {
    let today = day_of(now());
    AggregateRequest {
        purpose: PICTURE.into(),
        measure,
        group_by,
        from: day_of(now() - 40 * 86_400),
        to: today,
        filter: None,
        totals: false,
    }
}

/// The cell whose dimensions are all of `dims`.
fn cell<'a>(cells: &'a [Cell], dims: &[(&str, &str)]) -> &'a Cell {
    cells
        .iter()
        .find(|c| {
            dims.iter()
                .all(|(k, v)| c.dims.get(*k).map(String::as_str) == Some(*v))
        })
        .unwrap_or_else(|| panic!("no cell {dims:?} in {cells:?}"))
}

fn released(c: &Cell) -> u64 {
    assert!(!c.suppressed, "{c:?}");
    let v = c.value.expect("a value");
    assert_eq!(v % 5, 0, "rounded: {c:?}");
    v
}

async fn cases_are_measures_of_the_picture(b: &Broker) {
    let riec = client_of(b, RIEC, &[REGISSEUR], None);
    // Utrecht (GM0344): 12 cases, RIEC, police and the municipality taking part in each (each
    // a third of the case–participant pairs); ten of them come to a bestuurlijk intervention,
    // two of those close. Amersfoort (GM0307): 3 cases (below k). Almere (GM0034): 11 cases
    // with the RIEC alone (one organisation: too few sources).
    for i in 0..12 {
        let r = format!("MN-2026-U{i:02}");
        riec.open_case(&case(&r, "GM0344", &[POLICE, UTRECHT]))
            .await
            .unwrap();
        if i < 10 {
            riec.move_case(&r, &intervention(InterventionKind::Bestuurlijk))
                .await
                .unwrap();
        }
        if i < 2 {
            riec.move_case(
                &r,
                &CaseStateRequest {
                    state: CaseState::Closed,
                    intervention: None,
                    result: Some(CaseResult::Intervened),
                },
            )
            .await
            .unwrap();
        }
    }
    for i in 0..3 {
        riec.open_case(&case(&format!("MN-2026-A{i:02}"), "GM0307", &[POLICE]))
            .await
            .unwrap();
    }
    for i in 0..11 {
        riec.open_case(&case(&format!("MN-2026-F{i:02}"), "GM0034", &[]))
            .await
            .unwrap();
    }

    let analyst = principal(b, RIEC);
    let at = now() + 30;
    let state = b.state();
    let open = beeld::run(
        &state,
        &analyst,
        &question(Measure::OpenCases, vec![Dimension::Gemeente]),
        at,
    )
    .await
    .unwrap();
    released(cell(&open.cells, &[("gemeente", "GM0344")]));
    let amersfoort = cell(&open.cells, &[("gemeente", "GM0307")]);
    assert_eq!(amersfoort.reason, Some(SuppressionReason::BelowK));
    let almere = cell(&open.cells, &[("gemeente", "GM0034")]);
    assert_eq!(almere.reason, Some(SuppressionReason::TooFewSources));
    // Every gemeente of the registry is listed (the absence of a cell says nothing).
    assert_eq!(open.cells.len(), state.policy.registry().gemeenten.len());
    let release = b.audit_of("aggregate.release").await;
    let last = release.last().unwrap();
    assert_eq!(last.detail["query"]["measure"], "open_cases");

    // Per theme: a case is in each of its themes (and nowhere else).
    let themes = beeld::run(
        &state,
        &analyst,
        &question(
            Measure::OpenCases,
            vec![Dimension::Gemeente, Dimension::Theme],
        ),
        at,
    )
    .await
    .unwrap();
    released(cell(
        &themes.cells,
        &[("gemeente", "GM0344"), ("theme", "criminele-families")],
    ));
    released(cell(
        &themes.cells,
        &[("gemeente", "GM0344"), ("theme", "vastgoed")],
    ));
    assert_eq!(
        cell(
            &themes.cells,
            &[("gemeente", "GM0344"), ("theme", "horeca")]
        )
        .reason,
        Some(SuppressionReason::BelowK)
    );

    // Interventions per kind and district: the ten bestuurlijke in Utrecht-Stad.
    let kinds = beeld::run(
        &state,
        &analyst,
        &question(
            Measure::Interventions,
            vec![
                Dimension::District,
                Dimension::Intervention,
                Dimension::Month,
            ],
        ),
        at,
    )
    .await
    .unwrap();
    let month = day_of(now())[..7].to_string();
    let month = month.as_str();
    released(cell(
        &kinds.cells,
        &[
            ("district", "utrecht-stad"),
            ("intervention", "bestuurlijk"),
            ("month", month),
        ],
    ));
    assert_eq!(
        cell(
            &kinds.cells,
            &[
                ("district", "utrecht-stad"),
                ("intervention", "fiscaal"),
                ("month", month)
            ]
        )
        .reason,
        Some(SuppressionReason::BelowK)
    );
    // Four kinds per district and month, no more.
    assert!(kinds.cells.iter().all(|c| {
        ["bestuurlijk", "strafrechtelijk", "fiscaal", "other"]
            .contains(&c.dims["intervention"].as_str())
    }));

    // Over HTTP: a case has no wijk and no code, and `intervention` is for interventions only —
    // each a 400 naming `group_by`, nothing released or charged.
    let token = b.token(RIEC, &["analist"]);
    let releases = b.audit_of("aggregate.release").await.len();
    for (measure, group_by, says) in [
        ("open_cases", json!(["wijk"]), "wijk"),
        ("interventions", json!(["code"]), "code"),
        (
            "open_cases",
            json!(["gemeente", "intervention"]),
            "intervention",
        ),
        ("subjects", json!(["intervention"]), "intervention"),
    ] {
        let (st, p) = b
            .post(
                "/v1/aggregates",
                Some(&token),
                &json!({"purpose": PICTURE, "measure": measure, "group_by": group_by,
                        "from": day_of(now() - 86_400), "to": day_of(now())}),
            )
            .await;
        assert_eq!(st, 400, "{p}");
        assert_eq!(
            p["type"]
                .as_str()
                .map(|t| t.ends_with("invalid-aggregate-query")),
            Some(true),
            "{p}"
        );
        assert_eq!(p["field"], "group_by", "{p}");
        assert!(p["detail"].as_str().unwrap().contains(says), "{p}");
    }
    assert_eq!(b.audit_of("aggregate.release").await.len(), releases);
    // The policy's area rule holds for cases too: a municipal analyst sees gemeente cells of
    // its own gemeente only.
    let municipal = b.token(UTRECHT, &["analist"]);
    let (st, p) = b
        .post(
            "/v1/aggregates",
            Some(&municipal),
            &json!({"purpose": PICTURE, "measure": "open_cases", "group_by": ["gemeente"],
                    "from": day_of(now() - 86_400), "to": day_of(now())}),
        )
        .await;
    assert_eq!(st, 403, "{p}");
    assert!(p.to_string().contains("area_not_allowed"), "{p}");
    let (st, p) = b
        .post(
            "/v1/aggregates",
            Some(&municipal),
            &json!({"purpose": PICTURE, "measure": "open_cases", "group_by": ["gemeente"],
                    "from": day_of(now() - 86_400), "to": day_of(now()),
                    "filter": {"gemeente": ["GM0344"]}}),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["measure"], "open_cases");
}

/// Uploads `plates` of `dealer` under the Wpg art. 19 purpose.
async fn supply(b: &Broker, dealer: &str, district: &str, plates: std::ops::Range<u32>) {
    let items: Vec<_> = plates
        .map(|n| {
            json!({"kind": "kenteken", "pseudonym": plate(n), "key_version": 1,
                   "code": "cash-car-purchase", "observed": day_of(now()),
                   "district": district, "purposes": [WPG19]})
        })
        .collect();
    let (st, v) = b
        .post(
            "/v1/signals",
            Some(&b.token(dealer, &["compliance"])),
            &json!({ "signals": items }),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["rejected"], 0, "{v}");
}

/// A police match (hit level) under `case` and the OM's consent for it, of `plates`.
async fn police_hits(b: &Broker, case: &str, plates: std::ops::Range<u32>) {
    let om = client_of(b, OM, &["officier-van-justitie"], None);
    let consent = om
        .issue_consent(&ConsentRequest {
            case_reference: case.into(),
            purpose: WPG19.into(),
            kinds: vec!["kenteken".into()],
            max_identifiers: 5,
            ceiling: Level::Hit,
            valid_until: now() + 86_400,
        })
        .await
        .unwrap();
    let scope = kruispunt_test_kit::token::police_scope(case, &consent.id, 5, None);
    let detective = client_of(b, POLICE, &["rechercheur"], Some(scope));
    let answer = detective
        .match_identifiers(&MatchRequest {
            purpose: WPG19.into(),
            coalition: None,
            identifiers: plates
                .map(|n| IdentifierRef {
                    kind: "kenteken".into(),
                    pseudonym: plate(n),
                    key_version: 1,
                })
                .collect(),
            level: Level::Hit,
            case_reference: None,
            legal_basis: None,
            consent_id: None,
            justification: None,
        })
        .await
        .unwrap();
    assert!(answer.results.iter().all(|r| r.hit), "{answer:?}");
}

async fn feedback_to_the_suppliers(b: &Broker) {
    let state = b.state();
    let riec = client_of(b, RIEC, &[REGISSEUR], None);
    // The dealer supplies 16 plates, the other dealer 3.
    supply(b, DEALER, "oost-utrecht", 0..16).await;
    supply(b, OTHER_DEALER, "west-utrecht", 100..103).await;
    let month = day_of(now())[..7].to_string();
    let next = day_of(now() + 32 * 86_400)[..7].to_string();
    let this_month = month.as_str();
    let q = FeedbackQuery {
        from: month.clone(),
        to: next.clone(),
    };
    let dealer = {
        let mut p = principal(b, DEALER);
        p.roles = vec!["compliance".into()];
        p
    };
    let other = {
        let mut p = principal(b, OTHER_DEALER);
        p.roles = vec!["compliance".into()];
        p
    };
    let sdk = client_of(b, DEALER, &["compliance"], None);
    let before = sdk.feedback(&month, &next).await.unwrap();
    assert_eq!(before.org, DEALER);
    assert_eq!(before.cells.len(), 2 * 5);
    assert!(before.cells.iter().all(|c| c.suppressed));

    // Four cases; under each the police hit four of the dealer's plates; under the first also
    // the other dealer's three.
    for i in 0..4u32 {
        let r = format!("MN-2026-T{i:02}");
        riec.open_case(&case(&r, "GM0307", &[POLICE]))
            .await
            .unwrap();
        police_hits(b, &r, 4 * i..4 * i + 4).await;
    }
    police_hits(b, "MN-2026-T00", 100..103).await;
    // Three of the cases come to a fiscal intervention.
    for i in 0..3 {
        riec.move_case(
            &format!("MN-2026-T{i:02}"),
            &intervention(InterventionKind::Fiscaal),
        )
        .await
        .unwrap();
    }

    // Recorded with the matches, each under its supplier, all under the police's embargo.
    let mine = state.store.cases().contributions_of(DEALER).await.unwrap();
    assert_eq!(mine.len(), 16);
    assert!(
        mine.iter()
            .all(|c| c.embargo_until.is_some_and(|u| u > now()))
    );
    assert_eq!(
        state
            .store
            .cases()
            .contributions_of(OTHER_DEALER)
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(
        state
            .store
            .cases()
            .contributions_of(POLICE)
            .await
            .unwrap()
            .is_empty()
    );

    // While the embargo holds, the answer does not move: the hits are not counted.
    let during = sdk.feedback(&month, &next).await.unwrap();
    assert_eq!(during.cells, before.cells);

    // The embargo's fixed days (30) are over, but the cases are open: an embargo tied to its
    // case holds (docs/CASES.md), so the feedback still tells nothing of the hits.
    let later = now() + 31 * 86_400;
    let open = feedback::run(&state, &dealer, &q, later).await.unwrap();
    assert!(open.cells.iter().all(|c| c.suppressed), "{:?}", open.cells);

    // The cases close: after the embargo and the closure, the dealer's 16 signals in 4 cases
    // are released, and 12 of them in 3 cases under `fiscaal`; the other kinds and the next
    // month have nothing.
    for i in 0..4 {
        let closure = CaseStateRequest {
            state: CaseState::Closed,
            intervention: None,
            result: Some(CaseResult::Intervened),
        };
        riec.move_case(&format!("MN-2026-T{i:02}"), &closure)
            .await
            .unwrap();
    }
    let after = feedback::run(&state, &dealer, &q, later).await.unwrap();
    released(cell(
        &after.cells,
        &[("month", this_month), ("outcome", "cases")],
    ));
    released(cell(
        &after.cells,
        &[("month", this_month), ("outcome", "fiscaal")],
    ));
    for outcome in ["bestuurlijk", "strafrechtelijk", "other"] {
        assert_eq!(
            cell(&after.cells, &[("month", this_month), ("outcome", outcome)]).reason,
            Some(SuppressionReason::BelowK)
        );
    }
    // The same facts, the same answer, however often asked (nothing to average away).
    let again = feedback::run(&state, &dealer, &q, later + 3600)
        .await
        .unwrap();
    assert_eq!(again.cells, after.cells);

    // The other dealer sees its own three signals only: below k, whatever the dealer's count.
    let theirs = feedback::run(&state, &other, &q, later).await.unwrap();
    assert_eq!(theirs.org, OTHER_DEALER);
    assert!(
        theirs
            .cells
            .iter()
            .all(|c| c.reason == Some(SuppressionReason::BelowK))
    );

    // A partner that supplies nothing learns nothing: refused by the policy, audited.
    let om = client_of(b, OM, &["officier-van-justitie"], None);
    let (slug, reasons) = refusal(om.feedback(&month, &next).await);
    assert_eq!(
        (slug.as_str(), reasons),
        ("policy-denied", vec!["not_a_supplier".to_string()])
    );
    let entries = b.audit_of("feedback.release").await;
    let refused = entries.last().unwrap();
    assert_eq!(refused.decision.as_deref(), Some("deny"));
    assert_eq!(refused.actor_org.as_deref(), Some(OM));

    // Bad ranges: a problem naming the parameter; nothing released.
    let token = b.token(DEALER, &["compliance"]);
    for (query, field) in [
        ("from=2026-13&to=2026-12", "from"),
        ("from=2026-11&to=2026-10", "to"),
        ("from=2020-01&to=2026-01", "to"),
        ("from=2026-11-01&to=2026-12", "from"),
    ] {
        let (st, p) = b.get_json(&format!("/v1/feedback?{query}"), &token).await;
        assert_eq!(st, 400, "{query}: {p}");
        assert_eq!(p["field"], field, "{query}: {p}");
    }
    assert_eq!(b.audit_of("feedback.release").await.len(), entries.len());

    // Neither an answer nor its audit entry names a case or a subject.
    let body = serde_json::to_string(&after).unwrap()
        + &serde_json::to_string(&b.audit_of("feedback.release").await).unwrap();
    assert!(!body.contains("MN-2026-T"), "{body}");
    for n in (0..16).chain(100..103) {
        assert!(!body.contains(&plate(n)), "plate {n} named");
    }
    for e in b.audit_of("feedback.release").await {
        assert!(
            e.case_reference.is_none() && e.pseudonyms.is_empty(),
            "{e:?}"
        );
    }
}

/// The beeld page offers the case measures and draws them like the others: the heat map of open
/// cases per gemeente and theme, in Chromium, matching the API's answer of the same snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_beeld_page_draws_open_cases_in_chromium() {
    let Some(browser) = super::browser::Browser::start("the beeld page (cases)").await else {
        return;
    };
    let b = Broker::start(None).await;
    let riec = client_of(&b, RIEC, &[REGISSEUR], None);
    for i in 0..12 {
        riec.open_case(&case(
            &format!("MN-2026-B{i:02}"),
            "GM0344",
            &[POLICE, UTRECHT],
        ))
        .await
        .unwrap();
    }
    let t = b.token(RIEC, &["analist"]);
    browser.open(&format!("{}/beeld/#token={t}", b.base)).await;
    browser.click("#signin-accept").await;
    browser
        .wait_for(
            "document.getElementById('signin-who').innerText.includes('of riec-midden-nederland')",
            "the analyst signed in",
        )
        .await;
    let from = day_of(now() - 30 * 86_400);
    let to = day_of(now());
    browser
        .eval(&format!(
            "document.getElementById('measure').value = 'open_cases'; \
             document.getElementById('area').value = 'gemeente'; \
             document.getElementById('from').value = '{from}'; \
             document.getElementById('to').value = '{to}'; return true;"
        ))
        .await;
    let q = json!({"purpose": PICTURE, "measure": "open_cases", "group_by": ["gemeente", "theme"],
                   "from": from, "to": to});
    let utrecht = "#map table[data-measure=\"open_cases\"] td[data-row=\"GM0344\"][data-col=\"criminele-families\"]";
    let mut checked = false;
    for _ in 0..20 {
        browser.click("#draw-map").await;
        let drawn = browser
            .wait_for(
                &format!(
                    "document.querySelector('{}') && document.getElementById('snapshot').textContent",
                    utrecht.replace('\'', "\\'")
                ),
                "the heat map of open cases",
            )
            .await;
        let (st, api) = b.post("/v1/aggregates", Some(&t), &q).await;
        assert_eq!(st, 200, "{api}");
        if !drawn
            .as_str()
            .unwrap()
            .contains(&format!("snapshot #{} ", api["snapshot"]["id"]))
        {
            continue; // a snapshot was published in between: ask again
        }
        let want = api["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["gemeente"] == "GM0344" && c["theme"] == "criminele-families")
            .unwrap()
            .clone();
        let shown = browser.text(utrecht).await;
        match want["value"].as_u64() {
            Some(v) => assert_eq!(shown, v.to_string()),
            None => assert_eq!(shown, format!("< {}", api["k"])),
        }
        // Amersfoort has no case: withheld below k.
        let amersfoort = browser
            .text("#map td[data-row=\"GM0307\"][data-col=\"criminele-families\"]")
            .await;
        assert_eq!(amersfoort, format!("< {}", api["k"]));
        checked = true;
        break;
    }
    assert!(checked, "no drawing matched the API's snapshot");
    browser.stop();
    b.stop().await;
}
