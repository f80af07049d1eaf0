//! The exact counts behind the ondermijningsbeeld, kept in memory as signals arrive, are
//! withdrawn, purged or expire — never recomputed by scanning the database per question.
//!
//! # Layout
//! Subjects (kind, key version, at-rest pseudonym — keyed as in the match index by a 12-byte
//! prefix of the pseudonym) are interned; each holds the list of its signals' *contributions*:
//! 36 bytes of interned organisation, code, district, gemeente and wijk, the observation day,
//! the purposes (a bit set) and three times — when the signal entered the picture, when it left
//! it (withdrawal, purge, erasure) and when its retention ends. No identifier, pseudonym or
//! signal id is kept beyond that prefix and an 8-byte fold of the id (to remove it again).
//!
//! # Snapshots without copies
//! A published snapshot is a moment `P` ([`super::snapshot`]): a contribution is in it when it
//! entered before `P`, had not left by `P` and its retention had not ended by `P`. The exact
//! counts stay current (a stored signal is in them as soon as its upload commits: freshness is
//! the time to take one shard's write lock), and the snapshot costs no copy: contributions that
//! left are kept until no current snapshot can see them ([`Picture::compact`], run by the
//! snapshot task).
//!
//! # A question
//! One pass over the subjects, split over the cores (each thread takes every n-th shard, walks
//! its lists in slot order — memory order — with its own reused buffers and counters, and the
//! counters are summed: subjects are disjoint, so the sums are those of a single pass). The
//! question is first resolved to interned positions and a day → period table ([`Plan`]), so
//! the loop compares integers and does no calendar arithmetic. Per subject, the cells of the question's grid its live
//! contributions fall into (deduplicated, at most `cap` of them — the excess dropped
//! deterministically, see [`subject_keeps`]), and per cell whether the subject belongs to the
//! measure's population (`multi_source`: ≥ 2 organisations in that cell, `cross_sector`: ≥ 2
//! sectors), the subject's signals in the cell (at most `signal_cap`) and its
//! subject–supplier pairs per organisation (for the source-count and dominance rules).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, RwLock};

use kruispunt_sdk::IdentifierKind;
use kruispunt_sdk::beeld::{Dimension, Measure};

use super::period;
use crate::store::{IndexRecord, SignalId};

mod standard;
pub use standard::{Published, StandardGrid, StandardSet};

/// Shards of the subject table: an upload write-locks one shard briefly, a question
/// read-locks one shard at a time.
const SHARDS: usize = 16;
/// "No gemeente" / "no wijk".
const NONE: u16 = u16::MAX;
/// "Has not left the picture".
const LIVE: u32 = u32::MAX;

/// One signal as the picture sees it (borrowed from the stored signal or the start-up load).
#[derive(Debug, Clone, Copy)]
pub struct PictureSignal<'a> {
    pub id: &'a SignalId,
    pub kind: IdentifierKind,
    pub key_version: u32,
    pub stored: &'a [u8; 32],
    pub org: &'a str,
    /// The supplying organisation's sector (from the registry).
    pub sector: &'a str,
    pub code: &'a str,
    /// Observation day (days since 1970-01-01); a day outside 1970–2149 is not counted.
    pub observed_day: i64,
    pub district: &'a str,
    pub gemeente: Option<&'a str>,
    pub wijk: Option<&'a str>,
    pub purposes: &'a [String],
    pub expires_at: i64,
}

impl<'a> PictureSignal<'a> {
    /// The picture's view of a stored signal (the upload path after its commit, the start-up
    /// load), supplied by an organisation of `sector`.
    pub fn of(r: &'a IndexRecord, sector: &'a str) -> PictureSignal<'a> {
        PictureSignal {
            id: &r.id,
            kind: r.kind,
            key_version: r.key_version,
            stored: &r.stored,
            org: &r.org,
            sector,
            code: &r.code,
            observed_day: r.observed_day,
            district: &r.district,
            gemeente: r.gemeente.as_deref(),
            wijk: r.wijk.as_deref(),
            purposes: &r.purposes,
            expires_at: r.expires_at,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct SubjectKey {
    prefix: [u8; 12],
    kind_version: u32,
}

impl SubjectKey {
    fn new(kind: IdentifierKind, key_version: u32, stored: &[u8; 32]) -> SubjectKey {
        let mut prefix = [0u8; 12];
        prefix.copy_from_slice(&stored[..12]);
        let kind_code = IdentifierKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(0) as u32;
        SubjectKey {
            prefix,
            kind_version: (key_version << 4) | kind_code,
        }
    }

    fn hash64(&self) -> u64 {
        let w = u64::from_le_bytes(self.prefix[..8].try_into().expect("8 bytes"));
        w ^ u64::from(self.kind_version).rotate_left(32)
    }
}

impl Hash for SubjectKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash64());
    }
}

/// Keys are HMAC outputs the asker cannot choose: their bytes are the hash.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// One signal's part in the picture: 36 bytes.
#[derive(Clone, Copy, Debug)]
struct Contribution {
    id: [u8; 8],
    added: u32,
    removed: u32,
    expires: u32,
    purposes: u32,
    day: u16,
    org: u16,
    code: u16,
    district: u16,
    gemeente: u16,
    wijk: u16,
}

impl Contribution {
    fn visible_at(&self, at: u32) -> bool {
        self.added < at && at < self.removed && at < self.expires
    }
}

fn fold_id(id: &SignalId) -> [u8; 8] {
    let mut w = [0u8; 8];
    for (i, b) in id.0.iter().enumerate() {
        w[i % 8] ^= b;
    }
    w
}

/// Strings interned to `u16` (organisations, codes, districts, gemeenten, wijken, purposes).
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u16>,
    names: Vec<String>,
}

impl Interner {
    fn intern(&mut self, name: &str) -> u16 {
        if let Some(i) = self.ids.get(name) {
            return *i;
        }
        // u16::MAX is NONE; a registry never has that many names of one kind.
        let i = u16::try_from(self.names.len()).unwrap_or(NONE - 1);
        self.ids.insert(name.to_string(), i);
        self.names.push(name.to_string());
        i
    }

    fn get(&self, name: &str) -> Option<u16> {
        self.ids.get(name).copied()
    }

    fn bytes(&self) -> usize {
        self.names.iter().map(|n| 2 * n.len() + 24 + 8 + 24).sum()
    }
}

#[derive(Default)]
struct Names {
    orgs: Interner,
    /// Sector index per organisation index.
    org_sector: Vec<u16>,
    sectors: Interner,
    codes: Interner,
    districts: Interner,
    gemeenten: Interner,
    wijken: Interner,
    purposes: Interner,
}

#[derive(Default)]
struct Shard {
    subjects: HashMap<SubjectKey, u32, BuildHasherDefault<PassThrough>>,
    lists: Vec<Vec<Contribution>>,
    /// Per slot, its subject's key hash ([`SubjectKey::hash64`]), so that a question walks
    /// the lists in slot order — memory order, not the hash table's random order.
    hashes: Vec<u64>,
    free: Vec<u32>,
}

