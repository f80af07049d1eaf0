//! Review of the audit trail by privacy officers: filtered reading (time, purpose, case,
//! partner, operation), the history of one case the organisation takes part in, and the
//! disclosure accounting of one pseudonym (Wpg art. 25: to whom
//! were a person's data disclosed, when and why), as JSON or CSV. Only privacy officers, only
//! entries that concern their own organisation (see [`crate::audit::access`]); every review is
//! itself an audit entry.
//!
//! Filtering runs over the log in order: the time bounds are turned into a range of sequence
//! numbers by a binary search (`O(log n)` single-entry reads), and the range is scanned in
//! pages. The pseudonym look-up uses the `audit_pseudonym` index (migration 0003) instead.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kruispunt_sdk::Pseudonym;
use kruispunt_sdk::transparency::LogLine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::query;
use crate::audit::access::{Viewer, concerns, record_read, shown};
use crate::audit::entry::Operation;
use crate::auth::Authenticated;
use crate::problem::Problem;
use crate::state::AppState;

/// Default and largest number of entries per review page.
pub const DEFAULT_LIMIT: u64 = 100;
/// See [`DEFAULT_LIMIT`].
pub const MAX_LIMIT: u64 = 1000;
/// Entries read per database round trip while scanning.
const SCAN_PAGE: u64 = 1000;
/// Most entries one review request looks at before answering with a `next` cursor: bounds the
/// work a single request can cause.
const SCAN_BUDGET: u64 = 100_000;
/// Entries are numbered in commit order but stamped a moment earlier, so the time order can be
/// slightly off; the time search starts this much earlier and filters exactly.
const TIME_SLACK_MS: i64 = 5 * 60 * 1000;

/// Output format of a review.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `application/json` (default).
    #[default]
    Json,
    /// `text/csv`, one row per entry, for a spreadsheet.
    Csv,
    /// `application/jsonl`: Logboek Dataverwerkingen records ([`crate::audit::ldv`]), one per
    /// entry and data subject; paged like CSV (`Kruispunt-Next`, `Kruispunt-Tree-Size`).
    Ldv,
}

/// `GET /v1/audit/review` query.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewQuery {
    /// Entries at or after this instant (Unix milliseconds).
    #[serde(default)]
    pub from: Option<i64>,
    /// Entries before this instant (Unix milliseconds).
    #[serde(default)]
    pub to: Option<i64>,
    /// Only this purpose.
    #[serde(default)]
    pub purpose: Option<String>,
    /// Only this case reference.
    #[serde(default)]
    pub case: Option<String>,
    /// Only entries involving this partner (as requester, recipient or supplier).
    #[serde(default)]
    pub partner: Option<String>,
    /// Only these operations, comma-separated (`collect`, `alter`, `consult`, `disclose`,
    /// `combine`, `erase`, `refuse`): `disclose,combine` is every disclosure.
    #[serde(default)]
    pub operation: Option<String>,
    /// Continue after this index (the previous page's `next`).
    #[serde(default)]
    pub after: Option<u64>,
    /// Only entries before this index: a client walking the pages passes the first page's
    /// `tree_size`, so that the walk ends — every page read is itself an entry, which a walk
    /// without a bound would keep finding.
    #[serde(default)]
    pub before: Option<u64>,
    /// At most this many entries (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<u64>,
    /// `json` or `csv`.
    #[serde(default, skip_serializing)]
    pub format: Format,
}

struct Filter {
    from: Option<i64>,
    to: Option<i64>,
    purpose: Option<String>,
    case: Option<String>,
    /// With `case`: the ids of the case's channels, whose MLS entries (`detail.group`) belong
    /// to the case's history too (the case view; empty in the review).
    channels: Vec<String>,
    partner: Option<String>,
    /// Empty: any operation.
    operations: Vec<Operation>,
}

impl Filter {
    /// Whether the line, *as its reader sees it*, matches: a filter never looks behind the line.
    /// An embargo summary shows time and operation only, so it matches no filter on purpose,
    /// case or partner — were the hidden entry judged instead, the supplier could confirm a
    /// guessed case reference, requester or purpose one query at a time.
    fn matches(&self, line: &LogLine) -> bool {
        let Some((time_ms, operation)) = shown(line) else {
            return false;
        };
        let rest = match &line.entry {
            Some(e) => {
                self.purpose
                    .as_ref()
                    .is_none_or(|p| e.purpose.as_ref() == Some(p))
                    && self.case.as_ref().is_none_or(|c| {
                        e.case_reference.as_ref() == Some(c)
                            || e.detail
                                .get("group")
                                .and_then(serde_json::Value::as_str)
                                .is_some_and(|g| self.channels.iter().any(|ch| ch == g))
                    })
                    && self.partner.as_ref().is_none_or(|p| concerns(e, p))
            }
            None => self.purpose.is_none() && self.case.is_none() && self.partner.is_none(),
        };
        self.from.is_none_or(|f| time_ms >= f)
            && self.to.is_none_or(|t| time_ms < t)
            && (self.operations.is_empty() || self.operations.contains(&operation))
            && rest
    }
}

