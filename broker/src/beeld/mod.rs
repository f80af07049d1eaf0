//! The ondermijningsbeeld: the live, disclosure-controlled picture of the partners' signals
//! per area, theme and period (`POST /v1/aggregates`, docs/BEELD.md).
//!
//! - [`picture`]: the exact counts, kept in memory as signals arrive and leave;
//! - [`snapshot`]: which published moment of the picture answers a question;
//! - [`release`]: disclosure control — thresholds on the true figures, noise, rounding;
//! - [`noise`]: the exact discrete Laplace sampler on a keyed deterministic stream;
//! - [`period`]: ISO weeks, months and quarters;
//! - [`query`]: the flow of one question — validation, one policy decision, the budget, the
//!   release and its audit entry, committed before the answer leaves.

pub mod noise;
pub mod period;
pub mod picture;
pub mod query;
pub mod release;
pub mod snapshot;

use ring::hmac;

pub use picture::{Picture, PictureSignal};
pub use query::{AggregateError, run};

/// The picture with what answering from it needs, shared by every handler.
pub struct Beeld {
    pub picture: Picture,
    /// The key of the noise's stream (derived from the broker's at-rest key, so every broker
    /// of one deployment draws the same noise for the same cell).
    secret: hmac::Key,
    /// A deployment's bound on the snapshot interval (a development set-up: 10 s).
    pub max_snapshot_interval: Option<u32>,
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
        }
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

    pub(crate) fn secret(&self) -> &hmac::Key {
        &self.secret
    }
}
