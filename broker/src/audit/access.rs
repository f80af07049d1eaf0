//! Who may see what of the audit trail — one place for every audit endpoint and the web page.
//!
//! * Every partner sees every entry's **leaf** (a salted hash that reveals nothing), so each can
//!   check that the log is complete and append-only.
//! * A **privacy officer** (role `privacy-officer`, decided by the policy's `audit_read` rule
//!   with the officer's own organisation as target) also sees the salt and the entry for the
//!   entries that **concern their organisation**: as requester (actor), recipient or supplier
//!   (source of the data) — and, when the organisation is the registered **controller**
//!   (verwerkingsverantwoordelijke) of a purpose, every entry under that purpose, whoever
//!   asked: the controller answers for the processing, so it reviews all of it (a gemeente
//!   controlling Bibob screening sees the screenings other gemeenten ran under it).
//! * A **police case embargo** (`detail.embargo_until`, Unix seconds, set from the purpose's
//!   `embargo_days`) holds the details back from an organisation that is only the *supplier*:
//!   until then it sees that a disclosure happened, and when, nothing else — and learns nothing
//!   more from any endpoint: review filters judge only what a line shows (an embargo summary
//!   matches no filter on purpose, case or partner), and the disclosure accounting of a
//!   pseudonym leaves embargoed lines out (listing one there would tell *whose* data the police
//!   received). An embargo tied to a case follows the case: it holds while the case is open
//!   and ends at its closure, within bounds ([`crate::cases::embargo`]); a reader reads the
//!   closures of the cases its lines name ([`Viewer::read_cases`]) before judging them. See
//!   docs/AUDIT.md, "Police case embargo".
//! * An erased entry shows its leaf only; an entry whose row is gone (or no longer parses)
//!   while its salt remains is shown as `missing`, to everybody: that is tampering.

use kruispunt_policy::Action;
use kruispunt_sdk::transparency::{LogLine, Summary, Withheld};
use serde_json::Value;

use crate::audit::entry::{AuditEntry, Operation};
use crate::audit::{action, entry};
use crate::auth::Principal;
use crate::cases::embargo::Closures;
use crate::civil::now_secs;
use crate::problem::Problem;
use crate::state::AppState;
use crate::store::audit_tree::LeafRow;

/// The role the policy requires to read audit entries.
pub const PRIVACY_OFFICER: &str = "privacy-officer";

/// The reader of the audit trail and what they may see.
#[derive(Debug, Clone)]
pub struct Viewer {
    org: String,
    officer: bool,
    /// The operator's view (`kruispunt audit export --data-dir`): every entry in full.
    all: bool,
    /// The bound of a scoped token: only entries under its purpose (and its case, if it names
    /// one) are shown in full; the others are leaves, like entries of other organisations.
    scope: Option<(String, Option<String>)>,
    /// The purposes whose registered controller is the reader's organisation.
    controls: Vec<String>,
    now: i64,
    /// The closures of the cases the embargoes of the lines read are tied to.
    closures: Closures,
}

/// The purposes `org` is the registered controller of.
fn controlled_by(state: &AppState, org: &str) -> Vec<String> {
    state
        .policy
        .registry()
        .purposes
        .iter()
        .filter(|p| p.controller == org)
        .map(|p| p.id.clone())
        .collect()
}

/// Whether an entry concerns `org` as requester, recipient or supplier. Erasure records concern
/// every organisation: they name no person, and without them a verifier could not tell a lawful
/// erasure from an entry deleted behind the broker's back (`LogError::ErasedWithoutRecord`).
pub fn concerns(e: &AuditEntry, org: &str) -> bool {
    e.action == kruispunt_sdk::transparency::ERASE_ACTION
        || e.actor_org.as_deref() == Some(org)
        || e.source_orgs.iter().any(|o| o == org)
        || e.recipients.iter().any(|o| o == org)
}

/// The embargo an entry carries (Unix seconds), if any.
pub fn embargo_until(e: &AuditEntry) -> Option<i64> {
    e.detail.get("embargo_until").and_then(Value::as_i64)
}

