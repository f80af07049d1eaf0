//! Signals placed in a gemeente and wijk (issue 15), over real HTTPS on SQLite and PostgreSQL:
//! stored and read back, recognised on re-upload (also after a restart), and every wrong
//! gemeente or wijk a rejected item that names its field and stores nothing.

use kruispunt_broker::store::SignalId;
use kruispunt_sdk::{CoalitionKey, IdentifierKind};
use kruispunt_test_kit::{Broker, TestFuture, now};
use serde_json::{Value, json};

const DEALER: &str = "autobedrijf-de-vecht";
const PURPOSE: &str = "autobranche-contante-aankopen";

/// A signal on `plate` observed three days ago in `district`, with the given area fields set
/// (a `None` leaves the field out of the JSON).
fn item(plate: &str, district: &str, gemeente: Option<&str>, wijk: Option<&str>) -> Value {
    let pseudonym = CoalitionKey::new([7u8; 32], 1)
        .pseudonymiser(IdentifierKind::Kenteken)
        .pseudonymise(plate)
        .unwrap()
        .to_hex();
    let day = now() / 86_400 - 3;
    let observed = kruispunt_broker::civil::format_date(day);
    let mut v = json!({
        "kind": "kenteken", "pseudonym": pseudonym, "key_version": 1,
        "code": "cash-car-purchase", "observed": observed, "district": district,
        "purposes": [PURPOSE]
    });
    if let Some(g) = gemeente {
        v["gemeente"] = json!(g);
    }
    if let Some(w) = wijk {
        v["wijk"] = json!(w);
    }
    v
}

async fn live(b: &Broker) -> u64 {
    b.state()
        .store
        .signals()
        .count_live_signals(now())
        .await
        .unwrap()
}

/// The stored row of the signal answered with `id`.
async fn read_back(b: &Broker, id: &str) -> kruispunt_broker::store::StoredSignal {
    let id: SignalId = id.parse().unwrap();
    b.state()
        .store
        .signals()
        .signals_by_id_prefix(&[id.prefix8()])
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.id == id)
        .expect("stored")
}

fn stored_and_read_back(b: Broker) -> TestFuture {
    Box::pin(async move {
        let t = b.token(DEALER, &["compliance"]);
        let batch = json!({ "signals": [
            item("GB-001-B", "utrecht-stad", Some("GM0344"), Some("WK034405")),
            item("GB-002-B", "oost-utrecht", Some("GM0307"), None),
            item("GB-003-B", "flevoland", None, None),
        ]});
        let (st, v, _) = b.post_typed("/v1/signals", Some(&t), &batch).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(
            (v["stored"].as_u64(), v["rejected"].as_u64()),
            (Some(3), Some(0)),
            "{v}"
        );
        let id = |i: usize| v["results"][i]["id"].as_str().unwrap().to_string();

        let overvecht = read_back(&b, &id(0)).await;
        assert_eq!(overvecht.district, "utrecht-stad");
        assert_eq!(overvecht.gemeente.as_deref(), Some("GM0344"));
        assert_eq!(overvecht.wijk.as_deref(), Some("WK034405"));
        let amersfoort = read_back(&b, &id(1)).await;
        assert_eq!(amersfoort.gemeente.as_deref(), Some("GM0307"));
        assert_eq!(amersfoort.wijk, None);
        let district_only = read_back(&b, &id(2)).await;
        assert_eq!((district_only.gemeente, district_only.wijk), (None, None));

        // The same observation again is a duplicate with the first id; another wijk is not the
        // same observation.
        let again = json!({ "signals": [
            item("GB-001-B", "utrecht-stad", Some("GM0344"), Some("WK034405")),
            item("GB-001-B", "utrecht-stad", Some("GM0344"), Some("WK034401")),
            item("GB-001-B", "utrecht-stad", Some("GM0344"), None),
        ]});
        let (st, v2, _) = b.post_typed("/v1/signals", Some(&t), &again).await;
        assert_eq!(st, 200, "{v2}");
        assert_eq!(v2["results"][0]["status"], "duplicate", "{v2}");
        assert_eq!(v2["results"][0]["id"], v["results"][0]["id"]);
        assert_eq!(v2["results"][1]["status"], "stored", "{v2}");
        assert_eq!(v2["results"][2]["status"], "stored", "{v2}");
        assert_eq!(live(&b).await, 5);

        // After a restart (the match index, and the re-upload check with it, rebuilt from the
        // database) the area-placed signal is still recognised.
        let b = b.restart().await;
        let t = b.token(DEALER, &["compliance"]);
        let once_more = json!({ "signals": [
            item("GB-001-B", "utrecht-stad", Some("GM0344"), Some("WK034405")),
            item("GB-003-B", "flevoland", None, None),
        ]});
        let (st, v3, _) = b.post_typed("/v1/signals", Some(&t), &once_more).await;
        assert_eq!(st, 200, "{v3}");
        assert_eq!(v3["duplicates"], 2, "{v3}");
        assert_eq!(v3["results"][0]["id"], v["results"][0]["id"]);
        assert_eq!(v3["results"][1]["id"], v["results"][2]["id"]);
        assert_eq!(live(&b).await, 5);
        b.stop().await;
    })
}

