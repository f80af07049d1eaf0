//! The standard grids of a published snapshot: the counts of the questions the picture is
//! mostly asked — an area level (unit, district, gemeente) × theme × period (week, month,
//! quarter) — computed once when a snapshot is published, so that such a question is answered
//! by reading cells instead of a pass over every subject.
//!
//! # Why this is exact
//! A question's counts differ from a plain sum of per-cell counts only through the
//! contribution cap: a subject in more than `cap` cells of the question is kept in `cap` of
//! them, which cells depending on the question's grid. So the subjects are split, per standard
//! grid, at publication:
//!
//! - **light** subjects fall into at most `cap` cells of the whole standard grid (the
//!   purpose's themes, every area of the level, every period of the window). A question whose
//!   grid is a selection of the standard grid's cells (some areas, some themes, a run of
//!   periods — see [`Standard::answers`]) sees each light subject in a subset of those cells,
//!   so at most `cap`: never capped, and each of its cells holds exactly what the standard
//!   cell holds. Their per-cell figures — subjects, capped signals, subject–supplier pairs
//!   per organisation, for each population (every subject, `multi_source`, `cross_sector`) —
//!   are summed at publication;
//! - **heavy** subjects (more than `cap` cells) keep a copy of their contributions visible in
//!   the snapshot, and every question passes over those copies as the full pass would.
//!
//! A question is answered from a standard grid only when that reasoning holds: the same
//! purpose, snapshot moment, cap and signal cap; the same area level (or none/unit), theme as
//! category, the same period; district and gemeente filters only where they select whole
//! areas of the grid; the same codes per asked theme; periods inside the window; no total (a
//! total counts a subject once over the question: not a sum of cells); and no contribution of
//! the purpose in the snapshot on a day of the question's first or last period that lies
//! outside its `from`..`to` (then the standard cell would hold days the question excludes). Any
//! other question is answered by the pass. The differential test in the parent module checks
//! both paths against the reference pass.

use std::collections::HashMap;
use std::sync::Arc;

use kruispunt_sdk::beeld::Dimension;

use super::{
    Accumulator, Contribution, CountQuery, Counts, Grid, Picture, Plan, SHARDS, Work, add_pairs,
    bump_orgs, cell_groups, secs, two_sources,
};
use crate::beeld::period;

/// Populations of a standard cell: every subject, `multi_source`, `cross_sector`.
const ALL: usize = 0;
const MULTI: usize = 1;
const CROSS: usize = 2;

/// One standard grid: an area level × the purpose's themes × a period over a window of days.
#[derive(Debug, Clone)]
pub struct StandardGrid {
    /// `Unit`, `District` or `Gemeente`.
    pub area: Dimension,
    /// The level's area values (for `Unit`, the one unit).
    pub areas: Vec<String>,
    /// `Week`, `Month` or `Quarter`.
    pub period: Dimension,
    /// The window (days since 1970-01-01, widened to whole periods when built).
    pub first_day: i64,
    pub last_day: i64,
}

/// The standard grids of one purpose, with what they share.
#[derive(Debug, Clone)]
pub struct StandardSet {
    pub purpose: String,
    /// The purpose's themes (the grids' categories).
    pub themes: Vec<String>,
    /// Per code, the purpose's themes it belongs to.
    pub code_themes: HashMap<String, Vec<String>>,
    /// The purpose's contribution cap and signal cap.
    pub cap: u32,
    pub signal_cap: u32,
    pub grids: Vec<StandardGrid>,
}

/// The summed figures of the light subjects, per standard cell.
struct Light {
    subjects: [Vec<u32>; 3],
    pairs: [Vec<Vec<(u16, u32)>>; 3],
    /// Signals (at most `signal_cap` per subject and cell), population `ALL`.
    signals: Vec<u64>,
}

impl Light {
    fn new(cells: usize) -> Light {
        Light {
            subjects: std::array::from_fn(|_| vec![0; cells]),
            pairs: std::array::from_fn(|_| vec![Vec::new(); cells]),
            signals: vec![0; cells],
        }
    }

