//! The broker over real HTTPS, on SQLite and on PostgreSQL: uploads (partial errors,
//! idempotency), matches (tiered disclosure, key versions, policy denials), withdrawal,
//! retention, every authentication refusal, concurrency — and the audit entry each leaves.

use kruispunt_broker::audit::entry::AuditEntry;
use kruispunt_sdk::{CoalitionKey, IdentifierKind};
use kruispunt_test_kit::token::police_scope;
use kruispunt_test_kit::{Broker, TestFuture, now};
use serde_json::{Value, json};

const DEALER_A: &str = "autobedrijf-de-vecht";
const DEALER_B: &str = "autohandel-amersfoort";
const DEALER_C: &str = "autoschade-almere";
const HORECA: &str = "horeca-gooi";
const PURPOSE: &str = "autobranche-contante-aankopen";

/// The pseudonym of `value` as a `kind` under the test key of `version`.
fn pseudonym_as(kind: IdentifierKind, value: &str, version: u32) -> String {
    CoalitionKey::new([7u8; 32], version)
        .pseudonymiser(kind)
        .pseudonymise(value)
        .unwrap()
        .to_hex()
}

fn pseudonym(plate: &str, version: u32) -> String {
    pseudonym_as(IdentifierKind::Kenteken, plate, version)
}

/// A signal item observed on 2026-11-01 under key version 1.
fn item(kind: &str, pseudonym: String, code: &str, district: &str, purpose: &str) -> Value {
    json!({
        "kind": kind, "pseudonym": pseudonym, "key_version": 1, "code": code,
        "observed": "2026-11-01", "district": district, "purposes": [purpose]
    })
}

fn signal(plate: &str, code: &str) -> Value {
    item(
        "kenteken",
        pseudonym(plate, 1),
        code,
        "oost-utrecht",
        PURPOSE,
    )
}

