//! The JSON wire types of the broker's API, defined once and shared by the broker and the
//! client. Every request type refuses unknown fields: a misspelt field is an error, never a
//! silently ignored option. `docs/openapi.json` documents the same shapes.

use serde::{Deserialize, Serialize};

/// Largest batch `POST /v1/signals` takes; bigger uploads use the NDJSON bulk form.
pub const MAX_SIGNAL_BATCH: usize = 10_000;
/// Largest number of identifiers in one `POST /v1/matches`.
pub const MAX_MATCH_IDENTIFIERS: usize = 10_000;

/// Longest necessity justification (bytes of UTF-8) a match request may carry. Every free text
/// of a request that reaches the permanent audit log or a usage-counter key is bounded, so that
/// a caller cannot grow the log (which is never rewritten) or the counters at will; the broker
/// checks the bounds before any policy decision or audit entry, and refuses a longer text with
/// a 400 problem naming the field. docs/API.md, "Limits on free text", lists them.
pub const MAX_JUSTIFICATION_BYTES: usize = 2_000;
/// Longest identifier-like text (bytes of UTF-8): a purpose, coalition, case reference, legal
/// basis or consent id of a match request, and a signal's kind, code, district, purposes and
/// dates. Registry ids and case numbers are far shorter.
pub const MAX_SHORT_TEXT_BYTES: usize = 128;
/// Most purposes one uploaded signal may name.
pub const MAX_SIGNAL_PURPOSES: usize = 16;

/// A free-text field over its limit ([`MAX_JUSTIFICATION_BYTES`], [`MAX_SHORT_TEXT_BYTES`],
/// [`MAX_SIGNAL_PURPOSES`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: at most {limit} {unit}")]
pub struct TooLong {
    /// The field, as named on the wire (`justification`, `purposes`, ...).
    pub field: &'static str,
    /// Its limit.
    pub limit: usize,
    /// What the limit counts: `bytes` or `items`.
    pub unit: &'static str,
}

fn bounded(field: &'static str, text: &str, limit: usize) -> Result<(), TooLong> {
    if text.len() > limit {
        return Err(TooLong {
            field,
            limit,
            unit: "bytes",
        });
    }
    Ok(())
}

fn bounded_opt(field: &'static str, text: &Option<String>, limit: usize) -> Result<(), TooLong> {
    text.as_deref().map_or(Ok(()), |t| bounded(field, t, limit))
}

/// One signal as a partner uploads it. Kinds and codes are strings here so that a bad item
/// is reported by index instead of failing the whole batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalIn {
    /// Identifier kind, e.g. `kenteken`.
    pub kind: String,
    /// 64 lowercase hex characters.
    pub pseudonym: String,
    /// Version of the coalition key the pseudonym was made with; only pseudonyms of the same
    /// version can match.
    pub key_version: u32,
    /// Signal code from the registry's taxonomy.
    pub code: String,
    /// `YYYY-MM-DD`.
    pub observed: String,
    /// District id from the registry.
    pub district: String,
    /// Optional CBS municipality code (`GM` + four digits, e.g. `GM0344`) of one of the
    /// registry's gemeenten, lying in `district`. Without it the signal counts in the
    /// ondermijningsbeeld at district level only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemeente: Option<String>,
    /// Optional CBS wijk code: `WK`, the four digits of the `gemeente`'s code, two digits (e.g.
    /// `WK034405`). Only with a `gemeente`, and only a wijk of that gemeente.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wijk: Option<String>,
    /// Purposes the signal may be used for (at least one).
    pub purposes: Vec<String>,
    /// Optional earlier end of retention, `YYYY-MM-DD` (never later than the purpose allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

impl SignalIn {
    /// Checks every free-text field against its limit (the first over it is the error).
    pub fn check_lengths(&self) -> Result<(), TooLong> {
        bounded("kind", &self.kind, MAX_SHORT_TEXT_BYTES)?;
        bounded("code", &self.code, MAX_SHORT_TEXT_BYTES)?;
        bounded("observed", &self.observed, MAX_SHORT_TEXT_BYTES)?;
        bounded("district", &self.district, MAX_SHORT_TEXT_BYTES)?;
        bounded_opt("gemeente", &self.gemeente, MAX_SHORT_TEXT_BYTES)?;
        bounded_opt("wijk", &self.wijk, MAX_SHORT_TEXT_BYTES)?;
        bounded_opt("expires", &self.expires, MAX_SHORT_TEXT_BYTES)?;
        if self.purposes.len() > MAX_SIGNAL_PURPOSES {
            return Err(TooLong {
                field: "purposes",
                limit: MAX_SIGNAL_PURPOSES,
                unit: "items",
            });
        }
        for p in &self.purposes {
            bounded("purposes", p, MAX_SHORT_TEXT_BYTES)?;
        }
        Ok(())
    }
}

/// The body of `POST /v1/signals`: at most [`MAX_SIGNAL_BATCH`] signals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalBatch {
    /// The signals, answered item by item in [`UploadResponse::results`] (same order).
    pub signals: Vec<SignalIn>,
}

/// Outcome of one item of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Stored as a new signal.
    Stored,
    /// The same observation was uploaded before; nothing new is stored.
    Duplicate,
    /// Refused; [`ItemResult::field`] and [`ItemResult::reason`] say why.
    Rejected,
}