    /// Adds one light subject whose `(cell, org, sector)` entries are `scratch`, sorted.
    fn add(&mut self, scratch: &[(u32, u16, u16)], signal_cap: u32) {
        for (_, group) in cell_groups(scratch) {
            let pos = group[0].0 as usize;
            let (two_orgs, two_sectors) = two_sources(group);
            self.signals[pos] += (group.len() as u64).min(u64::from(signal_cap));
            for (pop, member) in [(ALL, true), (MULTI, two_orgs), (CROSS, two_sectors)] {
                if member {
                    self.subjects[pop][pos] += 1;
                    bump_orgs(&mut self.pairs[pop][pos], group);
                }
            }
        }
    }

    fn merge(&mut self, other: Light) {
        for pop in [ALL, MULTI, CROSS] {
            for (a, b) in self.subjects[pop].iter_mut().zip(&other.subjects[pop]) {
                *a += b;
            }
            for (a, b) in self.pairs[pop].iter_mut().zip(&other.pairs[pop]) {
                add_pairs(a, b);
            }
        }
        for (a, b) in self.signals.iter_mut().zip(&other.signals) {
            *a += b;
        }
    }

    fn bytes(&self) -> usize {
        let pairs: usize = self
            .pairs
            .iter()
            .flatten()
            .map(|p| 24 + p.capacity() * std::mem::size_of::<(u16, u32)>())
            .sum();
        pairs + self.signals.len() * (8 + 3 * 4)
    }
}

/// The heavy subjects of one grid: their key hashes and their contributions, flat.
#[derive(Default)]
struct Heavy {
    hashes: Vec<u64>,
    /// Where each subject's contributions start in `contributions`.
    starts: Vec<u32>,
    contributions: Vec<Contribution>,
}

impl Heavy {
    fn push(&mut self, hash: u64, own: &[Contribution]) {
        self.hashes.push(hash);
        self.starts.push(self.contributions.len() as u32);
        self.contributions.extend_from_slice(own);
    }

    fn merge(&mut self, other: Heavy) {
        let base = self.contributions.len() as u32;
        self.hashes.extend(other.hashes);
        self.starts.extend(other.starts.iter().map(|s| s + base));
        self.contributions.extend(other.contributions);
    }

    fn subjects(&self) -> impl Iterator<Item = (u64, &[Contribution])> {
        let ends = self
            .starts
            .iter()
            .skip(1)
            .copied()
            .chain(std::iter::once(self.contributions.len() as u32));
        self.hashes
            .iter()
            .zip(self.starts.iter().zip(ends))
            .map(|(h, (s, e))| (*h, &self.contributions[*s as usize..e as usize]))
    }
}

/// One built standard grid.
struct Built {
    /// The grid as a question (every area, theme and period of the window, no filter).
    query: CountQuery,
    /// Area value → its position (the last, as [`Plan`] keeps it); category → the first.
    area_pos: HashMap<String, usize>,
    cat_pos: HashMap<String, usize>,
    light: Light,
    heavy: Heavy,
}

/// The standard grids of one purpose at one snapshot moment.
pub(super) struct Standard {
    at: u32,
    cap: u32,
    signal_cap: u32,
    code_themes: HashMap<String, Vec<String>>,
    /// Per day (days since 1970-01-01, as the contributions keep them), whether the purpose
    /// has a contribution visible in the snapshot observed that day.
    has_data: Vec<bool>,
    grids: Vec<Built>,
}

/// What one publication built (for the log and the benchmark).
#[derive(Debug, Clone, Copy, Default)]
pub struct Published {
    pub grids: usize,
    pub cells: usize,
    /// Subjects counted once per cell (light) and passed over per question (heavy), summed
    /// over the grids.
    pub light_subjects: u64,
    pub heavy_subjects: u64,
    pub bytes: usize,
}

/// The first and last day of the periods holding `first` and `last`.
pub(super) fn whole_periods(period: Dimension, first: i64, last: i64) -> (i64, i64) {
    let (mut a, mut b) = (first.max(0), last.min(i64::from(u16::MAX)));
    let p = Some(period);
    while a > 0 && period::index(p, a - 1) == period::index(p, a) {
        a -= 1;
    }
    while b < i64::from(u16::MAX) && period::index(p, b + 1) == period::index(p, b) {
        b += 1;
    }
    (a, b)
}