fn upload_match_withdraw_retention(b: Broker) -> TestFuture {
    Box::pin(async move {
        let ta = b.token(DEALER_A, &["compliance"]);
        let tb = b.token(DEALER_B, &["compliance"]);
        let tc = b.token(DEALER_C, &["compliance"]);

        // Partial batch: the good items are stored, the bad ones named by index and field.
        let mut bad_len = signal("GB-001-B", "cash-car-purchase");
        bad_len["pseudonym"] = json!("abcd");
        let mut bad_code = signal("GB-001-B", "cash-car-purchase");
        bad_code["code"] = json!("no-such-code");
        let mut future = signal("GB-001-B", "cash-car-purchase");
        future["observed"] = json!("2999-01-01");
        let batch = json!({ "signals": [signal("GB-001-B", "cash-car-purchase"), bad_len, bad_code, future, signal("12-ABC-3", "notes-500")] });
        let (st, v, _) = b.post_typed("/v1/signals", Some(&ta), &batch).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["stored"], 2, "{v}");
        assert_eq!(v["rejected"], 3);
        assert_eq!(v["results"][1]["field"], "pseudonym");
        assert_eq!(v["results"][2]["field"], "code");
        assert_eq!(v["results"][3]["field"], "observed");
        let withdraw_id = v["results"][0]["id"].as_str().unwrap().to_string();

        // Idempotent re-upload.
        let upload = async |t: &String, items: Vec<Value>| {
            b.post_typed("/v1/signals", Some(t), &json!({ "signals": items }))
                .await
        };
        let (st, v, _) = upload(&ta, vec![signal("GB-001-B", "cash-car-purchase")]).await;
        assert_eq!(st, 200);
        assert_eq!(
            (v["stored"].as_u64(), v["duplicates"].as_u64()),
            (Some(0), Some(1)),
            "{v}"
        );

        // A second, independent source for the same plate.
        let (st, v, _) = upload(&tb, vec![signal("GB001B", "split-payments")]).await;
        assert_eq!((st, v["stored"].as_u64()), (200, Some(1)), "{v}");

        // Dealer C asks: GB-001-B has two independent sources (min_sources = 2) → hit.
        let q = |plate: &str, version: u32, level: &str| {
            json!({ "purpose": PURPOSE, "level": level,
                    "identifiers": [{ "kind": "kenteken", "pseudonym": pseudonym(plate, version), "key_version": version }] })
        };
        let (st, v, _) = b
            .post_typed("/v1/matches", Some(&tc), &q("GB-001-B", 1, "hit"))
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["results"][0]["hit"], true, "{v}");
        assert!(
            v["results"][0].get("categories").is_none(),
            "hit level discloses no categories"
        );
        // Categories with a justification: the codes of both sources, never the supplier names.
        let mut qc = q("GB-001-B", 1, "categories");
        qc["justification"] = json!("cliëntenonderzoek bij contante aankoop van EUR 24.000");
        qc["case_reference"] = json!("CDD-2026-0042");
        let (st, v, _) = b.post_typed("/v1/matches", Some(&tc), &qc).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["level"], "categories", "{v}");
        assert_eq!(
            v["results"][0]["categories"],
            json!(["cash-car-purchase", "split-payments"])
        );
        assert!(v["results"][0].get("signals").is_none());
        // 12-ABC-3 has only one source: below min_sources → no hit.
        let (_, v, _) = b
            .post_typed("/v1/matches", Some(&tc), &q("12-ABC-3", 1, "hit"))
            .await;
        assert_eq!(v["results"][0]["hit"], false, "{v}");
        // Never across key versions.
        let (_, v, _) = b
            .post_typed("/v1/matches", Some(&tc), &q("GB-001-B", 2, "hit"))
            .await;
        assert_eq!(v["results"][0]["hit"], false, "{v}");
        // A requester never matches its own data: dealer A sees only B's signal (1 < 2 sources).
        let (_, v, _) = b
            .post_typed("/v1/matches", Some(&ta), &q("GB-001-B", 1, "hit"))
            .await;
        assert_eq!(v["results"][0]["hit"], false, "{v}");

        // Policy denial: horeca is not a party to the car-trade purpose.
        let th = b.token(HORECA, &["compliance"]);
        let (st, v, ct) = b
            .post_typed("/v1/matches", Some(&th), &q("GB-001-B", 1, "hit"))
            .await;
        assert_eq!(st, 403, "{v}");
        assert_eq!(ct, "application/problem+json");
        assert_eq!(v["type"], "urn:kruispunt:problem:policy-denied");
        assert!(!v["reasons"].as_array().unwrap().is_empty());

        // Withdrawal: only by the supplier.
        let path = format!("/v1/signals/{withdraw_id}");
        assert_eq!(
            b.delete(&path, &tb).await.status().as_u16(),
            404,
            "another org cannot withdraw"
        );
        assert_eq!(b.delete(&path, &ta).await.status().as_u16(), 200);
        let (_, v, _) = b
            .post_typed("/v1/matches", Some(&tc), &q("GB-001-B", 1, "hit"))
            .await;
        assert_eq!(
            v["results"][0]["hit"], false,
            "after withdrawal one source is left: {v}"
        );

        // Retention: a purge far in the future removes everything and is audited.
        let state = b.running.as_ref().unwrap().state.clone();
        let purged = kruispunt_broker::retention::purge_once(&state, now() + 10 * 365 * 86_400)
            .await
            .unwrap();
        assert!(purged >= 2, "purged {purged}");
        assert!(state.index.is_empty());

        let actions: Vec<String> = b
            .audit()
            .await
            .iter()
            .map(|e| format!("{}:{}", e.action, e.decision.clone().unwrap_or_default()))
            .collect();
        for want in [
            "signals.upload:allow",
            "match:allow",
            "match:deny",
            "signal.withdraw:allow",
            "signal.withdraw:deny",
            "retention.purge:allow",
        ] {
            assert!(
                actions.iter().any(|a| a == want),
                "missing audit entry {want}: {actions:?}"
            );
        }
        // No clear identifier anywhere in the audit trail.
        let all = serde_json::to_string(&b.audit().await).unwrap();
        assert!(!all.contains("GB001B") && !all.contains("GB-001-B"));
        b.stop().await;
    })
}

