//! Disclosure control: which cells of a question are released, and with what value.
//!
//! A cell is released only when, for the population the measure counts,
//! 1. its true number of subjects is at least `k` (`wijk_k` for wijk cells) — `below_k`;
//! 2. its subjects come from at least `min_sources` supplying organisations — `too_few_sources`;
//! 3. no one organisation holds more than `max_share_percent` % of the cell's subject–supplier
//!    pairs — `dominance` (so no partner can read its own business off the picture).
//!
//! A released value is the true value plus discrete Laplace noise of scale
//! `sensitivity / ε` ([`super::noise`]), rounded to the nearest multiple of `rounding` and
//! clamped at zero. The thresholds are checked on the *true* figures, so a cell with fewer
//! than `k` subjects is never released whatever the noise; the noise is what stops
//! differencing (two questions whose data differ by one subject), which thresholds alone do not.

use kruispunt_sdk::beeld::{Measure, SuppressionReason};
use ring::hmac;

use super::noise::{self, KeyedRng};
use super::picture::CellStat;

/// The release obligations of one question (from the policy decision; docs/BEELD.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub k: u32,
    pub wijk_k: u32,
    pub min_sources: u32,
    /// A cell is suppressed when one supplier holds more than this percentage of its pairs.
    pub max_share_percent: u32,
    /// ε of the question in µε (split between cells and total when a total is asked).
    pub epsilon_micro: u64,
    pub rounding: u32,
    /// Most cells one subject may fall into in one question.
    pub cap: u32,
    /// Most signals one subject adds to one cell (measure `signals`).
    pub signal_cap: u32,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            k: 10,
            wijk_k: 50,
            min_sources: 3,
            max_share_percent: 85,
            epsilon_micro: 500_000,
            rounding: 5,
            cap: 400,
            signal_cap: 5,
        }
    }
}

impl Rules {
    /// How much one subject can change the released figures of a table (sum over cells):
    /// `cap` cells, each by one subject or by `signal_cap` signals.
    pub fn sensitivity(&self, measure: Measure, cells: u32) -> u32 {
        let per_cell = match measure {
            Measure::Signals => self.signal_cap.max(1),
            _ => 1,
        };
        self.cap.min(cells.max(1)).max(1) * per_cell
    }
}

/// The outcome for one cell: the released value, or why it is withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Released(u64),
    Suppressed(SuppressionReason),
}

/// Why `stat` may not be released under `rules` (the first rule it fails), if any.
pub fn suppression(stat: &CellStat, rules: &Rules, wijk: bool) -> Option<SuppressionReason> {
    let k = if wijk {
        rules.wijk_k.max(rules.k)
    } else {
        rules.k
    };
    if stat.subjects < k.max(1) {
        return Some(SuppressionReason::BelowK);
    }
    if stat.sources < rules.min_sources {
        return Some(SuppressionReason::TooFewSources);
    }
    if u64::from(stat.top_pairs) * 100 > u64::from(rules.max_share_percent) * u64::from(stat.pairs)
    {
        return Some(SuppressionReason::Dominance);
    }
    None
}

/// Releases one cell: checks the rules on the true figures, then adds the noise of the
/// cell's context (`context` names the snapshot, purpose, measure, question and cell; see
/// [`super::query`]) at scale `sensitivity / epsilon_micro`, rounds and clamps.
pub fn release(
    stat: &CellStat,
    rules: &Rules,
    wijk: bool,
    secret: &hmac::Key,
    context: &[u8],
    sensitivity: u32,
    epsilon_micro: u64,
) -> Outcome {
    if let Some(reason) = suppression(stat, rules, wijk) {
        return Outcome::Suppressed(reason);
    }
    let (s, t) = noise::scale(sensitivity, epsilon_micro);
    let x = KeyedRng::new(secret, context).discrete_laplace(s, t);
    Outcome::Released(round(stat.value, x, rules.rounding))
}

