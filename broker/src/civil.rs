//! Calendar arithmetic on `YYYY-MM-DD` strings and Unix seconds, in UTC, without a date crate:
//! the broker needs only "days since epoch" both ways. The date arithmetic itself (and the one
//! strict date parser) lives in [`kruispunt_sdk::civil`], which the audit log verifier needs
//! too, and so does the local time for people ([`amsterdam`]); this module adds the clock.

pub use kruispunt_sdk::civil::{
    amsterdam, civil_from_days, days_from_civil, format_date, parse_date,
};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_of_is_the_utc_date() {
        assert_eq!(day_of(86_399), "1970-01-01");
    }
}
