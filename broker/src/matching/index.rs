//! The in-memory match index: the fast path for "does this pseudonym appear elsewhere?".
//!
//! The database is the source of truth; this index mirrors its live signals so that a match
//! costs a hash probe instead of a query. It is filled from the database at start-up, updated
//! only *after* a write has committed (so it never shows what the database does not hold), and
//! every answer is checked against the clock (`expires_at`) so a signal past retention never
//! matches even before the purge task removes it. Details beyond hit/no-hit are read from the
//! database for the hits only.
//!
//! Memory matters (≤ 1 GiB at 10 M signals). A hash-table entry is 40 bytes: a 16-byte key (a
//! 12-byte prefix of the at-rest pseudonym — collisions among 10 M keyed hashes: p ≈ 10⁻¹⁵ —
//! plus kind and key version) and a 24-byte slot holding one 20-byte record inline (interned
//! organisation and code, purpose bits, expiry, 8 bytes of the signal id) or, for the rarer
//! pseudonyms several sources hold, a boxed list. At 10 M signals the table has 2²⁴ buckets
//! (hashbrown's 7/8 load factor): 16 M × 41 bytes ≈ 656 MiB, split over 64 tables (`SHARDS`) so
//! that growing one (while uploads add signals) briefly holds both copies of 1/64 of it, not of
//! all. The broker reserves the tables for the live signals *before* filling them at start-up
//! ([`MatchIndex::with_capacity`]).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::RwLock;

use kruispunt_sdk::IdentifierKind;
use kruispunt_sdk::prehashed::BuildPassThrough;

use crate::store::{IndexRecord, SignalDigest, SignalId};

#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    prefix: [u8; 12],
    kind_version: u32,
}

impl Key {
    fn new(kind: IdentifierKind, key_version: u32, stored: &[u8; 32]) -> Key {
        let mut prefix = [0u8; 12];
        prefix.copy_from_slice(&stored[..12]);
        Key {
            prefix,
            kind_version: (key_version << 4) | kind_code(kind),
        }
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The prefix is already a uniformly random hash: its first 8 bytes are the hash.
        let mut w = [0u8; 8];
        w.copy_from_slice(&self.prefix[..8]);
        state.write_u64(u64::from_le_bytes(w) ^ u64::from(self.kind_version).rotate_left(32));
    }
}

fn kind_code(kind: IdentifierKind) -> u32 {
    IdentifierKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(0) as u32
}

/// 20 bytes, 4-aligned (the id is kept as bytes so the record needs no 8-byte alignment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rec {
    org: u16,
    code: u16,
    /// Bit i set: usable for interned purpose i (bit 31: purposes beyond 31, checked in the DB).
    purposes: u32,
    /// Unix seconds (u32 is enough until 2106).
    expires_at: u32,
    /// First 8 bytes of the signal id, to remove exactly this signal on withdrawal.
    id8: [u8; 8],
}

/// 24 bytes: one record inline, or several behind one pointer (a boxed slice keeps the slot
/// small — a `Vec` would make it 32 bytes; a pseudonym held by several sources is the
/// exception, so rebuilding the slice on a change costs little).
enum Slot {
    One(Rec),
    Many(Box<[Rec]>),
}

#[derive(Default)]
struct Interner {
    names: Vec<String>,
    ids: HashMap<String, u16>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u16 {
        if let Some(i) = self.ids.get(s) {
            return *i;
        }
        let i = u16::try_from(self.names.len()).unwrap_or(u16::MAX);
        if i != u16::MAX {
            self.names.push(s.to_string());
            self.ids.insert(s.to_string(), i);
        }
        i
    }
    /// Whether new names no longer get a number of their own (they all map to `u16::MAX`).
    fn full(&self) -> bool {
        self.names.len() >= usize::from(u16::MAX)
    }
    fn get(&self, s: &str) -> Option<u16> {
        self.ids.get(s).copied()
    }
    fn name(&self, i: u16) -> &str {
        self.names
            .get(usize::from(i))
            .map(String::as_str)
            .unwrap_or("")
    }
}