fn wrong_areas_are_rejected_items(b: Broker) -> TestFuture {
    Box::pin(async move {
        let t = b.token(DEALER, &["compliance"]);
        // (item, field, words the reason must contain)
        let cases: Vec<(Value, &str, &[&str])> = vec![
            (
                item("GB-010-B", "utrecht-stad", Some("GM9999"), None),
                "gemeente",
                &["\"GM9999\" is not in the registry"],
            ),
            (
                item("GB-011-B", "utrecht-stad", Some("GM344"), None),
                "gemeente",
                &["not a CBS municipality code"],
            ),
            (
                item("GB-012-B", "utrecht-stad", Some("gm0344"), None),
                "gemeente",
                &["not a CBS municipality code"],
            ),
            (
                item("GB-013-B", "flevoland", Some("GM0344"), None),
                "gemeente",
                &[
                    "gemeente GM0344 lies in district utrecht-stad, not in the signal's district flevoland",
                ],
            ),
            (
                item("GB-014-B", "utrecht-stad", Some("GM0344"), Some("WK3445")),
                "wijk",
                &["not a CBS wijk code"],
            ),
            (
                item(
                    "GB-015-B",
                    "utrecht-stad",
                    Some("GM0344"),
                    Some("BU03440501"),
                ),
                "wijk",
                &["not a CBS wijk code"],
            ),
            (
                item("GB-016-B", "utrecht-stad", Some("GM0344"), Some("WK040201")),
                "wijk",
                &["does not lie in gemeente GM0344", "WK0344nn"],
            ),
            (
                item("GB-017-B", "utrecht-stad", None, Some("WK034405")),
                "wijk",
                &["needs the signal's gemeente"],
            ),
            (
                item("GB-018-B", "utrecht-stad", Some(&"G".repeat(129)), None),
                "gemeente",
                &["128"],
            ),
        ];
        let before = live(&b).await;
        let signals: Vec<Value> = cases.iter().map(|c| c.0.clone()).collect();
        let (st, v, _) = b
            .post_typed("/v1/signals", Some(&t), &json!({ "signals": signals }))
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["rejected"].as_u64(), Some(cases.len() as u64), "{v}");
        assert_eq!(v["stored"], 0, "{v}");
        for (i, (_, field, words)) in cases.iter().enumerate() {
            let r = &v["results"][i];
            assert_eq!(r["status"], "rejected", "item {i}: {r}");
            assert_eq!(r["field"], *field, "item {i}: {r}");
            assert!(r.get("id").is_none(), "item {i}: {r}");
            let reason = r["reason"].as_str().unwrap();
            for w in *words {
                assert!(reason.contains(w), "item {i}: {reason:?} lacks {w:?}");
            }
        }
        assert_eq!(live(&b).await, before, "a rejected item stores nothing");

        // A batch mixing both: only the right ones are stored (and a signal without a gemeente
        // stays valid).
        let mixed = json!({ "signals": [
            item("GB-020-B", "west-utrecht", Some("GM0321"), None),
            item("GB-021-B", "oost-utrecht", Some("GM0321"), None),
            item("GB-022-B", "west-utrecht", None, None),
        ]});
        let (st, v, _) = b.post_typed("/v1/signals", Some(&t), &mixed).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(
            v["results"][0]["status"], "stored",
            "Houten is west-utrecht: {v}"
        );
        assert_eq!(v["results"][1]["field"], "gemeente", "{v}");
        assert_eq!(v["results"][2]["status"], "stored", "{v}");
        assert_eq!(live(&b).await, before + 2);

        // The bulk route checks the same way.
        let body = [
            item("GB-030-B", "flevoland", Some("GM0034"), None),
            item("GB-031-B", "flevoland", Some("GM0034"), Some("WK034405")),
        ]
        .iter()
        .map(|v| format!("{v}\n"))
        .collect::<String>();
        let r = b.post_bulk(&t, body).await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            (v["stored"].as_u64(), v["rejected"].as_u64()),
            (Some(1), Some(1)),
            "{v}"
        );
        assert_eq!(live(&b).await, before + 3);
        b.stop().await;
    })
}

kruispunt_test_kit::broker_test!(
    signals_with_gemeente_and_wijk_are_stored_and_read_back = stored_and_read_back,
    wrong_gemeente_or_wijk_is_a_rejected_item_naming_the_field = wrong_areas_are_rejected_items,
);
