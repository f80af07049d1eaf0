//! Following the signal feed: how this broker's in-memory match index (and the picture filled
//! with it) learns the uploads, withdrawals, purges and key-version erasures that other brokers
//! on the same database commit (`crate::store::feed` says why the feed is commit-ordered).
//!
//! - **The cursor** is a position in the feed (an audit sequence number): every change below it
//!   is applied. It starts at the feed's position read *before* the start-up scan of the live
//!   signals, so a change committed during the scan is in the scan, in the feed, or both —
//!   never in neither. It lives in memory because the index does: a restarted broker scans
//!   again. The feed itself is the durable part.
//! - **Woken** by PostgreSQL `NOTIFY` (sent inside each writing transaction, delivered at its
//!   commit), and in any case every [`POLL`]: a lost listener connection delays, never loses.
//! - **Idempotent**: this process's own writes update the index directly after their commit and
//!   come back through the feed — skipped when the store saw their commit return
//!   (`crate::store::feed::OwnChanges`), applied again harmlessly otherwise: an insert of an
//!   indexed signal and a removal of an absent one change nothing, and the picture follows only
//!   what changed the index. An insert is applied
//!   by reading the signal's row *now*: one withdrawn meanwhile is not re-added (its removal,
//!   later in the feed, is then a no-op).
//! - **SQLite**: one process serves the file, every write is this process's own, so nothing is
//!   followed and the broker is caught up from the start.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::civil::now_secs;
use crate::state::AppState;
use crate::store::feed::FeedChange;
use crate::store::{IndexRecord, SignalId, StoreError};

/// The longest wait between two reads of the feed when no notification comes.
pub const POLL: Duration = Duration::from_millis(250);

/// Changes read per query (a bulk upload of 3 M signals is one change).
const PAGE: u32 = 1000;

/// Signals read back per query when applying inserts.
const READ_CHUNK: usize = 10_000;

/// A follower that has not read the feed for this long says it is not ready (its reads fail:
/// the index may be missing what other brokers committed meanwhile).
pub const STALE_AFTER: Duration = Duration::from_secs(10);

/// Feed changes are kept this long (pruned by the retention task). A follower is never behind
/// by more than its lost connection lasts; one that is behind by more than this has missed
/// changes, says so on `/readyz` and must be restarted (docs/OPERATIONS.md).
pub const KEEP: Duration = Duration::from_secs(3600);

/// Where the follower is, for `/readyz`.
#[derive(Debug, Default)]
pub struct FeedProgress {
    /// Every change below this is applied.
    applied: AtomicU64,
    /// The feed's position read after the start-up scan: caught up once `applied` reaches it.
    start: AtomicU64,
    /// The feed's head at the last read.
    head: AtomicU64,
    /// Whether another process can write (PostgreSQL): otherwise nothing is followed.
    following: AtomicBool,
    /// The cursor fell below the pruned part of the feed: some change was missed.
    missed: AtomicBool,
    /// When the feed was last read (Unix ms; 0: not yet).
    last_read_ms: AtomicU64,
    /// Held while a page is read and applied: two appliers (the task and [`catch_up`]) must not
    /// interleave, or one could re-add a signal after the other applied its removal.
    applying: tokio::sync::Mutex<()>,
}

impl FeedProgress {
    /// Progress of a follower starting at `position` (read before the start-up scan), caught
    /// up once it applied the feed to `ready_at` (read after the scan: what was committed
    /// during the scan may be missing from it until then); `following` where other processes
    /// write (PostgreSQL), otherwise caught up from the start.
    pub fn starting_at(position: u64, ready_at: u64, following: bool) -> FeedProgress {
        let p = FeedProgress::default();
        p.applied.store(position, Ordering::Release);
        p.start.store(ready_at.max(position), Ordering::Release);
        p.head.store(ready_at.max(position), Ordering::Release);
        p.following.store(following, Ordering::Release);
        p
    }

    /// The cursor: every change below it is applied.
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }

    /// The feed's head at the last read.
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// Audit entries committed that the follower has not read yet (not all are signal changes).
    pub fn lag(&self) -> u64 {
        self.head().saturating_sub(self.applied())
    }

    /// Whether the follower reached the head it saw at start (always on SQLite).
    pub fn caught_up(&self) -> bool {
        !self.following.load(Ordering::Acquire)
            || self.applied() >= self.start.load(Ordering::Acquire)
    }

    /// Whether the follower runs at all (PostgreSQL).
    pub fn following(&self) -> bool {
        self.following.load(Ordering::Acquire)
    }

    /// Whether changes were pruned before the follower read them.
    pub fn missed(&self) -> bool {
        self.missed.load(Ordering::Acquire)
    }

    /// Notes a successful read of the database (the feed, or signals for it).
    fn read_now(&self) {
        let now_ms = u64::try_from(crate::civil::now_millis()).unwrap_or(0);
        self.last_read_ms.fetch_max(now_ms, Ordering::AcqRel);
    }

    /// How long the follower has not read the feed, if it follows one and that is longer than
    /// [`STALE_AFTER`] (its reads fail).
    pub fn stale_for(&self, now_ms: u64) -> Option<Duration> {
        let last = self.last_read_ms.load(Ordering::Acquire);
        if !self.following() || last == 0 {
            return None;
        }
        let idle = Duration::from_millis(now_ms.saturating_sub(last));
        (idle > STALE_AFTER).then_some(idle)
    }
}

