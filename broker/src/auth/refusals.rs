//! Refusals of authentication in the audit trail, without letting anyone flood it.
//!
//! Every refusal is evidence and is recorded, but an unauthenticated client must not be able to
//! write permanent entries at line rate (10 000 garbage tokens were 10 000 entries kept five
//! years). So identical refusals — the same reason, endpoint and (if the token was valid) the
//! same organisation and user — are recorded once per interval with their count:
//!
//! - the **first** refusal of its kind in an interval is an `auth.refused` entry at once,
//!   committed before the answer, as every refusal used to be;
//! - the **repeats** within the interval are counted in memory and written as **one**
//!   `auth.refused` entry with `detail.repeated` (how many refusals it stands for) and
//!   `detail.first_ms` / `detail.last_ms` (when the first and last of them were refused), by
//!   [`RefusalLog::flush`] — every interval from a background task, and at shutdown.
//!
//! A flood is thus at most two entries per kind of refusal per interval, carrying its size.
//! What is lost in a crash is the count of repeats since the last flush, never the first
//! refusal of a kind. The client's address is not recorded (it is not recorded for any entry);
//! it only selects the rate-limit bucket ([`crate::rate_limit::AddressLimiter`]).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::audit::entry::{AuditEntry, Operation};
use crate::audit::{action, entry};
use crate::auth::jwt::Principal;
use crate::civil::now_millis;
use crate::store::{Store, StoreError};

/// What makes two refusals the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Kind {
    org: Option<String>,
    user: Option<String>,
    reason: String,
    endpoint: String,
}

/// The interval of one kind of refusal.
#[derive(Debug, Clone)]
struct Window {
    /// When the interval began (the first refusal, recorded at once).
    started_ms: i64,
    /// Repeats not written yet, and when the first and last of them were refused.
    repeated: u64,
    first_ms: i64,
    last_ms: i64,
}

/// The counts of repeated refusals, per kind.
pub struct RefusalLog {
    interval_ms: i64,
    windows: Mutex<HashMap<Kind, Window>>,
}

impl RefusalLog {
    /// Identical refusals are recorded once per `interval_secs` (at least 1 s) with their count.
    pub fn new(interval_secs: u64) -> RefusalLog {
        RefusalLog {
            interval_ms: i64::try_from(interval_secs.max(1).saturating_mul(1000))
                .unwrap_or(i64::MAX),
            windows: Mutex::default(),
        }
    }

    /// Records a refusal for `reason` (a problem slug) at `endpoint`: the first of its kind in
    /// an interval is written now (and any repeats counted in the interval it closes); a repeat
    /// is only counted.
    pub async fn record(
        &self,
        store: &dyn Store,
        principal: Option<&Principal>,
        reason: &str,
        endpoint: &str,
    ) -> Result<(), StoreError> {
        let kind = Kind {
            org: principal.map(|p| p.org.clone()),
            user: principal.map(|p| p.user.clone()),
            reason: reason.to_string(),
            endpoint: endpoint.to_string(),
        };
        let now = now_millis();
        let closed = {
            let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
            match windows.get_mut(&kind) {
                Some(w) if now - w.started_ms < self.interval_ms => {
                    if w.repeated == 0 {
                        w.first_ms = now;
                    }
                    w.repeated += 1;
                    w.last_ms = now;
                    return Ok(());
                }
                _ => windows.insert(
                    kind.clone(),
                    Window {
                        started_ms: now,
                        repeated: 0,
                        first_ms: now,
                        last_ms: now,
                    },
                ),
            }
        };
        let mut entries = Vec::with_capacity(2);
        if let Some(w) = closed.filter(|w| w.repeated > 0) {
            entries.push(repeats_entry(&kind, &w));
        }
        let mut e = entry::by(principal, Operation::Refuse, action::AUTH_REFUSED);
        e.decision = Some("deny".into());
        e.reasons = vec![kind.reason];
        entry::set_detail(&mut e, serde_json::json!({ "endpoint": endpoint }));
        entries.push(e);
        store.audit().append_audit(&entries).await.map(|_| ())
    }

    /// Writes one entry per kind with repeats not written yet, and forgets the intervals that
    /// have ended. Returns how many entries were written.
    pub async fn flush(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let now = now_millis();
        let entries: Vec<AuditEntry> = {
            let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
            let mut out = Vec::new();
            windows.retain(|kind, w| {
                if w.repeated > 0 {
                    out.push(repeats_entry(kind, w));
                    w.repeated = 0;
                }
                now - w.started_ms < self.interval_ms
            });
            out
        };
        if entries.is_empty() {
            return Ok(0);
        }
        if let Err(e) = store.audit().append_audit(&entries).await {
            // Not lost: counted again, to be written by the next flush.
            let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
            for e in &entries {
                restore(&mut windows, e);
            }
            return Err(e);
        }
        Ok(entries.len())
    }
}

/// The entry standing for `w.repeated` refusals of `kind`.
fn repeats_entry(kind: &Kind, w: &Window) -> AuditEntry {
    let mut e = entry::by(None, Operation::Refuse, action::AUTH_REFUSED);
    e.actor_org = kind.org.clone();
    e.actor_user = kind.user.clone();
    e.decision = Some("deny".into());
    e.reasons = vec![kind.reason.clone()];
    entry::set_detail(
        &mut e,
        serde_json::json!({
            "endpoint": kind.endpoint,
            "repeated": w.repeated,
            "first_ms": w.first_ms,
            "last_ms": w.last_ms,
        }),
    );
    e
}

/// Puts the count of an entry that could not be written back into its window.
fn restore(windows: &mut HashMap<Kind, Window>, e: &AuditEntry) {
    let d = &e.detail;
    let (Some(endpoint), Some(repeated)) = (
        d.get("endpoint").and_then(|v| v.as_str()),
        d.get("repeated").and_then(|v| v.as_u64()),
    ) else {
        return;
    };
    let kind = Kind {
        org: e.actor_org.clone(),
        user: e.actor_user.clone(),
        reason: e.reasons.first().cloned().unwrap_or_default(),
        endpoint: endpoint.to_string(),
    };
    let first = d.get("first_ms").and_then(|v| v.as_i64()).unwrap_or(0);
    let last = d.get("last_ms").and_then(|v| v.as_i64()).unwrap_or(first);
    let w = windows.entry(kind).or_insert(Window {
        started_ms: first,
        repeated: 0,
        first_ms: first,
        last_ms: last,
    });
    w.repeated += repeated;
    w.first_ms = w.first_ms.min(first);
    w.last_ms = w.last_ms.max(last);
}

/// Writes the repeats every `every` (the interval), so that a count reaches the log within one
/// interval of its last refusal.
pub async fn run(state: crate::state::AppState, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(e) = state.refusals.flush(&*state.store).await {
            tracing::warn!(error = %e, "writing repeated refusals failed; will retry");
        }
    }
}
