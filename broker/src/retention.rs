//! Retention: signals past their end of retention are deleted, and the purge is audited
//! (DESIGN rule 6). Matching already ignores them by the clock; this removes them for good.

use std::time::Duration;

use crate::audit_entry::Operation;
use crate::audit_trail;
use crate::civil::now_secs;
use crate::state::AppState;
use crate::store::StoredSignal;

/// Purges once; returns how many signals were removed.
pub async fn purge_once(state: &AppState, now: i64) -> Result<usize, crate::store::StoreError> {
    let audit_for = |signals: &[StoredSignal]| {
        let mut e = audit_trail::by(None, Operation::Erase, "retention.purge");
        e.actor_org = Some("kruispunt-broker".into());
        e.decision = Some("allow".into());
        e.pseudonyms = signals.iter().map(|s| hex::encode(s.stored)).collect();
        e.source_orgs = signals
            .iter()
            .map(|s| s.org.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        e.detail = serde_json::json!({ "signals": signals.len(), "ids": signals.iter().map(|s| s.id.to_string()).collect::<Vec<_>>() });
        e
    };
    let purged = state.store.purge_expired(now, &audit_for).await?;
    drop_from_index(state, &purged);
    Ok(purged.len())
}

/// Drops erased signals from the in-memory match index (after their purge committed): the
/// one path every purge takes, so the index never answers for a signal the database lost.
pub fn drop_from_index(state: &AppState, purged: &[StoredSignal]) {
    for s in purged {
        state.index.remove(s.kind, s.key_version, &s.stored, &s.id);
    }
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
    }
}
