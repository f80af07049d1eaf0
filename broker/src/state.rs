//! Everything a request handler needs, built once at start-up.

use std::sync::Arc;

use kruispunt_policy::PolicyEngine;

use crate::auth::{TokenCache, TokenVerifier};
use crate::keys::BrokerKeys;
use crate::matching::MatchIndex;
use crate::rate_limit::{AddressLimiter, RateLimiter};
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub policy: Arc<PolicyEngine>,
    pub verifier: Arc<TokenVerifier>,
    pub keys: Arc<BrokerKeys>,
    pub index: Arc<MatchIndex>,
    pub limiter: Arc<RateLimiter>,
    /// Failed authentications per client address, checked before authenticating.
    pub address_limiter: Arc<AddressLimiter>,
    /// Repeated identical refusals, recorded once per interval with their count.
    pub refusals: Arc<crate::auth::refusals::RefusalLog>,
    pub deployment: Arc<str>,
    pub audit_log: Arc<crate::audit::log::AuditLog>,
    /// Tokens already verified (see [`crate::auth::cache`]).
    pub tokens: Arc<TokenCache>,
    /// Serialises each organisation's uploads and withdrawals (see [`crate::org_lock`]).
    pub org_locks: Arc<crate::org_lock::OrgLocks>,
    /// The ondermijningsbeeld: the live picture of the signals (see [`crate::beeld`]).
    pub beeld: Arc<crate::beeld::Beeld>,
    /// How far the match index has followed the signal feed (see [`crate::follow`]).
    pub feed: Arc<crate::follow::FeedProgress>,
    /// The witnesses that cosign the audit checkpoints, if configured (see [`crate::witness::client`]).
    pub witnesses: Option<Arc<crate::witness::client::Witnesses>>,
    /// The operator's metrics (see [`crate::metrics`]).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// What the set-up still lacks ([`crate::readiness`]); `/readyz` is 503 while not empty.
    pub setup_gaps: Arc<[String]>,
}

impl AppState {
    /// One policy decision, timed and counted in the metrics; every call site decides through
    /// here so that the decision latency and the refusals by reason cover them all.
    pub fn decide(
        &self,
        input: &kruispunt_policy::PolicyInput,
    ) -> Result<kruispunt_policy::Decision, kruispunt_policy::PolicyError> {
        let started = std::time::Instant::now();
        let decision = self.policy.decide(input)?;
        self.metrics.decision(started.elapsed(), &decision);
        Ok(decision)
    }
}
