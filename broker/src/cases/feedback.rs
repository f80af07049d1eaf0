//! Feedback to the partners who signal (terugkoppeling, `GET /v1/feedback`; docs/CASES.md):
//! how many of the asking organisation's own signals contributed to cases, and to cases that
//! came to an intervention of each kind, per month — counts only, under the picture's release
//! rules, never which case or which subject.
//!
//! **Contributed** means: the signal was disclosed (a hit) in a police match under a registered
//! case. The match path records those signals (`case_contributions`, migration 0018) in the
//! same transaction as the match's audit entry ([`crate::matching::query`]). A contribution
//! counts only once no police embargo holds on its match: until then it is as if it did not
//! exist, so the figures cannot change the moment a police query hits an embargoed subject
//! (docs/AUDIT.md, "Police case embargo"). Every contribution rests on a case, so its embargo
//! is tied to that case ([`crate::cases::embargo`]): it holds while the case is not closed (a
//! closure the log holds), whatever its fixed days, and then until the later of its fixed end
//! and the closure ([`tie_to_cases`]). Stricter than the audit trail's rule, which also ends it
//! at its latest end: feedback may wait for a case that never closes; it never tells one that
//! is still running.
//!
//! A cell is one (month, outcome): outcome `cases` counts the organisation's signals whose first
//! countable contribution was disclosed in that month; outcome `bestuurlijk` (…) those whose
//! first countable contribution to a case that came to that intervention was. The release rules
//! are the picture's ([`crate::beeld::release`]) with the **case** as the protected unit:
//!
//! - at least `k` signals in the cell (`below_k`);
//! - from at least `min_sources` cases (`too_few_sources`), no one case holding more than
//!   `max_share_percent` % of them (`dominance`) — so a cell never tells one case's hits;
//! - a case adds at most `signal_cap` signals to a cell and falls into at most `cap` cells (kept
//!   by [`crate::beeld::picture::subject_keeps`]), so one case changes the table by at most
//!   `cap × signal_cap`: the sensitivity of the discrete Laplace noise, rounded and clamped.
//!
//! The noise of a cell is drawn from the keyed stream of (organisation, month, outcome, the
//! digest of the (case, signal) pairs behind it): the same facts always give the same answer,
//! so asking again — however often, whatever the range — averages nothing away, and a change in
//! the facts gives a fresh draw. There is no budget: the answer is a function of the asker's own
//! signals' fate and changes only when that does. Every answer is an audit entry
//! (`feedback.release`) without a case reference or an identifier.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kruispunt_policy::{Action, AggregateRules, PolicyError};
use kruispunt_sdk::beeld::{Dimension, Measure};
use kruispunt_sdk::cases::{
    FEEDBACK_OUTCOMES, FeedbackQuery, FeedbackResponse, MAX_FEEDBACK_MONTHS,
};
use kruispunt_sdk::transparency::Operation;
use ring::digest;

use crate::audit::{action, entry};
use crate::auth::Principal;
use crate::beeld::picture::{CellStat, subject_keeps};
use crate::beeld::release::{self, Rules};
use crate::beeld::{noise, period};
use crate::civil::parse_date;
use crate::state::AppState;
use crate::store::{CaseContribution, Store, StoreError};

/// The reason code of a partner that supplies under no purpose.
pub const NOT_A_SUPPLIER: &str = "not_a_supplier";

