//! Floods against `kruispunt serve`: garbage tokens from one address (finding 4), a runaway
//! partner against the **default** per-partner rate limit (finding 11), and an enumeration
//! sweep packed into one large request instead of many small ones (finding 11: the sweep guard
//! counts identifiers).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::*;
use kruispunt_broker::config::{Config, Limits};
use serde_json::{Value, json};

/// Garbage-token requests sent from one address.
const FLOOD: u64 = 300;
/// Failed authentications the address may make before it waits (this broker's configuration).
const BURST: u64 = 20;

async fn a_garbage_flood_is_a_few_counted_entries(pg: Option<&str>) {
    let opts = Options {
        limits: Some(Limits {
            unauthenticated_per_second: 0.001, // no refill within the test
            unauthenticated_burst: BURST as f64,
            refusal_interval_secs: 3600, // the counts are written at shutdown
            ..Limits::default()
        }),
        ..serve_opts()
    };
    let b = match pg {
        None => serve(opts).await,
        Some(name) => match Broker::start_on_postgres(name, opts).await {
            Some(b) => b,
            None => return,
        },
    };
    let before = b.audit_of("auth.refused").await.len();
    let mut statuses = BTreeMap::<u16, u64>::new();
    for i in 0..FLOOD {
        let resp = b
            .client
            .get(format!("{}/v1/audit/review", b.base))
            .bearer_auth("garbage.garbage.garbage")
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        *statuses.entry(status).or_default() += 1;
        let retry = resp.headers().get("retry-after").is_some();
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert_eq!(ct, "application/problem+json", "{status}");
        let p: Value = resp.json().await.unwrap();
        assert!(p.get("entries").is_none(), "{p}");
        if i >= BURST {
            assert_eq!(status, 429, "request {i}: {p}");
            assert!(retry, "429 without Retry-After");
        } else {
            assert_eq!(status, 401, "request {i}: {p}");
        }
    }
    assert_eq!(statuses[&401], BURST, "{statuses:?}");
    // Stopped as an operator stops it (SIGTERM): the counts are written.
    let b = b.restart().await;
    crate::refusal_flood::counted_refusals(&b, before, FLOOD).await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_flood_is_a_few_counted_entries_on_sqlite() {
    a_garbage_flood_is_a_few_counted_entries(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_flood_is_a_few_counted_entries_on_postgres() {
    a_garbage_flood_is_a_few_counted_entries(Some("a_garbage_flood_on_postgres")).await;
}

/// Requests a runaway partner may send before the test gives up on meeting the limit: far more
/// than the default burst, at whatever speed this machine serves them.
const RUNAWAY: u64 = 5_000;
/// Concurrent connections of the runaway partner.
const TASKS: usize = 8;

/// `kruispunt serve` with the configuration it writes on first start — the default limits —
/// and dealer C's runaway client sending requests as fast as it can: the partner's limit is
/// met, answered with `429 rate-limited` (problem+json, `Retry-After`), audited; no request
/// before the burst was spent was limited. The requests are the cheapest an authenticated
/// partner can send (a match question without identifiers: authenticated and charged, then a
/// 400 before any policy or database work), so the limit must be below what the broker
/// serves of the cheapest request, not only of real questions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_partner_meets_the_default_rate_limit() {
    let b = serve(Options {
        serve: Some(bin()),
        ..Options::default()
    })
    .await;
    let limits = Config::load(b.data_dir()).unwrap().limits;
    let defaults = Limits::default();
    assert_eq!(
        (limits.requests_per_second, limits.burst),
        (defaults.requests_per_second, defaults.burst),
        "the broker runs with the default limits"
    );
    let token = b.token(DEALER_C, &["compliance"]);
    let sent = Arc::new(AtomicU64::new(0));
    let limited = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (client, base, token) = (b.client.clone(), b.base.clone(), token.clone());
        let (sent, limited) = (sent.clone(), limited.clone());
        tasks.push(tokio::spawn(async move {
            // (requests answered before this task's first 429, that 429's problem and headers)
            let mut first_429 = None;
            while !limited.load(Ordering::SeqCst) && sent.fetch_add(1, Ordering::SeqCst) < RUNAWAY {
                let resp = client
                    .post(format!("{base}/v1/matches"))
                    .bearer_auth(&token)
                    .json(&json!({ "purpose": PURPOSE, "identifiers": [] }))
                    .send()
                    .await
                    .unwrap();
                if resp.status() == 429 {
                    let retry = resp
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
                    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
                    let p: Value = resp.json().await.unwrap();
                    limited.store(true, Ordering::SeqCst);
                    first_429 = Some((retry, ct, p));
                    break;
                }
                assert_eq!(resp.status(), 400, "an empty question");
            }
            first_429
        }));
    }
    let mut seen = None;
    for t in tasks {
        if let Some(x) = t.await.unwrap() {
            seen.get_or_insert(x);
        }
    }
    let answered = sent.load(Ordering::SeqCst).min(RUNAWAY);
    let (retry, ct, p) = seen.unwrap_or_else(|| {
        panic!("{answered} requests of one partner met no rate limit (default {defaults:?})")
    });
    assert_eq!(ct, "application/problem+json");
    assert_eq!(p["status"], 429, "{p}");
    assert_eq!(p["type"], "urn:kruispunt:problem:rate-limited", "{p}");
    assert!(retry.is_some_and(|s| s >= 1), "Retry-After: {retry:?}");
    // The burst is always served before the limit refuses anything.
    assert!(answered as f64 >= defaults.burst, "{answered}");
    // The refusal is in the trail, naming the organisation.
    let refused = b.audit_of("auth.refused").await;
    assert!(
        refused
            .iter()
            .any(|e| e.reasons == ["rate-limited"] && e.actor_org.as_deref() == Some(DEALER_C)),
        "{refused:?}"
    );
    b.stop().await;
}

/// An unknown plate of series `s`, number `i`.
fn unknown(s: char, i: usize) -> Value {
    json!({ "kind": "kenteken", "pseudonym": pseudonym(&format!("S{s}-{:03}-X", i + 1)), "key_version": 1 })
}

async fn ask(b: &Broker, token: &str, identifiers: Vec<Value>) -> (u16, Value) {
    let q = json!({ "purpose": PURPOSE, "level": "hit", "identifiers": identifiers });
    b.post("/v1/matches", Some(token), &q).await
}

fn sweep_refused((status, v): (u16, Value)) {
    assert_eq!(status, 403, "{v}");
    assert!(
        v["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "sweep_suspected"),
        "{v}"
    );
}

/// The sweep guard's minimum, in identifiers (the embedded registry's).
const SWEEP_MIN: usize = 50;

async fn a_sweep_is_judged_by_identifiers(b: &Broker) {
    // Dealer C tries unknown plates one at a time: answered, until the guard's minimum of
    // identifiers without a hit; then refused as a sweep.
    let tc = b.token(DEALER_C, &["compliance"]);
    for i in 0..SWEEP_MIN {
        let (st, v) = ask(b, &tc, vec![unknown('C', i)]).await;
        assert_eq!(
            (st, &v["results"][0]["hit"]),
            (200, &json!(false)),
            "{i}: {v}"
        );
    }
    sweep_refused(ask(b, &tc, vec![unknown('C', SWEEP_MIN)]).await);
    // Dealer A tries as many in one request: answered once, then refused alike.
    let ta = b.token(DEALER_A, &["compliance"]);
    let (st, v) = ask(b, &ta, (0..SWEEP_MIN).map(|i| unknown('A', i)).collect()).await;
    assert_eq!(st, 200, "{v}");
    assert!(
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["hit"] == false)
    );
    sweep_refused(ask(b, &ta, vec![unknown('A', SWEEP_MIN)]).await);
    // Being refused does not wash a sweep out: refused identifiers count as ones without a hit,
    // so asking on stays refused (with refusals diluting the ratio, the fourth would pass).
    for i in 1..=6 {
        sweep_refused(ask(b, &ta, vec![unknown('A', SWEEP_MIN + i)]).await);
    }
    // Both are flagged for the privacy officers alike.
    let refusals: Vec<_> = b
        .audit_of("match")
        .await
        .into_iter()
        .filter(|e| e.decision.as_deref() == Some("deny"))
        .collect();
    for org in [DEALER_A, DEALER_C] {
        assert!(
            refusals.iter().any(|e| e.actor_org.as_deref() == Some(org)
                && e.reasons.iter().any(|r| r == "sweep_suspected")
                && e.detail["flags"].to_string().contains("sweep_suspected")),
            "{org}: {refusals:?}"
        );
    }
}

attack_tests!(
    a_sweep_is_judged_by_identifiers_on_sqlite,
    a_sweep_is_judged_by_identifiers_on_postgres = a_sweep_is_judged_by_identifiers
);
