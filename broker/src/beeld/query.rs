//! One question to the ondermijningsbeeld, from a parsed request to a recorded answer:
//!
//! 1. validation (dimension families, dates, range, filter values known to the registry);
//! 2. one policy decision (action `aggregate`: who may ask which area level, measure and period
//!    under the purpose; the release rules come back as obligations) — a refusal is audited;
//! 3. the snapshot current for the purpose's interval, and the question's hash;
//! 4. a question already answered for this organisation in this snapshot is answered again
//!    from the stored answer, uncharged (audited as a repeat);
//! 5. the exact counts at the snapshot ([`super::picture`]), released cell by cell
//!    ([`super::release`]), the total as its own noisy number;
//! 6. the budget charged, the answer kept and the audit entry appended in one transaction
//!    ([`crate::store::DecisionStore::charge_release`]) — only then does the answer leave.
//!
//! # The noise's context
//! The noise of a cell is drawn from the keyed stream of (snapshot, question hash, cell): the
//! question hash covers the purpose, measure, grouping, range, filters and whether a total is
//! asked — everything that decides the cell's true value (the contribution cap makes even the
//! grouping matter). So the same question gets the same noise from every broker and for every
//! asker within a snapshot, and two *different* questions never share noise: sharing it between
//! cells whose true values differ would hand out their exact difference.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use kruispunt_policy::{Action, AggregateObligations, AggregateQuestion, PolicyError, Registry};
use kruispunt_sdk::beeld::{
    AggregateRequest, AggregateResponse, Cell, Dimension, MAX_FILTER_VALUES, MAX_GROUP_BY, Measure,
    SnapshotInfo,
};
use kruispunt_sdk::cases::InterventionKind;
use kruispunt_sdk::transparency::Operation;
use ring::digest;

use super::picture::{CellStat, CountQuery, Counts, Grid};
use super::release::{self, Outcome, Rules};
use super::{Beeld, noise, period, snapshot};
use crate::audit::{action, entry};
use crate::auth::Principal;
use crate::civil::{day_of, parse_date};
use crate::state::AppState;
use crate::store::{BudgetRelease, Charge, StoreError};

/// Most cells one question may ask for (the grid is listed in full).
pub const MAX_CELLS: usize = 100_000;

/// The reason code of a refusal for a spent budget (problem `privacy-budget-exhausted`).
pub const BUDGET_EXHAUSTED: &str = "privacy_budget_exhausted";

