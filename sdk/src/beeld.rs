//! The wire types of the ondermijningsbeeld: `POST /v1/aggregates`, the disclosure-controlled
//! picture of the partners' signals per area, theme and period (docs/BEELD.md).
//!
//! The question names *what* to count and *how to group it*, never whom: there is no field
//! for an identifier, a pseudonym or an organisation, so no request shape can single a
//! subject out. The answer carries, per cell, either a noisy rounded value or the reason the
//! cell was suppressed, plus what the release cost the requester's privacy budget.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most dimensions one question may group by (one area level, one of theme/code/intervention, one period).
pub const MAX_GROUP_BY: usize = 3;
/// Most values one filter list may name.
pub const MAX_FILTER_VALUES: usize = 64;

/// What a cell counts. The unit of counting is the subject (one identifier: kind, key version,
/// pseudonym), never the signal, except for [`Measure::Signals`], whose per-subject
/// contribution is capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Subjects with at least one live signal in the cell.
    Subjects,
    /// Subjects signalled by at least two independent organisations.
    MultiSource,
    /// Subjects signalled from at least two sectors.
    CrossSector,
    /// Signals, each subject contributing at most a capped number per cell.
    Signals,
    /// Registered cases (casussen) open — state `open` or `intervention` — at some moment of
    /// the cell's period; the unit of counting is the case, not a subject (docs/BEELD.md,
    /// "Cases as measures").
    OpenCases,
    /// Interventions: cases that moved to state `intervention` within the cell's period, per
    /// kind with the `intervention` dimension.
    Interventions,
}

crate::wire_names! {
    /// The wire name (`subjects`, `multi_source`, `cross_sector`, `signals`).
    Measure {
        Subjects => "subjects",
        MultiSource => "multi_source",
        CrossSector => "cross_sector",
        Signals => "signals",
        OpenCases => "open_cases",
        Interventions => "interventions",
    }
}

impl Measure {
    /// Whether the measure counts registered cases (from the case register) rather than the
    /// subjects of the partners' signals.
    pub fn counts_cases(self) -> bool {
        matches!(self, Measure::OpenCases | Measure::Interventions)
    }
}

/// A dimension to group by. At most one area level (`unit`, `district`, `gemeente`, `wijk`),
/// at most one of `theme`/`code`/`intervention`, at most one period (`week`, `month`, `quarter`); without a
/// period the whole `from`..`to` range is one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// The whole unit as one area (value: the registry's unit id).
    Unit,
    /// District id from the registry, e.g. `flevoland`.
    District,
    /// CBS municipality code, e.g. `GM0344`. Signals without a gemeente are not in these cells.
    Gemeente,
    /// CBS wijk code, e.g. `WK034401`; released under stricter rules.
    Wijk,
    /// Theme of the taxonomy, e.g. `horeca`.
    Theme,
    /// Signal code of the taxonomy, e.g. `cash-loan-offer`.
    Code,
    /// The kind of an intervention (`bestuurlijk`, `strafrechtelijk`, `fiscaal`, `other`):
    /// measure `interventions` only.
    Intervention,
    /// ISO week of the observation date, e.g. `2026-W47`.
    Week,
    /// Calendar month, e.g. `2026-11`.
    Month,
    /// Calendar quarter, e.g. `2026-Q4`.
    Quarter,
}

crate::wire_names! {
    /// The wire name, which is also the key of the dimension's value in a [`Cell`].
    Dimension {
        Unit => "unit",
        District => "district",
        Gemeente => "gemeente",
        Wijk => "wijk",
        Theme => "theme",
        Code => "code",
        Intervention => "intervention",
        Week => "week",
        Month => "month",
        Quarter => "quarter",
    }
}

impl Dimension {
    /// The area levels, coarsest first.
    pub const AREAS: [Dimension; 4] = [
        Dimension::Unit,
        Dimension::District,
        Dimension::Gemeente,
        Dimension::Wijk,
    ];
    /// The periods, shortest first.
    pub const PERIODS: [Dimension; 3] = [Dimension::Week, Dimension::Month, Dimension::Quarter];

    /// Whether this is an area level.
    pub fn is_area(self) -> bool {
        Self::AREAS.contains(&self)
    }

    /// Whether this is a period.
    pub fn is_period(self) -> bool {
        Self::PERIODS.contains(&self)
    }

    /// Whether this is `theme`, `code` or `intervention`.
    pub fn is_category(self) -> bool {
        matches!(
            self,
            Dimension::Theme | Dimension::Code | Dimension::Intervention
        )
    }
}

/// Restricts the signals counted. Every list is "any of"; absent or empty means no restriction.
/// There is deliberately no filter on an identifier, pseudonym or organisation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateFilter {
    /// District ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub district: Vec<String>,
    /// CBS municipality codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gemeente: Vec<String>,
    /// Themes of the taxonomy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub theme: Vec<String>,
}

