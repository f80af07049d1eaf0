//! The operator's view of a real `kruispunt serve` process: one JSON log line per request that
//! names route, status, partner, duration and request id — and nothing a partner sent (no
//! token, no path, no pseudonym, no header of theirs) —, `/metrics` in the OpenMetrics text
//! format on its own plain-HTTP address, with labels from closed sets only, and `--version`
//! naming the commit.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kruispunt_broker::config::Config;
use kruispunt_broker::devpki::DevPki;
use kruispunt_sdk::{CoalitionKey, IdentifierKind};
use kruispunt_test_kit::{ServeProcess, token_in};
use serde_json::{Value, json};

const DEALER: &str = "autobedrijf-de-vecht";
const PURPOSE: &str = "autobranche-contante-aankopen";

/// `kruispunt serve` with JSON logs at `info` and metrics on a free port.
struct Served {
    process: ServeProcess,
    dir: tempfile::TempDir,
    base: String,
    metrics: String,
    client: reqwest::Client,
}

fn serve() -> Served {
    let dir = tempfile::tempdir().unwrap();
    Config::init_development(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let process = ServeProcess::spawn(
        Path::new(env!("CARGO_BIN_EXE_kruispunt")),
        dir.path(),
        &["--metrics-listen", "127.0.0.1:0", "--log-format", "json"],
        "info",
    )
    .unwrap();
    let metrics = process
        .printed
        .iter()
        .find_map(|l| l.strip_prefix("Metrics (OpenMetrics text) at "))
        .expect("the metrics address is printed before the listening line")
        .trim()
        .to_owned();
    let ca = std::fs::read(DevPki::in_dir(dir.path()).ca_cert).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .build()
        .unwrap();
    Served {
        base: process.base(),
        process,
        dir,
        metrics,
        client,
    }
}

fn pseudonym(plate: &str) -> String {
    CoalitionKey::new([7u8; 32], 1)
        .pseudonymiser(IdentifierKind::Kenteken)
        .pseudonymise(plate)
        .unwrap()
        .to_hex()
}

/// The request log lines (target `kruispunt::request`) written so far, parsed.
fn request_lines(s: &Served) -> Vec<Value> {
    s.process
        .stderr_lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "kruispunt::request")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_log_and_metrics_name_routes_never_what_partners_sent() {
    kruispunt_broker::tls::install_ring_provider();
    let s = serve();
    let cfg = Config::load(s.dir.path()).unwrap();
    let token = token_in(s.dir.path(), &cfg.deployment, DEALER, &["compliance"]);
    let secret_pseudonym = pseudonym("12-ABC-3");
    let url = |p: &str| format!("{}{p}", s.base);

    // 1. Healthz, with a request id of the caller's that tries to forge a log line.
    let r = s
        .client
        .get(url("/healthz"))
        .header("x-request-id", "forged-id-ops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let healthz_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(healthz_id, "forged-id-ops");
    // 2. An upload: a policy decision, a stored signal.
    let body = json!({ "signals": [{
        "kind": "kenteken", "pseudonym": secret_pseudonym, "key_version": 1,
        "code": "cash-car-purchase", "observed": "2026-11-01", "district": "oost-utrecht",
        "purposes": [PURPOSE]
    }]});
    let r = s
        .client
        .post(url("/v1/signals"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let stored: Value = r.json().await.unwrap();
    let signal_id = stored["results"][0]["id"].as_str().unwrap().to_owned();
    // 3. A forged token: refused, and counted by reason.
    let forged_token = "eyJhbGciOiJFZERTQSJ9.ops-forged-token-body.c2lnbmF0dXJl";
    let r = s
        .client
        .post(url("/v1/matches"))
        .bearer_auth(forged_token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // 4. A withdrawal: the path holds the signal's id.
    let r = s
        .client
        .delete(url(&format!("/v1/signals/{signal_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // 5. No such route.
    let r = s.client.get(url("/v1/nothing-here")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // The five lines arrive (the log is written after each response).
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = request_lines(&s);
        if lines.len() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(lines.len(), 5, "{lines:#?}");
    let f = |i: usize, k: &str| lines[i]["fields"][k].clone();
    assert_eq!(f(0, "route"), "/healthz");
    assert_eq!(f(0, "status"), 200);
    assert_eq!(f(0, "partner"), "-");
    assert_eq!(f(0, "request_id"), healthz_id.as_str());
    assert_eq!(f(1, "route"), "/v1/signals");
    assert_eq!(f(1, "method"), "POST");
    assert_eq!(f(1, "partner"), DEALER);
    assert_eq!(f(2, "status"), 401);
    assert_eq!(f(2, "partner"), "-", "a refused token names no one");
    assert_eq!(f(3, "route"), "/v1/signals/{id}");
    assert_eq!(f(3, "method"), "DELETE");
    assert_eq!(f(4, "route"), "unmatched");
    assert_eq!(f(4, "status"), 404);
    for l in &lines {
        let ms = l["fields"]["duration_ms"].as_f64().unwrap();
        assert!(ms >= 0.0);
        let id = l["fields"]["request_id"].as_str().unwrap();
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    let all_log = s.process.stderr_lines().join("\n");
    for secret in [
        token.as_str(),
        forged_token,
        &secret_pseudonym,
        &signal_id,
        "forged-id-ops",
    ] {
        assert!(!all_log.contains(secret), "the log holds {secret}");
    }

    // Metrics: plain HTTP on their own address, OpenMetrics text.
    let r = reqwest::get(&s.metrics).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = r.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(
        value(r#"kruispunt_http_requests_total{method="GET",route="/healthz",status="200"}"#),
        1.0
    );
    assert_eq!(
        value(r#"kruispunt_http_requests_total{method="POST",route="/v1/signals",status="200"}"#),
        1.0
    );
    assert!(value(r#"kruispunt_refusals_total{reason="token-unknown-key"}"#) >= 1.0);
    assert!(value(r#"kruispunt_policy_decisions_total{kind="allow"}"#) >= 1.0);
    assert!(value("kruispunt_policy_decision_duration_seconds_count") >= 1.0);
    assert_eq!(value("kruispunt_signals_stored_total"), 1.0);
    assert_eq!(value("kruispunt_match_index_signals"), 0.0, "withdrawn");
    assert!(value("kruispunt_audit_tree_size") >= 2.0);
    for secret in [
        token.as_str(),
        forged_token,
        &secret_pseudonym,
        &signal_id,
        DEALER,
    ] {
        assert!(!text.contains(secret), "the metrics hold {secret}");
    }
    // Every label value comes from a closed set: routes are templates, reasons known codes.
    for l in text.lines().filter(|l| l.contains("route=\"")) {
        let route = l
            .split("route=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(
            route == "unmatched" || route.starts_with('/'),
            "route label {route}"
        );
        assert!(!route.contains(&signal_id));
    }
}

#[test]
fn version_names_the_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_kruispunt"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let commit = text
        .split("(commit ")
        .nth(1)
        .and_then(|r| r.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        commit == "unknown" || (commit.len() >= 7 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{text}"
    );
}