#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// The question is malformed; `field` names the member (`group_by`, `from`, `to`,
    /// `filter.district`, `filter.gemeente`, `filter.theme`).
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("refused by policy: {}", reasons.join(", "))]
    Refused { reasons: Vec<String> },
    #[error(
        "the privacy budget of this organisation for this purpose is spent for this month: \
         ε {} left, the question costs ε {}",
        micro(*left_micro),
        micro(*cost_micro)
    )]
    BudgetExhausted { left_micro: u64, cost_micro: u64 },
    #[error(transparent)]
    Policy(PolicyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AggregateError {
    fn invalid(field: &'static str, reason: impl Into<String>) -> AggregateError {
        AggregateError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// µε as ε.
pub fn micro(v: u64) -> f64 {
    v as f64 / noise::MICRO as f64
}

/// A question checked against the contract and the registry.
#[derive(Debug, Clone)]
struct Checked {
    area: Option<Dimension>,
    category: Option<Dimension>,
    period: Option<Dimension>,
    from_day: i64,
    to_day: i64,
    districts: Option<Vec<String>>,
    gemeenten: Option<Vec<String>>,
    themes: Option<Vec<String>>,
}

/// The unit as one area: the registry's `[meta] id` (`unit` when it has none).
pub fn unit_id(reg: &Registry) -> String {
    match reg.meta.id.trim() {
        "" => "unit".to_string(),
        id => id.to_string(),
    }
}

/// The unit's gemeenten as (CBS code, district), from the registry.
pub fn gemeenten(reg: &Registry) -> Vec<(String, String)> {
    reg.gemeenten
        .iter()
        .map(|g| (g.code.clone(), g.district.clone()))
        .collect()
}

fn check(req: &AggregateRequest, reg: &Registry) -> Result<Checked, AggregateError> {
    if req.group_by.len() > MAX_GROUP_BY {
        return Err(AggregateError::invalid(
            "group_by",
            format!("at most {MAX_GROUP_BY} dimensions"),
        ));
    }
    let mut area = None;
    let mut category = None;
    let mut period = None;
    for d in &req.group_by {
        let slot = if d.is_area() {
            &mut area
        } else if d.is_category() {
            &mut category
        } else {
            &mut period
        };
        if let Some(prev) = slot.replace(*d) {
            return Err(AggregateError::invalid(
                "group_by",
                format!("`{prev}` and `{d}` are of one family: group by at most one of each"),
            ));
        }
    }
    if req.measure.counts_cases() {
        // A case has a gemeente, themes and an intervention — no wijk and no signal code.
        match (area, category) {
            (Some(Dimension::Wijk), _) => {
                return Err(AggregateError::invalid(
                    "group_by",
                    "a case has no wijk: group cases by unit, district or gemeente",
                ));
            }
            (_, Some(Dimension::Code)) => {
                return Err(AggregateError::invalid(
                    "group_by",
                    "a case has no signal code: group cases by theme",
                ));
            }
            _ => {}
        }
    }
    if category == Some(Dimension::Intervention) && req.measure != Measure::Interventions {
        return Err(AggregateError::invalid(
            "group_by",
            "`intervention` groups the measure `interventions` only",
        ));
    }
    let from_day = parse_date(&req.from)
        .ok_or_else(|| AggregateError::invalid("from", "must be a date YYYY-MM-DD"))?;
    let to_day = parse_date(&req.to)
        .ok_or_else(|| AggregateError::invalid("to", "must be a date YYYY-MM-DD"))?;
    if from_day > to_day {
        return Err(AggregateError::invalid("to", "must not be before `from`"));
    }
    let filter = req.filter.clone().unwrap_or_default();
    let list = |field: &'static str,
                values: &[String],
                known: &dyn Fn(&str) -> bool|
     -> Result<Option<Vec<String>>, AggregateError> {
        if values.is_empty() {
            return Ok(None);
        }
        if values.len() > MAX_FILTER_VALUES {
            return Err(AggregateError::invalid(
                field,
                format!("at most {MAX_FILTER_VALUES} values"),
            ));
        }
        for v in values {
            if !known(v) {
                return Err(AggregateError::invalid(
                    field,
                    format!("unknown value `{v}`"),
                ));
            }
        }
        let set: BTreeSet<String> = values.iter().cloned().collect();
        Ok(Some(set.into_iter().collect()))
    };
    let gemeente_list = gemeenten(reg);
    let districts = list("filter.district", &filter.district, &|v| {
        reg.districts.iter().any(|d| d.id == v)
    })?;
    let gemeenten = list("filter.gemeente", &filter.gemeente, &|v| {
        gemeente_list.iter().any(|(g, _)| g == v)
    })?;
    let purpose_themes: Vec<String> = reg
        .purpose(&req.purpose)
        .map(|p| p.themes.clone())
        .unwrap_or_default();
    let themes = list("filter.theme", &filter.theme, &|v| {
        purpose_themes.iter().any(|t| t == v)
    })?;
    Ok(Checked {
        area,
        category,
        period,
        from_day,
        to_day,
        districts,
        gemeenten,
        themes,
    })
}

/// Checks a question against the contract and the registry as `POST /v1/aggregates` does
/// before asking the policy (dimension families, dates and their order, filter values the
/// registry knows) and gives the hash that identifies it (see the module documentation): the
/// order of `group_by` and of the filter values never changes it.
pub fn question_key(req: &AggregateRequest, reg: &Registry) -> Result<[u8; 32], AggregateError> {
    let c = check(req, reg)?;
    Ok(question_hash(req, &c))
}

/// Per code of the taxonomy, the purpose's themes (within `filter`, if any) that list it.
pub fn code_themes(
    reg: &Registry,
    purpose_themes: &[String],
    filter: Option<&[String]>,
) -> HashMap<String, Vec<String>> {
    let mut code_themes: HashMap<String, Vec<String>> = HashMap::new();
    for t in purpose_themes {
        if filter.is_some_and(|f| !f.contains(t)) {
            continue;
        }
        if let Some(theme) = reg.taxonomy.get(t) {
            for code in theme.codes.keys() {
                code_themes.entry(code.clone()).or_default().push(t.clone());
            }
        }
    }
    code_themes
}

/// The canonical form of a question (sorted group-by and filters), hashed with SHA-256.
fn question_hash(req: &AggregateRequest, c: &Checked) -> [u8; 32] {
    let mut group_by: Vec<&str> = req.group_by.iter().map(|d| d.as_str()).collect();
    group_by.sort_unstable();
    let canonical = serde_json::json!({
        "v": 1,
        "purpose": req.purpose,
        "measure": req.measure.as_str(),
        "group_by": group_by,
        "from": req.from,
        "to": req.to,
        "district": c.districts,
        "gemeente": c.gemeenten,
        "theme": c.themes,
        "totals": req.totals,
    });
    let d = digest::digest(&digest::SHA256, canonical.to_string().as_bytes());
    d.as_ref().try_into().expect("32 bytes")
}

fn rules_of(o: &AggregateObligations) -> Rules {
    Rules {
        k: o.k,
        wijk_k: o.wijk_k,
        min_sources: o.min_sources,
        max_share_percent: o.max_share_percent,
        epsilon_micro: o.epsilon_micro,
        rounding: o.rounding,
        cap: o.contribution_cap,
        signal_cap: o.signal_cap,
    }
}

/// The grid of a question: every area value, category and period, in order.
fn grid(
    c: &Checked,
    reg: &Registry,
    purpose_themes: &[String],
    beeld: &Beeld,
) -> Result<Grid, AggregateError> {
    let in_districts = |d: &str| {
        c.districts
            .as_ref()
            .is_none_or(|f| f.iter().any(|x| x == d))
    };
    let in_gemeenten = |g: &str| {
        c.gemeenten
            .as_ref()
            .is_none_or(|f| f.iter().any(|x| x == g))
    };
    let gemeente_list = gemeenten(reg);
    let mut areas: Vec<String> = match c.area {
        None => vec![String::new()],
        Some(Dimension::Unit) => vec![unit_id(reg)],
        Some(Dimension::District) => reg
            .districts
            .iter()
            .filter(|d| in_districts(&d.id))
            .map(|d| d.id.clone())
            .collect(),
        Some(Dimension::Gemeente) => gemeente_list
            .iter()
            .filter(|(g, d)| in_districts(d) && in_gemeenten(g))
            .map(|(g, _)| g.clone())
            .collect(),
        Some(Dimension::Wijk) => {
            let allowed: Vec<&String> = gemeente_list
                .iter()
                .filter(|(g, d)| in_districts(d) && in_gemeenten(g))
                .map(|(g, _)| g)
                .collect();
            beeld
                .picture
                .wijken()
                .into_iter()
                .filter(|w| allowed.iter().any(|g| w.get(2..6) == g.get(2..6)))
                .collect()
        }
        Some(_) => unreachable!("checked: an area dimension"),
    };
    areas.sort();
    let themes: Vec<String> = purpose_themes
        .iter()
        .filter(|t| c.themes.as_ref().is_none_or(|f| f.contains(t)))
        .cloned()
        .collect();
    let categories: Vec<String> = match c.category {
        None => vec![String::new()],
        Some(Dimension::Intervention) => InterventionKind::ALL
            .iter()
            .map(|k| k.as_str().to_string())
            .collect(),
        Some(Dimension::Theme) => {
            let mut t = themes.clone();
            t.sort();
            t
        }
        Some(_) => {
            let codes: BTreeSet<String> = themes
                .iter()
                .filter_map(|t| reg.taxonomy.get(t))
                .flat_map(|t| t.codes.keys().cloned())
                .collect();
            codes.into_iter().collect()
        }
    };
    let first = period::index(c.period, c.from_day);
    let last = period::index(c.period, c.to_day);
    let g = Grid {
        area: c.area,
        areas,
        category: c.category,
        categories,
        period: c.period,
        first_period: first,
        periods: u32::try_from(last - first + 1).unwrap_or(u32::MAX),
    };
    if g.len() > MAX_CELLS {
        return Err(AggregateError::invalid(
            "group_by",
            format!(
                "{} cells: at most {MAX_CELLS}; ask a shorter range or coarser dimensions",
                g.len()
            ),
        ));
    }
    Ok(g)
}

/// Asks one question on behalf of `principal` at `now` (Unix seconds).
pub async fn run(
    state: &AppState,
    principal: &Principal,
    req: &AggregateRequest,
    now: i64,
) -> Result<AggregateResponse, AggregateError> {
    let reg = state.policy.registry();
    let checked = check(req, &reg)?;

    // 2. The policy.
    let mut input = principal.policy_input(Action::Aggregate, req.purpose.clone(), now);
    input.aggregate = Some(AggregateQuestion {
        area: checked.area.map_or("none", |d| d.as_str()).to_string(),
        measure: req.measure.as_str().to_string(),
        period: checked.period.map_or("none", |d| d.as_str()).to_string(),
        gemeenten: checked.gemeenten.clone().unwrap_or_default(),
    });
    let decision = state
        .policy
        .decide(&input)
        .map_err(AggregateError::Policy)?;
    let policy_hash = Some(decision.bundle_hash.clone());
    let base_entry = |operation: Operation| {
        let mut e = entry::by(Some(principal), operation, action::AGGREGATE_RELEASE);
        e.purpose = Some(req.purpose.clone());
        e.policy_hash = policy_hash.clone();
        e.recipients = vec![principal.org.clone()];
        if let Some(p) = reg.purpose(&req.purpose) {
            e.legal_basis = Some(p.legal_basis.clone());
            e.source_orgs = vec![p.controller.clone()];
        }
        e
    };
    let query_json = serde_json::to_value(req).unwrap_or_default();
    let obligations = match (&decision.obligations.aggregate, decision.allow) {
        (Some(o), true) => o.clone(),
        _ => {
            let mut refused = base_entry(Operation::Refuse);
            refused.decision = Some("deny".into());
            refused.reasons = decision.reasons.clone();
            entry::set_detail(&mut refused, serde_json::json!({ "query": query_json }));
            state
                .store
                .audit()
                .append_audit(std::slice::from_ref(&refused))
                .await?;
            return Err(AggregateError::Refused {
                reasons: if decision.reasons.is_empty() {
                    vec!["aggregates_not_offered".into()]
                } else {
                    decision.reasons
                },
            });
        }
    };
    if checked.to_day - checked.from_day + 1 > i64::from(obligations.max_range_days) {
        return Err(AggregateError::invalid(
            "to",
            format!(
                "the range is longer than the purpose allows ({} days)",
                obligations.max_range_days
            ),
        ));
    }
    let rules = rules_of(&obligations);
    let purpose_themes = reg
        .purpose(&req.purpose)
        .map(|p| p.themes.clone())
        .unwrap_or_default();
    let grid = grid(&checked, &reg, &purpose_themes, &state.beeld)?;

    // 3. The snapshot and the question.
    let snap = snapshot::current(
        now,
        state.beeld.interval(obligations.snapshot_interval_secs),
    );
    let snap_key = snapshot::key(&snap);
    let question = question_hash(req, &checked);
    let month = day_of(now)[..7].to_string();
    let question_hex = hex::encode(question);
    let repeat = |answer: Vec<u8>| {
        let (month, query_json, question_hex) =
            (month.clone(), query_json.clone(), question_hex.clone());
        let base_entry = &base_entry;
        let snap = &snap;
        let obligations = &obligations;
        async move {
            let mut resp: AggregateResponse = serde_json::from_slice(&answer)
                .map_err(|e| StoreError::Corrupt(format!("stored aggregate answer: {e}")))?;
            let spent = state
                .store
                .decisions()
                .budget_spent(&principal.org, &req.purpose, &month)
                .await?;
            let mut e = base_entry(Operation::Disclose);
            e.decision = Some("allow".into());
            entry::set_detail(
                &mut e,
                serde_json::json!({
                    "query": query_json, "snapshot": snap.id, "repeat": true,
                    "question_sha256": question_hex, "epsilon_spent": 0.0,
                    "table_sha256": table_hash(&resp),
                }),
            );
            let seqs = state
                .store
                .audit()
                .append_audit(std::slice::from_ref(&e))
                .await?;
            resp.epsilon_spent = 0.0;
            resp.epsilon_left = micro(obligations.monthly_epsilon_micro.saturating_sub(spent));
            resp.audit_seq = seqs.first().copied().unwrap_or_default();
            Ok::<_, AggregateError>(resp)
        }
    };

    // 4. A repeat within the snapshot.
    if let Some(answer) = state
        .store
        .decisions()
        .answered_release(&principal.org, &req.purpose, &snap_key, &question)
        .await?
    {
        return repeat(answer).await;
    }
    let cost = obligations.epsilon_micro;
    let spent = state
        .store
        .decisions()
        .budget_spent(&principal.org, &req.purpose, &month)
        .await?;
    let left = obligations.monthly_epsilon_micro.saturating_sub(spent);
    if cost > left {
        return Err(refuse_budget(
            state,
            base_entry(Operation::Refuse),
            &query_json,
            left,
            cost,
        )
        .await?);
    }

    // 5. Count and release.
    let counts = if req.measure.counts_cases() {
        // Cases come from the case register, read as at the snapshot (beeld::cases).
        let cases = state.store.cases().case_spans().await?;
        let district_of: HashMap<String, String> = gemeenten(&reg).into_iter().collect();
        let (cells, total) = super::cases::count(
            &super::cases::CaseQuery {
                measure: req.measure,
                grid: &grid,
                from_day: checked.from_day,
                to_day: checked.to_day,
                districts: checked.districts.as_deref(),
                gemeenten: checked.gemeenten.as_deref(),
                themes: checked.themes.as_deref(),
                district_of: &district_of,
                cap: rules.cap,
            },
            &cases,
            snap.published,
        );
        Counts { cells, total }
    } else {
        count_signals(
            state,
            req,
            &reg,
            &checked,
            &grid,
            &rules,
            &purpose_themes,
            snap.published,
        )
        .await?
    };
    let mut resp = answer(
        req,
        &grid,
        &counts.cells,
        &counts.total,
        &rules,
        &snap,
        &question,
        state.beeld.secret(),
    );
    resp.area_names = area_names(&grid, &checked, &reg);
    let released = resp.cells.iter().filter(|c| !c.suppressed).count();
    let mut e = base_entry(Operation::Disclose);
    e.decision = Some("allow".into());
    entry::set_detail(
        &mut e,
        serde_json::json!({
            "query": query_json, "snapshot": snap.id, "snapshot_published": snap.published,
            "cells_released": released, "cells_suppressed": resp.cells.len() - released,
            "epsilon_spent": micro(cost), "question_sha256": question_hex,
            "table_sha256": table_hash(&resp),
        }),
    );
    let stored = serde_json::to_vec(&resp).map_err(|e| StoreError::Invalid(e.to_string()))?;

    // 6. Charge, keep, audit: one transaction.
    let charge = state
        .store
        .decisions()
        .charge_release(
            &BudgetRelease {
                org: &principal.org,
                purpose: &req.purpose,
                month: &month,
                snapshot: &snap_key,
                question: &question,
                epsilon_micro: cost,
                monthly_micro: obligations.monthly_epsilon_micro,
                answer: &stored,
            },
            &e,
        )
        .await?;
    match charge {
        Charge::Charged {
            audit_seq,
            left_micro,
        } => Ok(AggregateResponse {
            epsilon_spent: micro(cost),
            epsilon_left: micro(left_micro),
            audit_seq,
            ..resp
        }),
        Charge::Answered { answer, .. } => repeat(answer).await,
        Charge::Exhausted { left_micro } => Err(refuse_budget(
            state,
            base_entry(Operation::Refuse),
            &query_json,
            left_micro,
            cost,
        )
        .await?),
    }
}

/// The true counts of a question on the partners' signals, from the picture at `at`.
#[allow(clippy::too_many_arguments)]
async fn count_signals(
    state: &AppState,
    req: &AggregateRequest,
    reg: &Registry,
    checked: &Checked,
    grid: &Grid,
    rules: &Rules,
    purpose_themes: &[String],
    at: i64,
) -> Result<Counts, AggregateError> {
    let code_themes = code_themes(reg, purpose_themes, checked.themes.as_deref());
    let count_query = CountQuery {
        purpose: req.purpose.clone(),
        measure: req.measure,
        grid: grid.clone(),
        from_day: checked.from_day,
        to_day: checked.to_day,
        districts: checked.districts.clone(),
        gemeenten: checked.gemeenten.clone(),
        code_themes,
        cap: rules.cap,
        signal_cap: rules.signal_cap,
        totals: req.totals,
    };
    let beeld = Arc::clone(&state.beeld);
    Ok(
        tokio::task::spawn_blocking(move || beeld.picture.count(&count_query, at))
            .await
            .map_err(|e| StoreError::Invalid(format!("the count failed: {e}")))?,
    )
}

/// Audits the refusal of a question the month's budget does not cover.
async fn refuse_budget(
    state: &AppState,
    mut refused: crate::audit::entry::AuditEntry,
    query: &serde_json::Value,
    left_micro: u64,
    cost_micro: u64,
) -> Result<AggregateError, AggregateError> {
    refused.decision = Some("deny".into());
    refused.reasons = vec![BUDGET_EXHAUSTED.into()];
    entry::set_detail(
        &mut refused,
        serde_json::json!({
            "query": query, "epsilon_left": micro(left_micro), "epsilon_cost": micro(cost_micro),
        }),
    );
    state
        .store
        .audit()
        .append_audit(std::slice::from_ref(&refused))
        .await?;
    Ok(AggregateError::BudgetExhausted {
        left_micro,
        cost_micro,
    })
}

/// SHA-256 (hex) of the released table: the cells and the total as JSON.
pub fn table_hash(resp: &AggregateResponse) -> String {
    let table = serde_json::json!({ "cells": resp.cells, "totals": resp.totals });
    hex::encode(digest::digest(
        &digest::SHA256,
        table.to_string().as_bytes(),
    ))
}

/// Releases the grid's cells and (if asked) the total; the budget fields are left at zero.
#[allow(clippy::too_many_arguments)]
fn answer(
    req: &AggregateRequest,
    grid: &Grid,
    cells: &[CellStat],
    total: &CellStat,
    rules: &Rules,
    snap: &SnapshotInfo,
    question: &[u8; 32],
    secret: &ring::hmac::Key,
) -> AggregateResponse {
    // With a total, the question's ε is split evenly between the table and the total.
    let (eps_cells, eps_total) = if req.totals {
        let half = (rules.epsilon_micro / 2).max(1);
        (half, half)
    } else {
        (rules.epsilon_micro, 0)
    };
    let sensitivity = rules.sensitivity(req.measure, grid.len() as u32);
    let wijk = grid.area == Some(Dimension::Wijk);
    let context = |label: &str| {
        let mut c = Vec::with_capacity(64 + label.len());
        c.extend_from_slice(b"kruispunt beeld v1\0");
        c.extend_from_slice(&snap.id.to_be_bytes());
        c.extend_from_slice(&(snap.next - snap.published).to_be_bytes());
        c.extend_from_slice(question);
        c.extend_from_slice(label.as_bytes());
        c
    };
    let mut out = Vec::with_capacity(grid.len());
    for (pos, stat) in cells.iter().enumerate() {
        let (a, c, p) = grid.split(pos);
        let mut dims = std::collections::BTreeMap::new();
        if let Some(area) = grid.area {
            dims.insert(area.as_str().to_string(), grid.areas[a].clone());
        }
        if let Some(cat) = grid.category {
            dims.insert(cat.as_str().to_string(), grid.categories[c].clone());
        }
        if let Some(per) = grid.period {
            dims.insert(
                per.as_str().to_string(),
                period::label(per, grid.first_period + p as i64),
            );
        }
        let label = serde_json::to_string(&dims).unwrap_or_default();
        let outcome = release::release(
            stat,
            rules,
            wijk,
            secret,
            &context(&label),
            sensitivity,
            eps_cells,
        );
        out.push(cell(dims, outcome));
    }
    let totals = req.totals.then(|| {
        let per_subject = match req.measure {
            Measure::Signals => rules.signal_cap.max(1),
            _ => 1,
        };
        match release::release(
            total,
            rules,
            wijk,
            secret,
            &context("\0total"),
            per_subject,
            eps_total,
        ) {
            Outcome::Released(v) => Cell {
                dims: Default::default(),
                value: Some(v),
                suppressed: false,
                reason: None,
            },
            Outcome::Suppressed(r) => Cell {
                dims: Default::default(),
                value: None,
                suppressed: true,
                reason: Some(r),
            },
        }
    });
    let (s, t) = noise::scale(sensitivity, eps_cells);
    AggregateResponse {
        purpose: req.purpose.clone(),
        measure: req.measure,
        cells: out,
        totals,
        snapshot: snap.clone(),
        epsilon_spent: 0.0,
        epsilon_left: 0.0,
        k: if wijk {
            rules.wijk_k.max(rules.k)
        } else {
            rules.k
        },
        rounding: rules.rounding,
        margin_95: noise::margin_95(s, t),
        audit_seq: 0,
        area_names: Default::default(),
    }
}

/// The registry's display names of the district and gemeente values of the grid's cells and
/// of the question's filters.
fn area_names(
    grid: &Grid,
    c: &Checked,
    reg: &Registry,
) -> std::collections::BTreeMap<String, String> {
    let named = |level: Dimension, filter: &Option<Vec<String>>, v: &str| {
        (grid.area == Some(level) && grid.areas.iter().any(|a| a == v))
            || filter.as_ref().is_some_and(|f| f.iter().any(|x| x == v))
    };
    let districts = reg
        .districts
        .iter()
        .filter(|d| named(Dimension::District, &c.districts, &d.id))
        .map(|d| (d.id.clone(), d.name.clone()));
    let gemeenten = reg
        .gemeenten
        .iter()
        .filter(|g| named(Dimension::Gemeente, &c.gemeenten, &g.code))
        .map(|g| (g.code.clone(), g.name.clone()));
    districts.chain(gemeenten).collect()
}

/// The released or suppressed cell of `dims` (the picture's and the feedback's).
pub(crate) fn cell(dims: std::collections::BTreeMap<String, String>, outcome: Outcome) -> Cell {
    match outcome {
        Outcome::Released(v) => Cell {
            dims,
            value: Some(v),
            suppressed: false,
            reason: None,
        },
        Outcome::Suppressed(r) => Cell {
            dims,
            value: None,
            suppressed: true,
            reason: Some(r),
        },
    }
}
