//! The ondermijningsbeeld: the live, disclosure-controlled picture of the partners' signals
//! per area, theme and period (`POST /v1/aggregates`, docs/BEELD.md).
//!
//! - [`picture`]: the exact counts, kept in memory as signals arrive and leave;
//! - [`cases`]: the true counts of the case measures (`open_cases`, `interventions`), from
//!   the case register;
//! - [`snapshot`]: which published moment of the picture answers a question;
//! - [`release`]: disclosure control — thresholds on the true figures, noise, rounding;
//! - [`noise`]: the exact discrete Laplace sampler on a keyed deterministic stream;
//! - [`period`]: ISO weeks, months and quarters;
//! - [`query`]: the flow of one question — validation, one policy decision, the budget, the
//!   release and its audit entry, committed before the answer leaves.

pub mod cases;
pub mod noise;
pub mod period;
pub mod picture;
pub mod query;
pub mod release;
pub mod snapshot;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kruispunt_sdk::beeld::Dimension;
use ring::hmac;

pub use picture::{Picture, PictureSignal, StandardGrid, StandardSet};
pub use query::{AggregateError, run};

/// The picture with what answering from it needs, shared by every handler.
pub struct Beeld {
    pub picture: Picture,
    /// The key of the noise's stream (derived from the broker's at-rest key, so every broker
    /// of one deployment draws the same noise for the same cell).
    secret: hmac::Key,
    /// A deployment's bound on the snapshot interval (a development set-up: 10 s).
    pub max_snapshot_interval: Option<u32>,
    /// Whether uploads go into the picture ([`Beeld::insert`]); always, except in the
    /// benchmark that measures the upload path without it (`benches/http_load.rs`).
    maintained: AtomicBool,
}

/// The snapshot interval of a development set-up (`development = true`): a new user sees
/// their uploads in the picture within seconds.
pub const DEVELOPMENT_SNAPSHOT_INTERVAL_SECS: u32 = 10;

impl Beeld {
    pub fn new(noise_key: [u8; 32], max_snapshot_interval: Option<u32>) -> Beeld {
        Beeld {
            picture: Picture::new(),
            secret: hmac::Key::new(hmac::HMAC_SHA256, &noise_key),
            max_snapshot_interval,
            maintained: AtomicBool::new(true),
        }
    }

    /// Adds committed uploads to the picture (see [`Picture::insert`]), unless a benchmark
    /// switched that off ([`Beeld::maintain`]).
    pub fn insert<'a>(&self, signals: impl IntoIterator<Item = PictureSignal<'a>>, now: i64) {
        if self.maintained.load(Ordering::Relaxed) {
            self.picture.insert(signals, now);
        }
    }

    /// Switches the upload path's part of the picture on or off. Only the benchmark that
    /// compares the upload rate with and without the picture switches it off: questions would
    /// then miss what was uploaded meanwhile.
    pub fn maintain(&self, on: bool) {
        self.maintained.store(on, Ordering::Relaxed);
    }

    /// The snapshot interval for a purpose whose policy says `interval`.
    pub fn interval(&self, interval: u32) -> u32 {
        match self.max_snapshot_interval {
            Some(max) => interval.min(max).max(1),
            None => interval.max(1),
        }
    }

    /// Forgets the contributions that left the picture before every purpose's current
    /// snapshot (run with the retention task).
    pub fn compact(&self, reg: &kruispunt_policy::Registry, now: i64) {
        let horizon = reg
            .purposes
            .iter()
            .filter_map(|p| p.aggregates.as_ref())
            .map(|a| self.interval(a.snapshot_interval_secs))
            .max()
            .unwrap_or(0);
        self.picture.compact(now - i64::from(horizon) - 1);
    }

    /// The standard grids of `purpose` under `reg` for the snapshot at `published`: every
    /// area level among unit, district and gemeente and every period the purpose offers, × its
    /// themes, over the `max_range_days` before the snapshot's day (and the week after it).
    pub fn standard_set(
        reg: &kruispunt_policy::Registry,
        purpose: &str,
        published: i64,
    ) -> Option<StandardSet> {
        let p = reg.purpose(purpose)?;
        let a = p.aggregates.as_ref()?;
        let day = published.div_euclid(86_400);
        let first_day = day - i64::from(a.max_range_days) - 7;
        let last_day = day + 7;
        let mut grids = Vec::new();
        for area in &a.areas {
            let (area, areas) = match area.as_str() {
                "unit" => (Dimension::Unit, vec![query::unit_id(reg)]),
                "district" => (
                    Dimension::District,
                    reg.districts.iter().map(|d| d.id.clone()).collect(),
                ),
                "gemeente" => (
                    Dimension::Gemeente,
                    reg.gemeenten.iter().map(|g| g.code.clone()).collect(),
                ),
                _ => continue,
            };
            for period in &a.periods {
                let period = match period.as_str() {
                    "week" => Dimension::Week,
                    "month" => Dimension::Month,
                    "quarter" => Dimension::Quarter,
                    _ => continue,
                };
                grids.push(StandardGrid {
                    area,
                    areas: areas.clone(),
                    period,
                    first_day,
                    last_day,
                });
            }
        }
        Some(StandardSet {
            purpose: purpose.to_string(),
            themes: p.themes.clone(),
            code_themes: query::code_themes(reg, &p.themes, None),
            cap: a.contribution_cap,
            signal_cap: a.signal_cap,
            grids,
        })
    }

    /// Computes the standard grids of every purpose whose current snapshot (at `now`) has
    /// none yet; returns how many purposes it published.
    pub fn publish(&self, reg: &kruispunt_policy::Registry, now: i64) -> usize {
        let mut published = 0;
        for p in &reg.purposes {
            let Some(a) = &p.aggregates else { continue };
            let snap = snapshot::current(now, self.interval(a.snapshot_interval_secs));
            if self.picture.standard_at(&p.id) == Some(snap.published) {
                continue;
            }
            let Some(set) = Beeld::standard_set(reg, &p.id, snap.published) else {
                continue;
            };
            let start = Instant::now();
            let built = self.picture.publish_standard(&set, snap.published);
            tracing::debug!(
                purpose = %p.id,
                snapshot = snap.id,
                grids = built.grids,
                cells = built.cells,
                heavy_subjects = built.heavy_subjects,
                bytes = built.bytes,
                millis = start.elapsed().as_millis() as u64,
                "beeld snapshot published"
            );
            published += 1;
        }
        published
    }

    pub(crate) fn secret(&self) -> &hmac::Key {
        &self.secret
    }
}

/// Publishes the standard grids of each new snapshot ([`Beeld::publish`]), checking every
/// `every`; the work runs on the blocking pool.
pub async fn run_snapshots(state: crate::state::AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let state = state.clone();
        let done = tokio::task::spawn_blocking(move || {
            state
                .beeld
                .publish(&state.policy.registry(), crate::civil::now_secs())
        })
        .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "beeld snapshot publication failed; will retry");
        }
    }
}
