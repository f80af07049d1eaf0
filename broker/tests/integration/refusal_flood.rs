//! Unauthenticated requests cannot flood the audit trail: failed authentications are
//! rate-limited per client address before the token is even verified, and identical refusals
//! are one audit entry per interval carrying their count. A partner from another address is
//! unaffected. On both backends.

use crate::audit_common::*;
use kruispunt_broker::config::Limits;
use kruispunt_test_kit::Options;
use serde_json::Value;

/// Garbage-token requests sent from one address.
const FLOOD: u64 = 300;
/// Failed authentications an address may make before it waits (the test's configuration).
const BURST: u64 = 20;

fn limits() -> Limits {
    Limits {
        unauthenticated_per_second: 0.001, // no refill within the test
        unauthenticated_burst: BURST as f64,
        refusal_interval_secs: 3600, // only the explicit flush writes the counts
        ..Limits::default()
    }
}

/// A client of `b` whose connections come from `local` (another loopback address).
fn client_from(b: &Broker, local: [u8; 4]) -> reqwest::Client {
    let ca = std::fs::read(&b.ca_path).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .local_address(std::net::IpAddr::from(local))
        .build()
        .unwrap()
}

async fn garbage(client: &reqwest::Client, b: &Broker) -> (u16, Value, Option<String>) {
    let resp = client
        .get(format!("{}/v1/audit/review", b.base))
        .bearer_auth("garbage.garbage.garbage")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(ct, "application/problem+json", "{status}");
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, resp.json().await.unwrap(), retry)
}

async fn a_flood_is_bounded(b: Broker) {
    let before = b.audit_of("auth.refused").await.len();
    let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
    for i in 0..FLOOD {
        let (status, p, retry) = garbage(&b.client, &b).await;
        *statuses.entry(status).or_default() += 1;
        if i >= BURST {
            assert_eq!(status, 429, "request {i}: {p}");
            assert!(
                p["type"].as_str().unwrap().ends_with(":rate-limited"),
                "{p}"
            );
            assert!(retry.is_some(), "429 without Retry-After");
        } else {
            assert_eq!(status, 401, "request {i}: {p}");
        }
    }
    assert_eq!(statuses[&401], BURST, "{statuses:?}");

    // A partner from another address: unaffected (its own garbage request is a 401, not 429).
    let other = client_from(&b, [127, 0, 0, 2]);
    let (status, p, _) = garbage(&other, &b).await;
    assert_eq!(status, 401, "{p}");
    let tc = b.token(DEALER_C, &["compliance"]);
    let resp = other
        .post(format!("{}/v1/matches", b.base))
        .bearer_auth(&tc)
        .json(&match_query(PURPOSE))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());

    // The trail: a handful of entries that together count every refusal.
    let st = b.state();
    let written = st.refusals.flush(&*st.store).await.unwrap();
    assert!(written >= 1, "the repeats were not written");
    let new = counted_refusals(&b, before, FLOOD + 1).await;
    for e in &new {
        assert_eq!(e.detail["endpoint"], "GET /v1/audit/review", "{e:?}");
        assert_eq!(e.decision.as_deref(), Some("deny"));
        if e.detail.get("repeated").is_some() {
            assert!(
                e.detail["first_ms"].as_i64() <= e.detail["last_ms"].as_i64(),
                "{e:?}"
            );
        }
    }
    let reasons: std::collections::BTreeSet<&str> =
        new.iter().map(|e| e.reasons[0].as_str()).collect();
    assert!(reasons.contains("rate-limited"), "{reasons:?}");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_token_flood_is_a_few_counted_entries_on_sqlite() {
    let b = Broker::start_with(Options {
        limits: Some(limits()),
        unlimited: true,
        ..Options::default()
    })
    .await;
    a_flood_is_bounded(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_token_flood_is_a_few_counted_entries_on_postgres() {
    let opts = Options {
        limits: Some(limits()),
        unlimited: true,
        ..Options::default()
    };
    if let Some(b) = Broker::start_on_postgres("refusal_flood", opts).await {
        a_flood_is_bounded(b).await;
    }
}

/// The `auth.refused` entries from position `before` on, after asserting that they are a
/// handful (at most four) and count `refusals` together (an entry with `repeated` counts that
/// many, one without counts one).
pub async fn counted_refusals(
    b: &Broker,
    before: usize,
    refusals: u64,
) -> Vec<kruispunt_broker::audit::entry::AuditEntry> {
    let refused = b.audit_of("auth.refused").await;
    let new = refused[before..].to_vec();
    assert!(
        new.len() <= 4,
        "{} entries for {refusals} refusals",
        new.len()
    );
    let counted: u64 = new
        .iter()
        .map(|e| {
            e.detail
                .get("repeated")
                .and_then(Value::as_u64)
                .unwrap_or(1)
        })
        .sum();
    assert_eq!(counted, refusals, "{new:?}");
    new
}
