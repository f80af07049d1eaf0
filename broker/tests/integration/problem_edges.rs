//! Every error is an RFC 9457 problem, also those no handler writes: a body over the limit
//! (413), invalid UTF-8 in a path (400), the request timeout (503), a request target over the
//! limit (414) and header fields over the limit (431).

use crate::audit_common::*;
use kruispunt_broker::config::Connections;
use kruispunt_test_kit::Options;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Checks that `resp` is a problem of `status` whose type ends in `slug`; answers its body.
pub(crate) async fn problem(resp: reqwest::Response, status: u16, slug: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(ct, "application/problem+json", "{status}");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], status, "{v}");
    assert!(
        v["type"].as_str().unwrap().ends_with(&format!(":{slug}")),
        "{v}"
    );
    assert!(!v["detail"].as_str().unwrap().is_empty(), "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_outside_the_handlers_are_problems() {
    let b = Broker::start(None).await;
    let token = b.token(DEALER_A, &["compliance"]);

    // 413: a JSON body over the 8 MiB limit.
    let body = vec![b' '; kruispunt_broker::app::JSON_BODY_LIMIT + 1024];
    let resp = b
        .client
        .post(format!("{}/v1/signals", b.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    problem(resp, 413, "body-too-large").await;

    // 400: invalid UTF-8 in a path segment.
    let resp = b.delete("/v1/signals/%FF%FE", &token).await;
    problem(resp, 400, "bad-request").await;

    // 414: a request target over 8 KiB.
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
    problem(resp, 414, "uri-too-long").await;

    // 431: one header of 20 KiB, or 70 headers.
    let resp = b
        .client
        .get(format!("{}/healthz", b.base))
        .header("x-big", "b".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    problem(resp, 431, "headers-too-large").await;
    let mut req = b.client.get(format!("{}/healthz", b.base));
    for i in 0..70 {
        req = req.header(format!("x-h{i}"), "v");
    }
    problem(req.send().await.unwrap(), 431, "headers-too-large").await;

    // Nothing of it reached the log as an effect; the broker still answers.
    assert_eq!(b.get("/healthz", None::<&str>).await.status(), 200);
    b.stop().await;
}

/// The request timeout (1 s here) answers a request whose body never completes with a 503
/// problem and `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_timeout_is_a_problem() {
    let b = Broker::start_with(Options {
        unlimited: true,
        connections: Some(Connections {
            request_timeout_secs: 1,
            ..Connections::default()
        }),
        ..Options::default()
    })
    .await;
    a_request_that_never_completes_times_out(&b).await;
    b.stop().await;
}

/// A match whose body never completes on `b` (its request timeout 1 s): a 503 problem with
/// `Retry-After`. Shared with the attack suite, which asks the real `serve` process.
pub async fn a_request_that_never_completes_times_out(b: &Broker) {
    let token = b.token(DEALER_C, &["compliance"]);
    let mut tls = crate::serve_https::connect(b.addr(), &b.ca_path, None)
        .await
        .unwrap();
    tls.write_all(
        format!(
            "POST /v1/matches HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {token}\r\n\
             content-type: application/json\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{{\"purpose\""
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    tls.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 503"), "{out}");
    let lower = out.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/problem+json"),
        "{out}"
    );
    assert!(lower.contains("retry-after:"), "{out}");
    assert!(out.contains("request-timeout"), "{out}");
}