#[derive(Default)]
struct Inner {
    map: HashMap<Key, Slot, BuildPassThrough>,
    orgs: Interner,
    codes: Interner,
    purposes: Interner,
    len: usize,
    /// [`id_digest`] of the records held, summed (wrapping): see [`MatchIndex::digest`].
    digest: u64,
}

/// One supplier's live signal on a pseudonym, as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub org: String,
    pub code: String,
    /// The first 8 bytes of the signal's id: its details are read by this id prefix
    /// ([`crate::store::SignalStore::signals_by_id_prefix`]).
    pub id8: [u8; 8],
}

/// Shards of the index, each a hash table of its own behind its own lock, chosen by a byte of
/// the key that the table's hash does not use. Why: a single table grows by doubling, and while
/// it moves from 2²³ to 2²⁴ buckets (at ~7.3 M signals) it holds both — measured during a 10 M
/// bulk load: a resident-set peak of 1.2 GB against 0.76 GB after a restart, and a write lock
/// held for the whole move, stalling every match. With 64 shards a growth step moves 1/64 of the
/// index. (Each shard interns its own names: a few hundred strings in all.)
const SHARDS: usize = 64;

/// Thread-safe index; reads take a shared lock on one shard (many matches run at once).
pub struct MatchIndex {
    shards: Box<[RwLock<Inner>]>,
}

impl Default for MatchIndex {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl MatchIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// An index with room for `signals` without growing (see the module documentation). Keys
    /// are uniformly spread keyed hashes, so each shard gets its share plus a margin of 1/8
    /// (hashbrown rounds its bucket count up to a power of two besides).
    pub fn with_capacity(signals: usize) -> Self {
        let share = signals.div_ceil(SHARDS);
        let per_shard = if share == 0 {
            0
        } else {
            share + share / 8 + 16
        };
        let shards = (0..SHARDS)
            .map(|_| {
                let mut inner = Inner::default();
                inner.map.reserve(per_shard);
                RwLock::new(inner)
            })
            .collect();
        MatchIndex { shards }
    }

    /// Number of signals indexed.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.read().unwrap_or_else(|p| p.into_inner()).len)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shard holding `stored`: byte 8 of the key prefix (the table's hash reads bytes 0..8).
    fn shard(&self, stored: &[u8; 32]) -> &RwLock<Inner> {
        &self.shards[usize::from(stored[8]) % SHARDS]
    }