impl Viewer {
    /// The policy's `audit_read` decision for the principal's own organisation.
    fn decide(state: &AppState, principal: &Principal) -> kruispunt_policy::Decision {
        // A scoped token reads under its scope's purpose (the policy's scope rules then hold);
        // the lines it is shown are bounded to that purpose and case ([`Viewer::line`]).
        let purpose = principal.scope.as_ref().map_or("", |s| s.purpose.as_str());
        let mut input = principal.policy_input(Action::AuditRead, purpose, now_secs());
        input.target_org = Some(principal.org.clone());
        state.decide(&input).unwrap_or_else(|e| {
            tracing::error!(error = %e, "policy evaluation failed; audit entries withheld");
            kruispunt_policy::Decision {
                allow: false,
                reasons: vec!["policy_error".into()],
                flags: vec![],
                obligations: kruispunt_policy::Obligations::refused(),
                bundle_hash: state.policy.bundle_hash(),
                registry_hash: state.policy.registry_hash(),
            }
        })
    }

    /// Any partner: privacy officers see their organisation's entries, others leaves only.
    pub fn for_principal(state: &AppState, principal: &Principal) -> Viewer {
        Viewer {
            org: principal.org.clone(),
            officer: Self::decide(state, principal).allow,
            all: false,
            scope: scope_of(principal),
            controls: controlled_by(state, &principal.org),
            now: now_secs(),
            closures: Closures::default(),
        }
    }

    /// A privacy officer, or a 403 problem (recorded as a refusal) for anyone else.
    pub async fn officer(
        state: &AppState,
        principal: &Principal,
        endpoint: &str,
    ) -> Result<Viewer, Problem> {
        let d = Self::decide(state, principal);
        if d.allow {
            return Ok(Viewer {
                org: principal.org.clone(),
                officer: true,
                all: false,
                scope: scope_of(principal),
                controls: controlled_by(state, &principal.org),
                now: now_secs(),
                closures: Closures::default(),
            });
        }
        let mut e = entry::with_decision(
            entry::by(Some(principal), Operation::Refuse, action::AUDIT_READ),
            &d,
        );
        crate::audit::entry::set_detail(&mut e, serde_json::json!({ "endpoint": endpoint }));
        state
            .store
            .audit()
            .append_audit(std::slice::from_ref(&e))
            .await?;
        Err(Problem::new(
            axum::http::StatusCode::FORBIDDEN,
            "policy-denied",
            "Refused by policy",
            format!(
                "reading audit entries needs the {PRIVACY_OFFICER} role: {}",
                d.reasons.join(", ")
            ),
        )
        .with_reasons(d.reasons))
    }

    /// Whoever holds the broker's data directory (and so its database and keys): sees every
    /// entry in full. Used by `kruispunt audit export --data-dir`.
    pub fn operator() -> Viewer {
        Viewer {
            org: String::new(),
            officer: true,
            all: true,
            scope: None,
            controls: Vec::new(),
            now: now_secs(),
            closures: Closures::default(),
        }
    }

    /// The reader's organisation.
    pub fn org(&self) -> &str {
        &self.org
    }

    /// Reads the closures of the cases that the embargoes among `rows` are tied to, so that
    /// [`Viewer::line`] ends them by the case's rule. Without it an embargo tied to a case holds
    /// to its latest end (never shorter than the rule): call it before judging a page of rows.
    pub async fn read_cases(&mut self, state: &AppState, rows: &[LeafRow]) -> Result<(), Problem> {
        if self.officer && !self.all {
            self.closures.read_for(&*state.store, rows).await?;
        }
        Ok(())
    }

    /// The lines of `rows` as this reader may see them ([`Viewer::read_cases`], then
    /// [`Viewer::line`] for each).
    pub async fn lines(
        &mut self,
        state: &AppState,
        rows: Vec<LeafRow>,
    ) -> Result<Vec<LogLine>, Problem> {
        self.read_cases(state, &rows).await?;
        Ok(rows.into_iter().map(|row| self.line(row)).collect())
    }

