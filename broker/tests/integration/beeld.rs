//! The ondermijningsbeeld (`POST /v1/aggregates`) on SQLite and PostgreSQL: release and
//! suppression (threshold, sources, dominance), the privacy budget (spent, refused, the next
//! month, an identical repeat uncharged, shared by two brokers on one PostgreSQL database),
//! what the policy grants per area level, validation problems naming the field, and the audit
//! entry of every release.
//!
//! Releases that need uploaded signals in a *published* snapshot call the flow
//! (`kruispunt_broker::beeld::run`) with an explicit clock a snapshot after the uploads, so no
//! test waits for a snapshot; the HTTP shape is tested on the same broker.

use kruispunt_broker::auth::Principal;
use kruispunt_broker::beeld::{self, AggregateError};
use kruispunt_broker::state::AppState;
use kruispunt_sdk::beeld::{
    AggregateRequest, AggregateResponse, Dimension, Measure, SuppressionReason,
};
use kruispunt_sdk::{CoalitionKey, IdentifierKind};
use kruispunt_test_kit::{Broker, TestDatabase, TestFuture, now};
use serde_json::{Value, json};

const PURPOSE: &str = "ondermijningsbeeld";
const DEALERS: [&str; 3] = [
    "autobedrijf-de-vecht",
    "autohandel-amersfoort",
    "autoschade-almere",
];
const RIEC: &str = "riec-midden-nederland";

kruispunt_test_kit::broker_test!(
    release_suppression_and_budget = release_suppression_and_budget_body,
    the_picture_follows_withdrawals_and_survives_a_restart = withdraw_restart_body,
    the_endpoint_validates_refuses_and_audits = the_endpoint_body,
);

pub(crate) fn plate(n: u32) -> String {
    CoalitionKey::new([7u8; 32], 1)
        .pseudonymiser(IdentifierKind::Kenteken)
        .pseudonymise(&format!("BL-{n:03}-X"))
        .unwrap()
        .to_hex()
}

fn item(n: u32, code: &str, district: &str) -> Value {
    json!({
        "kind": "kenteken", "pseudonym": plate(n), "key_version": 1, "code": code,
        "observed": "2026-11-12", "district": district, "purposes": [PURPOSE]
    })
}

/// Uploads, per dealer, its plates in each district:
/// - oost-utrecht: plates 0–11 from all three dealers, in Amersfoort (GM0307; released);
/// - flevoland: plates 100–104 from all three (5 subjects: below k);
/// - west-utrecht: plates 200–211 from two dealers (too few sources);
/// - utrecht-stad: plates 300–319 from the first dealer, 300 also from the other two
///   (one supplier holds 20 of 22 pairs: dominance).
async fn upload_picture(b: &Broker) {
    for (i, dealer) in DEALERS.iter().enumerate() {
        let mut items = Vec::new();
        items.extend((0..12).map(|n| {
            let mut v = item(n, "cash-car-purchase", "oost-utrecht");
            v["gemeente"] = json!("GM0307");
            v
        }));
        items.extend((100..105).map(|n| item(n, "notes-500", "flevoland")));
        if i < 2 {
            items.extend((200..212).map(|n| item(n, "split-payments", "west-utrecht")));
        }
        if i == 0 {
            items.extend((300..320).map(|n| item(n, "straw-buyer", "utrecht-stad")));
        } else {
            items.push(item(300, "straw-buyer", "utrecht-stad"));
        }
        let t = b.token(dealer, &["compliance"]);
        let (st, v, _) = b
            .post_typed("/v1/signals", Some(&t), &json!({ "signals": items }))
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["rejected"], 0, "{v}");
    }
}

pub(crate) fn principal(b: &Broker, org: &str) -> Principal {
    let reg = b.state().policy.registry();
    let p = reg.partner(org).unwrap();
    Principal {
        org: org.into(),
        sector: p.sector.clone(),
        public: p.public,
        user: "analist.1".into(),
        roles: vec!["analist".into()],
        scope: None,
        token_id: None,
        key_id: String::new(),
        expires_at: now() + 3600,
    }
}