#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    /// `from` or `to` malformed, or the range out of bounds.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The policy refused (audited): the asker supplies under no purpose.
    #[error("refused by policy: {}", reasons.join(", "))]
    Refused { reasons: Vec<String> },
    #[error(transparent)]
    Policy(PolicyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> FeedbackError {
    FeedbackError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// The month index (as [`period::index`] with months) of `YYYY-MM`.
fn month_of(field: &'static str, text: &str) -> Result<i64, FeedbackError> {
    let day = (text.len() == 7)
        .then(|| parse_date(&format!("{text}-01")))
        .flatten()
        .ok_or_else(|| invalid(field, "must be a month YYYY-MM"))?;
    Ok(period::index(Some(Dimension::Month), day))
}

/// The release rules of the feedback: the picture's defaults (docs/BEELD.md).
pub fn rules() -> Rules {
    let a = AggregateRules::default();
    Rules {
        k: a.k,
        wijk_k: a.wijk_k,
        min_sources: a.min_sources,
        max_share_percent: a.max_share_percent,
        epsilon_micro: a.epsilon_micro,
        rounding: a.rounding,
        cap: a.contribution_cap,
        signal_cap: a.signal_cap,
    }
}

/// The contributions with each embargo's end as its case decides it: a contribution under
/// embargo whose case the log does not show closed is held (`i64::MAX`); one whose case closed
/// ends at the later of its fixed end and the closure. A contribution without an embargo (a
/// purpose with none) is as it was.
pub async fn tie_to_cases(
    store: &dyn Store,
    mut contributions: Vec<CaseContribution>,
) -> Result<Vec<CaseContribution>, StoreError> {
    let mut closures: BTreeMap<String, Option<i64>> = BTreeMap::new();
    for c in &mut contributions {
        let Some(fixed) = c.embargo_until else {
            continue;
        };
        let closed = match closures.get(&c.case_reference) {
            Some(closed) => *closed,
            None => {
                let closed = crate::cases::embargo::closed_at(store, &c.case_reference).await?;
                closures.insert(c.case_reference.clone(), closed);
                closed
            }
        };
        c.embargo_until = Some(closed.map_or(i64::MAX, |at| fixed.max(at)));
    }
    Ok(contributions)
}

/// The true figures of one cell: per case, the signals it counts.
#[derive(Default)]
struct Acc {
    per_case: BTreeMap<String, BTreeSet<[u8; 8]>>,
}

/// The cells of months `first..=last` × [`FEEDBACK_OUTCOMES`] from `contributions` as at `at`:
/// per cell its true figures and the digest of the facts behind it.
pub fn count(
    contributions: &[CaseContribution],
    first: i64,
    last: i64,
    at: i64,
    rules: &Rules,
) -> Vec<(i64, &'static str, CellStat, [u8; 32])> {
    let months = (last - first + 1).max(0) as usize;
    let outcomes = FEEDBACK_OUTCOMES.len();
    let mut cells: Vec<Acc> = (0..months * outcomes).map(|_| Acc::default()).collect();
    // Per outcome, the signals already counted (each in the month of its first countable
    // contribution to that outcome; `contributions` come oldest first).
    let mut seen: Vec<BTreeSet<[u8; 8]>> = vec![BTreeSet::new(); outcomes];
    for c in contributions {
        if c.embargo_until.is_some_and(|u| u > at) || c.disclosed_at > at {
            continue;
        }
        let kind = c
            .intervention
            .filter(|(_, t)| *t <= at)
            .map(|(k, _)| k.as_str());
        let month = period::index(Some(Dimension::Month), c.disclosed_at.div_euclid(86_400));
        for (o, outcome) in FEEDBACK_OUTCOMES.iter().enumerate() {
            if o > 0 && kind != Some(*outcome) {
                continue;
            }
            if !seen[o].insert(c.signal) {
                continue;
            }
            if month < first || month > last {
                continue;
            }
            let pos = (month - first) as usize * outcomes + o;
            cells[pos]
                .per_case
                .entry(c.case_reference.clone())
                .or_default()
                .insert(c.signal);
        }
    }
    // A case falls into at most `cap` cells (chosen by its key and the cell, deterministically).
    let mut cells_of_case: HashMap<String, Vec<usize>> = HashMap::new();
    for (pos, acc) in cells.iter().enumerate() {
        for case in acc.per_case.keys() {
            cells_of_case.entry(case.clone()).or_default().push(pos);
        }
    }
    let cap = rules.cap.max(1) as usize;
    for (case, mut positions) in cells_of_case {
        if positions.len() <= cap {
            continue;
        }
        let d = digest::digest(&digest::SHA256, case.as_bytes());
        let key = u64::from_be_bytes(d.as_ref()[..8].try_into().expect("8 bytes"));
        positions.sort_by_key(|&p| subject_keeps(key, p as u32));
        for &p in &positions[cap..] {
            cells[p].per_case.remove(&case);
        }
    }
    let signal_cap = rules.signal_cap.max(1) as usize;
    cells
        .iter()
        .enumerate()
        .map(|(pos, acc)| {
            let signals: BTreeSet<&[u8; 8]> = acc.per_case.values().flatten().collect();
            let pairs: usize = acc.per_case.values().map(BTreeSet::len).sum();
            let stat = CellStat {
                subjects: signals.len() as u32,
                value: acc
                    .per_case
                    .values()
                    .map(|s| s.len().min(signal_cap) as u64)
                    .sum(),
                sources: acc.per_case.len() as u32,
                top_pairs: acc.per_case.values().map(BTreeSet::len).max().unwrap_or(0) as u32,
                pairs: pairs as u32,
            };
            let mut facts = digest::Context::new(&digest::SHA256);
            for (case, signals) in &acc.per_case {
                facts.update(case.as_bytes());
                facts.update(b"\0");
                for s in signals {
                    facts.update(s);
                }
                facts.update(b"\0");
            }
            let facts: [u8; 32] = facts.finish().as_ref().try_into().expect("32 bytes");
            (
                first + (pos / outcomes) as i64,
                FEEDBACK_OUTCOMES[pos % outcomes],
                stat,
                facts,
            )
        })
        .collect()
}

/// Answers `GET /v1/feedback` for `principal` at `now`.
pub async fn run(
    state: &AppState,
    principal: &Principal,
    q: &FeedbackQuery,
    now: i64,
) -> Result<FeedbackResponse, FeedbackError> {
    let first = month_of("from", &q.from)?;
    let last = month_of("to", &q.to)?;
    if first > last {
        return Err(invalid("to", "must not be before `from`"));
    }
    if (last - first + 1) as usize > MAX_FEEDBACK_MONTHS {
        return Err(invalid(
            "to",
            format!("at most {MAX_FEEDBACK_MONTHS} months"),
        ));
    }
    let input = principal.policy_input(Action::Feedback, String::new(), now);
    let decision = state.decide(&input).map_err(FeedbackError::Policy)?;
    let base = |operation: Operation| {
        let mut e = entry::by(Some(principal), operation, action::FEEDBACK_RELEASE);
        e.policy_hash = Some(decision.bundle_hash.clone());
        e.recipients = vec![principal.org.clone()];
        e
    };
    let query = serde_json::json!({ "from": q.from, "to": q.to });
    if !decision.allow {
        let mut e = base(Operation::Refuse);
        e.decision = Some("deny".into());
        e.reasons = decision.reasons.clone();
        entry::set_detail(&mut e, serde_json::json!({ "query": query }));
        state
            .store
            .audit()
            .append_audit(std::slice::from_ref(&e))
            .await?;
        return Err(FeedbackError::Refused {
            reasons: decision.reasons,
        });
    }
    let rules = rules();
    let contributions = state.store.cases().contributions_of(&principal.org).await?;
    let contributions = tie_to_cases(&*state.store, contributions).await?;
    let counted = count(&contributions, first, last, now, &rules);
    let sensitivity = rules.sensitivity(Measure::Signals, counted.len() as u32);
    let mut cells = Vec::with_capacity(counted.len());
    for (month, outcome, stat, facts) in &counted {
        let label = period::label(Dimension::Month, *month);
        let mut context = b"kruispunt feedback v1\0".to_vec();
        for part in [
            principal.org.as_bytes(),
            label.as_bytes(),
            outcome.as_bytes(),
        ] {
            context.extend_from_slice(part);
            context.push(0);
        }
        context.extend_from_slice(facts);
        let outcome_of = release::release(
            stat,
            &rules,
            false,
            state.beeld.secret(),
            &context,
            sensitivity,
            rules.epsilon_micro,
        );
        let dims: BTreeMap<String, String> = [
            ("month".to_string(), label),
            ("outcome".to_string(), outcome.to_string()),
        ]
        .into();
        cells.push(crate::beeld::query::cell(dims, outcome_of));
    }
    let released = cells.iter().filter(|c| !c.suppressed).count();
    let table = serde_json::to_string(&cells).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let mut e = base(Operation::Disclose);
    e.decision = Some("allow".into());
    e.source_orgs = vec![principal.org.clone()];
    entry::set_detail(
        &mut e,
        serde_json::json!({
            "query": query, "as_of": now, "cells_released": released,
            "cells_suppressed": cells.len() - released,
            "table_sha256": hex::encode(digest::digest(&digest::SHA256, table.as_bytes())),
        }),
    );
    let seqs = state
        .store
        .audit()
        .append_audit(std::slice::from_ref(&e))
        .await?;
    let (s, t) = noise::scale(sensitivity, rules.epsilon_micro);
    Ok(FeedbackResponse {
        org: principal.org.clone(),
        cells,
        k: rules.k,
        rounding: rules.rounding,
        margin_95: noise::margin_95(s, t),
        as_of: now,
        audit_seq: seqs.first().copied().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kruispunt_sdk::cases::InterventionKind;

    const DAY: i64 = 86_400;

    fn c(case: &str, signal: u8, day: i64, embargo: Option<i64>) -> CaseContribution {
        CaseContribution {
            case_reference: case.into(),
            signal: [signal; 8],
            disclosed_at: day * DAY,
            embargo_until: embargo,
            intervention: None,
        }
    }

    #[test]
    fn a_signal_counts_once_per_outcome_and_an_embargo_holds_it_back() {
        let month = period::index(Some(Dimension::Month), 0);
        let mut fiscaal = c("b", 2, 3, None);
        fiscaal.intervention = Some((InterventionKind::Fiscaal, 5 * DAY));
        let list = vec![
            c("a", 1, 1, None),
            // The same signal again under another case: once in `cases`.
            c("b", 1, 2, None),
            fiscaal,
            // Under embargo until day 20.
            c("a", 3, 4, Some(20 * DAY)),
        ];
        let rules = rules();
        let at10 = count(&list, month, month, 10 * DAY, &rules);
        let get = |cells: &[(i64, &str, CellStat, [u8; 32])], o: &str| {
            cells
                .iter()
                .find(|x| x.1 == o)
                .map(|x| x.2.clone())
                .unwrap()
        };
        assert_eq!(get(&at10, "cases").subjects, 2);
        assert_eq!(get(&at10, "cases").sources, 2);
        assert_eq!(get(&at10, "fiscaal").subjects, 1);
        assert_eq!(get(&at10, "bestuurlijk").subjects, 0);
        // The embargo ended: the signal counts, and the facts behind the cell changed.
        let at21 = count(&list, month, month, 21 * DAY, &rules);
        assert_eq!(get(&at21, "cases").subjects, 3);
        assert_ne!(at10[0].3, at21[0].3);
        // Before the intervention it is not counted under its kind.
        let at4 = count(&list, month, month, 4 * DAY, &rules);
        assert_eq!(get(&at4, "fiscaal").subjects, 0);
    }

    #[test]
    fn one_case_adds_at_most_signal_cap_to_a_cell() {
        let month = period::index(Some(Dimension::Month), 0);
        let list: Vec<_> = (0..20).map(|i| c("one", i, 1, None)).collect();
        let rules = rules();
        let cells = count(&list, month, month, 10 * DAY, &rules);
        assert_eq!(cells[0].2.subjects, 20);
        assert_eq!(cells[0].2.value, u64::from(rules.signal_cap));
        assert_eq!(cells[0].2.sources, 1);
        assert_eq!(
            release::suppression(&cells[0].2, &rules, false),
            Some(kruispunt_sdk::beeld::SuppressionReason::TooFewSources)
        );
    }
}
