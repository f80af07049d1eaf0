//! The JSON wire types of the broker's API, defined once and shared by the broker and the
//! client. Every request type refuses unknown fields: a misspelt field is an error, never a
//! silently ignored option. `docs/openapi.json` documents the same shapes.

use serde::{Deserialize, Serialize};

/// Largest batch `POST /v1/signals` takes; bigger uploads use the NDJSON bulk form.
pub const MAX_SIGNAL_BATCH: usize = 10_000;
/// Largest number of identifiers in one `POST /v1/matches`.
pub const MAX_MATCH_IDENTIFIERS: usize = 10_000;

/// One signal as a partner uploads it. Kinds and codes are strings here so that a bad item
/// is reported by index instead of failing the whole batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalIn {
    /// Identifier kind, e.g. `kenteken`.
    pub kind: String,
    /// 64 lowercase hex characters.
    pub pseudonym: String,
    pub key_version: u32,
    /// Signal code from the registry's taxonomy.
    pub code: String,
    /// `YYYY-MM-DD`.
    pub observed: String,
    /// District id from the registry.
    pub district: String,
    /// Purposes the signal may be used for (at least one).
    pub purposes: Vec<String>,
    /// Optional earlier end of retention, `YYYY-MM-DD` (never later than the purpose allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalBatch {
    pub signals: Vec<SignalIn>,
}

/// Outcome of one item of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Stored,
    Duplicate,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemResult {
    pub index: usize,
    pub status: ItemStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// For rejected items: the field at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For rejected items: the rule broken (or the policy's reason codes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadResponse {
    pub stored: u64,
    pub duplicates: u64,
    pub rejected: u64,
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

impl Level {
    /// The wire name (`none`, `hit`, `categories`, `details`), as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Hit => "hit",
            Level::Categories => "categories",
            Level::Details => "details",
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierRef {
    pub kind: String,
    pub pseudonym: String,
    pub key_version: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRequest {
    pub purpose: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coalition: Option<String>,
    pub identifiers: Vec<IdentifierRef>,
    /// Requested disclosure level; defaults to `hit`.
    #[serde(default = "default_level")]
    pub level: Level,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_id: Option<String>,
    /// Recorded necessity justification, required above `hit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
}

fn default_level() -> Level {
    Level::Hit
}

/// A signal revealed at `details` level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalDetail {
    pub id: String,
    pub source: String,
    pub code: String,
    pub observed: String,
    pub district: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchResult {
    pub index: usize,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchResponse {
    /// The level actually disclosed (the policy may allow less than requested).
    pub level: Level,
    pub results: Vec<MatchResult>,
    /// The audit entry recording this decision (committed before this response was sent).
    pub audit_seq: u64,
    pub policy_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawResponse {
    pub id: String,
    pub withdrawn: bool,
}

/// RFC 9457 problem details as the broker sends them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemDetails {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}