fn per_district(to: &str) -> AggregateRequest {
    AggregateRequest {
        purpose: PURPOSE.into(),
        measure: Measure::Subjects,
        group_by: vec![Dimension::District],
        from: "2026-11-01".into(),
        to: to.into(),
        filter: None,
        totals: false,
    }
}

async fn ask(
    state: &AppState,
    who: &Principal,
    req: &AggregateRequest,
    at: i64,
) -> Result<AggregateResponse, AggregateError> {
    beeld::run(state, who, req, at).await
}

fn cell<'a>(r: &'a AggregateResponse, district: &str) -> &'a kruispunt_sdk::beeld::Cell {
    r.cells
        .iter()
        .find(|c| c.dims.get("district").map(String::as_str) == Some(district))
        .unwrap_or_else(|| panic!("no cell for {district}: {r:?}"))
}

/// The first second of the month after the one `t` is in.
fn next_month(t: i64) -> i64 {
    let (y, m, _) = kruispunt_sdk::civil::civil_from_days(t.div_euclid(86_400));
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    kruispunt_sdk::civil::days_from_civil(y, m, 1) * 86_400
}

fn release_suppression_and_budget_body(b: Broker) -> TestFuture {
    Box::pin(async move {
        upload_picture(&b).await;
        let state = b.state();
        let riec = principal(&b, RIEC);
        // A snapshot published after the uploads (development interval: 10 s).
        let t = now() + 30;
        let r = ask(&state, &riec, &per_district("2026-11-30"), t)
            .await
            .unwrap();
        assert_eq!(r.cells.len(), 5, "every district is listed: {r:?}");
        let released = cell(&r, "oost-utrecht");
        assert!(!released.suppressed, "{r:?}");
        assert_eq!(released.value.unwrap() % 5, 0);
        for (district, reason) in [
            ("flevoland", SuppressionReason::BelowK),
            ("gooi-en-vechtstreek", SuppressionReason::BelowK),
            ("west-utrecht", SuppressionReason::TooFewSources),
            ("utrecht-stad", SuppressionReason::Dominance),
        ] {
            let c = cell(&r, district);
            assert!(c.suppressed && c.value.is_none(), "{district}: {c:?}");
            assert_eq!(c.reason, Some(reason), "{district}");
        }
        assert_eq!((r.k, r.rounding), (10, 5));
        assert_eq!(r.epsilon_spent, 0.5);
        assert_eq!(r.epsilon_left, 9.5);
        assert!(r.margin_95 > 0);

        // Per gemeente: Amersfoort released, the district's other gemeenten listed, below k;
        // signals without a gemeente are in no gemeente cell.
        let mut per_gemeente = per_district("2026-11-30");
        per_gemeente.group_by = vec![Dimension::Gemeente, Dimension::Month];
        per_gemeente.filter = Some(kruispunt_sdk::beeld::AggregateFilter {
            district: vec!["oost-utrecht".into()],
            ..Default::default()
        });
        let g = ask(&state, &riec, &per_gemeente, t).await.unwrap();
        let in_district = b
            .state()
            .policy
            .registry()
            .gemeenten
            .iter()
            .filter(|g| g.district == "oost-utrecht")
            .count();
        assert_eq!(g.cells.len(), in_district, "{g:?}");
        for c in &g.cells {
            assert_eq!(c.dims["month"], "2026-11");
            assert_eq!(c.suppressed, c.dims["gemeente"] != "GM0307", "{c:?}");
        }
        let mut flevoland = per_gemeente.clone();
        flevoland.filter = Some(kruispunt_sdk::beeld::AggregateFilter {
            district: vec!["flevoland".into(), "utrecht-stad".into()],
            ..Default::default()
        });
        let f = ask(&state, &riec, &flevoland, t).await.unwrap();
        assert!(
            f.cells
                .iter()
                .all(|c| c.reason == Some(SuppressionReason::BelowK)),
            "{f:?}"
        );
        let riec_spent = 1.0;

        // The release's audit entry: requester, purpose, query, snapshot, cells, ε, table hash.
        let entries = b.audit_of("aggregate.release").await;
        let e = entries
            .iter()
            .find(|e| {
                e.detail["snapshot"].is_number()
                    && e.detail["query"]["group_by"] == json!(["district"])
            })
            .unwrap();
        assert_eq!(e.actor_org.as_deref(), Some(RIEC));
        assert_eq!(e.purpose.as_deref(), Some(PURPOSE));
        assert_eq!(e.detail["snapshot"], json!(r.snapshot.id));
        assert_eq!(e.detail["cells_released"], 1);
        assert_eq!(e.detail["cells_suppressed"], 4);
        assert_eq!(e.detail["epsilon_spent"], 0.5);
        assert_eq!(
            e.detail["table_sha256"],
            json!(beeld::query::table_hash(&r))
        );
        assert_eq!(e.detail["query"]["group_by"], json!(["district"]));

        // The identical question in the same snapshot: the same answer, not charged again,
        // audited as a repeat — also when another broker process asks (the answer is kept).
        let again = ask(&state, &riec, &per_district("2026-11-30"), t)
            .await
            .unwrap();
        assert_eq!(again.cells, r.cells);
        assert_eq!(again.snapshot, r.snapshot);
        assert_eq!(
            (again.epsilon_spent, again.epsilon_left),
            (0.0, 10.0 - 0.5 - riec_spent)
        );
        assert!(again.audit_seq > r.audit_seq);
        assert_eq!(
            b.audit_of("aggregate.release").await.last().unwrap().detail["repeat"],
            true
        );

        // The next snapshot is a new release (and a new draw of the noise).
        let later = ask(&state, &riec, &per_district("2026-11-30"), t + 3600)
            .await
            .unwrap();
        assert!(later.snapshot.id > r.snapshot.id);
        assert_eq!(later.epsilon_left, 9.0 - riec_spent);

        // Spend the month: 10 / 0.5 = 20 questions, then a refusal naming what is left.
        let mut left = 9.0 - riec_spent;
        for day in 12..=27 {
            let r = ask(&state, &riec, &per_district(&format!("2026-11-{day}")), t)
                .await
                .unwrap();
            left -= 0.5;
            assert!(
                (r.epsilon_left - left).abs() < 1e-9,
                "{day}: {}",
                r.epsilon_left
            );
        }
        let len = b.audit().await.len();
        let refused = ask(&state, &riec, &per_district("2026-11-28"), t)
            .await
            .unwrap_err();
        assert!(
            matches!(
                refused,
                AggregateError::BudgetExhausted {
                    left_micro: 0,
                    cost_micro: 500_000
                }
            ),
            "{refused:?}"
        );
        let audit = b.audit().await;
        assert_eq!(audit.len(), len + 1, "the refusal is audited");
        assert_eq!(
            audit[len].reasons,
            vec!["privacy_budget_exhausted".to_string()]
        );
        // A repeat of a question already answered in this snapshot is still answered.
        assert!(
            ask(&state, &riec, &per_district("2026-11-27"), t)
                .await
                .is_ok()
        );
        // The retention task forgets the kept answers once their snapshot ended — not
        // before — and never the month's spending: the repeat is then a new question, refused.
        use kruispunt_broker::retention::forget_answered_releases;
        assert_eq!(forget_answered_releases(&state, t).await.unwrap(), 0);
        let forgotten = forget_answered_releases(&state, t + 2 * 3600)
            .await
            .unwrap();
        assert_eq!(forgotten, 20, "every answer the RIEC was given");
        let decisions = state.store.decisions();
        let month = kruispunt_broker::civil::day_of(t)[..7].to_string();
        assert_eq!(
            decisions.budget_spent(RIEC, PURPOSE, &month).await.unwrap(),
            10_000_000
        );
        assert!(matches!(
            ask(&state, &riec, &per_district("2026-11-27"), t).await,
            Err(AggregateError::BudgetExhausted { left_micro: 0, .. })
        ));
        // Another organisation has its own budget; the next month a fresh one.
        let police = principal(&b, "politie-midden-nederland");
        assert_eq!(
            ask(&state, &police, &per_district("2026-11-28"), t)
                .await
                .unwrap()
                .epsilon_left,
            9.5
        );
        let r = ask(
            &state,
            &riec,
            &per_district("2026-11-28"),
            next_month(t) + 30,
        )
        .await
        .unwrap();
        assert_eq!(r.epsilon_left, 9.5);

        // Totals are their own noisy number (ε split), suppressed by the same rules.
        let mut with_total = per_district("2026-11-29");
        with_total.totals = true;
        let r = ask(&state, &police, &with_total, t).await.unwrap();
        let total = r.totals.clone().unwrap();
        assert!(
            !total.suppressed && total.value.unwrap() % 5 == 0,
            "{total:?}"
        );
        b.stop().await;
    })
}

