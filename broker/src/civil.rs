//! Calendar arithmetic on `YYYY-MM-DD` strings and Unix seconds, in UTC, without a date crate:
//! the broker needs only "days since epoch" both ways. The date arithmetic itself (and the one
//! strict date parser) lives in [`kruispunt_sdk::civil`], which the audit log verifier needs
//! too; this module adds the clock.

pub use kruispunt_sdk::civil::{civil_from_days, days_from_civil, format_date, parse_date};

/// Today's date (UTC) for `now` in Unix seconds.
pub fn day_of(now: i64) -> String {
    format_date(now.div_euclid(86_400))
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The last Sunday of `month` in `year`, as days since the epoch (1970-01-01 was a Thursday).
fn last_sunday(year: i64, month: u32) -> i64 {
    let last = days_from_civil(year, month + 1, 1) - 1;
    last - (last + 4).rem_euclid(7)
}

/// `ms` (Unix milliseconds) as Amsterdam's local time for people, with the zone:
/// `2026-12-07 12:13:08 CET`. Summer time (CEST, UTC+2) runs, as everywhere in the EU, from the
/// last Sunday of March 01:00 UTC to the last Sunday of October 01:00 UTC; the rest is CET
/// (UTC+1). The broker stores and exchanges UTC; this is for what people read.
pub fn amsterdam(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (year, _, _) = civil_from_days(secs.div_euclid(86_400));
    let starts = last_sunday(year, 3) * 86_400 + 3_600;
    let ends = last_sunday(year, 10) * 86_400 + 3_600;
    let (offset, zone) = if (starts..ends).contains(&secs) {
        (7_200, "CEST")
    } else {
        (3_600, "CET")
    };
    let local = secs + offset;
    let rem = local.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02}:{:02} {zone}",
        format_date(local.div_euclid(86_400)),
        rem / 3_600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amsterdam_time_follows_the_eu_summer_time_rule() {
        // 2026: summer time from Sunday 29 March 01:00 UTC to Sunday 25 October 01:00 UTC.
        let at = |d: &str, s: i64| (parse_date(d).unwrap() * 86_400 + s) * 1000;
        assert_eq!(
            amsterdam(at("2026-03-29", 3_599)),
            "2026-03-29 01:59:59 CET"
        );
        assert_eq!(
            amsterdam(at("2026-03-29", 3_600)),
            "2026-03-29 03:00:00 CEST"
        );
        assert_eq!(
            amsterdam(at("2026-10-25", 3_599)),
            "2026-10-25 02:59:59 CEST"
        );
        assert_eq!(
            amsterdam(at("2026-10-25", 3_600)),
            "2026-10-25 02:00:00 CET"
        );
        assert_eq!(
            amsterdam(at("2026-12-31", 23 * 3_600)),
            "2027-01-01 00:00:00 CET"
        );
        assert_eq!(
            amsterdam(at("2024-03-31", 3_600)),
            "2024-03-31 03:00:00 CEST"
        );
    }

    #[test]
    fn day_of_is_the_utc_date() {
        assert_eq!(day_of(86_399), "1970-01-01");
    }
}
