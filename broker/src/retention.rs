//! Retention: signals past their end of retention are deleted, and the purge is audited
//! (policy rule 6, docs/POLICY.md). Matching already ignores them by the clock; this removes them for good.
//! The same task erases MLS key packages whose lifetime ended and, per coalition, signals
//! under a superseded key version (`crate::mls::key_version`), and compacts the MLS groups'
//! message and welcome logs ([`compact_mls_logs`]).

use std::time::Duration;

use crate::audit::{action, entry};
use crate::civil::now_secs;
use crate::mls::store::{Compacted, ExpiredKeyPackage};
use crate::state::AppState;
use crate::store::{SignalId, StoredSignal};
use kruispunt_sdk::IdentifierKind;

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

/// Drops erased signals from the in-memory match index (after their withdrawal or purge
/// committed): the one path every erasure through this broker takes, so the index never answers
/// for a signal the database lost. The picture follows the index: only the signals this call
/// removed leave it (the signal-feed follower, `crate::follow`, may have been first).
pub fn drop_from_index(state: &AppState, purged: &[StoredSignal]) {
    drop_removed(
        state,
        purged
            .iter()
            .map(|s| (s.kind, s.key_version, &s.stored, &s.id)),
    );
}

/// [`drop_from_index`] for signals given by what the index keys them on.
pub fn drop_removed<'a>(
    state: &AppState,
    removed: impl IntoIterator<Item = (IdentifierKind, u32, &'a [u8; 32], &'a SignalId)>,
) {
    let gone: Vec<_> = removed
        .into_iter()
        .filter(|&(kind, version, stored, id)| state.index.remove(kind, version, stored, id))
        .collect();
    state.beeld.picture.remove(gone, now_secs());
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

/// Compacts the MLS groups' logs (one `erase` entry with, per group, how many messages below
/// which sequence number and how many welcomes); returns how many messages were erased.
///
/// A member reads a group's log only from its join point (`delivery::fetch_messages`), so the
/// messages below the oldest current member's join point are fetched by no one ever again;
/// neither is a welcome to an organisation no longer a member, or an older welcome of a member
/// (its newest one is its join point). The oldest member of a coalition's group is usually its
/// administrator, which created it at sequence 0: such a log is compacted from the point where
/// the administrator re-initialised the group (docs/COALITIONS.md, "Bounds").
pub async fn compact_mls_logs(state: &AppState) -> Result<u64, crate::store::StoreError> {
    let audit_for = |groups: &[Compacted]| {
        let mut e = entry::erase_by_broker(action::RETENTION_MLS_LOG_COMPACT);
        e.detail = serde_json::json!({
            "groups": groups.iter().map(|g| serde_json::json!({
                "group": g.group, "below_seq": g.below_seq, "messages": g.messages,
                "welcomes": g.welcomes,
            })).collect::<Vec<_>>(),
            "messages": groups.iter().map(|g| g.messages).sum::<u64>(),
            "welcomes": groups.iter().map(|g| g.welcomes).sum::<u64>(),
        });
        e
    };
    let compacted = state.store.mls().compact_logs(&audit_for).await?;
    Ok(compacted.iter().map(|g| g.messages).sum())
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
        // The signal feed's changes every broker has long applied (crate::follow::KEEP).
        let keep_ms = i64::try_from(crate::follow::KEEP.as_millis()).unwrap_or(i64::MAX);
        if let Err(e) = state
            .store
            .signals()
            .feed_prune(crate::civil::now_millis().saturating_sub(keep_ms))
            .await
        {
            tracing::warn!(error = %e, "pruning the signal feed failed; will retry");
        }
        match purge_key_packages(&state, now_secs()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(key_packages = n, "expired key package purge"),
            Err(e) => tracing::warn!(error = %e, "key package purge failed; will retry"),
        }
        match compact_mls_logs(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(messages = n, "MLS log compaction"),
            Err(e) => tracing::warn!(error = %e, "MLS log compaction failed; will retry"),
        }
    }
}