/// The first sequence number whose entry is stamped at or after `time_ms` (approximately; see
/// [`TIME_SLACK_MS`]), among the first `size` entries.
async fn first_at(state: &AppState, time_ms: i64, size: u64) -> Result<u64, Problem> {
    let (mut lo, mut hi) = (0u64, size);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let t = state
            .store
            .audit()
            .audit_entries(mid, mid + 1)
            .await?
            .first()
            .map(|(_, e)| e.time_ms)
            .unwrap_or(i64::MIN); // a missing entry: keep searching to its right
        if t < time_ms { lo = mid + 1 } else { hi = mid }
    }
    Ok(lo)
}

/// The page size asked (default [`DEFAULT_LIMIT`]), or a 400 problem.
fn page_limit(asked: Option<u64>) -> Result<u64, Problem> {
    let limit = asked.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(Problem::bad_request(
            "invalid-query",
            format!("limit: between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok(limit)
}

/// The lines from `start` (up to the log's first `size` entries) that match `filter` as
/// `viewer` sees them, at most `limit`, oldest first, with the `next` cursor when the answer
/// stops early (`limit` reached, or [`SCAN_BUDGET`] entries looked at).
async fn scan(
    state: &AppState,
    viewer: &mut Viewer,
    filter: &Filter,
    start: u64,
    size: u64,
    limit: u64,
) -> Result<(Vec<LogLine>, Option<u64>), Problem> {
    let end_time = filter.to.map(|t| t.saturating_add(TIME_SLACK_MS));
    let mut out: Vec<LogLine> = Vec::new();
    let mut next = None;
    let mut scanned = 0u64;
    let mut pos = start;
    'scan: while pos < size {
        let rows = state
            .store
            .audit()
            .audit_tree_leaves(pos, (pos + SCAN_PAGE).min(size))
            .await?;
        if rows.is_empty() {
            break;
        }
        viewer.read_cases(state, &rows).await?;
        for row in rows {
            pos = row.seq + 1;
            scanned += 1;
            let line = viewer.line(row);
            let Some((time_ms, _)) = shown(&line) else {
                continue;
            };
            if end_time.is_some_and(|t| time_ms >= t) {
                break 'scan;
            }
            if filter.matches(&line) {
                out.push(line);
                if out.len() as u64 == limit {
                    next = (pos < size).then_some(pos - 1);
                    break 'scan;
                }
            }
            if scanned >= SCAN_BUDGET {
                next = (pos < size).then_some(pos - 1);
                break 'scan;
            }
        }
    }
    Ok((out, next))
}

/// `GET /v1/audit/review`: the entries concerning the officer's organisation that match the
/// filters, oldest first, as `{tree_size, entries: [LogLine], next}` or CSV.
pub async fn review(
    State(state): State<AppState>,
    q: Result<Query<ReviewQuery>, QueryRejection>,
    Authenticated { principal, .. }: Authenticated,
) -> Result<Response, Problem> {
    let q = query(q)?;
    let mut viewer = Viewer::officer(&state, &principal, "GET /v1/audit/review").await?;
    let limit = page_limit(q.limit)?;
    let operations = q
        .operation
        .as_deref()
        .map(|ops| {
            ops.split(',')
                .map(|o| o.trim().parse::<Operation>())
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|e| Problem::bad_request("invalid-query", format!("operation: {e}")))?
        .unwrap_or_default();
    if let (Some(f), Some(t)) = (q.from, q.to)
        && f >= t
    {
        return Err(Problem::bad_request(
            "invalid-query",
            "from, to: `from` must be before `to`",
        ));
    }
    let filter = Filter {
        from: q.from,
        to: q.to,
        purpose: q.purpose.clone(),
        case: q.case.clone(),
        channels: Vec::new(),
        partner: q.partner.clone(),
        operations,
    };
    record_read(
        &state,
        &principal,
        json!({ "read": "review", "query": q }),
        vec![],
    )
    .await?;
    // Cover what was appended up to now (the tree follows the entries every 500 ms).
    if let Err(e) = state.audit_log.sync(&*state.store, &state.keys).await {
        tracing::warn!(error = %e, "audit log sync before a review failed");
    }
    let tree_size = state.store.audit().audit_tree_size().await?;
    let size = q.before.map_or(tree_size, |b| b.min(tree_size));
    let mut start = match q.from {
        Some(f) => first_at(&state, f.saturating_sub(TIME_SLACK_MS), size).await?,
        None => 0,
    };
    if let Some(after) = q.after {
        start = start.max(after.saturating_add(1));
    }
    let (out, next) = scan(&state, &mut viewer, &filter, start, size, limit).await?;
    Ok(respond(
        &state,
        q.format,
        size,
        out,
        next,
        "kruispunt-audit-review.csv",
    ))
}

/// `GET /v1/audit/cases/{reference}` query: the pages of a case's history.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaseHistoryQuery {
    /// Continue after this index (the previous page's `next`).
    #[serde(default)]
    pub after: Option<u64>,
    /// Only entries before this index (the first page's `tree_size`; see [`ReviewQuery`]).
    #[serde(default)]
    pub before: Option<u64>,
    /// At most this many entries (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<u64>,
    /// `json`, `csv` or `ldv`.
    #[serde(default, skip_serializing)]
    pub format: Format,
}

/// `GET /v1/audit/cases/{reference}`: a case's history on one screen — its moves, the consents
/// under it, the queries and disclosures that name it, its channels' registrations, deliveries
/// and refusals — as the privacy officer's organisation may see them (the same lines and the
/// same filter rule as the review: an embargo summary never names a case, so it is not part
/// of a case's history), oldest first, from the case's registration on. A case the
/// organisation did not open and does not take part in answers 404, exactly as one that does
/// not exist, and the read is recorded the same way for both.
pub async fn case_history(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    q: Result<Query<CaseHistoryQuery>, QueryRejection>,
    Authenticated { principal, .. }: Authenticated,
) -> Result<Response, Problem> {
    let q = query(q)?;
    let mut viewer = Viewer::officer(&state, &principal, "GET /v1/audit/cases/{reference}").await?;
    let limit = page_limit(q.limit)?;
    // Recorded before the case is looked up, and the same whether or not the caller takes
    // part: its own entry must not tell its privacy officer which references exist. A
    // reference that is not well formed is not recorded (it could be anything).
    let asked = kruispunt_sdk::cases::valid_case_reference(&reference).then_some(&reference);
    record_read(
        &state,
        &principal,
        json!({ "read": "case", "case": asked, "query": q }),
        vec![],
    )
    .await?;
    let case = crate::cases::get(&state, &principal, &reference).await?;
    let channels = state.store.mls().case_channels(&case.reference).await?;
    if let Err(e) = state.audit_log.sync(&*state.store, &state.keys).await {
        tracing::warn!(error = %e, "audit log sync before a case history failed");
    }
    let tree_size = state.store.audit().audit_tree_size().await?;
    let size = q.before.map_or(tree_size, |b| b.min(tree_size));
    let opened_ms = case.opened_at.saturating_mul(1000);
    let mut start = first_at(&state, opened_ms.saturating_sub(TIME_SLACK_MS), size).await?;
    if let Some(after) = q.after {
        start = start.max(after.saturating_add(1));
    }
    let filter = Filter {
        from: Some(opened_ms),
        to: None,
        purpose: None,
        case: Some(case.reference.clone()),
        channels,
        partner: None,
        operations: Vec::new(),
    };
    let (out, next) = scan(&state, &mut viewer, &filter, start, size, limit).await?;
    // The JSON carries the case itself, as `GET /v1/cases/{reference}` shows it.
    Ok(respond_with(
        &state,
        q.format,
        size,
        out,
        next,
        "kruispunt-audit-case.csv",
        Some(json!(case)),
    ))
}

/// `GET /v1/audit/disclosures` query: exactly one of `pseudonym` (the partner pseudonym, hex,
/// as sent to `POST /v1/matches`) and `at_rest` (the broker's form, as entries show it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosuresQuery {
    #[serde(default)]
    pseudonym: Option<String>,
    #[serde(default)]
    at_rest: Option<String>,
    /// Include every operation naming the pseudonym, not only disclosures.
    #[serde(default)]
    all: bool,
    #[serde(default)]
    format: Format,
}

/// Most entries one disclosure accounting returns.
pub const MAX_DISCLOSURES: u64 = 10_000;

/// `GET /v1/audit/disclosures`: the disclosure history of one pseudonym (operations `disclose`
/// and `combine`, or all with `all=true`), as far as it concerns the officer's organisation.
pub async fn disclosures(
    State(state): State<AppState>,
    q: Result<Query<DisclosuresQuery>, QueryRejection>,
    Authenticated { principal, .. }: Authenticated,
) -> Result<Response, Problem> {
    let q = query(q)?;
    let mut viewer = Viewer::officer(&state, &principal, "GET /v1/audit/disclosures").await?;
    let at_rest: [u8; 32] = match (&q.pseudonym, &q.at_rest) {
        (Some(p), None) => {
            let p = Pseudonym::from_hex(p)
                .map_err(|e| Problem::bad_request("invalid-query", format!("pseudonym: {e}")))?;
            state.keys.at_rest(p.as_bytes())
        }
        (None, Some(h)) => hex::decode(h)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| {
                Problem::bad_request("invalid-query", "at_rest: expected 64 hex digits")
            })?,
        _ => {
            return Err(Problem::bad_request(
                "invalid-query",
                "pseudonym, at_rest: give exactly one",
            ));
        }
    };
    let at_rest_hex = hex::encode(at_rest);
    record_read(
        &state,
        &principal,
        json!({ "read": "disclosures", "all": q.all }),
        vec![at_rest_hex],
    )
    .await?;
    if let Err(e) = state.audit_log.sync(&*state.store, &state.keys).await {
        tracing::warn!(error = %e, "audit log sync before a disclosure accounting failed");
    }
    let size = state.store.audit().audit_tree_size().await?;
    let rows = state
        .store
        .audit()
        .audit_tree_naming(&at_rest, MAX_DISCLOSURES)
        .await?;
    // Only lines shown in full: an embargo summary found *by pseudonym* would tell the supplier
    // whose data the police received, which is what the embargo holds back. Until it ends the
    // line is left out as if it did not exist (no count, no placeholder); it appears after.
    let out: Vec<LogLine> = viewer
        .lines(&state, rows)
        .await?
        .into_iter()
        .filter(|line| {
            line.entry.as_ref().is_some_and(|e| {
                q.all || matches!(e.operation, Operation::Disclose | Operation::Combine)
            })
        })
        .collect();
    Ok(respond(
        &state,
        q.format,
        size,
        out,
        None,
        "kruispunt-audit-disclosures.csv",
    ))
}

