//! Periods of the picture: ISO weeks, calendar months and quarters over days since the epoch.

use kruispunt_sdk::beeld::Dimension;

use crate::civil::{civil_from_days, days_from_civil};

/// The index of the period of `day` (days since 1970-01-01) for `period` (a period dimension,
/// or anything else for "the whole range": 0). Indexes grow with time.
pub fn index(period: Option<Dimension>, day: i64) -> i64 {
    match period {
        Some(Dimension::Month) => {
            let (y, m, _) = civil_from_days(day);
            y * 12 + i64::from(m) - 1
        }
        Some(Dimension::Quarter) => {
            let (y, m, _) = civil_from_days(day);
            y * 4 + (i64::from(m) - 1) / 3
        }
        Some(Dimension::Week) => {
            // Monday-based week number since the Monday 1969-12-29 (day −3).
            (day + 3).div_euclid(7)
        }
        _ => 0,
    }
}

/// The label of period `idx` (`2026-11`, `2026-Q4`, `2026-W47`).
pub fn label(period: Dimension, idx: i64) -> String {
    match period {
        Dimension::Month => format!("{:04}-{:02}", idx.div_euclid(12), idx.rem_euclid(12) + 1),
        Dimension::Quarter => format!("{:04}-Q{}", idx.div_euclid(4), idx.rem_euclid(4) + 1),
        Dimension::Week => {
            // The ISO year of a week is the year of its Thursday.
            let thursday = idx * 7 - 3 + 3;
            let (y, _, _) = civil_from_days(thursday);
            let first_thursday_week = index(Some(Dimension::Week), iso_week1_monday(y));
            format!("{:04}-W{:02}", y, idx - first_thursday_week + 1)
        }
        _ => String::new(),
    }
}

/// The Monday of ISO week 1 of `year` (the week holding 4 January).
fn iso_week1_monday(year: i64) -> i64 {
    let jan4 = days_from_civil(year, 1, 4);
    jan4 - (jan4 + 3).rem_euclid(7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::civil::parse_date;

    fn week(date: &str) -> String {
        label(
            Dimension::Week,
            index(Some(Dimension::Week), parse_date(date).unwrap()),
        )
    }

    #[test]
    fn iso_weeks_months_and_quarters_are_labelled() {
        assert_eq!(week("2026-11-19"), "2026-W47");
        assert_eq!(week("2021-01-03"), "2020-W53");
        assert_eq!(week("2024-12-30"), "2025-W01");
        assert_eq!(week("2026-01-01"), "2026-W01");
        let d = parse_date("2026-11-19").unwrap();
        assert_eq!(
            label(Dimension::Month, index(Some(Dimension::Month), d)),
            "2026-11"
        );
        assert_eq!(
            label(Dimension::Quarter, index(Some(Dimension::Quarter), d)),
            "2026-Q4"
        );
        assert_eq!(index(None, d), 0);
    }
}
