//! Embargoes tied to a case (docs/CASES.md, "Embargoes tied to a case"; docs/AUDIT.md, "Police
//! case embargo").
//!
//! A police match under a purpose with `embargo_days` records its fixed end in its audit entry
//! (`detail.embargo_until`: the query time + `embargo_days`). When the match rests on a
//! registered case (a Wpg art. 19/20 purpose naming one), the entry also records the case
//! (`detail.embargo_case`) and the latest end (`detail.embargo_max_until`: the query time + the
//! purpose's `retention_days`, never before the fixed end). The rule, evaluated when the entry
//! is read (the entry is immutable and hash-committed; the case's closure is not known when it
//! is written):
//!
//! * while the case is open or in intervention, the embargo holds — past its fixed end, up to
//!   its latest end: the supplier must not learn of the police's interest while the
//!   investigation runs (tipping-off);
//! * once the case is closed, it ends at the later of its fixed end and the closure, but never
//!   after its latest end: a restriction of the data subject's rights must end (AVG art. 23),
//!   and at the latest it ends when the data it concerns may no longer be kept;
//! * a consent withdrawn or expired does not end it: the consent bounds the queries, the case is
//!   the investigation, which may go on under a new consent.
//!
//! The closure counts only when the log holds it: the case row's `closed_seq` (migration 0017,
//! written in the closing transaction) must name a `case.state` entry that closed this case and
//! still matches its leaf. A row set to `closed` behind the broker's back lifts nothing; an
//! unknown case (a row deleted) holds to the latest end.

use std::collections::HashMap;

use kruispunt_policy::CaseFacts;
use kruispunt_sdk::cases::valid_case_reference;
use kruispunt_sdk::transparency::commitment;
use serde_json::Value;

use crate::audit::action;
use crate::audit::entry::AuditEntry;
use crate::store::{Store, StoreError};

/// The entry's `detail` key naming the case its embargo is tied to.
pub const CASE_KEY: &str = "embargo_case";
/// The entry's `detail` key holding the latest end of an embargo tied to a case (Unix s).
pub const MAX_KEY: &str = "embargo_max_until";

const SECONDS_PER_DAY: i64 = 86_400;

/// Ties a police match's embargo to its case: adds [`CASE_KEY`] and [`MAX_KEY`] to `detail`
/// when the match has an embargo (`embargo_until`) and rests on a registered case (`case`).
/// `now` is the query time (Unix s), `retention_days` the purpose's.
pub fn tie(
    detail: &mut Value,
    embargo_until: Option<i64>,
    case: Option<&CaseFacts>,
    now: i64,
    retention_days: u32,
) {
    let (Some(until), Some(case)) = (embargo_until, case) else {
        return;
    };
    let latest = now
        .saturating_add(i64::from(retention_days).saturating_mul(SECONDS_PER_DAY))
        .max(until);
    detail[CASE_KEY] = Value::from(case.reference.clone());
    detail[MAX_KEY] = Value::from(latest);
}

/// The case an entry's embargo is tied to, if any.
pub fn case_of(e: &AuditEntry) -> Option<&str> {
    e.detail.get(CASE_KEY).and_then(Value::as_str)
}

/// The latest end of an entry's embargo (Unix s): its fixed end, or for one tied to a case the
/// latest end recorded with it. What a supplier is shown as `embargo_until` while it holds —
/// the same value from the query until the embargo ends, so the summary tells nothing of the
/// case's progress.
pub fn latest_end(e: &AuditEntry) -> Option<i64> {
    let fixed = crate::audit::access::embargo_until(e)?;
    if case_of(e).is_none() {
        return Some(fixed);
    }
    Some(
        e.detail
            .get(MAX_KEY)
            .and_then(Value::as_i64)
            .map_or(fixed, |m| m.max(fixed)),
    )
}

/// The end of an entry's embargo under the rule above (Unix s), given the verified closure
/// times of the cases read ([`Closures`]). A case not among them counts as open.
pub fn end(e: &AuditEntry, closures: &Closures) -> Option<i64> {
    let fixed = crate::audit::access::embargo_until(e)?;
    let latest = latest_end(e)?;
    match case_of(e) {
        None => Some(fixed),
        Some(case) => match closures.0.get(case) {
            Some(Some(closed)) => Some(fixed.max(*closed).min(latest)),
            _ => Some(latest),
        },
    }
}

/// The closure times (Unix s) of the cases embargoes are tied to, as far as they were read:
/// `None` for a case that is not closed (or whose closure the log does not hold).
#[derive(Debug, Clone, Default)]
pub struct Closures(HashMap<String, Option<i64>>);

impl Closures {
    /// Reads, for every entry among `rows` whose embargo is tied to a case not read yet, when
    /// that case was closed.
    pub async fn read_for(
        &mut self,
        store: &dyn Store,
        rows: &[crate::store::audit_tree::LeafRow],
    ) -> Result<(), StoreError> {
        for row in rows {
            let Some(bytes) = row.entry.as_deref() else {
                continue;
            };
            // Only entries that name a case's embargo are parsed here.
            if !bytes
                .windows(CASE_KEY.len())
                .any(|w| w == CASE_KEY.as_bytes())
            {
                continue;
            }
            let Some(case) = AuditEntry::from_json(bytes)
                .ok()
                .and_then(|e| case_of(&e).map(str::to_string))
            else {
                continue;
            };
            if let std::collections::hash_map::Entry::Vacant(slot) = self.0.entry(case) {
                let closed = closed_at(store, slot.key()).await?;
                slot.insert(closed);
            }
        }
        Ok(())
    }
}

/// When case `reference` was closed (Unix s, the closing entry's time), if the log holds its
/// closure: the row's `closed_seq` names an entry that matches its leaf, is a `case.state`
/// move of this case to `closed`. Anything else — open, unknown, a row edited to `closed`
/// without its entry — is `None`.
pub async fn closed_at(store: &dyn Store, reference: &str) -> Result<Option<i64>, StoreError> {
    if !valid_case_reference(reference) {
        return Ok(None);
    }
    let Some(Some(seq)) = store.cases().case_closure(reference).await? else {
        return Ok(None);
    };
    let rows = store
        .audit()
        .audit_tree_leaves(seq, seq.saturating_add(1))
        .await?;
    let Some(row) = rows.into_iter().find(|r| r.seq == seq) else {
        return Ok(None);
    };
    let (Some(salt), Some(bytes)) = (row.salt, row.entry) else {
        return Ok(None);
    };
    if commitment(&salt, &bytes) != row.leaf {
        tracing::warn!(
            seq,
            "a case's closure entry does not match its leaf; embargo held"
        );
        return Ok(None);
    }
    let Ok(e) = AuditEntry::from_json(&bytes) else {
        return Ok(None);
    };
    let closes = e.action == action::CASE_STATE
        && e.case_reference.as_deref() == Some(reference)
        && e.detail.get("to").and_then(Value::as_str) == Some("closed");
    Ok(closes.then(|| e.time_ms.div_euclid(1000)))
}