fn the_endpoint_body(b: Broker) -> TestFuture {
    Box::pin(async move {
        let riec = b.token(RIEC, &["analist"]);
        let ask = async |token: &str, body: Value| {
            b.post_typed("/v1/aggregates", Some(token), &body).await
        };
        let base = json!({ "purpose": PURPOSE, "measure": "subjects", "group_by": ["district", "theme"],
                           "from": "2026-01-01", "to": "2026-12-31" });

        // Answered over HTTPS: the full grid (districts × the purpose's themes), all below k
        // on an empty picture, with the release's audit sequence.
        let (st, v, _) = ask(&riec, base.clone()).await;
        assert_eq!(st, 200, "{v}");
        let themes = b
            .state()
            .policy
            .registry()
            .purpose(PURPOSE)
            .unwrap()
            .themes
            .len();
        assert_eq!(v["cells"].as_array().unwrap().len(), 5 * themes, "{v}");
        assert!(
            v["cells"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["suppressed"] == true
                    && c["value"].is_null()
                    && c["reason"] == "below_k")
        );
        assert_eq!(v["cells"][0]["district"], "flevoland");
        assert!(v["cells"][0]["theme"].is_string());
        let seq = v["audit_seq"].as_u64().unwrap();
        let entries = b.audit_of("aggregate.release").await;
        assert!(
            entries
                .iter()
                .any(|e| e.detail["snapshot"] == v["snapshot"]["id"]),
            "{seq}"
        );

        // Bad questions: 400 naming the field, nothing charged or disclosed.
        let cases: [(Value, &str); 8] = [
            (json!({"group_by": ["district", "gemeente"]}), "group_by"),
            (json!({"group_by": ["month", "week"]}), "group_by"),
            (json!({"from": "2026-13-01"}), "from"),
            (json!({"to": "yesterday"}), "to"),
            (json!({"from": "2026-12-31", "to": "2026-01-01"}), "to"),
            (json!({"from": "2019-01-01"}), "to"),
            (
                json!({"filter": {"district": ["atlantis"]}}),
                "filter.district",
            ),
            (json!({"filter": {"theme": ["zeeroof"]}}), "filter.theme"),
        ];
        for (patch, field) in cases {
            let mut body = base.clone();
            for (k, val) in patch.as_object().unwrap() {
                body[k] = val.clone();
            }
            let (st, v, ct) = ask(&riec, body).await;
            assert_eq!(st, 400, "{field}: {v}");
            assert_eq!(ct, "application/problem+json");
            assert_eq!(
                v["type"], "urn:kruispunt:problem:invalid-aggregate-query",
                "{v}"
            );
            assert_eq!(v["field"], field, "{v}");
        }
        let mut unknown_gemeente = base.clone();
        unknown_gemeente["filter"] = json!({"gemeente": ["GM9999"]});
        let (st, v, _) = ask(&riec, unknown_gemeente).await;
        assert_eq!(
            (st, v["field"].as_str()),
            (400, Some("filter.gemeente")),
            "{v}"
        );

        // No request shape names a subject: an identifier field is refused outright.
        for extra in [
            json!({"pseudonym": "ab"}),
            json!({"filter": {"kenteken": ["X"]}}),
            json!({"filter": {"org": ["x"]}}),
        ] {
            let mut body = base.clone();
            for (k, val) in extra.as_object().unwrap() {
                body[k] = val.clone();
            }
            let (st, v, _) = ask(&riec, body).await;
            assert_eq!(st, 400, "{v}");
        }

        // The policy: a supplier (autobranche) may not ask; a municipal analyst sees the rest
        // of the unit per district but not another gemeente in detail.
        let dealer = b.token(DEALERS[0], &["analist"]);
        let (st, v, _) = ask(&dealer, base.clone()).await;
        refused_for(st, &v, "sector_not_allowed");
        let municipal = b.token("gemeente-utrecht", &["analist"]);
        let (st, v, _) = ask(&municipal, base.clone()).await;
        assert_eq!(st, 200, "per district: {v}");
        let mut detail = base.clone();
        detail["group_by"] = json!(["gemeente"]);
        let (st, v, _) = ask(&municipal, detail.clone()).await;
        refused_for(st, &v, "area_not_allowed");
        // Its own gemeente (Utrecht, GM0344) in detail, filtered to it; another not.
        detail["filter"] = json!({"gemeente": ["GM0344"]});
        let (st, v, _) = ask(&municipal, detail.clone()).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["cells"].as_array().unwrap().len(), 1, "{v}");
        assert_eq!(v["cells"][0]["gemeente"], "GM0344");
        for other in [json!(["GM0307"]), json!(["GM0344", "GM0307"])] {
            detail["filter"] = json!({ "gemeente": other });
            let (st, v, _) = ask(&municipal, detail.clone()).await;
            refused_for(st, &v, "area_not_allowed");
        }
        // RIEC sees every gemeente.
        detail["filter"] = json!({"gemeente": ["GM0307"]});
        let (st, v, _) = ask(&riec, detail).await;
        assert_eq!(st, 200, "{v}");

        // The budget over HTTPS: twenty distinct questions spend a municipality's month, the
        // twenty-first is refused with what is left (audited).
        let municipality = b.token("gemeente-amersfoort", &["analist"]);
        for day in 1..=20 {
            let mut q = base.clone();
            q["to"] = json!(format!("2026-12-{day:02}"));
            let (st, v, _) = ask(&municipality, q).await;
            assert_eq!(st, 200, "{day}: {v}");
        }
        let mut q = base.clone();
        q["to"] = json!("2026-12-21");
        let (st, v, ct) = ask(&municipality, q).await;
        assert_eq!((st, ct.as_str()), (403, "application/problem+json"), "{v}");
        assert_eq!(
            v["type"], "urn:kruispunt:problem:privacy-budget-exhausted",
            "{v}"
        );
        assert_eq!(v["reasons"], json!(["privacy_budget_exhausted"]));
        assert_eq!(v["epsilon_left"], 0.0);
        let refusals = b.audit_of("aggregate.release").await;
        assert!(
            refusals
                .iter()
                .any(|e| e.reasons.contains(&"area_not_allowed".to_string()))
        );
        b.stop().await;
    })
}

