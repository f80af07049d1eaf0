//! The signal feed: the durable, commit-ordered record of changes to the live signals that lets
//! every broker on one database keep its in-memory match index equal to the database
//! (`crate::follow` applies it; migration 0015 holds it; docs/ARCHITECTURE.md, "The signal
//! feed", is the format for another language).
//!
//! Every writer that changes the live signals — an upload (single or bulk), a withdrawal, the
//! retention purge and the key-version erasure — writes its change in the transaction that makes
//! it, keyed by the sequence number of the audit entry appended in that transaction. Appending
//! locks the audit counter's row (`audit_head`) until commit, so on every backend and across
//! brokers those numbers are handed out in commit order: a reader that sees change `s` sees every
//! change below `s`, and a reader that sees the counter at `n` sees every change below `n`.
//!
//! Why the records go in before the audit append, under a random batch token, and only the one
//! `signal_feed` row after it: a 3 M-signal upload's ids are 48 MB; written after the append
//! they would hold the counter's lock — which every match on every broker needs — meanwhile.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use kruispunt_sdk::IdentifierKind;

use super::{SignalId, StoreError, StoredSignal};

/// What a part of a change did to the signals it lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedOp {
    /// Stored: the part lists 16-byte signal ids (the rest is read from `signals`).
    Inserted,
    /// Erased: the part lists what the match index needs to drop each one.
    Removed,
}

impl FeedOp {
    /// The `op` column's value.
    pub fn code(self) -> i64 {
        match self {
            FeedOp::Inserted => 1,
            FeedOp::Removed => 2,
        }
    }

    fn from_code(code: i64) -> Result<FeedOp, StoreError> {
        match code {
            1 => Ok(FeedOp::Inserted),
            2 => Ok(FeedOp::Removed),
            other => Err(StoreError::Corrupt(format!("signal feed op {other}"))),
        }
    }
}

/// At most this many signals per `signal_feed_part` row (a 3 M upload writes 46 rows of 1 MiB).
pub const RECORDS_PER_PART: usize = 65_536;

/// Length of one id in an `Inserted` part.
const ID_LEN: usize = 16;

/// A signal dropped from the live set, as the feed records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedSignal {
    pub id: SignalId,
    pub kind: IdentifierKind,
    pub key_version: u32,
    pub stored: [u8; 32],
}

impl From<&StoredSignal> for RemovedSignal {
    fn from(s: &StoredSignal) -> RemovedSignal {
        RemovedSignal {
            id: s.id,
            kind: s.kind,
            key_version: s.key_version,
            stored: s.stored,
        }
    }
}

/// One committed change: the audit sequence number it is keyed by, its commit time and what it
/// did, in the order its parts were written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedChange {
    pub seq: u64,
    pub at_ms: i64,
    pub inserted: Vec<SignalId>,
    pub removed: Vec<RemovedSignal>,
}

impl FeedChange {
    /// A change with nothing in it yet.
    pub fn empty(seq: u64, at_ms: i64) -> FeedChange {
        FeedChange {
            seq,
            at_ms,
            inserted: Vec::new(),
            removed: Vec::new(),
        }
    }
}

/// A read of the feed from a cursor ([`super::SignalStore::feed_read`]).
#[derive(Debug, Clone, Default)]
pub struct FeedPage {
    /// The changes at or above the cursor, in commit order.
    pub changes: Vec<FeedChange>,
    /// The cursor after these changes: every change below it has been read. When the page was
    /// not cut short this is the audit log's committed size, also when no change was found.
    pub next: u64,
    /// Changes below this were pruned: a cursor below it has missed some.
    pub pruned_below: u64,
    /// The audit log's committed size when read: the feed's head.
    pub head: u64,
}

/// The `changes` blobs of an insert: ids, [`RECORDS_PER_PART`] per blob.
pub fn encode_inserted<'a>(ids: impl IntoIterator<Item = &'a SignalId>) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut cur = Vec::new();
    for id in ids {
        cur.extend_from_slice(&id.0);
        if cur.len() == RECORDS_PER_PART * ID_LEN {
            parts.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    parts
}

/// The `changes` blobs of a removal: per signal `id ‖ stored ‖ key_version (u32 BE) ‖
/// len(kind) (u8) ‖ kind (ASCII)`, [`RECORDS_PER_PART`] signals per blob.
pub fn encode_removed<'a>(signals: impl IntoIterator<Item = &'a StoredSignal>) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut cur = Vec::new();
    let mut n = 0;
    for s in signals {
        let kind = s.kind.as_str().as_bytes();
        cur.extend_from_slice(&s.id.0);
        cur.extend_from_slice(&s.stored);
        cur.extend_from_slice(&s.key_version.to_be_bytes());
        cur.push(u8::try_from(kind.len()).expect("a kind name is short"));
        cur.extend_from_slice(kind);
        n += 1;
        if n == RECORDS_PER_PART {
            parts.push(std::mem::take(&mut cur));
            n = 0;
        }
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    parts
}

