//! Published snapshots of the picture.
//!
//! A snapshot is the picture as it stood at a moment `P`, published every `interval` seconds
//! (per purpose, from the policy's obligations; default one hour, ten seconds in a
//! development set-up). Snapshot `n` of an interval is the moment `P = n·interval`, so every
//! broker process agrees on which snapshot is current without talking to the others, and the
//! answer to a question is computed from the contributions visible at `P`
//! ([`super::picture`]). Between two snapshots a question gets the same answer however often
//! it is asked (and the repeat costs no budget); a new snapshot is what makes the picture move.

use kruispunt_sdk::beeld::SnapshotInfo;

/// The snapshot current at `now` for `interval_secs`.
pub fn current(now: i64, interval_secs: u32) -> SnapshotInfo {
    let interval = i64::from(interval_secs.max(1));
    let id = now.div_euclid(interval);
    SnapshotInfo {
        id: u64::try_from(id).unwrap_or(0),
        published: id * interval,
        next: (id + 1) * interval,
    }
}

/// The snapshot's name in the budget's table of answered questions: the interval and the id
/// (two purposes with different intervals have different snapshots of one number).
pub fn key(info: &SnapshotInfo) -> String {
    format!("{}:{}", info.next - info.published, info.id)
}

/// Whether the snapshot named `key` (as [`key`] names it) ended at or before `now`: no
/// question can be answered from it any more. A key of another form never ends.
pub fn ended(key: &str, now: i64) -> bool {
    let Some((interval, id)) = key.split_once(':') else {
        return false;
    };
    match (interval.parse::<i64>(), id.parse::<i64>()) {
        (Ok(interval), Ok(id)) => id
            .checked_add(1)
            .and_then(|n| n.checked_mul(interval))
            .is_some_and(|next| next <= now),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_are_numbered_moments() {
        let s = current(7_205, 3_600);
        assert_eq!((s.id, s.published, s.next), (2, 7_200, 10_800));
        assert_eq!(key(&s), "3600:2");
        assert_eq!(current(7_199, 3_600).id, 1);
        assert_eq!(current(9, 10).published, 0);
    }

    #[test]
    fn a_snapshot_ends_when_the_next_is_published() {
        let s = current(7_205, 3_600);
        assert!(!ended(&key(&s), 7_205));
        assert!(!ended(&key(&s), 10_799));
        assert!(ended(&key(&s), 10_800));
        assert!(!ended("garbage", i64::MAX));
        assert!(!ended("3600:x", i64::MAX));
    }
}