fn authentication_refusals(b: Broker) -> TestFuture {
    Box::pin(async move {
        let body = json!({ "signals": [signal("GB-001-B", "cash-car-purchase")] });
        let cases: Vec<(Option<String>, &str)> = vec![
            (None, "token-missing"),
            (Some("not.a.jwt".into()), "token-malformed"),
            (
                Some(b.token_with(DEALER_A, &["compliance"], |c| {
                    c.aud = "another-broker".into()
                })),
                "token-wrong-audience",
            ),
            (
                Some(b.token_with(DEALER_A, &["compliance"], |c| {
                    c.exp = now() - 3600;
                    c.iat = now() - 7200;
                })),
                "token-expired",
            ),
            (
                Some(b.token_with(DEALER_A, &["compliance"], |c| c.nbf = Some(now() + 3600))),
                "token-not-yet-valid",
            ),
            (
                Some(b.token_with(DEALER_A, &["compliance"], |c| c.iss = DEALER_B.into())),
                "token-issuer-mismatch",
            ),
            (
                Some({
                    let t = b.token(DEALER_A, &["compliance"]);
                    let mut parts: Vec<String> = t.split('.').map(String::from).collect();
                    parts[1] = parts[1].chars().rev().collect();
                    parts.join(".")
                }),
                "token-",
            ),
        ];
        let before = b.audit().await.len();
        for (token, slug) in &cases {
            let (st, v, ct) = b.post_typed("/v1/signals", token.as_deref(), &body).await;
            assert_eq!(st, 401, "{slug}: {v}");
            assert_eq!(ct, "application/problem+json");
            assert!(
                v["type"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("urn:kruispunt:problem:{slug}")),
                "{slug}: {v}"
            );
        }
        let audit = b.audit().await;
        assert_eq!(
            audit.len() - before,
            cases.len(),
            "one audit entry per refusal"
        );
        assert!(audit[before..].iter().all(|e| e.action == "auth.refused"));
        // The refusal names the route that matched: method and path template.
        assert!(
            audit[before..]
                .iter()
                .all(|e| e.detail == json!({ "endpoint": "POST /v1/signals" }))
        );
        let before = audit.len();
        let st = b
            .delete(&format!("/v1/signals/{}", "0".repeat(32)), None::<&str>)
            .await
            .status();
        assert_eq!(st, 401);
        let st = b
            .client
            .head(format!("{}/v1/audit/entries?start=0&end=1", b.base))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(st, 401);
        let labels: Vec<_> = b.audit().await[before..]
            .iter()
            .map(|e| e.detail["endpoint"].clone())
            .collect();
        assert_eq!(
            labels,
            [
                json!("DELETE /v1/signals/{id}"),
                json!("GET /v1/audit/entries")
            ]
        );
        // Nothing was stored by any refused request.
        assert!(b.running.as_ref().unwrap().state.index.is_empty());
        // Strict JSON: an unknown field is refused with a problem naming it.
        let t = b.token(DEALER_A, &["compliance"]);
        let (st, v, _) = b
            .post_typed(
                "/v1/signals",
                Some(&t),
                &json!({ "signals": [], "extra": 1 }),
            )
            .await;
        assert_eq!(st, 400);
        assert!(v["detail"].as_str().unwrap().contains("extra"), "{v}");
        // A police token whose scope names another purpose is refused by the policy.
        let tp = b.token_with("politie-midden-nederland", &["rechercheur"], |c| {
            c.scope = Some(police_scope("ON-2026-0042", "OvJ-2026-117", 5, None))
        });
        let q = json!({ "purpose": PURPOSE, "identifiers": [{ "kind": "kenteken", "pseudonym": pseudonym("GB-001-B", 1), "key_version": 1 }] });
        let (st, v, _) = b.post_typed("/v1/matches", Some(&tp), &q).await;
        assert_eq!(st, 403, "{v}");
        b.stop().await;
    })
}