/// The live picture ([module docs](self)).
pub struct Picture {
    names: RwLock<Names>,
    shards: Vec<RwLock<Shard>>,
    /// Per purpose, the standard grids of its latest published snapshot ([`standard`]).
    standard: RwLock<HashMap<String, Arc<standard::Standard>>>,
}

impl Default for Picture {
    fn default() -> Self {
        Picture::new()
    }
}

fn secs(t: i64) -> u32 {
    u32::try_from(t.clamp(0, i64::from(LIVE - 1))).unwrap_or(LIVE - 1)
}

impl Picture {
    pub fn new() -> Picture {
        Picture {
            names: RwLock::new(Names::default()),
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            standard: RwLock::new(HashMap::new()),
        }
    }

    fn shard_of(key: &SubjectKey) -> usize {
        (key.hash64() >> 59) as usize % SHARDS
    }

    /// Adds stored signals (after their upload committed, or at start-up with `now = 0` so
    /// that they are in every snapshot).
    pub fn insert<'a>(&self, signals: impl IntoIterator<Item = PictureSignal<'a>>, now: i64) {
        let mut per_shard: Vec<Vec<(SubjectKey, Contribution)>> = vec![Vec::new(); SHARDS];
        {
            let mut names = self.names.write().expect("picture names lock");
            for s in signals {
                let Ok(day) = u16::try_from(s.observed_day) else {
                    continue;
                };
                let org = names.orgs.intern(s.org);
                let sector = names.sectors.intern(s.sector);
                if names.org_sector.len() <= usize::from(org) {
                    names.org_sector.resize(usize::from(org) + 1, sector);
                }
                names.org_sector[usize::from(org)] = sector;
                let mut purposes = 0u32;
                for p in s.purposes {
                    let i = names.purposes.intern(p);
                    if i < 32 {
                        purposes |= 1 << i;
                    }
                }
                let c = Contribution {
                    id: fold_id(s.id),
                    added: secs(now),
                    removed: LIVE,
                    expires: secs(s.expires_at),
                    purposes,
                    day,
                    org,
                    code: names.codes.intern(s.code),
                    district: names.districts.intern(s.district),
                    gemeente: s.gemeente.map_or(NONE, |g| names.gemeenten.intern(g)),
                    wijk: s.wijk.map_or(NONE, |w| names.wijken.intern(w)),
                };
                let key = SubjectKey::new(s.kind, s.key_version, s.stored);
                per_shard[Self::shard_of(&key)].push((key, c));
            }
        }
        for (i, batch) in per_shard.into_iter().enumerate() {
            if batch.is_empty() {
                continue;
            }
            let mut shard = self.shards[i].write().expect("picture shard lock");
            let shard = &mut *shard;
            for (key, c) in batch {
                let slot = match shard.subjects.get(&key) {
                    Some(slot) => *slot,
                    None => {
                        let slot = match shard.free.pop() {
                            Some(f) => {
                                shard.hashes[f as usize] = key.hash64();
                                f
                            }
                            None => {
                                shard.lists.push(Vec::new());
                                shard.hashes.push(key.hash64());
                                (shard.lists.len() - 1) as u32
                            }
                        };
                        shard.subjects.insert(key, slot);
                        slot
                    }
                };
                let list = &mut shard.lists[slot as usize];
                if list.capacity() == 0 {
                    list.reserve_exact(1);
                }
                list.push(c);
            }
        }
    }

    /// Marks signals as left the picture at `now` (withdrawn, purged, erased): they are out of
    /// the exact counts at once and out of every snapshot published after `now`.
    pub fn remove<'a>(
        &self,
        signals: impl IntoIterator<Item = (IdentifierKind, u32, &'a [u8; 32], &'a SignalId)>,
        now: i64,
    ) {
        let now = secs(now);
        for (kind, key_version, stored, id) in signals {
            let key = SubjectKey::new(kind, key_version, stored);
            let mut shard = self.shards[Self::shard_of(&key)]
                .write()
                .expect("picture shard lock");
            let Some(slot) = shard.subjects.get(&key).copied() else {
                continue;
            };
            let id = fold_id(id);
            if let Some(c) = shard.lists[slot as usize]
                .iter_mut()
                .find(|c| c.id == id && c.removed == LIVE)
            {
                c.removed = now;
            }
        }
    }

    /// Forgets the contributions that left the picture at or before `before` (no current
    /// snapshot can see them any more) and the subjects left without any.
    pub fn compact(&self, before: i64) {
        let before = secs(before);
        for shard in &self.shards {
            let mut shard = shard.write().expect("picture shard lock");
            let Shard {
                subjects,
                lists,
                free,
                ..
            } = &mut *shard;
            subjects.retain(|_, slot| {
                let list = &mut lists[*slot as usize];
                list.retain(|c| c.removed > before);
                if list.is_empty() {
                    *list = Vec::new();
                    free.push(*slot);
                    false
                } else {
                    true
                }
            });
        }
    }

    /// Every wijk code the picture has seen (the wijk level's grid).
    pub fn wijken(&self) -> Vec<String> {
        let names = self.names.read().expect("picture names lock");
        names.wijken.names.clone()
    }

    /// Signals in the exact counts now (live, not expired).
    pub fn live_signals(&self, now: i64) -> u64 {
        let now = secs(now);
        self.shards
            .iter()
            .map(|s| {
                let s = s.read().expect("picture shard lock");
                s.lists
                    .iter()
                    .flatten()
                    .filter(|c| c.removed == LIVE && now < c.expires)
                    .count() as u64
            })
            .sum()
    }

    /// Bytes the picture holds (tables, lists and names; allocator overhead not counted).
    pub fn memory_bytes(&self) -> usize {
        let names = self.names.read().expect("picture names lock");
        let mut total = names.orgs.bytes()
            + names.sectors.bytes()
            + names.codes.bytes()
            + names.districts.bytes()
            + names.gemeenten.bytes()
            + names.wijken.bytes()
            + names.purposes.bytes();
        for s in &self.shards {
            let s = s.read().expect("picture shard lock");
            // hashbrown: one control byte per bucket plus the entry.
            total += s.subjects.capacity() * (std::mem::size_of::<(SubjectKey, u32)>() + 1);
            total += s.lists.capacity() * std::mem::size_of::<Vec<Contribution>>();
            total += s
                .lists
                .iter()
                .map(|l| l.capacity() * std::mem::size_of::<Contribution>())
                .sum::<usize>();
            total += s.hashes.capacity() * 8;
            total += s.free.capacity() * 4;
        }
        total
    }

    /// Counts a question over the snapshot at `at` (Unix seconds; the current time for the
    /// exact counts).
    ///
    /// The shards are split over the cores (one scoped thread per core, each with its own
    /// accumulator and buffers, read-locking one shard at a time); the per-thread counts are
    /// sums over disjoint subjects, so merging them gives exactly the single pass's counts.
    ///
    /// A question the standard grids of the snapshot at `at` answer exactly is answered from
    /// them ([`Picture::count_standard`]); any other by the pass.
    pub fn count(&self, q: &CountQuery, at: i64) -> Counts {
        if let Some(counts) = self.count_standard(q, at) {
            return counts;
        }
        self.count_pass(q, at)
    }

    /// Counts a question by one pass over every subject (see [`Picture::count`]).
    pub fn count_pass(&self, q: &CountQuery, at: i64) -> Counts {
        let at = secs(at);
        let plan = {
            let names = self.names.read().expect("picture names lock");
            Plan::new(q, &names)
        };
        let cells = q.grid.len();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, SHARDS);
        let pass = |first: usize| {
            let mut acc = Accumulator::new(cells);
            let mut work = Work::default();
            for shard in self.shards.iter().skip(first).step_by(threads) {
                let shard = shard.read().expect("picture shard lock");
                // Free slots hold empty lists and add nothing.
                for (list, &subject) in shard.lists.iter().zip(&shard.hashes) {
                    work.scratch.clear();
                    for c in list {
                        if !c.visible_at(at) || c.purposes & plan.purpose_bit == 0 {
                            continue;
                        }
                        plan.cells_of(c, &mut work.scratch);
                    }
                    if work.scratch.is_empty() {
                        continue;
                    }
                    acc.add_subject(q, subject, &mut work);
                }
            }
            acc
        };
        let mut parts: Vec<Accumulator> = if threads == 1 {
            vec![pass(0)]
        } else {
            std::thread::scope(|s| {
                let pass = &pass;
                let handles: Vec<_> = (0..threads).map(|t| s.spawn(move || pass(t))).collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("picture count thread"))
                    .collect()
            })
        };
        let mut acc = parts.swap_remove(0);
        for part in parts {
            acc.merge(part);
        }
        acc.finish(q.totals)
    }
}

