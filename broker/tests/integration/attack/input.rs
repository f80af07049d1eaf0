//! Bad input against `kruispunt serve`: a megabyte of free text meant for the permanent audit
//! log, the date the ingest once accepted and the store refused, and requests no handler ever
//! sees — each answered with an RFC 9457 problem, with nothing stored.

use super::*;
use serde_json::json;

/// The largest audit entry in the log (bytes of its JSON).
async fn largest_entry(b: &Broker) -> usize {
    b.audit()
        .await
        .iter()
        .map(|e| e.canonical_json().len())
        .max()
        .unwrap_or(0)
}

async fn free_text_is_bounded(b: &Broker) {
    let tc = b.token(DEALER_C, &["compliance"]);
    let mb = "x".repeat(1 << 20);
    let entries = b.audit().await.len();
    for field in ["justification", "purpose", "case_reference"] {
        let mut q = match_query(PURPOSE);
        q[field] = json!(mb);
        let v = problem(
            b.post_typed("/v1/matches", Some(&tc), &q).await,
            400,
            "text-too-long",
        );
        assert!(v["detail"].as_str().unwrap().contains(field), "{v}");
    }
    // A megabyte signal code rejects its item only.
    let mut s = signal("FT-001-A", "cash-car-purchase");
    s["code"] = json!(mb);
    let (st, v) = b
        .post(
            "/v1/signals",
            Some(&b.token(DEALER_A, &["compliance"])),
            &json!({ "signals": [s, signal("FT-002-A", "cash-car-purchase")] }),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (&v["stored"], &v["rejected"]),
        (&json!(1), &json!(1)),
        "{v}"
    );
    assert_eq!(v["results"][0]["field"], "code", "{v}");
    // The log grew by the one upload only, and no entry carries the megabyte.
    assert_eq!(b.audit().await.len(), entries + 1);
    assert!(largest_entry(b).await < 64 * 1024);
}

attack_tests!(
    free_text_is_bounded_on_sqlite,
    free_text_is_bounded_on_postgres = free_text_is_bounded
);

async fn a_bad_date_rejects_its_item_only(b: &Broker) {
    let t = b.token(DEALER_A, &["compliance"]);
    let mut bad = signal("BD-002-C", "cash-car-purchase");
    bad["observed"] = json!("2026-+1-+5");
    let (status, v, ct) = b
        .post_typed(
            "/v1/signals",
            Some(&t),
            &json!({ "signals": [signal("BD-001-B", "cash-car-purchase"), bad] }),
        )
        .await;
    // Not a 503 for the whole batch (with a Retry-After that makes clients retry forever).
    assert_eq!(status, 200, "{ct}: {v}");
    assert_eq!(
        (&v["stored"], &v["rejected"]),
        (&json!(1), &json!(1)),
        "{v}"
    );
    assert_eq!(v["results"][1]["field"], "observed", "{v}");
    // Every date the store would refuse is refused at the door.
    for date in [
        "2026-1-5",
        "+2026-01-05",
        "2026-01-05T00:00:00Z",
        "2026-02-30",
        " 2026-01-05",
    ] {
        let mut s = signal("BD-003-D", "cash-car-purchase");
        s["observed"] = json!(date);
        let (status, v) = b
            .post("/v1/signals", Some(&t), &json!({ "signals": [s] }))
            .await;
        assert_eq!((status, &v["rejected"]), (200, &json!(1)), "{date}: {v}");
    }
}

attack_tests!(
    a_bad_date_rejects_its_item_only_on_sqlite,
    a_bad_date_rejects_its_item_only_on_postgres = a_bad_date_rejects_its_item_only
);

/// Requests that fail before any handler runs: every answer is problem+json.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_no_handler_writes_are_problems() {
    let b = serve(serve_opts()).await;
    let token = b.token(DEALER_A, &["compliance"]);
    let typed = kruispunt_test_kit::typed;
    // 413: a body over the 8 MiB limit.
    let resp = b
        .client
        .post(format!("{}/v1/signals", b.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(vec![b' '; kruispunt_broker::app::JSON_BODY_LIMIT + 1024])
        .send()
        .await
        .unwrap();
    problem(typed(resp).await, 413, "body-too-large");
    // 400: invalid UTF-8 in a path.
    let resp = b
        .client
        .delete(format!("{}/v1/signals/%FF%FE", b.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    problem(typed(resp).await, 400, "bad-request");
    // 414, 431.
    let resp = b
        .client
        .get(format!(
            "{}/v1/audit/checkpoint?x={}",
            b.base,
            "a".repeat(9000)
        ))
        .send()
        .await
        .unwrap();
    problem(typed(resp).await, 414, "uri-too-long");
    let resp = b
        .client
        .get(format!("{}/healthz", b.base))
        .header("x-big", "b".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    problem(typed(resp).await, 431, "headers-too-large");
    // 404, 405, 415.
    let resp = b
        .client
        .get(format!("{}/v1/nothing", b.base))
        .send()
        .await
        .unwrap();
    problem(typed(resp).await, 404, "not-found");
    let resp = b
        .client
        .get(format!("{}/v1/matches", b.base))
        .send()
        .await
        .unwrap();
    problem(typed(resp).await, 405, "method-not-allowed");
    let resp = b
        .client
        .post(format!("{}/v1/matches", b.base))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    let (status, v, ct) = typed(resp).await;
    assert!([400, 415].contains(&status), "{status}: {v}");
    assert_eq!(ct, "application/problem+json", "{v}");
    b.stop().await;
}

/// The request timeout (1 s in this broker's configuration): a body that never completes is
/// answered with a 503 problem and `Retry-After`, not an empty body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_timeout_is_a_problem() {
    let b = serve(Options {
        connections: Some(kruispunt_broker::config::Connections {
            request_timeout_secs: 1,
            ..Default::default()
        }),
        ..serve_opts()
    })
    .await;
    crate::problem_edges::a_request_that_never_completes_times_out(&b).await;
    b.stop().await;
}