fn concurrent_partners(b: Broker) -> TestFuture {
    Box::pin(async move {
        let b = std::sync::Arc::new(b);
        let mut tasks = Vec::new();
        for (p, partner) in [DEALER_A, DEALER_B, DEALER_C].into_iter().enumerate() {
            let b = b.clone();
            tasks.push(tokio::spawn(async move {
                let t = b.token(partner, &["compliance"]);
                for round in 0..4 {
                    let signals: Vec<Value> = (0..50).map(|i| signal(&format!("{:02}-XX-{:02}", round * 10 + p, i), "cash-car-purchase")).collect();
                    let (st, v, _) = b.post_typed("/v1/signals", Some(&t), &json!({ "signals": signals })).await;
                    assert_eq!(st, 200, "{v}");
                    let q = json!({ "purpose": PURPOSE, "identifiers": [{ "kind": "kenteken", "pseudonym": pseudonym("GB-001-B", 1), "key_version": 1 }] });
                    let (st, v, _) = b.post_typed("/v1/matches", Some(&t), &q).await;
                    assert_eq!(st, 200, "{v}");
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let b = std::sync::Arc::into_inner(b).unwrap();
        let state = b.running.as_ref().unwrap().state.clone();
        let audit = b.audit().await;
        assert_eq!(
            audit
                .iter()
                .filter(|e| e.action == "signals.upload")
                .count(),
            12
        );
        assert_eq!(audit.iter().filter(|e| e.action == "match").count(), 12);
        assert_eq!(state.index.len(), 3 * 4 * 50);
        b.stop().await;
    })
}

fn ndjson_bulk_upload(b: Broker) -> TestFuture {
    Box::pin(async move {
        let t = b.token(DEALER_A, &["compliance"]);
        // 25 000 lines: three commits of up to 10 000, a bad line in the middle, a blank line.
        let mut body = String::new();
        for i in 0..25_000u32 {
            if i == 12_345 {
                body.push_str("{\"kind\": \"kenteken\", \"oops\": true}\n\n");
                continue;
            }
            body.push_str(
                &signal(
                    &format!(
                        "{:02}-{}-{:02}",
                        i % 100,
                        ["XX", "ZZ", "PP", "BB", "DD"][(i / 100 % 5) as usize],
                        i / 500
                    ),
                    "cash-car-purchase",
                )
                .to_string(),
            );
            body.push('\n');
        }
        let send = || b.post_bulk(&t, body.clone());
        let v: Value = send().await.json().await.unwrap();
        assert_eq!(v["rejected"], 1, "{}", v["results"]);
        assert_eq!(v["results"][0]["index"], 12_345);
        let stored = v["stored"].as_u64().unwrap();
        assert_eq!(stored + v["duplicates"].as_u64().unwrap(), 24_999);
        // Re-sending the whole file stores nothing twice.
        let v: Value = send().await.json().await.unwrap();
        assert_eq!(v["stored"], 0);
        assert_eq!(b.running.as_ref().unwrap().state.index.len() as u64, stored);
        let upload_entries = |audit: Vec<AuditEntry>| {
            audit
                .iter()
                .filter(|e| e.action == "signals.upload")
                .count()
        };
        let uploads = upload_entries(b.audit().await);
        let chunks = 25_000usize.div_ceil(kruispunt_broker::routes::signals::BULK_CHUNK);
        assert_eq!(
            uploads,
            2 * chunks,
            "one audit entry per committed chunk, per upload"
        );

        // A stream that breaks after its first chunk: the answer is the problem, and the chunk
        // that was already handed to the committer is stored (with its audit entry) before the
        // answer leaves — so the client can resume from a known state.
        let chunk = kruispunt_broker::routes::signals::BULK_CHUNK as u32;
        let mut broken = String::new();
        for i in 0..chunk + 10 {
            let plate = format!(
                "{:02}-{}-{:02}",
                i % 100,
                ["GG", "HH", "JJ", "KK", "LL"][(i / 100 % 5) as usize],
                i / 500
            );
            broken.push_str(&signal(&plate, "cash-car-purchase").to_string());
            broken.push('\n');
        }
        broken.push_str(&"x".repeat(20_000));
        let response = b.post_bulk(&t, broken).await;
        assert_eq!(response.status(), 400);
        let v: Value = response.json().await.unwrap();
        assert!(
            v["type"].as_str().unwrap().ends_with("line-too-long"),
            "{v}"
        );
        assert_eq!(
            b.running.as_ref().unwrap().state.index.len() as u64,
            stored + u64::from(chunk),
            "exactly the first chunk was stored"
        );
        assert_eq!(
            upload_entries(b.audit().await),
            uploads + 1,
            "its audit entry too"
        );
        b.stop().await;
    })
}

/// Waits until the clock has passed second `t`, so the next upload gets an id of a later
/// second than an upload made at `t` (ids begin with the upload second): the re-upload is then
/// recognised by its content, not by the unique index.
async fn next_second(t: i64) {
    while now() <= t {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

const BIBOB: &str = "horeca-bibob-screening";

fn kvk(n: &str, version: u32) -> String {
    pseudonym_as(IdentifierKind::Kvk, n, version)
}

fn bibob_item(n: &str, code: &str) -> Value {
    item("kvk", kvk(n, 1), code, "gooi-en-vechtstreek", BIBOB)
}

/// Uploads `items` as the horeca partner; the answer and the second it was sent in.
async fn upload_horeca(b: &Broker, items: Vec<Value>) -> (Value, i64) {
    let t = b.token(HORECA, &["signaleerder"]);
    let before = now();
    let (st, v, _) = b
        .post_typed("/v1/signals", Some(&t), &json!({ "signals": items }))
        .await;
    assert_eq!(st, 200, "{v}");
    (v, before)
}

fn status_id(v: &Value, i: usize) -> (String, String) {
    (
        v["results"][i]["status"].as_str().unwrap().to_string(),
        v["results"][i]["id"].as_str().unwrap().to_string(),
    )
}

fn reuploads(b: Broker) -> TestFuture {
    Box::pin(async move {
        const TOWN: &str = "gemeente-hilversum";
        let item = bibob_item;
        let upload = upload_horeca;
        // First upload: the id begins with the upload second (time-ordered ids).
        let (v, t0) = upload(&b, vec![item("12345678", "cash-loan-offer")]).await;
        let (status, first_id) = status_id(&v, 0);
        assert_eq!(status, "stored", "{v}");
        let second = u32::from_str_radix(&first_id[..8], 16).unwrap() as i64;
        assert!((t0..=now()).contains(&second), "{first_id} at {t0}");

        // A re-upload in a later second is a duplicate answered with the ORIGINAL id.
        next_second(now()).await;
        let (v, _) = upload(&b, vec![item("12345678", "cash-loan-offer")]).await;
        assert_eq!(
            status_id(&v, 0),
            ("duplicate".into(), first_id.clone()),
            "{v}"
        );

        // Repeats within one batch: stored once, the repeat names the same id; a re-upload in
        // the same batch is still recognised.
        let (v, _) = upload(
            &b,
            vec![
                item("87654321", "cash-loan-offer"),
                item("87654321", "cash-loan-offer"),
                item("12345678", "cash-loan-offer"),
            ],
        )
        .await;
        let (s0, id0) = status_id(&v, 0);
        assert_eq!(s0, "stored", "{v}");
        assert_eq!(status_id(&v, 1), ("duplicate".into(), id0.clone()), "{v}");
        assert_eq!(
            status_id(&v, 2),
            ("duplicate".into(), first_id.clone()),
            "{v}"
        );

        // Concurrent uploads of the same new observation by one organisation: stored once.
        let b = std::sync::Arc::new(b);
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move {
                let (v, _) = upload(&b, vec![item("55555555", "cash-loan-offer")]).await;
                status_id(&v, 0)
            }));
        }
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        assert_eq!(
            answers.iter().filter(|(s, _)| s == "stored").count(),
            1,
            "{answers:?}"
        );
        assert!(
            answers.iter().all(|(_, id)| *id == answers[0].1),
            "{answers:?}"
        );
        let b = std::sync::Arc::into_inner(b).unwrap();

        // A row stored before migration 0008 (id == digest), written straight to the store.
        let state = b.running.as_ref().unwrap().state.clone();
        let legacy_pseudonym =
            kruispunt_sdk::pseudonym::Pseudonym::from_hex(&kvk("99999999", 1)).unwrap();
        let mut legacy = kruispunt_broker::store::NewSignal::new(
            HORECA,
            IdentifierKind::Kvk,
            state.keys.at_rest(legacy_pseudonym.as_bytes()),
            1,
            "cash-loan-offer",
            "2026-11-01",
            "gooi-en-vechtstreek",
            vec![BIBOB.into()],
            (now() / 86_400 + 300) * 86_400,
            now() - 86_400 * 400,
        );
        legacy.id = kruispunt_broker::store::SignalId::legacy(&legacy.digest);
        let legacy_id = legacy.id.to_string();
        let entry = kruispunt_broker::audit::entry::AuditEntry::new(
            now() * 1000,
            kruispunt_broker::audit::entry::Operation::Collect,
            "signals.upload",
        );
        state
            .store
            .signals()
            .insert_signals(std::slice::from_ref(&legacy), &entry)
            .await
            .unwrap();
        drop(state);

        // After a restart (the index rebuilt from the database) re-uploads are still
        // duplicates with the original ids, the legacy row's included.
        let b = b.restart().await;
        let (v, _) = upload(
            &b,
            vec![
                item("12345678", "cash-loan-offer"),
                item("99999999", "cash-loan-offer"),
            ],
        )
        .await;
        assert_eq!(
            status_id(&v, 0),
            ("duplicate".into(), first_id.clone()),
            "{v}"
        );
        assert_eq!(
            status_id(&v, 1),
            ("duplicate".into(), legacy_id.clone()),
            "{v}"
        );
        // Another code is another observation.
        let (v, _) = upload(&b, vec![item("12345678", "turnover-mismatch")]).await;
        let (status, other_id) = status_id(&v, 0);
        assert_eq!(status, "stored", "{v}");

        // Details for hits come back right without the look-up by pseudonym.
        let town = b.token(TOWN, &["bibob-adviseur"]);
        let q = json!({
            "purpose": BIBOB, "level": "details", "case_reference": "BIBOB-HLV-2026-014",
            "legal_basis": "wet-bibob", "justification": "Bibob-toets art. 3 lid 1",
            "identifiers": [
                { "kind": "kvk", "pseudonym": kvk("12345678", 1), "key_version": 1 },
                { "kind": "kvk", "pseudonym": kvk("99999999", 1), "key_version": 1 },
                { "kind": "kvk", "pseudonym": kvk("11111111", 1), "key_version": 1 },
                { "kind": "kvk", "pseudonym": kvk("12345678", 2), "key_version": 2 }
            ]
        });
        let (st, v, _) = b.post_typed("/v1/matches", Some(&town), &q).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["level"], "details", "{v}");
        let ids = |i: usize| -> Vec<String> {
            v["results"][i]["signals"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| s["id"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut want = vec![first_id.clone(), other_id];
        want.sort();
        assert_eq!(ids(0), want, "{v}");
        assert_eq!(v["results"][0]["signals"][0]["source"], HORECA, "{v}");
        assert_eq!(
            v["results"][0]["signals"][0]["observed"], "2026-11-01",
            "{v}"
        );
        assert_eq!(ids(1), vec![legacy_id], "{v}");
        assert_eq!(v["results"][2]["hit"], false, "{v}");
        assert_eq!(
            v["results"][3]["hit"], false,
            "never across key versions: {v}"
        );
        b.stop().await;
    })
}

kruispunt_test_kit::broker_test!(
    reuploads_are_duplicates_with_the_first_id = reuploads,
    ndjson_bulk_upload_commits_in_chunks_and_is_idempotent = ndjson_bulk_upload,
    uploads_matches_withdrawal_and_retention = upload_match_withdraw_retention,
    every_authentication_refusal_is_a_problem_and_an_audit_entry = authentication_refusals,
    concurrent_uploads_and_matches_from_several_partners = concurrent_partners,
);