/// A question in the picture's terms: what to count over which grid.
#[derive(Debug, Clone)]
pub struct CountQuery {
    pub purpose: String,
    pub measure: Measure,
    pub grid: Grid,
    /// First and last observation day counted (days since 1970-01-01, inclusive).
    pub from_day: i64,
    pub to_day: i64,
    /// Districts counted (`None`: all).
    pub districts: Option<Vec<String>>,
    /// Gemeenten counted (`None`: all, signals without a gemeente included).
    pub gemeenten: Option<Vec<String>>,
    /// Per code of the purpose, the themes it belongs to (within the theme filter, if any);
    /// a code not listed is not counted.
    pub code_themes: HashMap<String, Vec<String>>,
    /// Most cells one subject may fall into.
    pub cap: u32,
    /// Most signals one subject adds to one cell (measure `signals`).
    pub signal_cap: u32,
    /// Whether the total is asked ([`Counts::total`] is zero otherwise).
    pub totals: bool,
}

/// The cells of a question: every combination of its area values, categories and periods,
/// listed in full (a cell that is absent would say it is empty).
#[derive(Debug, Clone)]
pub struct Grid {
    /// `None` or `Unit`: one area holding everything.
    pub area: Option<Dimension>,
    /// Area values (district ids, gemeente or wijk codes); for `Unit`/`None` one value.
    pub areas: Vec<String>,
    /// `None`: one category holding every counted code.
    pub category: Option<Dimension>,
    pub categories: Vec<String>,
    /// `None`: the whole range is one period.
    pub period: Option<Dimension>,
    /// First period index and the number of periods.
    pub first_period: i64,
    pub periods: u32,
}

impl Grid {
    /// The number of cells. An absent dimension is one value; an asked dimension with no
    /// values to list (no wijk holds a signal yet, a theme filter that keeps no theme) makes an
    /// empty table: there is no cell to count into or to release.
    pub fn len(&self) -> usize {
        let asked_empty = |asked: bool, values: &[String]| asked && values.is_empty();
        if asked_empty(self.area.is_some(), &self.areas)
            || asked_empty(self.category.is_some(), &self.categories)
        {
            return 0;
        }
        self.areas.len().max(1) * self.categories.len().max(1) * self.periods.max(1) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The position of (area, category, period) positions in the flat grid.
    pub fn position(&self, a: usize, c: usize, p: usize) -> usize {
        (a * self.categories.len().max(1) + c) * self.periods.max(1) as usize + p
    }

    /// The (area, category, period) positions of a flat position.
    pub fn split(&self, pos: usize) -> (usize, usize, usize) {
        let np = self.periods.max(1) as usize;
        let nc = self.categories.len().max(1);
        (pos / np / nc, (pos / np) % nc, pos % np)
    }
}

/// The question resolved to the picture's interned indexes.
struct Plan {
    purpose_bit: u32,
    area: Option<Dimension>,
    /// Grid area position per interned district/gemeente/wijk (u32::MAX: not in the grid).
    area_pos: Vec<u32>,
    district_ok: Vec<bool>,
    gemeente_filter: Option<Vec<bool>>,
    /// Grid category positions per interned code (empty: not counted).
    code_pos: Vec<Vec<u32>>,
    /// The first day of `day_period` (days since 1970-01-01).
    first_day: i64,
    /// Per observation day from `first_day` up to the question's last: the grid's period
    /// position of the day, or `u32::MAX` when the day is outside the grid — so the pass does
    /// no calendar arithmetic.
    day_period: Vec<u32>,
    periods: usize,
    ncat: usize,
    org_sector: Vec<u16>,
}

impl Plan {
    fn new(q: &CountQuery, names: &Names) -> Plan {
        let purpose_bit = names
            .purposes
            .get(&q.purpose)
            .filter(|i| *i < 32)
            .map_or(0, |i| 1u32 << i);
        let area_names = match q.grid.area {
            Some(Dimension::District) => Some(&names.districts),
            Some(Dimension::Gemeente) => Some(&names.gemeenten),
            Some(Dimension::Wijk) => Some(&names.wijken),
            _ => None,
        };
        let mut area_pos = Vec::new();
        if let Some(interner) = area_names {
            area_pos = vec![u32::MAX; interner.names.len()];
            for (pos, name) in q.grid.areas.iter().enumerate() {
                if let Some(i) = interner.get(name) {
                    area_pos[usize::from(i)] = pos as u32;
                }
            }
        }
        let district_ok = names
            .districts
            .names
            .iter()
            .map(|d| q.districts.as_ref().is_none_or(|f| f.contains(d)))
            .collect();
        let gemeente_filter = q.gemeenten.as_ref().map(|f| {
            names
                .gemeenten
                .names
                .iter()
                .map(|g| f.contains(g))
                .collect()
        });
        let code_pos = names
            .codes
            .names
            .iter()
            .map(|code| {
                let Some(themes) = q.code_themes.get(code) else {
                    return Vec::new();
                };
                match q.grid.category {
                    Some(Dimension::Code) => q
                        .grid
                        .categories
                        .iter()
                        .position(|c| c == code)
                        .map(|p| vec![p as u32])
                        .unwrap_or_default(),
                    Some(Dimension::Theme) => themes
                        .iter()
                        .filter_map(|t| q.grid.categories.iter().position(|c| c == t))
                        .map(|p| p as u32)
                        .collect(),
                    _ if themes.is_empty() => Vec::new(),
                    _ => vec![0],
                }
            })
            .collect();
        // Contribution days are u16: the table never spans more than 65 536 days.
        let periods = i64::from(q.grid.periods.max(1));
        let first_day = q.from_day.max(0);
        let last_day = q.to_day.min(i64::from(u16::MAX));
        let day_period = (first_day..=last_day)
            .map(|day| {
                let p = period::index(q.grid.period, day) - q.grid.first_period;
                if (0..periods).contains(&p) {
                    p as u32
                } else {
                    u32::MAX
                }
            })
            .collect();
        Plan {
            purpose_bit,
            area: q.grid.area,
            area_pos,
            district_ok,
            gemeente_filter,
            code_pos,
            first_day,
            day_period,
            periods: periods as usize,
            ncat: q.grid.categories.len().max(1),
            org_sector: names.org_sector.clone(),
        }
    }

