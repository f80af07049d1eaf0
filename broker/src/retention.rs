//! Retention: signals past their end of retention are deleted, and the purge is audited
//! (policy rule 6, docs/POLICY.md). Matching already ignores them by the clock; this removes them for good.
//! The same task erases MLS key packages whose lifetime ended and, per coalition, signals
//! under a superseded key version (`crate::mls::key_version`).

use std::time::Duration;

use crate::audit::{action, entry};
use crate::civil::now_secs;
use crate::mls::store::ExpiredKeyPackage;
use crate::state::AppState;
use crate::store::StoredSignal;

/// Purges once; returns how many signals were removed.
pub async fn purge_once(state: &AppState, now: i64) -> Result<usize, crate::store::StoreError> {
    let audit_for = |signals: &[StoredSignal]| {
        let mut e = entry::erase_signals(action::RETENTION_PURGE, signals);
        e.detail = serde_json::json!({
            "signals": signals.len(),
            "ids": signals.iter().map(|s| s.id.to_string()).collect::<Vec<_>>(),
        });
        e
    };
    let purged = state.store.signals().purge_expired(now, &audit_for).await?;
    drop_from_index(state, &purged);
    Ok(purged.len())
}

/// Drops erased signals from the in-memory match index (after their purge committed): the
/// one path every purge takes, so the index never answers for a signal the database lost.
pub fn drop_from_index(state: &AppState, purged: &[StoredSignal]) {
    for s in purged {
        state.index.remove(s.kind, s.key_version, &s.stored, &s.id);
    }
    state.beeld.picture.remove(
        purged
            .iter()
            .map(|s| (s.kind, s.key_version, &s.stored, &s.id)),
        now_secs(),
    );
}

/// Erases the MLS key packages whose lifetime ended (one `erase` entry naming how many of
/// whose); returns how many. The claim already skips them, so this only frees the space —
/// and an organisation whose last-resort package expired is asked for a new one by the 404
/// its next claimant gets, exactly as before the purge.
pub async fn purge_key_packages(
    state: &AppState,
    now: i64,
) -> Result<usize, crate::store::StoreError> {
    let audit_for = |packages: &[ExpiredKeyPackage]| {
        let mut e = entry::erase_by_broker(action::RETENTION_KEY_PACKAGE_PURGE);
        let mut per_org = std::collections::BTreeMap::<&str, usize>::new();
        for p in packages {
            *per_org.entry(p.org.as_str()).or_default() += 1;
        }
        e.source_orgs = per_org.keys().map(|o| o.to_string()).collect();
        e.detail = serde_json::json!({
            "count": packages.len(),
            "per_org": per_org,
            "last_resort": packages.iter().filter(|p| p.last_resort).count(),
            "claimed": packages.iter().filter(|p| p.claimed).count(),
        });
        e
    };
    let erased = state
        .store
        .mls()
        .purge_expired_key_packages(now, &audit_for)
        .await?;
    Ok(erased.len())
}

/// Forgets the ondermijningsbeeld's answers kept for repeats whose snapshot ended by `now`
/// ([`crate::store::DecisionStore::forget_answered_releases`]); the charges stay in the
/// month's budget. Not audited: each answer's release is, with the SHA-256 of its table.
pub async fn forget_answered_releases(
    state: &AppState,
    now: i64,
) -> Result<u64, crate::store::StoreError> {
    state
        .store
        .decisions()
        .forget_answered_releases(&|key| crate::beeld::snapshot::ended(key, now))
        .await
}

pub async fn run(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match purge_once(&state, now_secs()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(signals = n, "retention purge"),
            Err(e) => tracing::warn!(error = %e, "retention purge failed; will retry"),
        }
        // Signals under a superseded coalition key, once the grace period ended (issue 6).
        match crate::mls::key_version::purge_superseded(&state, now_secs()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(signals = n, "superseded key version purge"),
            Err(e) => tracing::warn!(error = %e, "key version purge failed; will retry"),
        }
        // The picture forgets what left it once no current snapshot can see it.
        state.beeld.compact(&state.policy.registry(), now_secs());
        // The answers kept for repeats, once their snapshot ended (the budget stays).
        match forget_answered_releases(&state, now_secs()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                answers = n,
                "answered releases of ended snapshots forgotten"
            ),
            Err(e) => tracing::warn!(error = %e, "forgetting answered releases failed; will retry"),
        }
        match purge_key_packages(&state, now_secs()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(key_packages = n, "expired key package purge"),
            Err(e) => tracing::warn!(error = %e, "key package purge failed; will retry"),
        }
    }
}