/// The body of `POST /v1/aggregates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateRequest {
    /// Purpose id (the registry's `ondermijningsbeeld`, or another aggregate purpose).
    pub purpose: String,
    /// What to count.
    pub measure: Measure,
    /// Dimensions to group by (at most [`MAX_GROUP_BY`], no two of one family).
    #[serde(default)]
    pub group_by: Vec<Dimension>,
    /// First observation date counted, `YYYY-MM-DD`.
    pub from: String,
    /// Last observation date counted (inclusive), `YYYY-MM-DD`.
    pub to: String,
    /// Optional restriction of what is counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<AggregateFilter>,
    /// Also release the total over all cells as its own noisy number (never a sum of cells).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub totals: bool,
}

/// Why a cell's value is withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    /// Fewer than `k` subjects (shown as "< k").
    BelowK,
    /// Its subjects come from fewer supplying organisations than required.
    TooFewSources,
    /// One supplying organisation accounts for too large a share of the cell.
    Dominance,
}

crate::wire_names! {
    /// The wire name (`below_k`, `too_few_sources`, `dominance`).
    SuppressionReason {
        BelowK => "below_k",
        TooFewSources => "too_few_sources",
        Dominance => "dominance",
    }
}

/// One cell of the answer: its dimension values under the dimensions' names (`"gemeente":
/// "GM0344", "theme": "horeca", "month": "2026-11"`), and its value or why it is withheld. The
/// total of an answer is a cell without dimension values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// Dimension name → value, one entry per `group_by` dimension.
    #[serde(flatten)]
    pub dims: BTreeMap<String, String>,
    /// The noisy value rounded to a multiple of `rounding`; `null` where `suppressed`.
    pub value: Option<u64>,
    /// Whether the cell is withheld.
    pub suppressed: bool,
    /// Why it is withheld (only where `suppressed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<SuppressionReason>,
}

/// Which published snapshot of the counts an answer comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// Increasing number of the snapshot.
    pub id: u64,
    /// When it was published, Unix seconds.
    pub published: i64,
    /// When the next one is due, Unix seconds.
    pub next: i64,
}

/// The answer of `POST /v1/aggregates`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggregateResponse {
    /// The purpose asked under.
    pub purpose: String,
    /// What was counted.
    pub measure: Measure,
    /// The cells, in the order of their dimension values.
    pub cells: Vec<Cell>,
    /// The total over the whole question, when asked for: a cell without dimension values
    /// (`{"value", "suppressed", "reason"}`), released as its own noisy number, never a sum of
    /// the cells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totals: Option<Cell>,
    /// The snapshot the answer comes from.
    pub snapshot: SnapshotInfo,
    /// ε this answer cost (0 for a repeat of the same question within one snapshot).
    pub epsilon_spent: f64,
    /// ε left to this organisation for this purpose this calendar month.
    pub epsilon_left: f64,
    /// The threshold applied (subjects per released cell).
    pub k: u32,
    /// Released values are multiples of this.
    pub rounding: u32,
    /// Half-width of the 95 % interval of a released cell's noise (before rounding), so that a
    /// page can draw the uncertainty.
    pub margin_95: u32,
    /// Sequence number of the release's audit entry.
    pub audit_seq: u64,
    /// Display names of the district and gemeente values of the cells and of the question's
    /// filter, from the registry
    /// (`{"GM0344": "Utrecht", "utrecht-stad": "Utrecht-Stad"}`), so that a page can show names
    /// rather than codes. Absent in answers from brokers before it was added.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub area_names: std::collections::BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_names_its_dimensions_by_their_wire_names() {
        let cell = Cell {
            dims: [
                (
                    Dimension::Gemeente.as_str().to_string(),
                    "GM0344".to_string(),
                ),
                (Dimension::Month.as_str().to_string(), "2026-11".to_string()),
            ]
            .into_iter()
            .collect(),
            value: None,
            suppressed: true,
            reason: Some(SuppressionReason::BelowK),
        };
        let json = serde_json::to_value(&cell).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"gemeente": "GM0344", "month": "2026-11", "value": null,
                "suppressed": true, "reason": "below_k"})
        );
        assert_eq!(serde_json::from_value::<Cell>(json).unwrap(), cell);
    }

    #[test]
    fn a_request_refuses_unknown_fields_such_as_a_pseudonym() {
        let err = serde_json::from_value::<AggregateRequest>(serde_json::json!({
            "purpose": "ondermijningsbeeld", "measure": "subjects", "group_by": ["gemeente"],
            "from": "2026-01-01", "to": "2026-12-31", "pseudonym": "ab"
        }))
        .unwrap_err();
        assert!(err.to_string().contains("pseudonym"), "{err}");
        let err = serde_json::from_value::<AggregateFilter>(serde_json::json!({"org": ["x"]}))
            .unwrap_err();
        assert!(err.to_string().contains("org"), "{err}");
    }

    #[test]
    fn dimension_families_are_disjoint() {
        for d in Dimension::ALL {
            let families = [d.is_area(), d.is_category(), d.is_period()];
            assert_eq!(families.iter().filter(|f| **f).count(), 1, "{d}");
        }
    }
}
