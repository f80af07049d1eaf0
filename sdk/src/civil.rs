//! Calendar arithmetic on `YYYY-MM-DD` strings, in UTC, without a date crate: only "days since
//! epoch" both ways (Howard Hinnant's algorithms), one strict date parser, and Amsterdam's local
//! time for what people read ([`amsterdam`]).

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses a strict `YYYY-MM-DD` calendar date (ASCII digits only, a day that exists in the
/// proleptic Gregorian calendar, year 0001 to 9999) into days since epoch.
///
/// The one date parser of the workspace: the broker's ingest validation, its store's own check
/// (`NewSignal::check`) and the audit log verifier (an erasure's cut-off) all use it, so a date
/// the ingest accepts is one the store accepts too. (With two parsers, `"2026-+1-+5"` passed
/// the ingest's `str::parse` but not the store's digit check, and one such item failed a whole
/// upload as a storage error.)
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    if y == 0 || !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let y = i64::from(y);
    let days = days_from_civil(y, m, d);
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

/// `YYYY-MM-DD` of a day count since 1970-01-01.
pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
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
    fn round_trips_and_refuses_impossible_dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_date("2024-1-01"), None);
        assert_eq!(parse_date("+024-01-01"), None);
        // What `str::parse` would take but a date is not.
        assert_eq!(parse_date("2026-+1-+5"), None);
        assert_eq!(parse_date("2026-1 -05"), None);
        assert_eq!(parse_date("0000-01-01"), None);
        assert_eq!(parse_date("2026-٠١-05"), None);
        for d in [-1000, 0, 19_782, 40_000] {
            assert_eq!(parse_date(&format_date(d)), Some(d));
        }
    }
    #[test]
    fn amsterdam_time_follows_the_eu_summer_time_rule() {
        // 2026: summer time from Sunday 29 March 01:00 UTC to Sunday 25 October 01:00 UTC.
        let at = |d: &str, s: i64| (parse_date(d).unwrap() * 86_400 + s) * 1000;
        for (day, secs, shown) in [
            ("2026-03-29", 3_599, "2026-03-29 01:59:59 CET"),
            ("2026-03-29", 3_600, "2026-03-29 03:00:00 CEST"),
            ("2026-10-25", 3_599, "2026-10-25 02:59:59 CEST"),
            ("2026-10-25", 3_600, "2026-10-25 02:00:00 CET"),
            ("2026-12-31", 23 * 3_600, "2027-01-01 00:00:00 CET"),
            ("2024-03-31", 3_600, "2024-03-31 03:00:00 CEST"),
        ] {
            assert_eq!(amsterdam(at(day, secs)), shown, "{day} + {secs} s");
        }
    }
}
