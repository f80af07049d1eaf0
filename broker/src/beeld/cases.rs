//! Cases as measures of the ondermijningsbeeld (docs/BEELD.md, "Cases as measures"): the true
//! counts of `open_cases` and `interventions` over a question's grid, from the case register.
//!
//! The unit of counting is the **case**. A case belongs to one gemeente (so to one district and
//! the unit), to each of its themes, and to every period it is counted in:
//!
//! - `open_cases`: a case is open in a period when it is `open` or `intervention` at some moment
//!   of it — from the day it was opened to the day it closed (that day included), or to the
//!   snapshot's day while it is not closed;
//! - `interventions`: a case counts in the period of the day it moved to `intervention`, under
//!   its kind (dimension `intervention`); a case has at most one intervention.
//!
//! Everything is read as at the snapshot's moment `at`: a case opened, moved or closed after
//! it is counted as it stood then, so a repeat within a snapshot gets the same true figures.
//!
//! One case can fall into several cells of a question (several themes × several periods): as
//! for a subject of the picture, it is kept in at most `cap` of them, chosen by a mix of the
//! case's key and the cell ([`super::picture::subject_keeps`]) — deterministic and the same on
//! every asking — so one case changes a table by at most `cap`: the sensitivity the noise is
//! calibrated for ([`super::release::Rules::sensitivity`]). A total counts each case once.
//!
//! The source-count and dominance rules read the organisations taking part in a cell's cases:
//! `sources` is the number of distinct participants, `pairs` the case–participant pairs and
//! `top_pairs` those of the organisation in most of them — so a cell is withheld when its cases
//! are essentially one organisation's (that partner's own business could be read off it).

use std::collections::{BTreeMap, HashMap};

use kruispunt_sdk::beeld::{Dimension, Measure};
use ring::digest;

use super::period;
use super::picture::{CellStat, Grid, subject_keeps};
use crate::store::CaseSpan;

/// A question on cases, checked and resolved to its grid (see [`super::query`]).
pub struct CaseQuery<'a> {
    pub measure: Measure,
    pub grid: &'a Grid,
    pub from_day: i64,
    pub to_day: i64,
    pub districts: Option<&'a [String]>,
    pub gemeenten: Option<&'a [String]>,
    pub themes: Option<&'a [String]>,
    /// The registry's district of each gemeente.
    pub district_of: &'a HashMap<String, String>,
    /// Most cells one case may fall into.
    pub cap: u32,
}

/// Per-cell accumulation: cases and case–participant pairs per organisation.
#[derive(Default, Clone)]
struct Acc {
    cases: u32,
    pairs: BTreeMap<String, u32>,
}

impl Acc {
    fn add(&mut self, participants: &[String]) {
        self.cases += 1;
        for p in participants {
            *self.pairs.entry(p.clone()).or_default() += 1;
        }
    }

    fn stat(&self) -> CellStat {
        CellStat {
            subjects: self.cases,
            value: u64::from(self.cases),
            sources: self.pairs.len() as u32,
            top_pairs: self.pairs.values().copied().max().unwrap_or(0),
            pairs: self.pairs.values().sum(),
        }
    }
}

/// The key a case's cells are chosen by when it would fall into more than `cap`.
fn case_key(reference: &str) -> u64 {
    let d = digest::digest(&digest::SHA256, reference.as_bytes());
    u64::from_be_bytes(d.as_ref()[..8].try_into().expect("8 bytes"))
}

