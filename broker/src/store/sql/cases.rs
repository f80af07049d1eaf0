//! [`CaseStore`] on either backend, written once: the statements mean the same on SQLite and
//! PostgreSQL. A move is a compare-and-set on the state (`WHERE state = $from`), a withdrawal
//! one on the issuer and `withdrawn_at IS NULL`, so two brokers moving the same case cannot
//! both succeed, without row locks.

use kruispunt_sdk::cases::{Case, CaseResult, CaseState, Consent, InterventionKind, LegalFrame};
use kruispunt_sdk::wire::Level;
use sqlx::Row;

use super::Dialect;
use crate::audit::entry::AuditEntry;
use crate::store::cases::{CaseContribution, CaseMove, CaseSpan, CaseStore};
use crate::store::{StoreError, count_from_db, count_to_db};

/// A backend's own part of the case storage (nothing so far: every statement is shared).
pub(crate) trait CaseDialect: Dialect {}

const CASE_COLUMNS: &str = "reference, gemeente, themes, legal_frame, state, intervention, \
     result, opened_by_org, opened_at, updated_by_org, updated_at";

const CONSENT_COLUMNS: &str = "id, case_reference, purpose, kinds, max_identifiers, ceiling, \
     valid_until, issuer_org, issued_at, withdrawn_at";