    /// Pushes `(cell, org, sector)` for every grid cell `c` falls into.
    fn cells_of(&self, c: &Contribution, out: &mut Vec<(u32, u16, u16)>) {
        let Some(&p) = usize::try_from(i64::from(c.day) - self.first_day)
            .ok()
            .and_then(|i| self.day_period.get(i))
        else {
            return;
        };
        if p == u32::MAX {
            return;
        }
        if !self
            .district_ok
            .get(usize::from(c.district))
            .copied()
            .unwrap_or(false)
        {
            return;
        }
        if let Some(f) = &self.gemeente_filter
            && !(c.gemeente != NONE && f.get(usize::from(c.gemeente)).copied().unwrap_or(false))
        {
            return;
        }
        let area = match self.area {
            Some(Dimension::District) => self.area_pos.get(usize::from(c.district)),
            Some(Dimension::Gemeente) => self.area_pos.get(usize::from(c.gemeente)),
            Some(Dimension::Wijk) => self.area_pos.get(usize::from(c.wijk)),
            _ => Some(&0),
        };
        let Some(&area) = area else { return };
        if area == u32::MAX {
            return;
        }
        let Some(cats) = self.code_pos.get(usize::from(c.code)) else {
            return;
        };
        let sector = self
            .org_sector
            .get(usize::from(c.org))
            .copied()
            .unwrap_or(0);
        for &cat in cats {
            let cell = (area as usize * self.ncat + cat as usize) * self.periods + p as usize;
            out.push((cell as u32, c.org, sector));
        }
    }
}

/// The true figures of one cell (or of the total) for the measure's population.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellStat {
    /// Subjects of the measure's population in the cell (the count `k` is checked against).
    pub subjects: u32,
    /// The measure's true value (subjects, or capped signals for `signals`).
    pub value: u64,
    /// Organisations supplying the population's subjects.
    pub sources: u32,
    /// Subject–supplier pairs of the largest supplier, and of all suppliers.
    pub top_pairs: u32,
    pub pairs: u32,
}

/// The true counts of a question: one [`CellStat`] per grid position, and the total (when
/// asked).
#[derive(Debug, Clone)]
pub struct Counts {
    pub cells: Vec<CellStat>,
    pub total: CellStat,
}

struct Accumulator {
    cells: Vec<CellStat>,
    /// Per cell: (org, subject–supplier pairs).
    pairs: Vec<Vec<(u16, u32)>>,
    total: CellStat,
    total_pairs: Vec<(u16, u32)>,
}

fn bump(pairs: &mut Vec<(u16, u32)>, org: u16) {
    match pairs.iter_mut().find(|(o, _)| *o == org) {
        Some((_, n)) => *n += 1,
        None => pairs.push((org, 1)),
    }
}

/// A subject's `(cell, org, sector)` entries, sorted, as groups of one cell: (the group's
/// start in `scratch`, its entries).
fn cell_groups(scratch: &[(u32, u16, u16)]) -> impl Iterator<Item = (usize, &[(u32, u16, u16)])> {
    let mut i = 0;
    std::iter::from_fn(move || {
        let start = i;
        let cell = scratch.get(start)?.0;
        while i < scratch.len() && scratch[i].0 == cell {
            i += 1;
        }
        Some((start, &scratch[start..i]))
    })
}

/// Whether one cell's entries (sorted by organisation) come from two or more organisations,
/// and from two or more sectors. The populations ask only whether there are two or more:
/// with the organisations sorted, there are two when the first and last differ.
fn two_sources(group: &[(u32, u16, u16)]) -> (bool, bool) {
    let two_orgs = group[0].1 != group[group.len() - 1].1;
    let two_sectors = group.iter().any(|g| g.2 != group[0].2);
    (two_orgs, two_sectors)
}

/// One subject–supplier pair for each organisation of one cell's entries (sorted by
/// organisation).
fn bump_orgs(pairs: &mut Vec<(u16, u32)>, group: &[(u32, u16, u16)]) {
    let mut last = None;
    for g in group {
        if last != Some(g.1) {
            bump(pairs, g.1);
            last = Some(g.1);
        }
    }
}

/// Whether a subject with these distinct organisations and sectors belongs to the population
/// of `measure`.
fn in_population(measure: Measure, orgs: usize, sectors: usize) -> bool {
    match measure {
        Measure::Subjects | Measure::Signals => true,
        // Cases are not in the picture (`beeld::cases` counts them).
        Measure::OpenCases | Measure::Interventions => false,
        Measure::MultiSource => orgs >= 2,
        Measure::CrossSector => sectors >= 2,
    }
}