/// Two brokers on one PostgreSQL database share one budget and one set of answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_is_shared_by_two_brokers_on_postgres() {
    let Some(db) = TestDatabase::create("the_budget_is_shared_by_two_brokers_on_postgres").await
    else {
        return;
    };
    let url = db.url.clone();
    let b1 = Broker::start_on(
        db,
        kruispunt_test_kit::Options {
            unlimited: true,
            ..Default::default()
        },
    )
    .await;
    let b2 = Broker::start(Some(url)).await;
    upload_picture(&b1).await;
    let t = now() + 30;
    let riec = principal(&b1, RIEC);
    let first = ask(&b1.state(), &riec, &per_district("2026-11-30"), t)
        .await
        .unwrap();
    assert_eq!(first.epsilon_left, 9.5);
    // The other broker did not see the uploads, yet answers the same question in the same
    // snapshot with the kept answer, uncharged.
    let repeat = ask(&b2.state(), &riec, &per_district("2026-11-30"), t)
        .await
        .unwrap();
    assert_eq!(repeat.cells, first.cells);
    assert_eq!((repeat.epsilon_spent, repeat.epsilon_left), (0.0, 9.5));
    let other = ask(&b2.state(), &riec, &per_district("2026-11-29"), t)
        .await
        .unwrap();
    assert_eq!(other.epsilon_left, 9.0);
    let third = ask(&b1.state(), &riec, &per_district("2026-11-28"), t)
        .await
        .unwrap();
    assert_eq!(third.epsilon_left, 8.5);
    b2.stop().await;
    b1.stop().await;
}