/// The response header carrying a CSV page's `next` cursor (the JSON carries it in the body):
/// a client asks again with `after=<value>` until the header is absent.
pub const NEXT_HEADER: &str = "kruispunt-next";
/// The response header carrying a CSV page's `tree_size` (the bound of the walk, see
/// [`ReviewQuery::before`]).
pub const TREE_SIZE_HEADER: &str = "kruispunt-tree-size";

/// The registry's names for the organisations and purposes the lines show, so that a person
/// reads "Gemeente Hilversum" beside `gemeente-hilversum`. Only ids the lines already show are
/// named; names are the registry's, public to every partner.
fn names_of(state: &AppState, lines: &[LogLine]) -> serde_json::Value {
    let registry = state.policy.registry();
    let mut orgs = serde_json::Map::new();
    let mut purposes = serde_json::Map::new();
    for e in lines.iter().filter_map(|l| l.entry.as_ref()) {
        let named = e
            .actor_org
            .iter()
            .chain(&e.source_orgs)
            .chain(&e.recipients);
        for org in named {
            if let Some(p) = registry.partner(org) {
                orgs.insert(org.clone(), p.name.clone().into());
            }
        }
        if let Some(p) = e.purpose.as_ref().and_then(|p| registry.purpose(p)) {
            purposes.insert(p.id.clone(), p.title.clone().into());
        }
    }
    json!({ "organisations": orgs, "purposes": purposes })
}