/// Adds the records of one stored part to `change`.
pub fn decode_part(change: &mut FeedChange, op: i64, bytes: &[u8]) -> Result<(), StoreError> {
    let corrupt = || StoreError::Corrupt(format!("signal feed part of change {}", change.seq));
    match FeedOp::from_code(op)? {
        FeedOp::Inserted => {
            if !bytes.len().is_multiple_of(ID_LEN) {
                return Err(corrupt());
            }
            change.inserted.extend(
                bytes
                    .chunks_exact(ID_LEN)
                    .map(|c| SignalId::from_slice(c).expect("16 bytes")),
            );
        }
        FeedOp::Removed => {
            let mut rest = bytes;
            while !rest.is_empty() {
                if rest.len() < 53 {
                    return Err(corrupt());
                }
                let id = SignalId::from_slice(&rest[..16]).ok_or_else(corrupt)?;
                let stored: [u8; 32] = rest[16..48].try_into().expect("32 bytes");
                let key_version = u32::from_be_bytes(rest[48..52].try_into().expect("4 bytes"));
                let len = usize::from(rest[52]);
                let name = rest.get(53..53 + len).ok_or_else(corrupt)?;
                let kind = std::str::from_utf8(name)
                    .ok()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(corrupt)?;
                change.removed.push(RemovedSignal {
                    id,
                    kind,
                    key_version,
                    stored,
                });
                rest = &rest[53 + len..];
            }
        }
    }
    Ok(())
}

/// The changes this process committed whose effect on its own index is certain: every writer of
/// signals in the broker (`crate::ingest`, `crate::retention`, `crate::mls::key_version`)
/// applies its change to the index in the same poll as the store call's return, with no `.await`
/// in between, so once the commit returned `Ok` the index has it. The follower skips these
/// instead of reading their signals back (a bulk load would otherwise be read back in full by
/// the broker that wrote it). A change whose commit did not return — the request was dropped
/// during the commit — is not recorded, and the follower applies it like another broker's.
#[derive(Debug, Default)]
pub struct OwnChanges(std::sync::Mutex<std::collections::BTreeSet<u64>>);

impl OwnChanges {
    /// Records change `seq` as committed and applied by this process.
    pub fn record(&self, seq: u64) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(seq);
    }

    /// Whether change `seq` is this process's own (and forgets it).
    pub fn take(&self, seq: u64) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&seq)
    }

    /// Forgets every change below `seq` (the follower has passed them).
    pub fn forget_below(&self, seq: u64) {
        let mut set = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *set = set.split_off(&seq);
    }
}

/// Wakes the follower when another broker committed a change (PostgreSQL `LISTEN`), or after
/// `max` at the latest.
pub trait FeedWake: Send {
    /// Returns when woken or after `max`; a lost connection only makes it wait for `max`.
    fn wait(&mut self, max: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The channel the PostgreSQL writers `NOTIFY` inside their transaction (delivered at commit).
pub const NOTIFY_CHANNEL: &str = "kruispunt_signal_feed";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_changes_are_taken_once_and_forgotten_once_passed() {
        let own = OwnChanges::default();
        own.record(3);
        own.record(7);
        own.record(9);
        assert!(own.take(3));
        assert!(!own.take(3), "taken once");
        assert!(!own.take(4), "never recorded: another broker's");
        own.forget_below(9);
        assert!(!own.take(7), "passed by the follower");
        assert!(own.take(9));
    }

    #[test]
    fn removed_records_round_trip() {
        let s = StoredSignal {
            id: SignalId([7; 16]),
            org: "o".into(),
            kind: IdentifierKind::Kenteken,
            key_version: 0x0102_0304,
            stored: [9; 32],
            code: "c".into(),
            observed: "2026-01-01".into(),
            district: "d".into(),
            purposes: vec![],
            expires_at: 1,
            uploaded_at: 1,
            gemeente: None,
            wijk: None,
        };
        let parts = encode_removed([&s, &s]);
        assert_eq!(parts.len(), 1);
        let mut change = FeedChange {
            seq: 1,
            at_ms: 0,
            inserted: vec![],
            removed: vec![],
        };
        decode_part(&mut change, FeedOp::Removed.code(), &parts[0]).unwrap();
        assert_eq!(change.removed, vec![RemovedSignal::from(&s); 2]);
        assert!(decode_part(&mut change, 2, &parts[0][..60]).is_err());
        let ids = encode_inserted([&SignalId([1; 16]), &SignalId([2; 16])]);
        decode_part(&mut change, 1, &ids[0]).unwrap();
        assert_eq!(change.inserted, vec![SignalId([1; 16]), SignalId([2; 16])]);
    }
}