/// A restarted broker fills its picture from the database, and a withdrawal leaves the picture
/// by the next snapshot (the published one is not rewritten: `picture` unit tests).
fn withdraw_restart_body(b: Broker) -> TestFuture {
    Box::pin(async move {
        upload_picture(&b).await;
        let t = now() + 30;
        let riec = principal(&b, RIEC);
        let before = ask(&b.state(), &riec, &per_district("2026-11-30"), t)
            .await
            .unwrap();
        assert!(!cell(&before, "oost-utrecht").suppressed, "{before:?}");

        // The restarted broker answers a new question from the picture it loaded.
        let b = b.restart().await;
        let riec = principal(&b, RIEC);
        let loaded = ask(&b.state(), &riec, &per_district("2026-11-29"), t)
            .await
            .unwrap();
        assert!(!cell(&loaded, "oost-utrecht").suppressed, "{loaded:?}");
        assert_eq!(
            cell(&loaded, "utrecht-stad").reason,
            Some(SuppressionReason::Dominance)
        );

        // The third dealer withdraws its twelve oost-utrecht signals: two sources are left.
        let t3 = b.token(DEALERS[2], &["compliance"]);
        let items: Vec<Value> = (0..12)
            .map(|n| {
                let mut v = item(n, "cash-car-purchase", "oost-utrecht");
                v["gemeente"] = json!("GM0307");
                v
            })
            .collect();
        let (st, v, _) = b
            .post_typed("/v1/signals", Some(&t3), &json!({ "signals": items }))
            .await;
        assert_eq!((st, v["duplicates"].as_u64()), (200, Some(12)), "{v}");
        for r in v["results"].as_array().unwrap() {
            let id = r["id"].as_str().unwrap();
            let resp = b.delete(&format!("/v1/signals/{id}"), &t3).await;
            assert_eq!(resp.status(), 200);
        }
        // Gone from the next snapshot.
        let after = ask(&b.state(), &riec, &per_district("2026-11-27"), now() + 3600)
            .await
            .unwrap();
        assert_eq!(
            cell(&after, "oost-utrecht").reason,
            Some(SuppressionReason::TooFewSources),
            "{after:?}"
        );
        b.stop().await;
    })
}