fn respond(
    state: &AppState,
    format: Format,
    tree_size: u64,
    lines: Vec<LogLine>,
    next: Option<u64>,
    filename: &str,
) -> Response {
    respond_with(state, format, tree_size, lines, next, filename, None)
}

/// [`respond`], the JSON answer carrying `case` when given.
fn respond_with(
    state: &AppState,
    format: Format,
    tree_size: u64,
    lines: Vec<LogLine>,
    next: Option<u64>,
    filename: &str,
    case: Option<serde_json::Value>,
) -> Response {
    match format {
        Format::Json => {
            let mut v = json!({
                "tree_size": tree_size, "entries": lines, "next": next,
                "names": names_of(state, &lines),
            });
            if let Some(case) = case {
                v["case"] = case;
            }
            axum::Json(v).into_response()
        }
        Format::Csv | Format::Ldv => {
            let (content_type, body, filename) = if format == Format::Csv {
                (
                    "text/csv; charset=utf-8",
                    crate::audit::csv::to_csv(&lines),
                    filename.to_owned(),
                )
            } else {
                (
                    "application/jsonl; charset=utf-8",
                    crate::audit::ldv::to_jsonl(
                        &lines,
                        &state.policy.registry(),
                        state.audit_log.origin(),
                    ),
                    filename.replace(".csv", ".ldv.jsonl"),
                )
            };
            let mut resp = (
                [
                    (header::CONTENT_TYPE, content_type.to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{filename}\""),
                    ),
                ],
                body,
            )
                .into_response();
            if let Some(n) = next {
                resp.headers_mut()
                    .insert(NEXT_HEADER, axum::http::HeaderValue::from(n));
            }
            resp.headers_mut()
                .insert(TREE_SIZE_HEADER, axum::http::HeaderValue::from(tree_size));
            resp
        }
    }
}