impl Picture {
    /// Computes the standard grids of `set` over the snapshot at `at` (one pass over every
    /// subject, split over the cores like [`Picture::count_pass`]) and keeps them as the
    /// purpose's, replacing those of an earlier snapshot.
    pub fn publish_standard(&self, set: &StandardSet, at: i64) -> Published {
        let at = secs(at);
        let (queries, plans): (Vec<CountQuery>, Vec<Plan>) = {
            let names = self.names.read().expect("picture names lock");
            set.grids
                .iter()
                .map(|g| {
                    let (first_day, last_day) = whole_periods(g.period, g.first_day, g.last_day);
                    let first = period::index(Some(g.period), first_day);
                    let last = period::index(Some(g.period), last_day);
                    // The level's areas and every one the picture has seen, so that no
                    // contribution falls outside the grid.
                    let mut areas = g.areas.clone();
                    match g.area {
                        Dimension::District => areas.extend(names.districts.names.iter().cloned()),
                        Dimension::Gemeente => areas.extend(names.gemeenten.names.iter().cloned()),
                        _ => {}
                    }
                    areas.sort();
                    areas.dedup();
                    let mut categories = set.themes.clone();
                    categories.sort();
                    categories.dedup();
                    let q = CountQuery {
                        purpose: set.purpose.clone(),
                        measure: kruispunt_sdk::beeld::Measure::Subjects,
                        grid: Grid {
                            area: Some(g.area),
                            areas,
                            category: Some(Dimension::Theme),
                            categories,
                            period: Some(g.period),
                            first_period: first,
                            periods: u32::try_from(last - first + 1).unwrap_or(0),
                        },
                        from_day: first_day,
                        to_day: last_day,
                        districts: None,
                        gemeenten: None,
                        code_themes: set.code_themes.clone(),
                        cap: set.cap,
                        signal_cap: set.signal_cap,
                        totals: false,
                    };
                    let plan = Plan::new(&q, &names);
                    (q, plan)
                })
                .unzip()
        };
        let purpose_bit = plans.first().map_or(0, |p| p.purpose_bit);
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, SHARDS);
        let pass = |first: usize| {
            let mut light: Vec<Light> = queries.iter().map(|q| Light::new(q.grid.len())).collect();
            let mut heavy: Vec<Heavy> = queries.iter().map(|_| Heavy::default()).collect();
            let mut lights = 0u64;
            let mut has_data = vec![false; usize::from(u16::MAX) + 1];
            let mut own: Vec<Contribution> = Vec::new();
            let mut scratch: Vec<(u32, u16, u16)> = Vec::new();
            for shard in self.shards.iter().skip(first).step_by(threads) {
                let shard = shard.read().expect("picture shard lock");
                for (list, &subject) in shard.lists.iter().zip(&shard.hashes) {
                    own.clear();
                    for c in list {
                        if c.visible_at(at) && c.purposes & purpose_bit != 0 {
                            own.push(*c);
                            has_data[usize::from(c.day)] = true;
                        }
                    }
                    if own.is_empty() {
                        continue;
                    }
                    for (g, plan) in plans.iter().enumerate() {
                        scratch.clear();
                        for c in &own {
                            plan.cells_of(c, &mut scratch);
                        }
                        if scratch.is_empty() {
                            continue;
                        }
                        scratch.sort_unstable();
                        let cells = 1 + scratch.windows(2).filter(|w| w[0].0 != w[1].0).count();
                        if cells > set.cap as usize {
                            heavy[g].push(subject, &own);
                        } else {
                            light[g].add(&scratch, set.signal_cap);
                            lights += 1;
                        }
                    }
                }
            }
            (light, heavy, has_data, lights)
        };
        let mut parts = if threads == 1 {
            vec![pass(0)]
        } else {
            std::thread::scope(|s| {
                let pass = &pass;
                let handles: Vec<_> = (0..threads).map(|t| s.spawn(move || pass(t))).collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("picture standard thread"))
                    .collect::<Vec<_>>()
            })
        };
        let (mut light, mut heavy, mut has_data, lights) = parts.swap_remove(0);
        let mut published = Published {
            grids: queries.len(),
            light_subjects: lights,
            ..Published::default()
        };
        for (l, h, d, n) in parts {
            published.light_subjects += n;
            for (a, b) in light.iter_mut().zip(l) {
                a.merge(b);
            }
            for (a, b) in heavy.iter_mut().zip(h) {
                a.merge(b);
            }
            for (a, b) in has_data.iter_mut().zip(d) {
                *a |= b;
            }
        }
        let grids: Vec<Built> = queries
            .into_iter()
            .zip(light)
            .zip(heavy)
            .map(|((query, light), heavy)| {
                let area_pos = query
                    .grid
                    .areas
                    .iter()
                    .enumerate()
                    .map(|(i, a)| (a.clone(), i))
                    .collect();
                let mut cat_pos = HashMap::new();
                for (i, c) in query.grid.categories.iter().enumerate() {
                    cat_pos.entry(c.clone()).or_insert(i);
                }
                published.cells += query.grid.len();
                published.heavy_subjects += heavy.hashes.len() as u64;
                published.bytes += light.bytes()
                    + heavy.contributions.capacity() * std::mem::size_of::<Contribution>()
                    + heavy.hashes.capacity() * 12;
                Built {
                    query,
                    area_pos,
                    cat_pos,
                    light,
                    heavy,
                }
            })
            .collect();
        published.bytes += has_data.len();
        let standard = Standard {
            at,
            cap: set.cap,
            signal_cap: set.signal_cap,
            code_themes: set.code_themes.clone(),
            has_data,
            grids,
        };
        self.standard
            .write()
            .expect("picture standard lock")
            .insert(set.purpose.clone(), Arc::new(standard));
        published
    }

    /// The snapshot moment of the purpose's standard grids, if any are published.
    pub fn standard_at(&self, purpose: &str) -> Option<i64> {
        self.standard
            .read()
            .expect("picture standard lock")
            .get(purpose)
            .map(|s| i64::from(s.at))
    }

    /// Bytes the standard grids hold.
    pub fn standard_bytes(&self) -> usize {
        self.standard
            .read()
            .expect("picture standard lock")
            .values()
            .map(|s| {
                s.has_data.len()
                    + s.grids
                        .iter()
                        .map(|g| {
                            g.light.bytes()
                                + g.heavy.contributions.capacity()
                                    * std::mem::size_of::<Contribution>()
                                + g.heavy.hashes.capacity() * 12
                        })
                        .sum::<usize>()
            })
            .sum()
    }

    /// Counts `q` over the snapshot at `at` from the purpose's standard grids, when they
    /// answer it exactly ([module docs](self)); `None` otherwise.
    pub fn count_standard(&self, q: &CountQuery, at: i64) -> Option<Counts> {
        let standard = self
            .standard
            .read()
            .expect("picture standard lock")
            .get(&q.purpose)
            .cloned()?;
        if standard.at != secs(at) {
            return None;
        }
        let (g, one_area) = standard.answers(q)?;
        let grid = &g.query.grid;
        let mut acc = Accumulator::new(q.grid.len());
        let pop = match q.measure {
            kruispunt_sdk::beeld::Measure::MultiSource => MULTI,
            kruispunt_sdk::beeld::Measure::CrossSector => CROSS,
            _ => ALL,
        };
        // Area and category positions of the question in the standard grid.
        let unit = matches!(q.grid.area, None | Some(Dimension::Unit));
        let area_of: Vec<Option<usize>> = (0..q.grid.areas.len().max(1))
            .map(|a| {
                if unit {
                    return match one_area {
                        Some(name) => (a == 0).then(|| g.area_pos.get(name).copied()).flatten(),
                        None => (a == 0).then_some(0),
                    };
                }
                let name = q.grid.areas.get(a)?;
                // The pass keeps the last position of a repeated area value.
                if q.grid.areas[a + 1..].contains(name) {
                    return None;
                }
                let selected = match g.query.grid.area {
                    Some(Dimension::District) => {
                        q.districts.as_ref().is_none_or(|f| f.contains(name))
                    }
                    Some(Dimension::Gemeente) => {
                        q.gemeenten.as_ref().is_none_or(|f| f.contains(name))
                    }
                    _ => true,
                };
                selected.then(|| g.area_pos.get(name).copied()).flatten()
            })
            .collect();
        let cat_of: Vec<Option<usize>> = (0..q.grid.categories.len().max(1))
            .map(|c| {
                let name = q.grid.categories.get(c)?;
                if q.grid.categories[..c].contains(name) {
                    return None;
                }
                g.cat_pos.get(name).copied()
            })
            .collect();
        let period_shift = (q.grid.first_period - grid.first_period) as usize;
        for (pos, stat) in acc.cells.iter_mut().enumerate() {
            let (a, c, p) = q.grid.split(pos);
            let (Some(ga), Some(gc)) = (area_of[a], cat_of[c]) else {
                continue;
            };
            let gpos = grid.position(ga, gc, p + period_shift);
            stat.subjects = g.light.subjects[pop][gpos];
            stat.value = match q.measure {
                kruispunt_sdk::beeld::Measure::Signals => g.light.signals[gpos],
                _ => u64::from(stat.subjects),
            };
            acc.pairs[pos].clone_from(&g.light.pairs[pop][gpos]);
        }
        // The heavy subjects, as the pass counts them.
        let plan = {
            let names = self.names.read().expect("picture names lock");
            Plan::new(q, &names)
        };
        let at = secs(at);
        let mut work = Work::default();
        for (hash, contributions) in g.heavy.subjects() {
            work.scratch.clear();
            for c in contributions {
                if c.visible_at(at) && c.purposes & plan.purpose_bit != 0 {
                    plan.cells_of(c, &mut work.scratch);
                }
            }
            if !work.scratch.is_empty() {
                acc.add_subject(q, hash, &mut work);
            }
        }
        Some(acc.finish(false))
    }
}

