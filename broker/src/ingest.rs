//! Turning uploaded signals into stored ones: per-item validation, one policy decision per
//! (purpose, kind) in the batch — never per item — retention, the at-rest re-keying, and one
//! transaction holding the rows and their audit entry. Shared by the JSON and NDJSON routes.
//! Also the way back: a supplier's withdrawal of one of its signals ([`withdraw`]).

use std::collections::{BTreeSet, HashMap};

use kruispunt_policy::{Action, Decision, Gemeente, PolicyError, Registry};
use kruispunt_sdk::IdentifierKind;
use kruispunt_sdk::pseudonym::Pseudonym;
use kruispunt_sdk::wire::{ItemResult, ItemStatus, SignalIn, UploadResponse};

use crate::audit::entry::{AuditEntry, Operation};
use crate::audit::{action, entry};
use crate::auth::Principal;
use crate::civil::{now_secs, parse_date};
use crate::mls::key_version::{self, SignalScope};
use crate::state::AppState;
use crate::store::{
    IndexRecord, InsertOutcome, NewSignal, SignalDigest, SignalId, StoreError, StoredSignal,
};

/// Why an upload batch was not (or not wholly) processed. A rejected item is no error: it is
/// answered in the batch's results.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The policy could not be evaluated: nothing of the batch was stored.
    #[error("the policy could not be evaluated")]
    Policy(#[source] PolicyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a withdrawal was refused.
#[derive(Debug, thiserror::Error)]
pub enum WithdrawError {
    /// No such signal of the principal's organisation — none at all, or another's, which the
    /// answer does not tell apart (audited).
    #[error("no signal {id} supplied by {org}")]
    NotOwnSignal { id: SignalId, org: String },
    /// The policy refused the withdrawal under one of the signal's purposes (audited with the
    /// policy's reasons): e.g. the caller's role may not supply under it.
    #[error("the withdrawal of signal {id} was refused by policy ({})", reasons.join(", "))]
    Refused { id: SignalId, reasons: Vec<String> },
    /// The policy could not be evaluated: nothing was withdrawn.
    #[error("the policy could not be evaluated")]
    Policy(#[source] PolicyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why `item.code` is refused: the codes of its purposes' themes, which it is not one of.
fn unknown_code_reason(registry: &Registry, item: &SignalIn) -> String {
    let valid: BTreeSet<&str> = item
        .purposes
        .iter()
        .filter_map(|p| registry.purpose(p))
        .flat_map(|p| p.themes.iter())
        .filter_map(|t| registry.taxonomy.get(t))
        .flat_map(|t| t.codes.keys().map(String::as_str))
        .collect();
    format!(
        "code {:?} is not a code of the signal's purposes ({}); valid codes: {}",
        item.code,
        item.purposes.join(", "),
        valid.into_iter().collect::<Vec<_>>().join(", ")
    )
}

fn reject(index: usize, field: &str, reason: impl Into<String>) -> ItemResult {
    ItemResult {
        index,
        status: ItemStatus::Rejected,
        id: None,
        field: Some(field.into()),
        reason: Some(reason.into()),
    }
}

struct Checked {
    index: usize,
    kind: IdentifierKind,
    pseudonym: Pseudonym,
    item: SignalIn,
    observed_day: i64,
    expires_day: Option<i64>,
}

/// Why an item's `gemeente` or `wijk` is refused, as (field, reason); `None` when both are
/// absent or right. Called after the district was found in the registry. A gemeente must be one
/// of the registry's and lie in the signal's district (which district a border municipality
/// belongs to is the registry's assignment); a wijk needs the gemeente and must be one of its
/// wijken (CBS numbers them `WK` + the gemeente's four digits + two).
fn area_problem(registry: &Registry, item: &SignalIn) -> Option<(&'static str, String)> {
    let gemeente = match item.gemeente.as_deref() {
        None => None,
        Some(code) if !Gemeente::is_code(code) => {
            return Some((
                "gemeente",
                format!("gemeente {code:?} is not a CBS municipality code (GM and four digits)"),
            ));
        }
        Some(code) => match registry.gemeente(code) {
            None => {
                return Some((
                    "gemeente",
                    format!("gemeente {code:?} is not in the registry"),
                ));
            }
            Some(g) if g.district != item.district => {
                return Some((
                    "gemeente",
                    format!(
                        "gemeente {code} lies in district {}, not in the signal's district {}",
                        g.district, item.district
                    ),
                ));
            }
            Some(g) => Some(g),
        },
    };
    let wijk = item.wijk.as_deref()?;
    let Some(g) = gemeente else {
        return Some((
            "wijk",
            "a wijk needs the signal's gemeente (set gemeente too)".into(),
        ));
    };
    if !Gemeente::is_wijk_code(wijk) {
        return Some((
            "wijk",
            format!(
                "wijk {wijk:?} is not a CBS wijk code (WK, the gemeente's four digits, two digits)"
            ),
        ));
    }
    if !g.contains_wijk(wijk) {
        return Some((
            "wijk",
            format!(
                "wijk {wijk} does not lie in gemeente {} (its wijken are WK{}nn)",
                g.code,
                g.code.get(2..).unwrap_or_default()
            ),
        ));
    }
    None
}

/// Validates and stores one batch. `items` carries each item's index in the upload (so NDJSON
/// lines keep their numbers) and either the parsed item or why it could not be parsed.
pub async fn ingest(
    state: &AppState,
    principal: &Principal,
    items: Vec<(usize, Result<SignalIn, String>)>,
) -> Result<UploadResponse, IngestError> {
    let prepared = prepare(state, principal, items).await?;
    commit(state, principal, prepared).await
}

/// A batch checked and turned into rows, not yet stored: what [`prepare`] hands to [`commit`].
/// The two halves are apart so a streamed upload can check its next batch while the previous
/// one commits (`crate::routes::signals::bulk`).
pub struct Prepared {
    /// Answers decided already: the rejected items.
    results: Vec<ItemResult>,
    /// The accepted items with their upload index, as rows to store.
    to_store: Vec<(usize, NewSignal)>,
    policy_hash: Option<String>,
    /// Purposes the policy refused for some item (one audit entry records them).
    policy_refusals: BTreeSet<String>,
}

/// The first half of [`ingest`]: per-item validation, one policy decision per (purpose, kind),
/// retention, and the at-rest re-keying. Touches no storage except to read which coalition
/// key versions are being erased; may run while an earlier batch of the same upload commits.
///
/// The per-item work ([`check`]: tens of milliseconds of CPU for a 10 000-line chunk, with no
/// point where it could yield) runs on the bulk pool ([`crate::bulk_pool`]), not on a runtime
/// worker: on a worker it held up every match handler and the group commit queued behind it on
/// that worker for as long, which was most of the match p99 during a bulk upload
/// (`benches/http_load.rs`). On the pool's threads, at a lower CPU priority, the OS runs the
/// workers first and the checks on what is left.
pub async fn prepare(
    state: &AppState,
    principal: &Principal,
    items: Vec<(usize, Result<SignalIn, String>)>,
) -> Result<Prepared, IngestError> {
    let now = now_secs();
    // Coalitions whose superseded key versions are being erased: an upload under such a
    // version would be stored only to be erased on the next retention tick (issue 6).
    let superseded = key_version::past_grace(state, now).await?;
    let (state, principal) = (state.clone(), principal.clone());
    crate::bulk_pool::run(move || check(&state, &principal, items, &superseded, now)).await
}

/// The per-item part of [`prepare`].
fn check(
    state: &AppState,
    principal: &Principal,
    items: Vec<(usize, Result<SignalIn, String>)>,
    superseded: &HashMap<String, crate::mls::store::KeyVersionRow>,
    now: i64,
) -> Result<Prepared, IngestError> {
    let today = now.div_euclid(86_400);
    let registry = state.policy.registry();
    let mut results: Vec<ItemResult> = Vec::with_capacity(items.len());
    let mut checked: Vec<Checked> = Vec::with_capacity(items.len());

    for (index, item) in items {
        let item = match item {
            Ok(i) => i,
            Err(e) => {
                results.push(reject(index, "item", e));
                continue;
            }
        };
        // Before anything echoes, decides on or records the item's texts.
        if let Err(e) = item.check_lengths() {
            results.push(reject(index, e.field, e.to_string()));
            continue;
        }
        let kind = match item.kind.parse::<IdentifierKind>() {
            Ok(k) => k,
            Err(e) => {
                results.push(reject(index, "kind", e.to_string()));
                continue;
            }
        };
        let pseudonym = match Pseudonym::from_hex(&item.pseudonym) {
            Ok(p) => p,
            Err(e) => {
                results.push(reject(index, "pseudonym", e.to_string()));
                continue;
            }
        };
        if item.key_version == 0 {
            results.push(reject(index, "key_version", "key versions start at 1"));
            continue;
        }
        if !registry
            .taxonomy
            .values()
            .any(|t| t.codes.contains_key(&item.code))
        {
            results.push(reject(
                index,
                "code",
                format!(
                    "signal code {:?} is not in the registry's taxonomy",
                    item.code
                ),
            ));
            continue;
        }
        let Some(observed_day) = parse_date(&item.observed) else {
            results.push(reject(
                index,
                "observed",
                "must be a calendar date YYYY-MM-DD",
            ));
            continue;
        };
        if observed_day > today + 1 {
            results.push(reject(index, "observed", "lies in the future"));
            continue;
        }
        if !registry.districts.iter().any(|d| d.id == item.district) {
            results.push(reject(
                index,
                "district",
                format!(
                    "district {:?} is not in the registry; its districts are {}",
                    item.district,
                    registry
                        .districts
                        .iter()
                        .map(|d| d.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
            continue;
        }
        if let Some((field, reason)) = area_problem(&registry, &item) {
            results.push(reject(index, field, reason));
            continue;
        }
        if item.purposes.is_empty() {
            results.push(reject(
                index,
                "purposes",
                "at least one purpose is required",
            ));
            continue;
        }
        if let Some(p) = item.purposes.iter().find(|p| registry.purpose(p).is_none()) {
            results.push(reject(
                index,
                "purposes",
                format!(
                    "purpose {p:?} is not registered (GET /v1/registry lists this organisation's purposes)"
                ),
            ));
            continue;
        }
        let scope = SignalScope {
            org: &principal.org,
            purposes: &item.purposes,
            district: &item.district,
        };
        if let Some(row) =
            key_version::superseded_by(&registry, superseded, scope, item.key_version)
        {
            let reason = key_version::superseded_reason(row, item.key_version);
            results.push(reject(index, "key_version", reason));
            continue;
        }
        let expires_day = match item.expires.as_deref().map(parse_date) {
            None => None,
            Some(Some(d)) => Some(d),
            Some(None) => {
                results.push(reject(
                    index,
                    "expires",
                    "must be a calendar date YYYY-MM-DD",
                ));
                continue;
            }
        };
        checked.push(Checked {
            index,
            kind,
            pseudonym,
            item,
            observed_day,
            expires_day,
        });
    }

    // One decision per distinct (purpose, kind).
    let mut decisions: HashMap<(String, IdentifierKind), Decision> = HashMap::new();
    for c in &checked {
        for p in &c.item.purposes {
            let key = (p.clone(), c.kind);
            if decisions.contains_key(&key) {
                continue;
            }
            let mut input = principal.policy_input(Action::Upload, p.clone(), now);
            input.identifier_kinds = vec![c.kind.as_str().to_string()];
            input.identifier_count = 1;
            input.signal_codes = vec![c.item.code.clone()];
            let d = state.decide(&input).map_err(IngestError::Policy)?;
            decisions.insert(key, d);
        }
    }

    let mut to_store: Vec<(usize, NewSignal)> = Vec::with_capacity(checked.len());
    let mut policy_hash = None;
    let mut policy_refusals: BTreeSet<String> = BTreeSet::new();
    for c in checked {
        let mut denied = Vec::new();
        let mut retention_days = u32::MAX;
        for p in &c.item.purposes {
            let d = &decisions[&(p.clone(), c.kind)];
            policy_hash.get_or_insert_with(|| d.bundle_hash.clone());
            if d.allow {
                retention_days = retention_days.min(d.obligations.retention_days);
            } else {
                denied.push(format!("{p}: {}", d.reasons.join(",")));
            }
        }
        if !denied.is_empty() {
            // A code outside the purposes' themes is the code's fault, not the purposes':
            // say so, with the codes that are valid (a person fixing a spreadsheet needs them).
            let code_only = c.item.purposes.iter().all(|p| {
                let d = &decisions[&(p.clone(), c.kind)];
                d.allow || d.reasons.iter().all(|r| r == "unknown_signal_code")
            });
            let (field, reason) = match code_only {
                true => ("code", unknown_code_reason(&registry, &c.item)),
                false => (
                    "purposes",
                    format!("refused by policy ({})", denied.join("; ")),
                ),
            };
            results.push(reject(c.index, field, reason));
            policy_refusals.extend(denied);
            continue;
        }
        let mut expires_day = c.observed_day + i64::from(retention_days.min(36_500));
        if let Some(e) = c.expires_day {
            expires_day = expires_day.min(e);
        }
        let expires_at = expires_day * 86_400;
        if expires_at <= now {
            results.push(reject(
                c.index,
                "observed",
                "the signal is already past its retention period",
            ));
            continue;
        }
        let stored = state.keys.at_rest(c.pseudonym.as_bytes());
        let signal = NewSignal::new(
            principal.org.clone(),
            c.kind,
            stored,
            c.item.key_version,
            c.item.code,
            c.item.observed,
            c.item.district,
            c.item.purposes,
            expires_at,
            now,
        )
        .in_area(c.item.gemeente, c.item.wijk);
        to_store.push((c.index, signal));
    }

    Ok(Prepared {
        results,
        to_store,
        policy_hash,
        policy_refusals,
    })
}

/// The second half of [`ingest`]: audits the policy's refusals, recognises re-uploads, stores
/// the new rows with their audit entry in one transaction and then adds them to the match
/// index. Batches of one organisation commit one at a time (crate::org_lock), in call order.
pub async fn commit(
    state: &AppState,
    principal: &Principal,
    prepared: Prepared,
) -> Result<UploadResponse, IngestError> {
    let Prepared {
        mut results,
        to_store,
        policy_hash,
        policy_refusals,
    } = prepared;
    if !policy_refusals.is_empty() {
        // Every decision is audited, the refusals too (they store nothing).
        let mut entry = entry::by(Some(principal), Operation::Refuse, action::SIGNAL_UPLOAD);
        entry.decision = Some("deny".into());
        entry.policy_hash = policy_hash.clone();
        entry.reasons = policy_refusals.into_iter().collect();
        state
            .store
            .audit()
            .append_audit(std::slice::from_ref(&entry))
            .await?;
    }
    if !to_store.is_empty() {
        // From the re-upload check through the index update: see crate::org_lock.
        let _org = state.org_locks.lock(&principal.org).await;
        // The same across brokers (PostgreSQL), then what other brokers stored up to now is in
        // the index before it is asked.
        let _org_everywhere = state.store.lock_org(&principal.org).await?;
        crate::follow::catch_up(state).await?;
        let known = reuploads(state, &to_store).await?;
        let mut signals: Vec<NewSignal> = Vec::with_capacity(to_store.len());
        let mut ids: Vec<SignalId> = Vec::with_capacity(to_store.len());
        for (i, (_, s)) in to_store.iter().enumerate() {
            match known[i] {
                Known::Stored(id) => ids.push(id),
                Known::InBatch(first) => ids.push(ids[first]),
                Known::New => {
                    ids.push(s.id);
                    signals.push(s.clone());
                }
            }
        }
        // Each committed piece of the upload (one, unless a match decision waits for SQLite's
        // writer: SignalStore::insert_signals_paced) names the items it stores or answers:
        // a new signal's own piece, a repeat within the batch its first occurrence's, a
        // re-upload of a stored signal the first piece. One piece: the entry of them all.
        let mut owner: Vec<Option<usize>> = Vec::with_capacity(known.len());
        let mut new_signals = 0;
        for k in &known {
            owner.push(match *k {
                Known::New => {
                    new_signals += 1;
                    Some(new_signals - 1)
                }
                Known::InBatch(first) => owner[first],
                Known::Stored(_) => None,
            });
        }
        let base = entry::by(Some(principal), Operation::Collect, action::SIGNAL_UPLOAD);
        let audit_for = |members: &[usize], first: bool| {
            let mut member = vec![false; signals.len()];
            for &m in members {
                member[m] = true;
            }
            let items: Vec<usize> = (0..to_store.len())
                .filter(|&i| owner[i].map_or(first, |k| member[k]))
                .collect();
            let purposes: BTreeSet<String> = items
                .iter()
                .flat_map(|&i| to_store[i].1.purposes.iter().cloned())
                .collect();
            upload_entry(
                base.clone(),
                policy_hash.clone(),
                &purposes,
                items.iter().map(|&i| &to_store[i].1),
                &items.iter().map(|&i| ids[i]).collect::<Vec<_>>(),
            )
        };
        // Also when every item was a re-upload: the entry records the request.
        let mut outcomes = state
            .store
            .signals()
            .insert_signals_paced(&signals, &audit_for)
            .await?
            .into_iter();
        let mut fresh = Vec::new();
        for (((index, s), known), id) in to_store.into_iter().zip(known).zip(ids) {
            let status = match known {
                Known::Stored(_) | Known::InBatch(_) => ItemStatus::Duplicate,
                // The store only says "duplicate" for an id stored in this very second (the
                // same id): the answer's id is right either way.
                Known::New => match outcomes.next() {
                    Some(InsertOutcome::Inserted) => ItemStatus::Stored,
                    _ => ItemStatus::Duplicate,
                },
            };
            results.push(ItemResult {
                index,
                status: status.clone(),
                id: Some(id.to_string()),
                field: None,
                reason: None,
            });
            if status == ItemStatus::Stored {
                fresh.push(IndexRecord::of_new(s));
            }
        }
        // Only after the commit: the index never shows what the database does not hold.
        // The picture's exact counts: fresh as soon as the upload committed — for the signals
        // this call indexed (the signal-feed follower, crate::follow, may have been first).
        // On the bulk pool, as `prepare`'s checks (its documentation says why).
        let (index_state, sector) = (state.clone(), principal.sector.clone());
        crate::bulk_pool::run(move || {
            let added = index_state.index.insert_new(fresh.iter());
            index_state.metrics.signals_stored(fresh.len());
            index_state.beeld.insert(
                added
                    .into_iter()
                    .map(|r| crate::beeld::PictureSignal::of(r, &sector)),
                now_secs(),
            );
        })
        .await;
    }
    results.sort_by_key(|r| r.index);
    let count = |st: ItemStatus| results.iter().filter(|r| r.status == st).count() as u64;
    Ok(UploadResponse {
        stored: count(ItemStatus::Stored),
        duplicates: count(ItemStatus::Duplicate),
        rejected: count(ItemStatus::Rejected),
        results,
    })
}

/// The audit entry of an accepted upload batch: `base` (the actor, the time) completed with the
/// policy's allow, the purposes, the at-rest pseudonym of every accepted item (`signals`, in
/// item order) and the id each was answered with (`ids`, the first upload's for a re-upload).
/// Public so the storage benchmark writes exactly what the route writes.
pub fn upload_entry<'s>(
    mut base: AuditEntry,
    policy_hash: Option<String>,
    purposes_used: &BTreeSet<String>,
    signals: impl ExactSizeIterator<Item = &'s NewSignal>,
    ids: &[SignalId],
) -> AuditEntry {
    base.decision = Some("allow".into());
    base.policy_hash = policy_hash;
    if purposes_used.len() == 1 {
        base.purpose = purposes_used.iter().next().cloned();
    }
    crate::audit::entry::set_detail(
        &mut base,
        serde_json::json!({
            "signals": signals.len(),
            "ids": ids.iter().map(SignalId::to_string).collect::<Vec<_>>(),
            "purposes": purposes_used,
        }),
    );
    let mut orgs = BTreeSet::new();
    base.pseudonyms = signals
        .map(|s| {
            orgs.insert(s.org.as_str());
            hex::encode(s.stored)
        })
        .collect();
    base.source_orgs = orgs.into_iter().map(str::to_owned).collect();
    base
}

/// What the upload path knows about one item before inserting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// A re-upload of a stored signal: answered with the stored signal's id.
    Stored(SignalId),
    /// A repeat of the item at this position earlier in the batch.
    InBatch(usize),
    /// Not stored: to insert.
    New,
}

/// Recognises re-uploads among `items` (all of one organisation), without touching the
/// database in the common case. Ids include the upload second, so a re-upload has a new id and
/// the unique index cannot tell; the observation's digest can. Each item's pseudonym slot in
/// the match index lists the organisation's live signals on it; those whose id prefix fits the
/// digest ([`crate::matching::MatchIndex::reupload_candidates`]) are read by id prefix and
/// compared field by field. No candidate: new, no read. The index holds every stored live
/// signal (filled at start-up, updated after every commit and from the signal feed, which the
/// caller applied first: `crate::follow::catch_up`); a stored
/// signal missing from it is past its expiry, and ingest refuses such a re-upload anyway.
/// Call with the organisation's lock held (crate::org_lock).
async fn reuploads(
    state: &AppState,
    items: &[(usize, NewSignal)],
) -> Result<Vec<Known>, IngestError> {
    let mut known = Vec::with_capacity(items.len());
    let mut first: HashMap<SignalDigest, usize> = HashMap::with_capacity(items.len());
    let mut prefixes: Vec<[u8; 8]> = Vec::new();
    for (i, (_, s)) in items.iter().enumerate() {
        if let Some(&f) = first.get(&s.digest) {
            known.push(Known::InBatch(f));
            continue;
        }
        first.insert(s.digest, i);
        known.push(Known::New);
        prefixes.extend(state.index.reupload_candidates(
            s.kind,
            s.key_version,
            &s.stored,
            &s.org,
            &s.digest,
        ));
    }
    if prefixes.is_empty() {
        return Ok(known);
    }
    let rows = state
        .store
        .signals()
        .signals_by_id_prefix(&prefixes)
        .await?;
    // Rows by the 12 digest bytes their id carries — `id[4..16]` in the timed form, `id[0..12]`
    // in the legacy form (id = digest) — so each item looks up its few candidates instead of
    // scanning every row read (a re-sent 10 000-line chunk reads 10 000 rows: quadratic was
    // 42 µs per line).
    let mut by_digest: HashMap<[u8; 12], Vec<&StoredSignal>> = HashMap::with_capacity(rows.len());
    for row in &rows {
        for part in [&row.id.0[4..16], &row.id.0[0..12]] {
            let key: [u8; 12] = part.try_into().expect("12 bytes");
            by_digest.entry(key).or_default().push(row);
        }
    }
    for (i, (_, s)) in items.iter().enumerate() {
        if known[i] != Known::New {
            continue;
        }
        let key: [u8; 12] = s.digest.0[..12].try_into().expect("12 bytes");
        // The oldest matching row: the first upload's id.
        if let Some(row) = by_digest
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|r| r.id.is_of(&s.digest) && s.same_observation(r))
            .min_by_key(|r| (r.uploaded_at, r.id))
        {
            known[i] = Known::Stored(row.id);
        }
    }
    Ok(known)
}

/// Withdraws signal `id` on behalf of its supplier: erased with its audit entry in one
/// transaction, then dropped from the match index. A signal of another organisation is refused
/// like one that does not exist, and the refusal is audited.
///
/// Withdrawing is a policy decision like uploading (action `withdraw`, one decision per purpose
/// of the signal, `target_org` the supplier): being of the supplying organisation is not
/// enough, the caller's role must be one that may supply under every purpose of the signal. A
/// refusal is audited with the policy's reasons and erases nothing.
pub async fn withdraw(
    state: &AppState,
    principal: &Principal,
    id: SignalId,
) -> Result<(), WithdrawError> {
    // Held from the look-up through the index update, so an upload or withdrawal of the same
    // organisation cannot interleave its own (see crate::org_lock).
    let _org = state.org_locks.lock(&principal.org).await;
    let prefix: [u8; 8] = id.0[..8].try_into().expect("8 bytes");
    let own = state
        .store
        .signals()
        .signals_by_id_prefix(&[prefix])
        .await?
        .into_iter()
        .find(|s| s.id == id && s.org == principal.org);
    let Some(own) = own else {
        return Err(not_own(state, principal, id).await?);
    };

    let now = now_secs();
    let mut reasons: BTreeSet<String> = BTreeSet::new();
    let mut policy_hash = None;
    for p in &own.purposes {
        let mut input = principal.policy_input(Action::Withdraw, p.clone(), now);
        input.target_org = Some(own.org.clone());
        // The kind withdrawn, so that a token scoped to other kinds cannot withdraw it.
        input.identifier_kinds = vec![own.kind.as_str().to_string()];
        let d = state.decide(&input).map_err(WithdrawError::Policy)?;
        policy_hash.get_or_insert(d.bundle_hash);
        if !d.allow {
            reasons.extend(d.reasons);
        }
    }
    let purpose = match own.purposes.as_slice() {
        [p] => Some(p.clone()),
        _ => None,
    };
    let detail = serde_json::json!({ "id": id.to_string(), "purposes": own.purposes });
    if !reasons.is_empty() {
        let mut refused = entry::by(Some(principal), Operation::Refuse, action::SIGNAL_WITHDRAW);
        refused.decision = Some("deny".into());
        refused.policy_hash = policy_hash;
        refused.purpose = purpose;
        refused.reasons = reasons.iter().cloned().collect();
        refused.source_orgs = vec![own.org.clone()];
        crate::audit::entry::set_detail(&mut refused, detail);
        state
            .store
            .audit()
            .append_audit(std::slice::from_ref(&refused))
            .await?;
        return Err(WithdrawError::Refused {
            id,
            reasons: reasons.into_iter().collect(),
        });
    }

    let mut entry = entry::by(Some(principal), Operation::Erase, action::SIGNAL_WITHDRAW);
    entry.decision = Some("allow".into());
    entry.policy_hash = policy_hash;
    entry.purpose = purpose;
    entry.source_orgs = vec![principal.org.clone()];
    crate::audit::entry::set_detail(&mut entry, detail);
    match state
        .store
        .signals()
        .withdraw_signal(&principal.org, id, &entry)
        .await?
    {
        Some(s) => {
            crate::retention::drop_from_index(state, std::slice::from_ref(&s));
            Ok(())
        }
        // Gone since the look-up (a purge of the expired): as if it never was.
        None => Err(not_own(state, principal, id).await?),
    }
}

/// Audits the refusal to withdraw `id`, which is no signal of the principal's organisation,
/// and answers the error to return.
async fn not_own(
    state: &AppState,
    principal: &Principal,
    id: SignalId,
) -> Result<WithdrawError, WithdrawError> {
    let mut refused = entry::by(Some(principal), Operation::Refuse, action::SIGNAL_WITHDRAW);
    refused.decision = Some("deny".into());
    refused.reasons = vec!["not_own_data".into()];
    crate::audit::entry::set_detail(&mut refused, serde_json::json!({ "id": id.to_string() }));
    state
        .store
        .audit()
        .append_audit(std::slice::from_ref(&refused))
        .await?;
    Ok(WithdrawError::NotOwnSignal {
        id,
        org: principal.org.clone(),
    })
}
