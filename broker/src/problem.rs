//! RFC 9457 problem details: every error the API returns is `application/problem+json` with a
//! stable `type` per error, so clients branch on the type, not on the wording.
//!
//! The domain modules return their own errors ([`crate::matching::MatchError`],
//! [`crate::ingest::IngestError`], [`crate::ingest::WithdrawError`], [`crate::mls::delivery::DeliveryError`],
//! [`crate::mls::key_version::KeyVersionError`], [`crate::store::StoreError`]); this file is the
//! one place that turns them into problems — status, type, title, detail, reasons and
//! `Retry-After` — at the HTTP edge.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kruispunt_sdk::wire::ProblemDetails;

/// Prefix of every problem type; the slug after it is stable and documented in docs/API.md.
pub const TYPE_PREFIX: &str = "urn:kruispunt:problem:";

#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub reasons: Vec<String>,
    pub retry_after: Option<u64>,
    /// Extension members of this problem type (RFC 9457 §3.2), e.g. `epsilon_left` (boxed:
    /// rare, and a problem travels in every handler's `Result`).
    pub extensions: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            slug,
            title,
            detail: detail.into(),
            reasons: Vec::new(),
            retry_after: None,
            extensions: None,
        }
    }

    pub fn bad_request(slug: &'static str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            slug,
            "The request is not valid",
            detail,
        )
    }

    /// The database (and so the audit trail) cannot be written: nothing may be disclosed.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        let mut p = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage-unavailable",
            "The broker cannot record this request right now",
            detail,
        );
        p.retry_after = Some(1);
        p
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// Adds the extension member `name` (RFC 9457 §3.2).
    pub fn with_extension(mut self, name: &str, value: serde_json::Value) -> Self {
        self.extensions
            .get_or_insert_default()
            .insert(name.to_string(), value);
        self
    }

    pub fn with_reasons(mut self, reasons: Vec<String>) -> Self {
        self.reasons = reasons;
        self
    }

    pub fn body(&self) -> ProblemDetails {
        ProblemDetails {
            type_uri: format!("{TYPE_PREFIX}{}", self.slug),
            title: self.title.to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            reasons: self.reasons.clone(),
            request_id: None,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = serde_json::to_value(self.body()).unwrap_or_default();
        if let Some(members) = body.as_object_mut() {
            for (k, v) in self.extensions.iter().flat_map(|m| m.iter()) {
                members.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<crate::store::StoreError> for Problem {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "storage error");
        Problem::unavailable(
            "the database could not be written or read; nothing was disclosed or changed",
        )
    }
}

/// The problem type of a match refused because of the case or the consent it rests on
/// (docs/CASES.md), in this order when there are several; `None` for every other refusal,
/// which stays `policy-denied`. The reasons list every code either way.
fn case_refusal_slug(reasons: &[String]) -> Option<&'static str> {
    const SLUGS: &[(&str, &str)] = &[
        ("case_unknown", "case-unknown"),
        ("case_closed", "case-closed"),
        ("case_not_participant", "case-not-participant"),
        ("consent_unknown", "consent-unknown"),
        ("consent_withdrawn", "consent-withdrawn"),
        ("consent_expired", "consent-expired"),
        ("consent_other_case", "consent-other-case"),
        ("consent_other_purpose", "consent-other-purpose"),
        ("consent_self_issued", "consent-self-issued"),
        ("consent_scope_exceeded", "consent-scope-exceeded"),
    ];
    SLUGS
        .iter()
        .find(|(code, _)| reasons.iter().any(|r| r == code))
        .map(|(_, slug)| *slug)
}

/// The answer to a policy that could not be evaluated: `nothing` says what did not happen.
fn policy_unavailable(e: &kruispunt_policy::PolicyError, nothing: &str) -> Problem {
    tracing::error!(error = %e, "policy evaluation failed");
    Problem::unavailable(format!("the policy could not be evaluated; {nothing}"))
}

impl From<crate::matching::MatchError> for Problem {
    fn from(e: crate::matching::MatchError) -> Self {
        use crate::matching::MatchError as E;
        let reasons = e.reasons();
        match e {
            E::EmptyQuery => Problem::bad_request("empty-query", e.to_string()),
            E::TooLong(_) => Problem::bad_request("text-too-long", e.to_string()),
            E::TooManyIdentifiers => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "query-too-large",
                "Too many identifiers",
                e.to_string(),
            ),
            E::InvalidIdentifier { .. } => {
                Problem::bad_request("invalid-identifier", e.to_string())
            }
            E::Policy(p) => policy_unavailable(&p, "nothing was disclosed"),
            E::Refused { .. } | E::OverIdentifierLimit { .. } | E::BudgetSpent => Problem::new(
                StatusCode::FORBIDDEN,
                case_refusal_slug(&reasons).unwrap_or("policy-denied"),
                "Refused by policy",
                e.to_string(),
            )
            .with_reasons(reasons),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::cases::CaseError> for Problem {
    fn from(e: crate::cases::CaseError) -> Self {
        use crate::cases::CaseError as E;
        let detail = e.to_string();
        match e {
            E::TooLong(_) => Problem::bad_request("text-too-long", detail),
            E::Invalid { field, .. } => {
                Problem::bad_request("invalid-case", detail).with_extension("field", field.into())
            }
            E::NotAllowed { .. } => Problem::new(
                StatusCode::FORBIDDEN,
                "case-role-not-allowed",
                "Forbidden",
                detail,
            )
            .with_reasons(vec![crate::cases::CASE_ROLE_NOT_ALLOWED.into()]),
            E::NotFound(_) => Problem::not_found(detail),
            E::Exists(_) => Problem::new(
                StatusCode::CONFLICT,
                "case-exists",
                "The case is registered already",
                detail,
            ),
            E::Transition { .. } => Problem::new(
                StatusCode::CONFLICT,
                "case-transition-not-allowed",
                "The case cannot move to that state",
                detail,
            ),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::cases::feedback::FeedbackError> for Problem {
    fn from(e: crate::cases::feedback::FeedbackError) -> Self {
        use crate::cases::feedback::FeedbackError as E;
        match e {
            E::Invalid { field, .. } => {
                Problem::bad_request("invalid-feedback-query", e.to_string())
                    .with_extension("field", field.into())
            }
            E::Refused { ref reasons } => policy_denied(e.to_string(), reasons.clone()),
            E::Policy(p) => policy_unavailable(&p, "nothing was disclosed"),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::cases::consent::ConsentError> for Problem {
    fn from(e: crate::cases::consent::ConsentError) -> Self {
        use crate::cases::consent::{CONSENT_ROLE_NOT_ALLOWED, ConsentError as E};
        let detail = e.to_string();
        match e {
            E::TooLong(_) => Problem::bad_request("text-too-long", detail),
            E::Invalid { field, .. } => Problem::bad_request("invalid-consent", detail)
                .with_extension("field", field.into()),
            E::NotAllowed { .. } => Problem::new(
                StatusCode::FORBIDDEN,
                "consent-role-not-allowed",
                "Forbidden",
                detail,
            )
            .with_reasons(vec![CONSENT_ROLE_NOT_ALLOWED.into()]),
            E::CaseClosed(_) => Problem::new(
                StatusCode::CONFLICT,
                "case-closed",
                "The case is closed",
                detail,
            )
            .with_reasons(vec!["case_closed".into()]),
            E::NotFound(_) => Problem::not_found(detail),
            E::AlreadyWithdrawn(_) => Problem::new(
                StatusCode::CONFLICT,
                "consent-withdrawn",
                "The consent was withdrawn already",
                detail,
            ),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::beeld::AggregateError> for Problem {
    fn from(e: crate::beeld::AggregateError) -> Self {
        use crate::beeld::AggregateError as E;
        match e {
            E::Invalid { field, .. } => {
                Problem::bad_request("invalid-aggregate-query", e.to_string())
                    .with_extension("field", field.into())
            }
            E::Refused { ref reasons } => policy_denied(e.to_string(), reasons.clone()),
            E::BudgetExhausted { left_micro, .. } => Problem::new(
                StatusCode::FORBIDDEN,
                "privacy-budget-exhausted",
                "The privacy budget is spent",
                e.to_string(),
            )
            .with_reasons(vec![crate::beeld::query::BUDGET_EXHAUSTED.into()])
            .with_extension(
                "epsilon_left",
                serde_json::json!(crate::beeld::query::micro(left_micro)),
            ),
            E::Policy(p) => policy_unavailable(&p, "nothing was disclosed"),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::mls::delivery::DeliveryError> for Problem {
    fn from(e: crate::mls::delivery::DeliveryError) -> Self {
        use crate::mls::delivery::{CASE_ADD_REFUSED, CaseRefusal, DeliveryError as E, Invalid};
        let detail = e.to_string();
        let forbidden =
            |slug, detail| Problem::new(StatusCode::FORBIDDEN, slug, "Forbidden", detail);
        match e {
            E::Invalid(what, _) => Problem::bad_request(
                match what {
                    Invalid::Base64 => "invalid-base64",
                    Invalid::Message => "mls-invalid-message",
                    Invalid::KeyPackage => "mls-invalid-key-package",
                    Invalid::KeyPackages => "invalid-key-packages",
                    Invalid::GroupId => "invalid-group-id",
                    Invalid::Group => "invalid-group",
                    Invalid::Unsupported => "mls-unsupported",
                    Invalid::WireFormat => "mls-wire-format",
                    Invalid::MissingWelcome => "mls-missing-welcome",
                    Invalid::UnknownKeyPackage => "mls-unknown-key-package",
                },
                detail,
            ),
            E::MessageTooLarge { .. } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "mls-message-too-large",
                "Message too large",
                detail,
            ),
            E::CredentialMismatch(_) => forbidden("mls-credential-mismatch", detail),
            E::NotAMember { .. } => forbidden("mls-not-a-member", detail),
            E::AddNotAllowed { reasons, .. } => {
                forbidden("mls-add-not-allowed", detail).with_reasons(reasons)
            }
            E::CaseAddNotAllowed => {
                forbidden("mls-add-not-allowed", detail).with_reasons(vec![CASE_ADD_REFUSED.into()])
            }
            E::CaseRefused {
                refusal, reason, ..
            } => forbidden(
                match refusal {
                    CaseRefusal::Unknown => "case-unknown",
                    CaseRefusal::Closed => "case-closed",
                    CaseRefusal::RoleNotAllowed => "case-role-not-allowed",
                    CaseRefusal::MemberNotParticipant => "case-member-not-participant",
                },
                detail,
            )
            .with_reasons(vec![reason.into()]),
            E::CaseChannelClosed { reason } => {
                forbidden("case-channel-closed", detail).with_reasons(vec![reason.into()])
            }
            E::NotCoalitionAdmin { .. } => forbidden("not-coalition-admin", detail)
                .with_reasons(vec![crate::mls::key_version::NOT_COALITION_ADMIN.into()]),
            E::Unauthorised(refusal) => {
                forbidden(refusal.slug(), detail).with_reasons(vec![refusal.reason().into()])
            }
            E::ClaimNoRelation(_) => {
                forbidden("mls-claim-no-relation", detail).with_reasons(vec!["no_relation".into()])
            }
            E::ClaimQuota(_) => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "mls-claim-quota",
                "Key package quota used up",
                detail,
            ),
            E::NotGroupAdmin(_) => forbidden("mls-not-group-admin", detail)
                .with_reasons(vec!["not_group_admin".into()]),
            E::TooMany(_) => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "mls-too-many",
                "Too many pending",
                detail,
            ),
            E::Replayed => Problem::new(
                StatusCode::CONFLICT,
                "mls-replayed",
                "Message delivered before",
                detail,
            ),
            E::EpochConflict(_) => Problem::new(
                StatusCode::CONFLICT,
                "mls-epoch-conflict",
                "Another commit won this epoch",
                detail,
            ),
            E::KeyPackageExists => Problem::new(
                StatusCode::CONFLICT,
                "mls-key-package-exists",
                "Key package already published",
                detail,
            ),
            E::GroupExists(_) => Problem::new(
                StatusCode::CONFLICT,
                "mls-group-exists",
                "Group exists",
                detail,
            ),
            E::NotFound(_) => Problem::not_found(detail),
            E::CorruptState(m) => {
                tracing::error!(error = %m, "stored MLS group state is unusable");
                Problem::unavailable(
                    "the group's stored state could not be read; nothing was delivered",
                )
            }
            E::Policy(p) => policy_unavailable(&p, "nothing was delivered"),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::mls::key_version::KeyVersionError> for Problem {
    fn from(e: crate::mls::key_version::KeyVersionError) -> Self {
        use crate::mls::key_version::{KeyVersionError as E, NOT_COALITION_ADMIN};
        let detail = e.to_string();
        match e {
            E::UnknownCoalition(_) | E::NoGroup(_) | E::NotAnnounced(_) => {
                Problem::not_found(detail)
            }
            E::ZeroKeyVersion => Problem::bad_request("invalid-key-version", detail),
            E::GraceOutOfRange => Problem::bad_request("invalid-grace-days", detail),
            E::NotAdmin { .. } => Problem::new(
                StatusCode::FORBIDDEN,
                "not-coalition-admin",
                "Forbidden",
                detail,
            )
            .with_reasons(vec![NOT_COALITION_ADMIN.into()]),
            E::NotForward { .. } => Problem::new(
                StatusCode::CONFLICT,
                "key-version-not-forward",
                "Key versions only move forward",
                detail,
            ),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::ingest::IngestError> for Problem {
    fn from(e: crate::ingest::IngestError) -> Self {
        match e {
            crate::ingest::IngestError::Policy(p) => policy_unavailable(&p, "nothing was stored"),
            crate::ingest::IngestError::Store(s) => s.into(),
        }
    }
}

impl From<crate::ingest::WithdrawError> for Problem {
    fn from(e: crate::ingest::WithdrawError) -> Self {
        match e {
            crate::ingest::WithdrawError::NotOwnSignal { .. } => Problem::not_found(e.to_string()),
            crate::ingest::WithdrawError::Refused { ref reasons, .. } => {
                policy_denied(e.to_string(), reasons.clone())
            }
            crate::ingest::WithdrawError::Policy(p) => {
                policy_unavailable(&p, "nothing was withdrawn")
            }
            crate::ingest::WithdrawError::Store(s) => s.into(),
        }
    }
}

/// 403 `policy-denied` with the policy's reasons.
fn policy_denied(detail: String, reasons: Vec<String>) -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "policy-denied",
        "Refused by policy",
        detail,
    )
    .with_reasons(reasons)
}