impl Standard {
    /// The standard grid that answers `q` exactly, if any ([module docs](self)).
    ///
    /// With it, the one area of the grid a question without an area level is filtered to.
    fn answers<'q>(&self, q: &'q CountQuery) -> Option<(&Built, Option<&'q str>)> {
        if q.totals || q.cap != self.cap || q.signal_cap != self.signal_cap {
            return None;
        }
        if q.grid.category != Some(Dimension::Theme) {
            return None;
        }
        // The grid's area level, and the one area a question without areas is filtered to.
        let (level, one_area) = match (q.grid.area, &q.districts, &q.gemeenten) {
            (None | Some(Dimension::Unit), None, None) => (Dimension::Unit, None),
            // One gemeente or district as the whole question: that area's cells.
            (None | Some(Dimension::Unit), None, Some(f)) if f.len() == 1 => {
                (Dimension::Gemeente, Some(f[0].as_str()))
            }
            (None | Some(Dimension::Unit), Some(f), None) if f.len() == 1 => {
                (Dimension::District, Some(f[0].as_str()))
            }
            (None | Some(Dimension::Unit), _, _) => return None,
            // Filters that select whole areas of the grid, and none otherwise.
            (Some(Dimension::District), _, None) => (Dimension::District, None),
            (Some(Dimension::Gemeente), None, _) => (Dimension::Gemeente, None),
            _ => return None,
        };
        let period = q.grid.period?;
        let g = self.grids.iter().find(|g| {
            g.query.grid.area == Some(level)
                && g.query.grid.period == Some(period)
                && g.query.grid.first_period <= q.grid.first_period
                && q.grid.first_period + i64::from(q.grid.periods.max(1))
                    <= g.query.grid.first_period + i64::from(g.query.grid.periods)
        })?;
        // Every asked theme holds the same codes as in the standard grid.
        for code in q.code_themes.keys().chain(self.code_themes.keys()) {
            let of = |m: &HashMap<String, Vec<String>>, t: &String| {
                m.get(code).is_some_and(|ts| ts.contains(t))
            };
            if q.grid
                .categories
                .iter()
                .any(|t| of(&q.code_themes, t) != of(&self.code_themes, t))
            {
                return None;
            }
        }
        // No day of the first or last period outside `from`..`to` holds data.
        let p = Some(period);
        let first = q.grid.first_period;
        let last = first + i64::from(q.grid.periods.max(1)) - 1;
        let has = |d: i64| {
            usize::try_from(d)
                .ok()
                .and_then(|d| self.has_data.get(d))
                .copied()
                .unwrap_or(false)
        };
        let mut d = q.from_day - 1;
        while d >= 0 && period::index(p, d) >= first {
            if has(d) {
                return None;
            }
            d -= 1;
        }
        let mut d = q.to_day.max(-1) + 1;
        while d <= i64::from(u16::MAX) && period::index(p, d) <= last {
            if has(d) {
                return None;
            }
            d += 1;
        }
        Some((g, one_area))
    }
}