/// The true counts of `q` over `cases` as at `at` (Unix seconds): one [`CellStat`] per grid
/// position, and the total (each case once).
pub fn count(q: &CaseQuery<'_>, cases: &[CaseSpan], at: i64) -> (Vec<CellStat>, CellStat) {
    let g = q.grid;
    let mut cells = vec![Acc::default(); g.len()];
    let mut total = Acc::default();
    if g.is_empty() {
        return (cells.iter().map(Acc::stat).collect(), total.stat());
    }
    let at_day = at.div_euclid(86_400);
    let in_list = |list: Option<&[String]>, v: &str| list.is_none_or(|l| l.iter().any(|x| x == v));
    let mut positions = Vec::new();
    for case in cases {
        if case.opened_at > at {
            continue;
        }
        let district = q.district_of.get(&case.gemeente).map(String::as_str);
        if !in_list(q.gemeenten, &case.gemeente)
            || (q.districts.is_some() && !district.is_some_and(|d| in_list(q.districts, d)))
        {
            continue;
        }
        let themes: Vec<&String> = case
            .themes
            .iter()
            .filter(|t| in_list(q.themes, t))
            .collect();
        if themes.is_empty() && q.themes.is_some() {
            continue;
        }
        // The days the case counts on, within the range.
        let (first, last, kind) = match q.measure {
            Measure::OpenCases => {
                let end = case
                    .closed_at
                    .filter(|c| *c <= at)
                    .map_or(at_day, |c| c.div_euclid(86_400));
                (case.opened_at.div_euclid(86_400), end, None)
            }
            Measure::Interventions => match case.intervention {
                Some((kind, t)) if t <= at => {
                    let day = t.div_euclid(86_400);
                    (day, day, Some(kind))
                }
                _ => continue,
            },
            _ => continue,
        };
        let (first, last) = (first.max(q.from_day), last.min(q.to_day));
        if first > last {
            continue;
        }
        let areas: Vec<usize> = match g.area {
            None | Some(Dimension::Unit) => vec![0],
            Some(Dimension::District) => district
                .and_then(|d| g.areas.iter().position(|a| a == d))
                .into_iter()
                .collect(),
            Some(Dimension::Gemeente) => g
                .areas
                .iter()
                .position(|a| *a == case.gemeente)
                .into_iter()
                .collect(),
            Some(_) => Vec::new(),
        };
        let categories: Vec<usize> = match g.category {
            None => vec![0],
            Some(Dimension::Theme) => themes
                .iter()
                .filter_map(|t| g.categories.iter().position(|c| c == *t))
                .collect(),
            Some(Dimension::Intervention) => kind
                .and_then(|k| g.categories.iter().position(|c| c == k.as_str()))
                .into_iter()
                .collect(),
            Some(_) => Vec::new(),
        };
        let p_first = period::index(g.period, first) - g.first_period;
        let p_last = period::index(g.period, last) - g.first_period;
        positions.clear();
        for &a in &areas {
            for &c in &categories {
                for p in p_first.max(0)..=p_last.min(i64::from(g.periods.max(1)) - 1) {
                    positions.push(g.position(a, c, p as usize));
                }
            }
        }
        if positions.is_empty() {
            continue;
        }
        total.add(&case.participants);
        if positions.len() > q.cap.max(1) as usize {
            let key = case_key(&case.reference);
            positions.sort_by_key(|&pos| subject_keeps(key, pos as u32));
            positions.truncate(q.cap.max(1) as usize);
        }
        for &pos in &positions {
            cells[pos].add(&case.participants);
        }
    }
    (cells.iter().map(Acc::stat).collect(), total.stat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kruispunt_sdk::cases::InterventionKind;

    const DAY: i64 = 86_400;

    fn span(reference: &str, gemeente: &str, themes: &[&str], opened: i64) -> CaseSpan {
        CaseSpan {
            reference: reference.into(),
            gemeente: gemeente.into(),
            themes: themes.iter().map(|t| t.to_string()).collect(),
            participants: vec!["riec".into(), "politie".into()],
            opened_at: opened * DAY,
            intervention: None,
            closed_at: None,
        }
    }

    fn grid(
        area: Option<Dimension>,
        areas: &[&str],
        category: Option<Dimension>,
        categories: &[&str],
        periods: u32,
    ) -> Grid {
        Grid {
            area,
            areas: areas.iter().map(|a| a.to_string()).collect(),
            category,
            categories: categories.iter().map(|c| c.to_string()).collect(),
            period: None,
            first_period: 0,
            periods,
        }
    }

    fn districts() -> HashMap<String, String> {
        [("GM0001", "d1"), ("GM0002", "d1"), ("GM0003", "d2")]
            .map(|(g, d)| (g.to_string(), d.to_string()))
            .into()
    }

    #[test]
    fn a_case_counts_in_its_gemeente_and_each_of_its_themes_while_open() {
        let g = grid(
            Some(Dimension::Gemeente),
            &["GM0001", "GM0002", "GM0003"],
            Some(Dimension::Theme),
            &["horeca", "vastgoed"],
            1,
        );
        let d = districts();
        let q = CaseQuery {
            measure: Measure::OpenCases,
            grid: &g,
            from_day: 10,
            to_day: 20,
            districts: None,
            gemeenten: None,
            themes: None,
            district_of: &d,
            cap: 4,
        };
        let mut closed_before = span("c-closed", "GM0001", &["horeca"], 1);
        closed_before.closed_at = Some(9 * DAY);
        let mut closed_within = span("c-within", "GM0001", &["horeca"], 1);
        closed_within.closed_at = Some(10 * DAY);
        let later = span("c-later", "GM0003", &["horeca"], 30);
        let both = span("c-both", "GM0002", &["horeca", "vastgoed"], 12);
        let (cells, total) = count(&q, &[closed_before, closed_within, later, both], 40 * DAY);
        let v: Vec<u32> = cells.iter().map(|c| c.subjects).collect();
        // GM0001 horeca: the case closed on the range's first day; GM0002: both themes.
        assert_eq!(v, vec![1, 0, 1, 1, 0, 0]);
        // The total counts each case once, although `c-both` is in two cells.
        assert_eq!(total.subjects, 2);
        assert_eq!(cells[2].sources, 2);
        assert_eq!(cells[2].pairs, 2);
        assert_eq!(cells[2].top_pairs, 1);
        // As at a moment before `c-both` was opened, it is not there.
        let (cells, _) = count(&q, &[span("c-both", "GM0002", &["horeca"], 12)], 11 * DAY);
        assert!(cells.iter().all(|c| c.subjects == 0));
    }

    #[test]
    fn interventions_count_in_their_kind_and_moment_and_a_case_is_capped() {
        let kinds: Vec<&str> = InterventionKind::ALL.iter().map(|k| k.as_str()).collect();
        let g = grid(
            Some(Dimension::District),
            &["d1", "d2"],
            Some(Dimension::Intervention),
            &kinds,
            1,
        );
        let d = districts();
        let q = CaseQuery {
            measure: Measure::Interventions,
            grid: &g,
            from_day: 10,
            to_day: 20,
            districts: None,
            gemeenten: None,
            themes: None,
            district_of: &d,
            cap: 4,
        };
        let mut a = span("a", "GM0003", &["horeca"], 1);
        a.intervention = Some((InterventionKind::Fiscaal, 15 * DAY));
        let mut late = span("b", "GM0001", &["horeca"], 1);
        late.intervention = Some((InterventionKind::Bestuurlijk, 25 * DAY));
        let (cells, total) = count(&q, &[a.clone(), late.clone()], 30 * DAY);
        let fiscaal = g.position(1, 2, 0);
        assert_eq!(cells[fiscaal].subjects, 1);
        assert_eq!(cells.iter().map(|c| c.subjects).sum::<u32>(), 1);
        assert_eq!(total.subjects, 1);
        // Not yet at a snapshot before the move.
        let (cells, _) = count(&q, &[a], 14 * DAY);
        assert!(cells.iter().all(|c| c.subjects == 0));

        // A case in 9 themes × 3 periods falls into at most `cap` cells.
        let themes = ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"];
        let mut g = grid(None, &[""], Some(Dimension::Theme), &themes, 3);
        g.period = Some(Dimension::Month);
        g.first_period = period::index(Some(Dimension::Month), 0);
        let q = CaseQuery {
            measure: Measure::OpenCases,
            grid: &g,
            from_day: 0,
            to_day: 89,
            districts: None,
            gemeenten: None,
            themes: None,
            district_of: &d,
            cap: 4,
        };
        let wide = span("wide", "GM0001", &themes, 0);
        let (cells, total) = count(&q, std::slice::from_ref(&wide), 100 * DAY);
        assert_eq!(cells.iter().map(|c| c.subjects).sum::<u32>(), 4);
        assert_eq!(total.subjects, 1);
        // The same cells on every asking.
        let (again, _) = count(&q, &[wide], 100 * DAY);
        assert_eq!(
            cells.iter().map(|c| c.subjects).collect::<Vec<_>>(),
            again.iter().map(|c| c.subjects).collect::<Vec<_>>()
        );
    }
}
