//! The broker's metrics for operators, in the OpenMetrics text format (which Prometheus scrapes
//! natively) at `GET /metrics` on a listen address of its own (`[metrics] listen` in
//! `kruispunt.toml`, or `kruispunt serve --metrics-listen`), never on the partners' HTTPS port:
//! the operator's monitoring reaches it on a loopback or management network, partners do not.
//!
//! **No label carries what a partner sent.** Labels are drawn from closed sets only: the route
//! *template* that matched (`/v1/signals/{id}`, never the path), the method, the status code,
//! the refusal's problem type or the policy's reason code (codes outside the documented set are
//! counted as `other`). No identifier, pseudonym, token, organisation or user appears — the
//! per-partner picture is the audit log's business, with its access rules, not the metrics'.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::state::AppState;

/// The content type of the OpenMetrics text exposition format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

fn duration_histogram() -> Histogram {
    // 0.5 ms … ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric the broker keeps; one per process, shared through [`AppState`].
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    decision_seconds: Histogram,
    decisions: Family<KindLabels, Counter>,
    refusals: Family<ReasonLabels, Counter>,
    signals_stored: Counter,
    index_signals: Gauge,
    audit_tree_size: Gauge,
    checkpoint_size: Gauge,
    checkpoint_age: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("kruispunt");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        let request_seconds =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                duration_histogram,
            );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's head to its response's head, by route template",
            request_seconds.clone(),
        );
        let decision_seconds = duration_histogram();
        registry.register(
            "policy_decision_duration_seconds",
            "Time the Rego policy took for one decision",
            decision_seconds.clone(),
        );
        let decisions = Family::<KindLabels, Counter>::default();
        registry.register(
            "policy_decisions",
            "Policy decisions, by outcome (allow or refuse)",
            decisions.clone(),
        );
        let refusals = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "refusals",
            "Refusals, by reason: the policy's reason code or the authentication problem type \
             (codes outside the documented set are counted as other)",
            refusals.clone(),
        );
        let signals_stored = Counter::default();
        registry.register(
            "signals_stored",
            "Signals stored by uploads through this broker (JSON and bulk); its rate is the bulk rate",
            signals_stored.clone(),
        );
        let index_signals = Gauge::default();
        registry.register(
            "match_index_signals",
            "Live signals in this broker's in-memory match index",
            index_signals.clone(),
        );
        let audit_tree_size = Gauge::default();
        registry.register(
            "audit_tree_size",
            "Entries in the audit log's Merkle tree",
            audit_tree_size.clone(),
        );
        let checkpoint_size = Gauge::default();
        registry.register(
            "audit_checkpoint_size",
            "Tree size of the latest signed checkpoint",
            checkpoint_size.clone(),
        );
        let checkpoint_age = Gauge::default();
        registry.register(
            "audit_checkpoint_age_seconds",
            "Seconds since this broker last signed a checkpoint (-1: none yet)",
            checkpoint_age.clone(),
        );
        Metrics {
            registry,
            requests,
            request_seconds,
            decision_seconds,
            decisions,
            refusals,
            signals_stored,
            index_signals,
            audit_tree_size,
            checkpoint_size,
            checkpoint_age,
        }
    }

    /// One answered request. `route` is the matched route's template (or `unmatched`).
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// One policy decision: its duration, its outcome and, for a refusal, its reason codes.
    pub fn decision(&self, took: Duration, decision: &kruispunt_policy::Decision) {
        self.decision_seconds.observe(took.as_secs_f64());
        let kind = if decision.allow { "allow" } else { "refuse" };
        self.decisions
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .inc();
        for reason in &decision.reasons {
            self.policy_refusal(reason);
        }
    }

    /// One refusal before any policy ran (authentication, rate limit): `slug` is the problem
    /// type, a constant of the broker's own code.
    pub fn refused(&self, slug: &'static str) {
        self.count_refusal(slug);
    }

    /// A policy reason code; anything outside [`kruispunt_policy::REASON_CODES`] is counted as
    /// `other`, so a label can never carry something a bundle or a caller chose.
    fn policy_refusal(&self, reason: &str) {
        let known = kruispunt_policy::REASON_CODES
            .iter()
            .any(|(code, _)| *code == reason);
        self.count_refusal(if known { reason } else { "other" });
    }

    fn count_refusal(&self, reason: &str) {
        self.refusals
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Signals stored by an upload that committed.
    pub fn signals_stored(&self, n: usize) {
        self.signals_stored.inc_by(n as u64);
    }

    /// The exposition, with the gauges read from the broker's state at this moment.
    pub async fn render(&self, state: &AppState) -> String {
        self.index_signals
            .set(i64::try_from(state.index.len()).unwrap_or(i64::MAX));
        if let Ok(size) = state.audit_log.tree_size(&*state.store).await {
            self.audit_tree_size
                .set(i64::try_from(size).unwrap_or(i64::MAX));
        }
        let (size, age) = state.audit_log.checkpoint_size_and_age().await;
        self.checkpoint_size
            .set(i64::try_from(size).unwrap_or(i64::MAX));
        self.checkpoint_age
            .set(age.map_or(-1, |a| i64::try_from(a.as_secs()).unwrap_or(i64::MAX)));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    let body = state.metrics.render(&state).await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body)
}

/// The metrics listener: plain HTTP with one route, `GET /metrics`, on its own address.
pub struct MetricsServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    pub async fn start(listen: SocketAddr, state: AppState) -> anyhow::Result<MetricsServer> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("metrics: could not listen on {listen}: {e}"))?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/metrics", get(scrape))
            .with_state(state);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "the metrics listener stopped");
            }
        });
        Ok(MetricsServer { addr, task })
    }

    pub fn stop(self) {
        self.task.abort();
    }
}