    fn read(&self, stored: &[u8; 32]) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.shard(stored).read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self, stored: &[u8; 32]) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.shard(stored)
            .write()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Adds committed signals (call only after the transaction committed).
    pub fn insert_many<'a>(&self, records: impl IntoIterator<Item = &'a IndexRecord>) {
        for r in records {
            self.insert(r);
        }
    }

    /// Adds committed signals and returns those that were not indexed yet: the upload path and
    /// the signal-feed follower may both add the same signal, and what depends on the index
    /// changing (the picture's counts) must follow only the first.
    pub fn insert_new<'a>(
        &self,
        records: impl IntoIterator<Item = &'a IndexRecord>,
    ) -> Vec<&'a IndexRecord> {
        records.into_iter().filter(|r| self.insert(r)).collect()
    }

    /// Adds one committed signal; `false` if it was indexed already.
    pub fn insert(&self, r: &IndexRecord) -> bool {
        self.write(&r.stored).insert(r)
    }

    /// A digest of the signal ids indexed, to compare the index with the database's live
    /// signals without naming any (the multi-broker test; `/readyz`): the wrapping sum of
    /// [`id_digest`] over the records.
    pub fn digest(&self) -> u64 {
        self.shards
            .iter()
            .map(|shard| shard.read().unwrap_or_else(|p| p.into_inner()).digest)
            .fold(0u64, u64::wrapping_add)
    }

    /// Removes one signal (after its withdrawal or purge committed); `false` if it was not
    /// indexed.
    pub fn remove(
        &self,
        kind: IdentifierKind,
        key_version: u32,
        stored: &[u8; 32],
        id: &SignalId,
    ) -> bool {
        let mut g = self.write(stored);
        let key = Key::new(kind, key_version, stored);
        let id8 = id8(id);
        let mut removed = false;
        let now_empty = match g.map.get_mut(&key) {
            Some(Slot::One(r)) if r.id8 == id8 => {
                removed = true;
                true
            }
            Some(Slot::Many(recs)) => {
                let v: Vec<Rec> = recs.iter().copied().filter(|r| r.id8 != id8).collect();
                removed = v.len() != recs.len();
                if removed {
                    *recs = v.clone().into_boxed_slice();
                }
                if v.len() == 1 {
                    let only = v[0];
                    g.map.insert(key, Slot::One(only));
                    false
                } else {
                    v.is_empty()
                }
            }
            _ => false,
        };
        if now_empty {
            g.map.remove(&key);
        }
        if removed {
            g.len -= 1;
            g.digest = g.digest.wrapping_sub(id_digest(id));
        }
        removed
    }

    /// Live sightings of a pseudonym usable for `purpose`, excluding `exclude_org` (a
    /// requester never "matches" its own data). Never across key versions.
    pub fn probe(
        &self,
        kind: IdentifierKind,
        key_version: u32,
        stored: &[u8; 32],
        purpose: &str,
        exclude_org: &str,
        now: i64,
    ) -> Vec<Sighting> {
        self.with_records(kind, key_version, stored, |g, recs| {
            let Some(purpose_bit) = g
                .purposes
                .get(purpose)
                .map(|i| if i < 31 { 1u32 << i } else { 1 << 31 })
            else {
                return Vec::new();
            };
            let excluded = g.orgs.get(exclude_org);
            let now = u32::try_from(now.max(0)).unwrap_or(u32::MAX);
            recs.iter()
                .filter(|r| {
                    r.expires_at > now && r.purposes & purpose_bit != 0 && Some(r.org) != excluded
                })
                .map(|r| Sighting {
                    org: g.orgs.name(r.org).to_string(),
                    code: g.codes.name(r.code).to_string(),
                    id8: r.id8,
                })
                .collect()
        })
    }

    /// The id prefixes of `org`'s indexed signals on this pseudonym that may be the
    /// observation with `digest` — the candidates a re-upload must be checked against in the
    /// database. A signal's id is `upload second ‖ digest[0..12]`, so its `id8` ends with
    /// `digest[0..4]`; a row from before migration 0008 has `id == digest`, so its `id8` is
    /// `digest[0..8]`. Expired records not yet purged are included (the database decides).
    /// Empty means: certainly not indexed (the common case of a bulk upload, no database read).
    pub fn reupload_candidates(
        &self,
        kind: IdentifierKind,
        key_version: u32,
        stored: &[u8; 32],
        org: &str,
        digest: &SignalDigest,
    ) -> Vec<[u8; 8]> {
        self.with_records(kind, key_version, stored, |g, recs| {
            // An organisation beyond the interner's capacity shares the last number: compare
            // with it too (the database read compares the organisation exactly).
            let Some(org) = g
                .orgs
                .get(org)
                .or_else(|| g.orgs.full().then_some(u16::MAX))
            else {
                return Vec::new();
            };
            recs.iter()
                .filter(|r| r.org == org && (r.id8[4..] == digest.0[..4] || r.id8 == digest.0[..8]))
                .map(|r| r.id8)
                .collect()
        })
    }

    /// `f` of the records under one pseudonym, read under its shard's lock; nothing (without
    /// calling `f`) when there are none, the common case.
    fn with_records<T>(
        &self,
        kind: IdentifierKind,
        key_version: u32,
        stored: &[u8; 32],
        f: impl FnOnce(&Inner, &[Rec]) -> Vec<T>,
    ) -> Vec<T> {
        let g = self.read(stored);
        let recs = g.records(kind, key_version, stored);
        if recs.is_empty() {
            return Vec::new();
        }
        f(&g, recs)
    }

    /// Whether any live signal exists under this pseudonym (for benchmarks and tests).
    pub fn contains(&self, kind: IdentifierKind, key_version: u32, stored: &[u8; 32]) -> bool {
        self.read(stored)
            .map
            .contains_key(&Key::new(kind, key_version, stored))
    }
}