/// Wijk cells over HTTPS: released only with at least `wijk_k` (50) subjects, whatever `k`.
/// In Utrecht (GM0344), three dealers together signal 50 plates in wijk WK034405 (Overvecht)
/// and 49 in WK034401, each plate by one dealer (shares about a third each); the broker
/// publishes a snapshot every second (`[limits] beeld_snapshot_interval_secs = 1`), and the
/// test asks once a snapshot after the uploads is current.
async fn wijk_cells_need_wijk_k(b: Broker) {
    let mut n = 800;
    for (wijk, plates) in [("WK034405", 50), ("WK034401", 49)] {
        let mut per_dealer: [Vec<Value>; 3] = Default::default();
        for k in 0..plates {
            let mut v = item(n, "straw-buyer", "utrecht-stad");
            v["gemeente"] = json!("GM0344");
            v["wijk"] = json!(wijk);
            per_dealer[k % 3].push(v);
            n += 1;
        }
        for (dealer, items) in DEALERS.iter().zip(per_dealer) {
            let t = b.token(dealer, &["compliance"]);
            let (st, v, _) = b
                .post_typed("/v1/signals", Some(&t), &json!({ "signals": items }))
                .await;
            assert_eq!((st, &v["rejected"]), (200, &json!(0)), "{v}");
        }
    }
    // A snapshot whose moment lies after every upload's commit second.
    let uploaded = now();
    while now() < uploaded + 2 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let riec = b.token(RIEC, &["analist"]);
    let question = json!({ "purpose": PURPOSE, "measure": "subjects", "group_by": ["wijk"],
                           "from": "2026-11-01", "to": "2026-11-30",
                           "filter": {"gemeente": ["GM0344"]} });
    let (st, v, _) = b.post_typed("/v1/aggregates", Some(&riec), &question).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["k"], 50, "a wijk question answers with wijk_k: {v}");
    let cell = |wijk: &str| {
        v["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["wijk"] == wijk)
            .unwrap_or_else(|| panic!("no cell for {wijk}: {v}"))
            .clone()
    };
    let overvecht = cell("WK034405");
    assert_eq!(overvecht["suppressed"], false, "50 subjects: {v}");
    assert_eq!(overvecht["value"].as_u64().unwrap() % 5, 0, "{v}");
    let other = cell("WK034401");
    assert_eq!(
        (&other["suppressed"], &other["value"], &other["reason"]),
        (&json!(true), &Value::Null, &json!("below_k")),
        "49 subjects, though k = 10: {v}"
    );
    // The same 99 subjects per gemeente: one cell, released at k = 10.
    let mut per_gemeente = question.clone();
    per_gemeente["group_by"] = json!(["gemeente"]);
    let (st, g, _) = b
        .post_typed("/v1/aggregates", Some(&riec), &per_gemeente)
        .await;
    assert_eq!((st, &g["k"]), (200, &json!(10)), "{g}");
    assert_eq!(g["cells"][0]["suppressed"], false, "{g}");
    assert_eq!(g["area_names"]["GM0344"], "Utrecht", "{g}");
    // Utrecht's own analyst sees its wijken; Amersfoort's may not look into Utrecht's.
    let utrecht = b.token("gemeente-utrecht", &["analist"]);
    let (st, u, _) = b
        .post_typed("/v1/aggregates", Some(&utrecht), &question)
        .await;
    assert_eq!(st, 200, "{u}");
    let shown = |r: &Value| -> Vec<(Value, Value)> {
        r["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["wijk"].clone(), c["suppressed"].clone()))
            .collect()
    };
    assert_eq!(shown(&u), shown(&v), "the same cells released and withheld");
    let amersfoort = b.token("gemeente-amersfoort", &["analist"]);
    let (st, a, _) = b
        .post_typed("/v1/aggregates", Some(&amersfoort), &question)
        .await;
    assert_eq!(st, 403, "{a}");
    assert!(
        a["reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("area_not_allowed")),
        "{a}"
    );
    b.stop().await;
}

fn every_second() -> kruispunt_test_kit::Options {
    kruispunt_test_kit::Options {
        limits: Some(kruispunt_broker::config::Limits {
            beeld_snapshot_interval_secs: Some(1),
            ..Default::default()
        }),
        unlimited: true,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wijk_cells_need_wijk_k_on_sqlite() {
    wijk_cells_need_wijk_k(Broker::start_with(every_second()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wijk_cells_need_wijk_k_on_postgres() {
    if let Some(b) = Broker::start_on_postgres("wijk_cells_need_wijk_k", every_second()).await {
        wijk_cells_need_wijk_k(b).await;
    }
}

/// A dimension asked with no values to list (no wijk holds a signal yet; a theme filter that
/// keeps no theme) is an empty table, not a server error. Found by schemathesis
/// (`.ci/schemathesis.sh`): `group_by: ["wijk"]` on an empty broker panicked in the release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dimension_without_values_is_an_empty_table() {
    let b = Broker::start_with(every_second()).await;
    let riec = b.token(RIEC, &["analist"]);
    for question in [
        json!({ "purpose": PURPOSE, "measure": "signals", "group_by": ["wijk"],
                "from": "2026-11-01", "to": "2026-11-01" }),
        json!({ "purpose": PURPOSE, "measure": "subjects", "group_by": ["wijk", "theme"],
                "from": "2026-11-01", "to": "2026-11-30", "totals": true }),
        json!({ "purpose": PURPOSE, "measure": "subjects", "group_by": ["district", "theme"],
                "from": "2026-11-01", "to": "2026-11-30", "filter": {"theme": []} }),
    ] {
        let (st, v, _) = b.post_typed("/v1/aggregates", Some(&riec), &question).await;
        assert_eq!(st, 200, "{question}: {v}");
        assert!(v["cells"].is_array(), "{v}");
    }
    let (st, v, _) = b
        .post_typed(
            "/v1/aggregates",
            Some(&riec),
            &json!({ "purpose": PURPOSE, "measure": "signals", "group_by": ["wijk"],
                     "from": "2026-11-01", "to": "2026-11-01" }),
        )
        .await;
    assert_eq!(
        (st, v["cells"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{v}"
    );
}

/// Asserts a 403 whose reasons hold `reason`.
fn refused_for(st: u16, v: &Value, reason: &str) {
    assert_eq!(st, 403, "{v}");
    let reasons = v["reasons"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert!(reasons.contains(&json!(reason)), "{reason}: {v}");
}