/// `value + noise`, rounded to the nearest multiple of `rounding` (halves up), at least 0.
pub fn round(value: u64, noise: i64, rounding: u32) -> u64 {
    let noisy = i128::from(value) + i128::from(noise);
    if noisy <= 0 {
        return 0;
    }
    let r = i128::from(rounding.max(1));
    let rounded = (noisy + r / 2) / r * r;
    u64::try_from(rounded).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(subjects: u32, sources: u32, top: u32, pairs: u32) -> CellStat {
        CellStat {
            subjects,
            value: u64::from(subjects),
            sources,
            top_pairs: top,
            pairs,
        }
    }

    fn key() -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, b"release test secret")
    }

    #[test]
    fn the_threshold_holds_at_its_boundary() {
        let r = Rules::default();
        assert_eq!(
            suppression(&stat(9, 3, 3, 9), &r, false),
            Some(SuppressionReason::BelowK)
        );
        assert_eq!(suppression(&stat(10, 3, 4, 10), &r, false), None);
        // wijk cells: k ≥ 50.
        assert_eq!(
            suppression(&stat(49, 5, 10, 49), &r, true),
            Some(SuppressionReason::BelowK)
        );
        assert_eq!(suppression(&stat(50, 5, 10, 50), &r, true), None);
    }

    #[test]
    fn the_source_count_holds_at_its_boundary() {
        let r = Rules::default();
        assert_eq!(
            suppression(&stat(20, 2, 10, 20), &r, false),
            Some(SuppressionReason::TooFewSources)
        );
        assert_eq!(suppression(&stat(20, 3, 10, 20), &r, false), None);
    }

    #[test]
    fn dominance_holds_at_its_boundary() {
        let r = Rules::default();
        // 85 of 100 pairs: exactly 85 % is allowed; 86 of 100 (and 171 of 200 = 85.5 %) not.
        assert_eq!(suppression(&stat(100, 3, 85, 100), &r, false), None);
        assert_eq!(
            suppression(&stat(100, 3, 86, 100), &r, false),
            Some(SuppressionReason::Dominance)
        );
        assert_eq!(
            suppression(&stat(200, 3, 171, 200), &r, false),
            Some(SuppressionReason::Dominance)
        );
        assert_eq!(suppression(&stat(200, 3, 170, 200), &r, false), None);
    }

    #[test]
    fn a_cell_below_k_is_never_released_under_any_seed() {
        let r = Rules::default();
        for subjects in 0..10 {
            for seed in 0..2_000u32 {
                let out = release(
                    &stat(subjects, 5, 1, subjects),
                    &r,
                    false,
                    &key(),
                    &seed.to_be_bytes(),
                    1,
                    r.epsilon_micro,
                );
                assert_eq!(out, Outcome::Suppressed(SuppressionReason::BelowK));
            }
        }
    }

    #[test]
    fn released_values_are_rounded_and_never_negative() {
        assert_eq!(round(12, 0, 5), 10);
        assert_eq!(round(12, 1, 5), 15);
        assert_eq!(round(3, -10, 5), 0);
        assert_eq!(round(10, 0, 1), 10);
        let r = Rules::default();
        for seed in 0..500u32 {
            match release(
                &stat(10, 3, 4, 10),
                &r,
                false,
                &key(),
                &seed.to_be_bytes(),
                1,
                500_000,
            ) {
                Outcome::Released(v) => assert_eq!(v % 5, 0),
                other => panic!("{other:?}"),
            }
        }
    }

    /// A differencing attempt: the same question over data with and without one subject. With
    /// the noise, every value released for one dataset is also released for the other (the
    /// supports overlap), so no single answer reveals whether the subject is there; and the
    /// probabilities of each value differ by at most the factor e^ε (up to sampling error).
    #[test]
    fn differencing_by_one_subject_cannot_reveal_it_with_certainty() {
        let r = Rules::default();
        let mut with = std::collections::BTreeMap::<u64, u32>::new();
        let mut without = std::collections::BTreeMap::<u64, u32>::new();
        let n = 20_000u32;
        for seed in 0..n {
            let ctx = seed.to_be_bytes();
            if let Outcome::Released(v) = release(
                &stat(40, 4, 12, 40),
                &r,
                false,
                &key(),
                &ctx,
                1,
                r.epsilon_micro,
            ) {
                *with.entry(v).or_default() += 1;
            }
            if let Outcome::Released(v) = release(
                &stat(41, 4, 12, 41),
                &r,
                false,
                &key(),
                &ctx,
                1,
                r.epsilon_micro,
            ) {
                *without.entry(v).or_default() += 1;
            }
        }
        // The common values carry almost all the mass on both sides.
        let common: u32 = with
            .iter()
            .filter(|(v, _)| without.contains_key(v))
            .map(|(_, c)| *c)
            .sum();
        assert!(common as f64 / n as f64 > 0.99, "{with:?} {without:?}");
        // Frequent values: the ratio of their probabilities stays near e^±ε (ε = 0.5).
        for (v, a) in &with {
            let b = without.get(v).copied().unwrap_or(0);
            if *a > 1000 && b > 1000 {
                let ratio = f64::from(*a) / f64::from(b);
                assert!(ratio < 1.9 && ratio > 1.0 / 1.9, "{v}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn sensitivity_follows_the_cap() {
        let r = Rules {
            cap: 3,
            signal_cap: 4,
            ..Rules::default()
        };
        assert_eq!(r.sensitivity(Measure::Subjects, 100), 3);
        assert_eq!(r.sensitivity(Measure::Subjects, 2), 2);
        assert_eq!(r.sensitivity(Measure::Signals, 100), 12);
    }
}