    /// The entry as this reader may see it: in full, as an embargo summary, or its leaf only.
    /// The line always carries the *stored* leaf, never a recomputed one, so that a verifier
    /// notices an edited entry.
    ///
    /// The line is all a reader gets of the entry: filters and look-ups must judge the line,
    /// never the entry behind it (see [`shown`]), or a filter on a withheld field would confirm
    /// what the line withholds.
    pub fn line(&self, row: LeafRow) -> LogLine {
        let leaf_only = |why| LogLine::leaf_only(row.seq, row.leaf, why);
        let Some(salt) = row.salt else {
            return leaf_only(Withheld::Erased);
        };
        let Some(entry) = row
            .entry
            .as_deref()
            .and_then(|b| AuditEntry::from_json(b).ok())
        else {
            return leaf_only(Withheld::Missing);
        };
        if !self.officer {
            return leaf_only(Withheld::NotPermitted);
        }
        let controller = entry
            .purpose
            .as_ref()
            .is_some_and(|p| self.controls.contains(p));
        if !self.all && !controller && !concerns(&entry, &self.org) {
            return leaf_only(Withheld::NotConcerned);
        }
        if let Some((purpose, case)) = &self.scope {
            let in_scope = entry.purpose.as_ref() == Some(purpose)
                && case
                    .as_ref()
                    .is_none_or(|c| entry.case_reference.as_ref() == Some(c));
            if !in_scope {
                return leaf_only(Withheld::NotConcerned);
            }
        }
        let supplier_only = !self.all
            && entry.actor_org.as_deref() != Some(self.org.as_str())
            && !entry.recipients.contains(&self.org);
        let holds = supplier_only
            && crate::cases::embargo::end(&entry, &self.closures).is_some_and(|u| u > self.now);
        if holds {
            let mut line = LogLine::leaf_only(row.seq, row.leaf, Withheld::Embargo);
            // The latest end, the same from the query on: the summary tells nothing of the
            // case's progress (an embargo tied to a case may end earlier, at its closure).
            line.embargo_until = crate::cases::embargo::latest_end(&entry);
            line.summary = Some(Summary {
                time_ms: entry.time_ms,
                operation: entry.operation,
            });
            return line;
        }
        LogLine {
            index: row.seq,
            leaf: row.leaf,
            salt: Some(salt),
            entry: Some(entry),
            withheld: None,
            embargo_until: None,
            summary: None,
        }
    }
}

/// The purpose and case a scoped token bounds audit reads to.
fn scope_of(principal: &Principal) -> Option<(String, Option<String>)> {
    principal
        .scope
        .as_ref()
        .map(|s| (s.purpose.clone(), s.case_reference.clone()))
}

/// The time and operation a line shows its reader — the entry's, or the embargo summary's —
/// or `None` for a leaf-only line.
pub fn shown(line: &LogLine) -> Option<(i64, Operation)> {
    match (&line.entry, &line.summary) {
        (Some(e), _) => Some((e.time_ms, e.operation)),
        (None, Some(s)) => Some((s.time_ms, s.operation)),
        (None, None) => None,
    }
}

/// Records that `principal` read the audit trail (`consult`, `audit.read`) before the answer
/// leaves: reading the trail is itself on the trail. `pseudonyms` names whose history was read.
pub async fn record_read(
    state: &AppState,
    principal: &Principal,
    what: Value,
    pseudonyms: Vec<String>,
) -> Result<(), Problem> {
    let mut e = entry::by(Some(principal), Operation::Consult, action::AUDIT_READ);
    e.decision = Some("allow".into());
    crate::audit::entry::set_detail(&mut e, what);
    e.pseudonyms = pseudonyms;
    state
        .store
        .audit()
        .append_audit(std::slice::from_ref(&e))
        .await?;
    Ok(())
}