fn to_json(list: &[impl serde::Serialize]) -> Result<String, StoreError> {
    serde_json::to_string(list).map_err(|e| StoreError::Invalid(format!("list: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn corrupt<T>(what: &str, value: &str, parsed: Option<T>) -> Result<T, StoreError> {
    parsed.ok_or_else(|| StoreError::Corrupt(format!("unknown {what} {value:?}")))
}

fn level_of(s: &str) -> Option<Level> {
    [Level::None, Level::Hit, Level::Categories, Level::Details]
        .into_iter()
        .find(|l| l.as_str() == s)
}

/// A case row (without participants) in [`CASE_COLUMNS`] order.
fn case_from_row<R>(row: &R) -> Result<Case, StoreError>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let state: String = row.try_get(4)?;
    let intervention: Option<String> = row.try_get(5)?;
    let result: Option<String> = row.try_get(6)?;
    let frames: Vec<String> = from_json("cases.legal_frame", &row.try_get::<String, _>(3)?)?;
    Ok(Case {
        reference: row.try_get(0)?,
        gemeente: row.try_get(1)?,
        themes: from_json("cases.themes", &row.try_get::<String, _>(2)?)?,
        legal_frame: frames
            .iter()
            .map(|f| corrupt("legal frame", f, LegalFrame::parse(f)))
            .collect::<Result<_, _>>()?,
        participants: Vec::new(),
        state: corrupt("case state", &state, CaseState::parse(&state))?,
        intervention: intervention
            .map(|i| corrupt("intervention", &i, InterventionKind::parse(&i)))
            .transpose()?,
        result: result
            .map(|r| corrupt("result", &r, CaseResult::parse(&r)))
            .transpose()?,
        opened_by: row.try_get(7)?,
        opened_at: row.try_get(8)?,
        updated_by: row.try_get(9)?,
        updated_at: row.try_get(10)?,
    })
}

/// A consent row in [`CONSENT_COLUMNS`] order.
fn consent_from_row<R>(row: &R) -> Result<Consent, StoreError>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let ceiling: String = row.try_get(5)?;
    Ok(Consent {
        id: row.try_get(0)?,
        case_reference: row.try_get(1)?,
        purpose: row.try_get(2)?,
        kinds: from_json("consents.kinds", &row.try_get::<String, _>(3)?)?,
        max_identifiers: count_from_db(row.try_get(4)?)?,
        ceiling: corrupt("ceiling", &ceiling, level_of(&ceiling))?,
        valid_until: row.try_get(6)?,
        issued_by: row.try_get(7)?,
        issued_at: row.try_get(8)?,
        withdrawn_at: row.try_get(9)?,
    })
}

shared_impl! {
    impl CaseStore for CaseDialect where {
        for<'q> Option<i64>: ::sqlx::Decode<'q, D::DB>,
        for<'q> Option<String>: ::sqlx::Decode<'q, D::DB>,
        for<'q> Vec<u8>: ::sqlx::Decode<'q, D::DB> + ::sqlx::Type<D::DB>,
    } {
        async fn open_case(
            &self,
            case: &Case,
            user: &str,
            audit: &AuditEntry,
        ) -> Result<Option<u64>, StoreError> {
            let mut tx = self.begin_write().await?;
            let inserted = sqlx::query(
                "INSERT INTO cases (reference, gemeente, themes, legal_frame, state, \
                 intervention, result, opened_by_org, opened_by_user, opened_at, updated_by_org, \
                 updated_by_user, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, NULL, NULL, $6, $7, $8, $6, $7, $8) \
                 ON CONFLICT (reference) DO NOTHING",
            )
            .bind(case.reference.as_str())
            .bind(case.gemeente.as_str())
            .bind(to_json(&case.themes)?)
            .bind(to_json(&case.legal_frame)?)
            .bind(case.state.as_str())
            .bind(case.opened_by.as_str())
            .bind(user)
            .bind(case.opened_at)
            .execute(&mut *tx)
            .await?;
            if D::rows_affected(&inserted) == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
            for org in &case.participants {
                sqlx::query(
                    "INSERT INTO case_participants (reference, org) VALUES ($1, $2) \
                     ON CONFLICT (reference, org) DO NOTHING",
                )
                .bind(case.reference.as_str())
                .bind(org.as_str())
                .execute(&mut *tx)
                .await?;
            }
            let seq = D::append(&mut tx, &[audit]).await?;
            tx.commit().await?;
            Ok(seq.first().copied())
        }

        async fn move_case(
            &self,
            reference: &str,
            change: &CaseMove<'_>,
            audit: &AuditEntry,
        ) -> Result<Option<u64>, StoreError> {
            let mut tx = self.begin_write().await?;
            let moved = sqlx::query(
                "UPDATE cases SET state = $3, \
                 intervention = CASE WHEN $4 = '' THEN intervention ELSE $4 END, \
                 result = CASE WHEN $5 = '' THEN result ELSE $5 END, \
                 updated_by_org = $6, updated_by_user = $7, updated_at = $8, \
                 intervention_at = CASE WHEN $3 = 'intervention' THEN $8 ELSE intervention_at END, \
                 closed_at = CASE WHEN $3 = 'closed' THEN $8 ELSE closed_at END \
                 WHERE reference = $1 AND state = $2",
            )
            .bind(reference)
            .bind(change.from.as_str())
            .bind(change.to.as_str())
            .bind(change.intervention.map_or("", |i| i.as_str()))
            .bind(change.result.map_or("", |r| r.as_str()))
            .bind(change.by_org)
            .bind(change.by_user)
            .bind(change.at)
            .execute(&mut *tx)
            .await?;
            if D::rows_affected(&moved) == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
            let seq = D::append(&mut tx, &[audit]).await?;
            if change.to == CaseState::Closed
                && let Some(&closed) = seq.first()
            {
                // The closure's entry, for the embargoes tied to the case (migration 0017).
                sqlx::query("UPDATE cases SET closed_seq = $2 WHERE reference = $1")
                    .bind(reference)
                    .bind(count_to_db(closed)?)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(seq.first().copied())
        }

        async fn case_closure(&self, reference: &str) -> Result<Option<Option<u64>>, StoreError> {
            let row = sqlx::query("SELECT state, closed_seq FROM cases WHERE reference = $1")
                .bind(reference)
                .fetch_optional(self.reader())
                .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let state: String = row.try_get(0)?;
            let seq: Option<i64> = row.try_get(1)?;
            let closed = corrupt("case state", &state, CaseState::parse(&state))? == CaseState::Closed;
            Ok(Some(if closed { seq.map(count_from_db).transpose()? } else { None }))
        }

        async fn case(&self, reference: &str) -> Result<Option<Case>, StoreError> {
            let Some(row) = sqlx::query(&format!(
                "SELECT {CASE_COLUMNS} FROM cases WHERE reference = $1"
            ))
            .bind(reference)
            .fetch_optional(self.reader())
            .await?
            else {
                return Ok(None);
            };
            let mut case = case_from_row(&row)?;
            case.participants = sqlx::query_scalar::<D::DB, String>(
                "SELECT org FROM case_participants WHERE reference = $1 ORDER BY org",
            )
            .bind(reference)
            .fetch_all(self.reader())
            .await?;
            Ok(Some(case))
        }

        async fn case_state(&self, reference: &str) -> Result<Option<CaseState>, StoreError> {
            let state: Option<String> =
                sqlx::query_scalar("SELECT state FROM cases WHERE reference = $1")
                    .bind(reference)
                    .fetch_optional(self.reader())
                    .await?;
            state
                .map(|s| corrupt("case state", &s, CaseState::parse(&s)))
                .transpose()
        }

        async fn cases_of(&self, org: &str) -> Result<Vec<Case>, StoreError> {
            const MINE: &str = "SELECT reference FROM cases WHERE opened_by_org = $1 \
                 UNION SELECT reference FROM case_participants WHERE org = $1";
            let rows = sqlx::query(&format!(
                "SELECT {CASE_COLUMNS} FROM cases WHERE reference IN ({MINE}) ORDER BY reference"
            ))
            .bind(org)
            .fetch_all(self.reader())
            .await?;
            let mut cases = rows
                .iter()
                .map(case_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let participants = sqlx::query(&format!(
                "SELECT reference, org FROM case_participants WHERE reference IN ({MINE}) \
                 ORDER BY reference, org"
            ))
            .bind(org)
            .fetch_all(self.reader())
            .await?;
            for row in &participants {
                let reference: String = row.try_get(0)?;
                if let Ok(i) = cases.binary_search_by(|c| c.reference.cmp(&reference)) {
                    cases[i].participants.push(row.try_get(1)?);
                }
            }
            Ok(cases)
        }

        async fn case_spans(&self) -> Result<Vec<CaseSpan>, StoreError> {
            let rows = sqlx::query(
                "SELECT reference, gemeente, themes, opened_by_org, opened_at, intervention, \
                 intervention_at, closed_at FROM cases ORDER BY reference",
            )
            .fetch_all(self.reader())
            .await?;
            let mut spans = Vec::with_capacity(rows.len());
            for row in &rows {
                let intervention: Option<String> = row.try_get(5)?;
                let intervention_at: Option<i64> = row.try_get(6)?;
                let opener: String = row.try_get(3)?;
                spans.push(CaseSpan {
                    reference: row.try_get(0)?,
                    gemeente: row.try_get(1)?,
                    themes: from_json("cases.themes", &row.try_get::<String, _>(2)?)?,
                    participants: vec![opener],
                    opened_at: row.try_get(4)?,
                    intervention: match (intervention, intervention_at) {
                        (Some(i), Some(at)) => Some((
                            corrupt("intervention", &i, InterventionKind::parse(&i))?,
                            at,
                        )),
                        _ => None,
                    },
                    closed_at: row.try_get(7)?,
                });
            }
            let participants = sqlx::query(
                "SELECT reference, org FROM case_participants ORDER BY reference, org",
            )
            .fetch_all(self.reader())
            .await?;
            for row in &participants {
                let reference: String = row.try_get(0)?;
                if let Ok(i) = spans.binary_search_by(|c| c.reference.cmp(&reference)) {
                    let org: String = row.try_get(1)?;
                    if !spans[i].participants.contains(&org) {
                        spans[i].participants.push(org);
                    }
                }
            }
            Ok(spans)
        }

        async fn contributions_of(&self, org: &str) -> Result<Vec<CaseContribution>, StoreError> {
            let rows = sqlx::query(
                "SELECT c.case_reference, c.signal, c.disclosed_at, c.embargo_until, \
                 k.intervention, k.intervention_at FROM case_contributions c \
                 JOIN cases k ON k.reference = c.case_reference \
                 WHERE c.org = $1 ORDER BY c.disclosed_at, c.audit_seq",
            )
            .bind(org)
            .fetch_all(self.reader())
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let intervention: Option<String> = row.try_get(4)?;
                let intervention_at: Option<i64> = row.try_get(5)?;
                let signal: Vec<u8> = row.try_get(1)?;
                out.push(CaseContribution {
                    case_reference: row.try_get(0)?,
                    signal: signal.try_into().map_err(|_| {
                        StoreError::Corrupt("case_contributions.signal: not 8 bytes".into())
                    })?,
                    disclosed_at: row.try_get(2)?,
                    embargo_until: row.try_get(3)?,
                    intervention: match (intervention, intervention_at) {
                        (Some(i), Some(at)) => Some((
                            corrupt("intervention", &i, InterventionKind::parse(&i))?,
                            at,
                        )),
                        _ => None,
                    },
                });
            }
            Ok(out)
        }

        async fn issue_consent(
            &self,
            consent: &Consent,
            user: &str,
            audit: &AuditEntry,
        ) -> Result<u64, StoreError> {
            let mut tx = self.begin_write().await?;
            sqlx::query(
                "INSERT INTO consents (id, case_reference, purpose, kinds, max_identifiers, \
                 ceiling, valid_until, issuer_org, issuer_user, issued_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(consent.id.as_str())
            .bind(consent.case_reference.as_str())
            .bind(consent.purpose.as_str())
            .bind(to_json(&consent.kinds)?)
            .bind(count_to_db(consent.max_identifiers)?)
            .bind(consent.ceiling.as_str())
            .bind(consent.valid_until)
            .bind(consent.issued_by.as_str())
            .bind(user)
            .bind(consent.issued_at)
            .execute(&mut *tx)
            .await?;
            let seq = D::append(&mut tx, &[audit]).await?;
            tx.commit().await?;
            seq.first()
                .copied()
                .ok_or_else(|| StoreError::Corrupt("no audit sequence".into()))
        }

        async fn consent(&self, id: &str) -> Result<Option<Consent>, StoreError> {
            sqlx::query(&format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.reader())
                .await?
                .map(|row| consent_from_row(&row))
                .transpose()
        }

        async fn withdraw_consent(
            &self,
            id: &str,
            issuer: &str,
            user: &str,
            at: i64,
            audit: &AuditEntry,
        ) -> Result<Option<u64>, StoreError> {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query(
                "UPDATE consents SET withdrawn_at = $3, withdrawn_by_user = $4 \
                 WHERE id = $1 AND issuer_org = $2 AND withdrawn_at IS NULL",
            )
            .bind(id)
            .bind(issuer)
            .bind(at)
            .bind(user)
            .execute(&mut *tx)
            .await?;
            if D::rows_affected(&done) == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
            let seq = D::append(&mut tx, &[audit]).await?;
            tx.commit().await?;
            Ok(seq.first().copied())
        }
    }
}