/// The deterministic order in which a subject's cells are kept when it falls into more than
/// `cap`: by a mix of the subject's key and the cell, so the cells dropped are spread evenly
/// over the grid (not always the last months) and the same on every asking.
pub fn subject_keeps(subject: u64, cell: u32) -> u64 {
    let mut z = subject ^ (u64::from(cell).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One thread's buffers for the pass, reused from subject to subject (no allocation per
/// subject once they have grown).
#[derive(Default)]
struct Work {
    /// The subject's `(cell, org, sector)` entries.
    scratch: Vec<(u32, u16, u16)>,
    /// The cells kept (within the cap): (keep order, start of the cell's group in `scratch`).
    kept: Vec<(u64, u32)>,
    /// The subject's distinct organisations and sectors over the whole question.
    orgs: Vec<u16>,
    sectors: Vec<u16>,
}

impl Accumulator {
    fn new(cells: usize) -> Accumulator {
        Accumulator {
            cells: vec![CellStat::default(); cells],
            pairs: vec![Vec::new(); cells],
            total: CellStat::default(),
            total_pairs: Vec::new(),
        }
    }

    /// Adds the counts of another accumulator over other subjects.
    fn merge(&mut self, other: Accumulator) {
        for (stat, o) in self.cells.iter_mut().zip(&other.cells) {
            stat.subjects += o.subjects;
            stat.value += o.value;
        }
        for (pairs, o) in self.pairs.iter_mut().zip(&other.pairs) {
            add_pairs(pairs, o);
        }
        self.total.subjects += other.total.subjects;
        self.total.value += other.total.value;
        add_pairs(&mut self.total_pairs, &other.total_pairs);
    }

    /// Adds one subject whose entries are in `work.scratch`.
    fn add_subject(&mut self, q: &CountQuery, subject: u64, work: &mut Work) {
        let Work {
            scratch,
            kept,
            orgs,
            sectors,
        } = work;
        // Sorted by (cell, org, sector): a cell's entries are one group, ordered by org.
        scratch.sort_unstable();
        // The total: the subject over every cell of the question; only when it is asked
        // (`finish` would zero it), which spares two sorts per subject of most questions.
        if q.totals {
            orgs.clear();
            orgs.extend(scratch.iter().map(|s| s.1));
            orgs.sort_unstable();
            orgs.dedup();
            sectors.clear();
            sectors.extend(scratch.iter().map(|s| s.2));
            sectors.sort_unstable();
            sectors.dedup();
            if in_population(q.measure, orgs.len(), sectors.len()) {
                self.total.subjects += 1;
                self.total.value += match q.measure {
                    Measure::Signals => (scratch.len() as u64).min(u64::from(q.signal_cap)),
                    _ => 1,
                };
                for o in orgs.iter() {
                    bump(&mut self.total_pairs, *o);
                }
            }
        }
        // The cells, grouped.
        kept.clear();
        for (start, group) in cell_groups(scratch) {
            let (two_orgs, two_sectors) = two_sources(group);
            if in_population(
                q.measure,
                1 + usize::from(two_orgs),
                1 + usize::from(two_sectors),
            ) {
                kept.push((subject_keeps(subject, group[0].0), start as u32));
            }
        }
        if kept.len() > q.cap as usize {
            kept.sort_unstable();
            kept.truncate(q.cap as usize);
        }
        for &(_, start) in kept.iter() {
            let start = start as usize;
            let cell = scratch[start].0;
            let mut end = start;
            while end < scratch.len() && scratch[end].0 == cell {
                end += 1;
            }
            let group = &scratch[start..end];
            let stat = &mut self.cells[cell as usize];
            stat.subjects += 1;
            stat.value += match q.measure {
                Measure::Signals => (group.len() as u64).min(u64::from(q.signal_cap)),
                _ => 1,
            };
            bump_orgs(&mut self.pairs[cell as usize], group);
        }
    }

    /// The settled counts; the total only when `totals` is asked (else zero).
    fn finish(mut self, totals: bool) -> Counts {
        for (stat, pairs) in self.cells.iter_mut().zip(&self.pairs) {
            settle(stat, pairs);
        }
        settle(&mut self.total, &self.total_pairs);
        if !totals {
            self.total = CellStat::default();
        }
        Counts {
            cells: self.cells,
            total: self.total,
        }
    }
}

fn settle(stat: &mut CellStat, pairs: &[(u16, u32)]) {
    stat.sources = pairs.len() as u32;
    stat.pairs = pairs.iter().map(|p| p.1).sum();
    stat.top_pairs = pairs.iter().map(|p| p.1).max().unwrap_or(0);
}

/// Adds `other`'s subject–supplier pairs to `pairs`, organisation by organisation.
fn add_pairs(pairs: &mut Vec<(u16, u32)>, other: &[(u16, u32)]) {
    for &(org, n) in other {
        match pairs.iter_mut().find(|(o, _)| *o == org) {
            Some((_, m)) => *m += n,
            None => pairs.push((org, n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "beeld";

    struct Sig {
        id: SignalId,
        stored: [u8; 32],
        org: String,
        sector: String,
        code: String,
        observed: String,
        district: String,
        gemeente: Option<String>,
        purposes: Vec<String>,
    }

    fn sig(n: u32, subject: u32, org: &str, sector: &str, code: &str, day: &str) -> Sig {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&n.to_be_bytes());
        let mut stored = [0x5au8; 32];
        stored[..4].copy_from_slice(&subject.to_be_bytes());
        stored[8..12].copy_from_slice(&subject.to_le_bytes());
        Sig {
            id: SignalId(id),
            stored,
            org: org.into(),
            sector: sector.into(),
            code: code.into(),
            observed: day.into(),
            district: "oost".into(),
            gemeente: Some("GM0001".into()),
            purposes: vec![P.into()],
        }
    }

    fn view(s: &Sig) -> PictureSignal<'_> {
        PictureSignal {
            id: &s.id,
            kind: IdentifierKind::Kenteken,
            key_version: 1,
            stored: &s.stored,
            org: &s.org,
            sector: &s.sector,
            code: &s.code,
            observed_day: crate::civil::parse_date(&s.observed).unwrap(),
            district: &s.district,
            gemeente: s.gemeente.as_deref(),
            wijk: None,
            purposes: &s.purposes,
            expires_at: 10_000,
        }
    }

    fn query(measure: Measure, period: Option<Dimension>, cap: u32) -> CountQuery {
        let from = crate::civil::parse_date("2026-01-01").unwrap();
        let to = crate::civil::parse_date("2026-12-31").unwrap();
        CountQuery {
            purpose: P.into(),
            measure,
            grid: Grid {
                area: Some(Dimension::District),
                areas: vec!["oost".into(), "west".into()],
                category: Some(Dimension::Theme),
                categories: vec!["auto".into(), "horeca".into()],
                period,
                first_period: period::index(period, from),
                periods: (period::index(period, to) - period::index(period, from) + 1) as u32,
            },
            from_day: from,
            to_day: to,
            districts: None,
            gemeenten: None,
            code_themes: [
                ("cash".to_string(), vec!["auto".to_string()]),
                (
                    "both".to_string(),
                    vec!["auto".to_string(), "horeca".to_string()],
                ),
            ]
            .into_iter()
            .collect(),
            cap,
            signal_cap: 2,
            totals: true,
        }
    }

    #[test]
    fn a_subject_counts_once_per_cell_and_its_code_in_every_theme() {
        let p = Picture::new();
        let sigs = [
            sig(1, 7, "a", "auto", "cash", "2026-03-01"),
            sig(2, 7, "a", "auto", "cash", "2026-03-02"),
            sig(3, 7, "b", "horeca", "both", "2026-03-03"),
            sig(4, 8, "c", "auto", "cash", "2026-03-04"),
            sig(5, 9, "c", "auto", "unlisted", "2026-03-04"),
        ];
        p.insert(sigs.iter().map(view), 100);
        let c = p.count(&query(Measure::Subjects, None, 10), 200);
        // oost × auto: subjects 7 and 8; oost × horeca: subject 7.
        assert_eq!(c.cells[0].subjects, 2);
        assert_eq!(c.cells[0].value, 2);
        assert_eq!(c.cells[1].subjects, 1);
        assert_eq!(c.cells[2].subjects, 0, "west × auto");
        assert_eq!(
            (c.cells[0].sources, c.cells[0].pairs, c.cells[0].top_pairs),
            (3, 3, 1)
        );
        assert_eq!(c.total.subjects, 2);
        // Signals, capped at 2 per subject and cell: subject 7 has 3 in oost × auto.
        let s = p.count(&query(Measure::Signals, None, 10), 200);
        assert_eq!(s.cells[0].value, 2 + 1);
        // Multi-source: subject 7 (a and b) in oost × auto; cross-sector likewise.
        let m = p.count(&query(Measure::MultiSource, None, 10), 200);
        assert_eq!((m.cells[0].subjects, m.cells[1].subjects), (1, 0));
        let x = p.count(&query(Measure::CrossSector, None, 10), 200);
        assert_eq!(x.cells[0].subjects, 1);
    }

    #[test]
    fn snapshots_see_what_was_there_and_removal_leaves_them_alone() {
        let p = Picture::new();
        let a = sig(1, 1, "a", "auto", "cash", "2026-05-01");
        let b = sig(2, 2, "a", "auto", "cash", "2026-05-01");
        p.insert([view(&a)], 100);
        p.insert([view(&b)], 300);
        let q = query(Measure::Subjects, None, 10);
        assert_eq!(
            p.count(&q, 100).cells[0].subjects,
            0,
            "not before it arrived"
        );
        assert_eq!(p.count(&q, 200).cells[0].subjects, 1);
        assert_eq!(p.count(&q, 400).cells[0].subjects, 2);
        p.remove([(IdentifierKind::Kenteken, 1, &a.stored, &a.id)], 500);
        assert_eq!(
            p.count(&q, 400).cells[0].subjects,
            2,
            "the published snapshot holds"
        );
        assert_eq!(p.count(&q, 600).cells[0].subjects, 1, "gone from the next");
        assert_eq!(p.count(&q, 20_000).cells[0].subjects, 0, "past retention");
        assert_eq!(p.live_signals(600), 1);
        p.compact(499);
        assert_eq!(
            p.count(&q, 400).cells[0].subjects,
            2,
            "kept while a snapshot sees it"
        );
        p.compact(500);
        assert_eq!(
            p.count(&q, 400).cells[0].subjects,
            1,
            "forgotten once none can"
        );
        p.remove([(IdentifierKind::Kenteken, 1, &b.stored, &b.id)], 600);
        p.compact(600);
        assert_eq!(p.live_signals(700), 0);
        assert!(p.memory_bytes() > 0);
    }

    #[test]
    fn each_subject_falls_into_at_most_cap_cells_chosen_deterministically() {
        let p = Picture::new();
        // One subject in all twelve months of one theme, plus one in one month.
        let mut sigs: Vec<Sig> = (1..=12)
            .map(|m| sig(m, 1, "a", "auto", "cash", &format!("2026-{m:02}-10")))
            .collect();
        sigs.push(sig(100, 2, "a", "auto", "cash", "2026-06-10"));
        p.insert(sigs.iter().map(view), 1);
        let q = query(Measure::Subjects, Some(Dimension::Month), 3);
        let c = p.count(&q, 10);
        let total: u32 = c.cells.iter().map(|s| s.subjects).sum();
        assert_eq!(
            total,
            3 + 1,
            "subject 1 kept in 3 cells, subject 2 in its one"
        );
        let again = p.count(&q, 10);
        assert_eq!(c.cells, again.cells, "the same cells every time");
        // The total counts each subject once, whatever the cap.
        assert_eq!(c.total.subjects, 2);
    }

    #[test]
    fn filters_and_purposes_restrict_what_is_counted() {
        let p = Picture::new();
        let mut other_purpose = sig(1, 1, "a", "auto", "cash", "2026-05-01");
        other_purpose.purposes = vec!["elsewhere".into()];
        let mut no_gemeente = sig(2, 2, "a", "auto", "cash", "2026-05-01");
        no_gemeente.gemeente = None;
        let out_of_range = sig(3, 3, "a", "auto", "cash", "2025-05-01");
        let counted = sig(4, 4, "a", "auto", "cash", "2026-05-01");
        p.insert(
            [&other_purpose, &no_gemeente, &out_of_range, &counted].map(view),
            1,
        );
        let mut q = query(Measure::Subjects, None, 10);
        assert_eq!(
            p.count(&q, 10).cells[0].subjects,
            2,
            "district level: with and without gemeente"
        );
        q.gemeenten = Some(vec!["GM0001".into()]);
        assert_eq!(
            p.count(&q, 10).cells[0].subjects,
            1,
            "a gemeente filter drops those without"
        );
        q.gemeenten = None;
        q.districts = Some(vec!["west".into()]);
        assert_eq!(p.count(&q, 10).cells[0].subjects, 0);
    }

    /// The reference pass: the counting rules written out plainly — names instead of
    /// interned positions, a calendar conversion per contribution, sets and maps per subject —
    /// against which the fast pass is checked.
    fn reference_count(p: &Picture, q: &CountQuery, at: i64) -> Counts {
        use std::collections::{BTreeMap, BTreeSet};
        let at = secs(at);
        let names = p.names.read().unwrap();
        let purpose_bit = names
            .purposes
            .get(&q.purpose)
            .filter(|i| *i < 32)
            .map_or(0, |i| 1u32 << i);
        let mut cells = vec![CellStat::default(); q.grid.len()];
        let mut cell_pairs: Vec<BTreeMap<u16, u32>> = vec![BTreeMap::new(); q.grid.len()];
        let mut total = CellStat::default();
        let mut total_pairs: BTreeMap<u16, u32> = BTreeMap::new();
        let name = |i: &Interner, v: u16| (v != NONE).then(|| i.names[usize::from(v)].clone());
        for shard in &p.shards {
            let shard = shard.read().unwrap();
            for (key, slot) in &shard.subjects {
                // cell → (org, sector) of each entry.
                let mut by_cell: BTreeMap<u32, Vec<(u16, u16)>> = BTreeMap::new();
                let mut entries = 0u64;
                for c in &shard.lists[*slot as usize] {
                    if !c.visible_at(at) || c.purposes & purpose_bit == 0 {
                        continue;
                    }
                    let day = i64::from(c.day);
                    if day < q.from_day || day > q.to_day {
                        continue;
                    }
                    let district = name(&names.districts, c.district).unwrap();
                    if q.districts.as_ref().is_some_and(|f| !f.contains(&district)) {
                        continue;
                    }
                    let gemeente = name(&names.gemeenten, c.gemeente);
                    if let Some(f) = &q.gemeenten
                        && !gemeente.as_ref().is_some_and(|g| f.contains(g))
                    {
                        continue;
                    }
                    let area_name = match q.grid.area {
                        Some(Dimension::District) => Some(district.clone()),
                        Some(Dimension::Gemeente) => gemeente.clone(),
                        Some(Dimension::Wijk) => name(&names.wijken, c.wijk),
                        _ => Some(String::new()),
                    };
                    let area = match (q.grid.area, area_name) {
                        (
                            Some(Dimension::District | Dimension::Gemeente | Dimension::Wijk),
                            Some(n),
                        ) => q.grid.areas.iter().position(|a| *a == n),
                        (
                            Some(Dimension::District | Dimension::Gemeente | Dimension::Wijk),
                            None,
                        ) => None,
                        _ => Some(0),
                    };
                    let Some(area) = area else { continue };
                    let code = name(&names.codes, c.code).unwrap();
                    let Some(themes) = q.code_themes.get(&code) else {
                        continue;
                    };
                    let cats: Vec<usize> = match q.grid.category {
                        Some(Dimension::Code) => q
                            .grid
                            .categories
                            .iter()
                            .position(|x| *x == code)
                            .into_iter()
                            .collect(),
                        Some(Dimension::Theme) => themes
                            .iter()
                            .filter_map(|t| q.grid.categories.iter().position(|x| x == t))
                            .collect(),
                        _ if themes.is_empty() => vec![],
                        _ => vec![0],
                    };
                    let period = period::index(q.grid.period, day) - q.grid.first_period;
                    if period < 0 || period >= i64::from(q.grid.periods.max(1)) {
                        continue;
                    }
                    let sector = names.org_sector[usize::from(c.org)];
                    for cat in cats {
                        let cell = q.grid.position(area, cat, period as usize) as u32;
                        by_cell.entry(cell).or_default().push((c.org, sector));
                        entries += 1;
                    }
                }
                if by_cell.is_empty() {
                    continue;
                }
                let all: Vec<(u16, u16)> = by_cell.values().flatten().copied().collect();
                let orgs: BTreeSet<u16> = all.iter().map(|e| e.0).collect();
                let sectors: BTreeSet<u16> = all.iter().map(|e| e.1).collect();
                if in_population(q.measure, orgs.len(), sectors.len()) {
                    total.subjects += 1;
                    total.value += match q.measure {
                        Measure::Signals => entries.min(u64::from(q.signal_cap)),
                        _ => 1,
                    };
                    for o in &orgs {
                        *total_pairs.entry(*o).or_default() += 1;
                    }
                }
                let subject = key.hash64();
                let mut candidates: Vec<(u64, u32)> = by_cell
                    .iter()
                    .filter(|(_, es)| {
                        let o: BTreeSet<u16> = es.iter().map(|e| e.0).collect();
                        let s: BTreeSet<u16> = es.iter().map(|e| e.1).collect();
                        in_population(q.measure, o.len(), s.len())
                    })
                    .map(|(cell, _)| (subject_keeps(subject, *cell), *cell))
                    .collect();
                candidates.sort();
                candidates.truncate(q.cap as usize);
                for (_, cell) in candidates {
                    let es = &by_cell[&cell];
                    let stat = &mut cells[cell as usize];
                    stat.subjects += 1;
                    stat.value += match q.measure {
                        Measure::Signals => (es.len() as u64).min(u64::from(q.signal_cap)),
                        _ => 1,
                    };
                    for o in es.iter().map(|e| e.0).collect::<BTreeSet<u16>>() {
                        *cell_pairs[cell as usize].entry(o).or_default() += 1;
                    }
                }
            }
        }
        let settle_map = |stat: &mut CellStat, pairs: &BTreeMap<u16, u32>| {
            stat.sources = pairs.len() as u32;
            stat.pairs = pairs.values().sum();
            stat.top_pairs = pairs.values().copied().max().unwrap_or(0);
        };
        for (stat, pairs) in cells.iter_mut().zip(&cell_pairs) {
            settle_map(stat, pairs);
        }
        settle_map(&mut total, &total_pairs);
        if !q.totals {
            total = CellStat::default();
        }
        Counts { cells, total }
    }

    /// A small deterministic generator (splitmix64).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
            xs[self.below(xs.len() as u64) as usize]
        }
        /// A random subset of `xs` (possibly empty).
        fn subset(&mut self, xs: &[&str]) -> Vec<String> {
            xs.iter()
                .filter(|_| self.below(2) == 0)
                .map(|x| x.to_string())
                .collect()
        }
    }

    /// A random question over the test picture's names; `standard`: shaped so that the
    /// standard grids may answer it (theme × a period, filters that select whole areas, the
    /// standard caps), else anything.
    fn random_question(
        rng: &mut Rng,
        base: i64,
        code_themes: &HashMap<String, Vec<String>>,
        standard: Option<(u32, u32)>,
    ) -> CountQuery {
        let measure = rng.pick(&[
            Measure::Subjects,
            Measure::Signals,
            Measure::MultiSource,
            Measure::CrossSector,
        ]);
        let area = match standard {
            Some(_) => rng.pick(&[
                None,
                Some(Dimension::Unit),
                Some(Dimension::District),
                Some(Dimension::Gemeente),
            ]),
            None => rng.pick(&[
                None,
                Some(Dimension::Unit),
                Some(Dimension::District),
                Some(Dimension::Gemeente),
                Some(Dimension::Wijk),
            ]),
        };
        let category = match standard {
            Some(_) => Some(Dimension::Theme),
            None => rng.pick(&[None, Some(Dimension::Theme), Some(Dimension::Code)]),
        };
        let period = match standard {
            Some(_) => Some(rng.pick(&[Dimension::Week, Dimension::Month, Dimension::Quarter])),
            None => rng.pick(&[
                None,
                Some(Dimension::Week),
                Some(Dimension::Month),
                Some(Dimension::Quarter),
            ]),
        };
        let mut from = base - 30 + rng.below(500) as i64;
        let mut to = from + rng.below(400) as i64;
        if let (Some(p), true) = (period, rng.below(2) == 0) {
            (from, to) = standard::whole_periods(p, from, to);
        }
        let mut areas = match area {
            Some(Dimension::District) => rng.subset(&DISTRICTS),
            Some(Dimension::Gemeente) => rng.subset(&GEMEENTEN),
            Some(Dimension::Wijk) => rng.subset(&WIJKEN),
            Some(_) => vec!["unit".into()],
            None => vec![],
        };
        if rng.below(4) == 0 {
            areas.push("nowhere".into());
        }
        let categories = match category {
            Some(Dimension::Theme) => rng.subset(&THEMES),
            Some(_) => rng.subset(&CODES),
            None => vec![],
        };
        // A theme filter, as the route passes it: the codes' themes within the filter.
        let code_themes = if category == Some(Dimension::Theme) && rng.below(3) == 0 {
            code_themes
                .iter()
                .map(|(c, ts)| {
                    let kept = ts.iter().filter(|t| categories.contains(t)).cloned();
                    (c.clone(), kept.collect())
                })
                .collect()
        } else {
            code_themes.clone()
        };
        let (districts, gemeenten) = match standard {
            // Filters selecting areas of the level, or one area of a question without one.
            Some(_) if matches!(area, None | Some(Dimension::Unit)) => match rng.below(4) {
                0 => (Some(vec![rng.pick(&DISTRICTS).to_string()]), None),
                1 => (None, Some(vec![rng.pick(&GEMEENTEN).to_string()])),
                _ => (None, None),
            },
            Some(_) => (
                (area == Some(Dimension::District) && rng.below(3) == 0)
                    .then(|| rng.subset(&DISTRICTS)),
                (area == Some(Dimension::Gemeente) && rng.below(3) == 0)
                    .then(|| rng.subset(&GEMEENTEN)),
            ),
            None => (
                (rng.below(3) == 0).then(|| rng.subset(&DISTRICTS)),
                (rng.below(3) == 0).then(|| rng.subset(&GEMEENTEN)),
            ),
        };
        let first_period = period::index(period, from);
        let (cap, signal_cap) =
            standard.unwrap_or((1 + rng.below(8) as u32, 1 + rng.below(3) as u32));
        CountQuery {
            purpose: P.into(),
            measure,
            grid: Grid {
                area,
                areas,
                category,
                categories,
                period,
                first_period,
                periods: (period::index(period, to) - first_period + 1) as u32,
            },
            from_day: from,
            to_day: to,
            districts,
            gemeenten,
            code_themes,
            cap,
            signal_cap,
            totals: standard.is_none() && rng.below(2) == 0,
        }
    }

    const ORGS: [&str; 5] = ["o0", "o1", "o2", "o3", "o4"];
    const SECTORS: [&str; 3] = ["s0", "s1", "s2"];
    const CODES: [&str; 6] = ["c0", "c1", "c2", "c3", "c4", "c5"];
    const THEMES: [&str; 3] = ["t0", "t1", "t2"];
    const DISTRICTS: [&str; 3] = ["d0", "d1", "d2"];
    const GEMEENTEN: [&str; 4] = ["g0", "g1", "g2", "g3"];
    const WIJKEN: [&str; 3] = ["w0", "w1", "w2"];

    /// Random signals: `n` over `subjects` subjects, inserted at random moments after `t0`,
    /// some removed (withdrawn or purged) at random moments after `t0`; then (with `compact`)
    /// a compaction and reused slots.
    fn random_picture(rng: &mut Rng, p: &Picture, round: u32, base: i64, t0: i64, compact: bool) {
        let n = 50 + rng.below(400) as u32;
        let subjects = 5 + rng.below(300) as u32;
        let mut sigs = Vec::new();
        let mut times = Vec::new();
        for k in 0..n {
            let org = rng.below(ORGS.len() as u64) as usize;
            let mut s = sig(
                round * 10_000 + k,
                rng.below(u64::from(subjects)) as u32,
                ORGS[org],
                SECTORS[org % SECTORS.len()],
                rng.pick(&CODES),
                "2025-06-01",
            );
            s.district = rng.pick(&DISTRICTS).to_string();
            s.gemeente = (rng.below(5) > 0).then(|| rng.pick(&GEMEENTEN).to_string());
            s.purposes = match rng.below(4) {
                0 => vec!["elsewhere".into()],
                1 => vec!["elsewhere".into(), P.into()],
                _ => vec![P.into()],
            };
            let wijk = (rng.below(3) > 0).then(|| rng.pick(&WIJKEN).to_string());
            let day = base + rng.below(800) as i64;
            let added = t0 + rng.below(100) as i64;
            let expires = t0 + 50 + rng.below(1000) as i64;
            sigs.push((s, wijk, day, expires));
            times.push(added);
        }
        for ((s, wijk, day, expires), added) in sigs.iter().zip(&times) {
            let mut v = view(s);
            v.wijk = wijk.as_deref();
            v.observed_day = *day;
            v.expires_at = *expires;
            p.insert([v], *added);
        }
        for (s, _, _, _) in &sigs {
            if rng.below(8) == 0 {
                p.remove(
                    [(IdentifierKind::Kenteken, 1, &s.stored, &s.id)],
                    t0 + rng.below(1200) as i64,
                );
            }
        }
        // Forget some of what left and reuse the freed slots for new subjects.
        if compact {
            p.compact(rng.below(600) as i64);
        }
        let late: Vec<Sig> = (0..20)
            .map(|k| {
                let org = rng.below(ORGS.len() as u64) as usize;
                sig(
                    round * 10_000 + 5_000 + k,
                    1_000 + rng.below(30) as u32,
                    ORGS[org],
                    SECTORS[org % SECTORS.len()],
                    rng.pick(&CODES),
                    "2025-09-01",
                )
            })
            .collect();
        p.insert(late.iter().map(view), t0 + rng.below(700) as i64);
    }

    #[test]
    fn the_fast_pass_counts_exactly_what_the_reference_pass_counts() {
        let base = crate::civil::parse_date("2025-06-01").unwrap();
        let mut rng = Rng(0x5eed);
        let (mut nonempty, mut standard_answers) = (0, 0);
        let (mut light, mut heavy) = (0, 0);
        for round in 0..12 {
            let p = Picture::new();
            random_picture(&mut rng, &p, round, base, 0, true);
            let mut code_themes: HashMap<String, Vec<String>> = HashMap::new();
            for code in &CODES[..5] {
                code_themes.insert(code.to_string(), rng.subset(&THEMES));
            }
            // The standard grids of a snapshot (some areas of each level only: the rest the
            // picture has seen are added), after which more arrives and leaves.
            let at_standard = rng.below(1300) as i64;
            let caps = (1 + rng.below(8) as u32, 1 + rng.below(3) as u32);
            let set = StandardSet {
                purpose: P.into(),
                themes: THEMES.map(String::from).to_vec(),
                code_themes: code_themes.clone(),
                cap: caps.0,
                signal_cap: caps.1,
                grids: [Dimension::Unit, Dimension::District, Dimension::Gemeente]
                    .into_iter()
                    .flat_map(|area| {
                        [Dimension::Week, Dimension::Month, Dimension::Quarter].map(|period| {
                            StandardGrid {
                                area,
                                areas: match area {
                                    Dimension::District => vec!["d0".into()],
                                    Dimension::Gemeente => vec!["g1".into(), "g9".into()],
                                    _ => vec!["unit".into()],
                                },
                                period,
                                first_day: base - 60,
                                last_day: base + 900,
                            }
                        })
                    })
                    .collect(),
            };
            let published = p.publish_standard(&set, at_standard);
            assert_eq!(p.standard_at(P), Some(at_standard));
            light += published.light_subjects;
            heavy += published.heavy_subjects;
            // Arrivals and removals after the snapshot's moment leave its grids alone.
            random_picture(&mut rng, &p, round + 100, base, at_standard, false);
            for k in 0..80 {
                let standard = k % 2 == 0;
                let q = random_question(&mut rng, base, &code_themes, standard.then_some(caps));
                let at = if standard {
                    at_standard
                } else {
                    rng.below(1300) as i64
                };
                let fast = p.count_pass(&q, at);
                let slow = reference_count(&p, &q, at);
                assert_eq!(fast.cells, slow.cells, "round {round}: {q:?} at {at}");
                assert_eq!(fast.total, slow.total, "round {round}: {q:?} at {at}");
                if let Some(from_grids) = p.count_standard(&q, at) {
                    assert_eq!(
                        from_grids.cells, slow.cells,
                        "standard, round {round}: {q:?}"
                    );
                    assert_eq!(
                        from_grids.total, slow.total,
                        "standard, round {round}: {q:?}"
                    );
                    standard_answers += 1;
                }
                assert_eq!(p.count(&q, at).cells, slow.cells);
                nonempty += usize::from(fast.cells.iter().any(|c| c.subjects > 0));
            }
        }
        assert!(
            nonempty > 200,
            "the questions find something: {nonempty} of 960"
        );
        assert!(
            standard_answers > 150,
            "the standard grids answer many of the 480 shaped questions: {standard_answers}"
        );
        assert!(light > 100 && heavy > 100, "light {light}, heavy {heavy}");
    }
}