/// One signal's share of [`MatchIndex::digest`]: SplitMix64's finaliser over the first 8 bytes
/// of its id (big-endian), the part of the id the index keeps. Another program reproduces the
/// digest from `SELECT id FROM signals WHERE expires_at > now`.
pub fn id_digest(id: &SignalId) -> u64 {
    let mut z = u64::from_be_bytes(id8(id)).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn id8(id: &SignalId) -> [u8; 8] {
    let mut w = [0u8; 8];
    w.copy_from_slice(&id.as_bytes()[..8]);
    w
}

impl Inner {
    /// The records indexed under this pseudonym (empty when there are none).
    fn records(&self, kind: IdentifierKind, key_version: u32, stored: &[u8; 32]) -> &[Rec] {
        match self.map.get(&Key::new(kind, key_version, stored)) {
            Some(Slot::One(r)) => std::slice::from_ref(r),
            Some(Slot::Many(v)) => v,
            None => &[],
        }
    }

    fn insert(&mut self, r: &IndexRecord) -> bool {
        let org = self.orgs.intern(&r.org);
        let code = self.codes.intern(&r.code);
        let mut purposes = 0u32;
        for p in &r.purposes {
            let i = self.purposes.intern(p);
            purposes |= if i < 31 { 1 << i } else { 1 << 31 };
        }
        let rec = Rec {
            org,
            code,
            purposes,
            expires_at: u32::try_from(r.expires_at.max(0)).unwrap_or(u32::MAX),
            id8: id8(&r.id),
        };
        let key = Key::new(r.kind, r.key_version, &r.stored);
        match self.map.get_mut(&key) {
            None => {
                self.map.insert(key, Slot::One(rec));
            }
            Some(Slot::One(existing)) => {
                if existing.id8 == rec.id8 {
                    return false;
                }
                let first = *existing;
                self.map.insert(key, Slot::Many(Box::new([first, rec])));
            }
            Some(Slot::Many(recs)) => {
                if recs.iter().any(|e| e.id8 == rec.id8) {
                    return false;
                }
                let grown: Vec<Rec> = recs.iter().copied().chain([rec]).collect();
                *recs = grown.into_boxed_slice();
            }
        }
        self.len += 1;
        self.digest = self.digest.wrapping_add(id_digest(&r.id));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_stay_compact() {
        // The memory budget in the module documentation rests on these sizes.
        assert_eq!(std::mem::size_of::<Key>(), 16);
        assert_eq!(std::mem::size_of::<Rec>(), 20);
        assert_eq!(std::mem::size_of::<Slot>(), 24);
        assert_eq!(std::mem::size_of::<(Key, Slot)>(), 40);
    }

    fn rec(
        org: &str,
        stored: u8,
        version: u32,
        expires: i64,
        purposes: &[&str],
        id: u8,
    ) -> IndexRecord {
        IndexRecord {
            id: SignalId([id; 16]),
            kind: IdentifierKind::Kenteken,
            key_version: version,
            stored: [stored; 32],
            org: org.into(),
            code: "cash-car-purchase".into(),
            expires_at: expires,
            purposes: purposes.iter().map(|s| s.to_string()).collect(),
            observed_day: 20_000,
            district: "west-utrecht".into(),
            gemeente: None,
            wijk: None,
        }
    }

    #[test]
    fn probes_respect_purpose_version_expiry_and_own_org() {
        let ix = MatchIndex::new();
        ix.insert(&rec("a", 1, 1, 1000, &["p"], 1));
        ix.insert(&rec("b", 1, 1, 1000, &["p", "q"], 2));
        ix.insert(&rec("c", 1, 1, 10, &["p"], 3));
        ix.insert(&rec("b", 1, 1, 1000, &["p", "q"], 2)); // duplicate: ignored
        assert_eq!(ix.len(), 3);
        let k = IdentifierKind::Kenteken;
        let hits = ix.probe(k, 1, &[1; 32], "p", "a", 100);
        assert_eq!(hits.len(), 1, "own org and expired excluded");
        assert_eq!(hits[0].org, "b");
        assert_eq!(ix.probe(k, 1, &[1; 32], "q", "x", 100).len(), 1);
        assert!(
            ix.probe(k, 2, &[1; 32], "p", "x", 100).is_empty(),
            "never across key versions"
        );
        assert!(
            ix.probe(IdentifierKind::Kvk, 1, &[1; 32], "p", "x", 100)
                .is_empty()
        );
        assert!(ix.probe(k, 1, &[1; 32], "unknown", "x", 100).is_empty());
        ix.remove(k, 1, &[1; 32], &SignalId([2; 16]));
        assert_eq!(ix.len(), 2);
        assert!(ix.probe(k, 1, &[1; 32], "p", "a", 100).is_empty());
        ix.remove(k, 1, &[1; 32], &SignalId([1; 16]));
        ix.remove(k, 1, &[1; 32], &SignalId([3; 16]));
        assert!(ix.is_empty());
        assert!(!ix.contains(k, 1, &[1; 32]));
    }

    #[test]
    fn signals_spread_over_the_shards_are_all_found_counted_and_removed() {
        let ix = MatchIndex::with_capacity(1000);
        let stored = |i: u32| {
            let mut s = [0u8; 32];
            for (j, b) in s.iter_mut().enumerate() {
                *b = (i.wrapping_mul(2_654_435_761) >> (j % 4 * 8)) as u8 ^ j as u8;
            }
            s
        };
        let k = IdentifierKind::Kenteken;
        let mut used = std::collections::HashSet::new();
        for i in 0..1000u32 {
            let mut r = rec("a", 0, 1, 1000, &["p"], 0);
            r.stored = stored(i);
            r.id = SignalId([i as u8; 16]);
            used.insert(usize::from(r.stored[8]) % SHARDS);
            ix.insert(&r);
        }
        assert!(used.len() > SHARDS / 2, "the test data reaches most shards");
        assert_eq!(ix.len(), 1000);
        for i in 0..1000u32 {
            assert!(ix.contains(k, 1, &stored(i)));
            assert_eq!(ix.probe(k, 1, &stored(i), "p", "x", 100).len(), 1);
        }
        for i in 0..1000u32 {
            ix.remove(k, 1, &stored(i), &SignalId([i as u8; 16]));
        }
        assert!(ix.is_empty());
    }

    #[test]
    fn reupload_candidates_fit_the_digest_in_either_id_form() {
        let ix = MatchIndex::new();
        let digest = SignalDigest([0x5a; 16]);
        let timed = SignalId::timed(1_750_000_000, &digest);
        let mut r = rec("a", 1, 1, 1000, &["p"], 0);
        r.id = timed;
        ix.insert(&r);
        let mut legacy = rec("a", 2, 1, 1000, &["p"], 0);
        legacy.id = SignalId::legacy(&digest);
        ix.insert(&legacy);
        let k = IdentifierKind::Kenteken;
        assert_eq!(
            ix.reupload_candidates(k, 1, &[1; 32], "a", &digest),
            vec![timed.prefix8()]
        );
        assert_eq!(
            ix.reupload_candidates(k, 1, &[2; 32], "a", &digest),
            vec![legacy.id.prefix8()]
        );
        // Another organisation, pseudonym, key version or content: no candidate, no read.
        assert!(
            ix.reupload_candidates(k, 1, &[1; 32], "b", &digest)
                .is_empty()
        );
        assert!(
            ix.reupload_candidates(k, 1, &[3; 32], "a", &digest)
                .is_empty()
        );
        assert!(
            ix.reupload_candidates(k, 2, &[1; 32], "a", &digest)
                .is_empty()
        );
        let other = SignalDigest([0x11; 16]);
        assert!(
            ix.reupload_candidates(k, 1, &[1; 32], "a", &other)
                .is_empty()
        );
        // Probes carry the id prefix the details are read by.
        let hits = ix.probe(k, 1, &[1; 32], "p", "x", 100);
        assert_eq!(hits[0].id8, timed.prefix8());
    }
}