/// What became of one uploaded signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemResult {
    /// Position of the item in the upload (0-based).
    pub index: usize,
    /// Stored, duplicate or rejected.
    pub status: ItemStatus,
    /// The signal's id: opaque and time-ordered (it begins with the upload second). A
    /// duplicate answers with the id of the first upload of that observation; absent when
    /// rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// For rejected items: the field at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For rejected items: the rule broken (or the policy's reason codes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The answer to an upload: counts, and one result per item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadResponse {
    /// Items stored as new signals.
    pub stored: u64,
    /// Items that repeated an earlier upload.
    pub duplicates: u64,
    /// Items refused.
    pub rejected: u64,
    /// One result per item, in upload order.
    pub results: Vec<ItemResult>,
}

/// Ordered disclosure levels: `none` < `hit` < `categories` < `details`.
///
/// One type for the whole chain: what a partner asks for ([`MatchRequest::level`]), what the
/// policy allows (its input's `requested_level`, its obligations' `disclosure_level`, a
/// purpose's ceiling) and what the broker discloses ([`MatchResponse`]), so the order is
/// defined once and no mapping can drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Aggregates only.
    None,
    /// Whether there is a match (hit / no hit).
    Hit,
    /// Which signal codes and sectors.
    Categories,
    /// The supplying organisations and dates too.
    Details,
}

crate::wire_names! {
    /// The wire name (`none`, `hit`, `categories`, `details`), as serde writes it.
    Level {
        None => "none",
        Hit => "hit",
        Categories => "categories",
        Details => "details",
    }
}

/// One pseudonymised identifier to match; the broker never sees the identifier itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierRef {
    /// Identifier kind, e.g. `kenteken`.
    pub kind: String,
    /// 64 lowercase hex characters.
    pub pseudonym: String,
    /// Version of the coalition key the pseudonym was made with.
    pub key_version: u32,
}

/// The body of `POST /v1/matches`: the scoped match question. Everything the policy needs
/// to judge the request is in it (purpose, case, legal basis, consent, justification), so a
/// refusal can name what is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRequest {
    /// Purpose id from the registry the question is asked under.
    pub purpose: String,
    /// Coalition the question is asked in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coalition: Option<String>,
    /// The identifiers to look up (at most [`MAX_MATCH_IDENTIFIERS`]).
    pub identifiers: Vec<IdentifierRef>,
    /// Requested disclosure level; defaults to `hit`.
    #[serde(default = "default_level")]
    pub level: Level,
    /// Case reference (zaaknummer), required for police purposes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_reference: Option<String>,
    /// Legal basis claimed, e.g. `wpg-art-19`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<String>,
    /// Wpg art. 19 consent id, or the Wpg art. 20 partnership decision id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_id: Option<String>,
    /// Recorded necessity justification, required above `hit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
}

impl MatchRequest {
    /// Checks every free-text field against its limit (the first over it is the error).
    pub fn check_lengths(&self) -> Result<(), TooLong> {
        bounded("purpose", &self.purpose, MAX_SHORT_TEXT_BYTES)?;
        bounded_opt("coalition", &self.coalition, MAX_SHORT_TEXT_BYTES)?;
        bounded_opt("case_reference", &self.case_reference, MAX_SHORT_TEXT_BYTES)?;
        bounded_opt("legal_basis", &self.legal_basis, MAX_SHORT_TEXT_BYTES)?;
        bounded_opt("consent_id", &self.consent_id, MAX_SHORT_TEXT_BYTES)?;
        bounded_opt(
            "justification",
            &self.justification,
            MAX_JUSTIFICATION_BYTES,
        )?;
        // A kind is echoed in the answer's problem; a pseudonym is checked as 64 hex digits.
        if self
            .identifiers
            .iter()
            .any(|id| id.kind.len() > MAX_SHORT_TEXT_BYTES)
        {
            return Err(TooLong {
                field: "identifiers[].kind",
                limit: MAX_SHORT_TEXT_BYTES,
                unit: "bytes",
            });
        }
        Ok(())
    }
}

fn default_level() -> Level {
    Level::Hit
}

/// A signal revealed at `details` level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalDetail {
    /// The signal's id.
    pub id: String,
    /// The supplying organisation.
    pub source: String,
    /// Signal code from the taxonomy.
    pub code: String,
    /// `YYYY-MM-DD`.
    pub observed: String,
    /// District id from the registry.
    pub district: String,
}

/// The answer for one identifier, filtered to the disclosed level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchResult {
    /// Position of the identifier in the request (0-based).
    pub index: usize,
    /// Whether enough independent sources know the identifier (at `hit` and above; always
    /// `false` at `none`).
    pub hit: bool,
    /// Signal codes (at `categories` and above).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Sectors of the sources (at `categories` and above).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sectors: Vec<String>,
    /// Individual signals (at `details`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<SignalDetail>,
}

/// The answer to a match question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchResponse {
    /// The level actually disclosed (the policy may allow less than requested).
    pub level: Level,
    /// One result per identifier, in request order.
    pub results: Vec<MatchResult>,
    /// The audit entry recording this decision (committed before this response was sent).
    pub audit_seq: u64,
    /// Hex SHA-256 of the policy bundle that decided, as recorded in the audit entry.
    pub policy_hash: String,
}

/// The answer to `DELETE /v1/signals/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawResponse {
    /// The signal's id.
    pub id: String,
    /// Whether the signal was withdrawn (a signal of another organisation is refused instead).
    pub withdrawn: bool,
}

/// RFC 9457 problem details as the broker sends them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemDetails {
    /// URI naming the kind of problem (`type` on the wire); stable, so clients branch on it.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short human summary of the kind of problem.
    pub title: String,
    /// The HTTP status code, repeated.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The policy's reason codes, when the policy refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Id of the request, to quote when asking the broker's operator (reserved: the broker does
    /// not set it yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}