/// Follows the feed until the task is aborted; returns at once where nothing is to be followed.
pub async fn run(state: AppState) {
    let mut wake = match state.store.feed_wake().await {
        Ok(Some(wake)) => Some(wake),
        Ok(None) => {
            state.feed.following.store(false, Ordering::Release);
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for the signal feed; polling it");
            None
        }
    };
    state.feed.following.store(true, Ordering::Release);
    loop {
        match apply_pending(&state).await {
            Ok(true) => continue, // a full page: read on at once
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "reading the signal feed failed; will retry"),
        }
        match wake.as_mut() {
            Some(w) => w.wait(POLL).await,
            None => tokio::time::sleep(POLL).await,
        }
    }
}

/// Applies every change committed before this call. The upload path calls it before it looks
/// for re-uploads in the index, so a file re-sent through this broker after another broker
/// stored it is recognised however recent that was (a retry after a lost answer, typically).
pub async fn catch_up(state: &AppState) -> Result<(), StoreError> {
    if !state.feed.following() {
        return Ok(());
    }
    while apply_pending(state).await? {}
    Ok(())
}

/// Reads one page of the feed from the cursor and applies it; `true` if more may be waiting.
pub async fn apply_pending(state: &AppState) -> Result<bool, StoreError> {
    let progress = &state.feed;
    let _one_at_a_time = progress.applying.lock().await;
    let from = progress.applied();
    let page = state.store.signals().feed_read(from, PAGE).await?;
    progress.read_now();
    if from < page.pruned_below && !progress.missed.swap(true, Ordering::AcqRel) {
        tracing::error!(
            cursor = from,
            pruned_below = page.pruned_below,
            "the signal feed was pruned past this broker's cursor: restart it to rebuild its index"
        );
    }
    // This process's own changes are in its index already (store::feed::OwnChanges).
    let own = state.store.own_changes();
    let theirs: Vec<&FeedChange> = page
        .changes
        .iter()
        .filter(|c| !own.is_some_and(|o| o.take(c.seq)))
        .collect();
    apply(state, &theirs).await?;
    if let Some(own) = own {
        own.forget_below(page.next);
    }
    progress.head.fetch_max(page.head, Ordering::AcqRel);
    progress.applied.fetch_max(page.next, Ordering::AcqRel);
    progress.read_now();
    Ok(page.changes.len() >= PAGE as usize)
}

/// Applies `changes` in order: consecutive inserts are read back together, a removal first
/// applies the inserts before it.
async fn apply(state: &AppState, changes: &[&FeedChange]) -> Result<(), StoreError> {
    let mut inserts: Vec<SignalId> = Vec::new();
    for change in changes {
        if !change.removed.is_empty() {
            insert(state, std::mem::take(&mut inserts)).await?;
            crate::retention::drop_removed(
                state,
                change
                    .removed
                    .iter()
                    .map(|r| (r.kind, r.key_version, &r.stored, &r.id)),
            );
        }
        inserts.extend_from_slice(&change.inserted);
    }
    insert(state, inserts).await
}

/// Indexes the signals `ids` that are live in the database now (and puts those new to the index
/// in the picture).
async fn insert(state: &AppState, ids: Vec<SignalId>) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let registry = state.policy.registry();
    let sectors: HashMap<&str, &str> = registry
        .partners
        .iter()
        .map(|p| (p.id.as_str(), p.sector.as_str()))
        .collect();
    for chunk in ids.chunks(READ_CHUNK) {
        let wanted: HashSet<&SignalId> = chunk.iter().collect();
        let prefixes: Vec<[u8; 8]> = chunk
            .iter()
            .map(|id| id.0[..8].try_into().expect("8 bytes"))
            .collect();
        let now = now_secs();
        let records: Vec<IndexRecord> = state
            .store
            .signals()
            .signals_by_id_prefix(&prefixes)
            .await?
            .into_iter()
            .filter(|s| wanted.contains(&s.id) && s.expires_at > now)
            .map(IndexRecord::of_stored)
            .collect();
        state.feed.read_now();
        let added = state.index.insert_new(records.iter());
        state.beeld.insert(
            added.into_iter().map(|r| {
                let sector = sectors.get(r.org.as_str()).copied().unwrap_or("");
                crate::beeld::PictureSignal::of(r, sector)
            }),
            now,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_once_the_start_position_is_applied() {
        let sqlite = FeedProgress::starting_at(4, 10, false);
        assert!(
            sqlite.caught_up(),
            "nothing to follow (SQLite): ready at once"
        );
        let p = FeedProgress::starting_at(4, 10, true);
        assert!(
            !p.caught_up(),
            "what was committed during the scan is not applied yet"
        );
        p.head.store(12, Ordering::Release);
        assert_eq!(p.lag(), 8);
        p.applied.store(10, Ordering::Release);
        assert!(p.caught_up());
        assert_eq!(
            p.stale_for(1_000_000),
            None,
            "not read yet: the start-up check decides"
        );
        p.last_read_ms.store(1_000_000, Ordering::Release);
        assert_eq!(p.stale_for(1_005_000), None);
        assert_eq!(p.stale_for(1_011_000), Some(Duration::from_secs(11)));
    }
}
