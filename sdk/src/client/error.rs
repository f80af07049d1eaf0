//! What can go wrong when talking to a broker, with the broker's own words kept intact.

use std::fmt;
use std::time::Duration;

use crate::wire::ProblemDetails;

/// Prefix of every problem `type` the broker sends (`urn:kruispunt:problem:<slug>`).
pub const PROBLEM_TYPE_PREFIX: &str = "urn:kruispunt:problem:";

/// An RFC 9457 problem the broker answered with, plus the HTTP facts around it.
///
/// Branch on [`ApiProblem::slug`] (stable, listed in `docs/API.md`) and, for policy refusals,
/// on [`ApiProblem::reasons`] (the policy's reason codes, listed in `docs/POLICY.md`) — never on
/// the human-readable `detail`.
///
/// ```
/// use kruispunt_sdk::client::ApiProblem;
/// use kruispunt_sdk::wire::ProblemDetails;
///
/// let p = ApiProblem::new(403, ProblemDetails {
///     type_uri: "urn:kruispunt:problem:policy-denied".into(),
///     title: "Refused by policy".into(),
///     status: 403,
///     detail: "the policy refused this match: scope_case_mismatch".into(),
///     reasons: vec!["scope_case_mismatch".into()],
///     request_id: None,
/// }, None);
/// assert_eq!(p.slug(), "policy-denied");
/// assert!(p.has_reason("scope_case_mismatch"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiProblem {
    /// HTTP status of the response.
    pub status: u16,
    /// The problem document as sent.
    pub details: ProblemDetails,
    /// `Retry-After`, when the broker sent one (429, some 503).
    pub retry_after: Option<Duration>,
}

impl ApiProblem {
    /// Wraps a problem document received with HTTP status `status`.
    ///
    /// ```
    /// # use kruispunt_sdk::client::ApiProblem;
    /// # use kruispunt_sdk::wire::ProblemDetails;
    /// let d = ProblemDetails { type_uri: "urn:kruispunt:problem:rate-limited".into(),
    ///     title: "Too many requests".into(), status: 429, detail: "slow down".into(),
    ///     reasons: vec![], request_id: None };
    /// let p = ApiProblem::new(429, d, Some(std::time::Duration::from_secs(1)));
    /// assert_eq!(p.retry_after.unwrap().as_secs(), 1);
    /// ```
    pub fn new(status: u16, details: ProblemDetails, retry_after: Option<Duration>) -> Self {
        ApiProblem {
            status,
            details,
            retry_after,
        }
    }

    /// The stable slug of the problem type (`policy-denied`, `token-expired`, …); the full
    /// `type` when it does not carry the Kruispunt prefix.
    ///
    /// ```
    /// # use kruispunt_sdk::client::ApiProblem;
    /// # use kruispunt_sdk::wire::ProblemDetails;
    /// let d = ProblemDetails { type_uri: "urn:kruispunt:problem:token-expired".into(),
    ///     title: String::new(), status: 401, detail: String::new(), reasons: vec![], request_id: None };
    /// assert_eq!(ApiProblem::new(401, d, None).slug(), "token-expired");
    /// ```
    pub fn slug(&self) -> &str {
        self.details
            .type_uri
            .strip_prefix(PROBLEM_TYPE_PREFIX)
            .unwrap_or(&self.details.type_uri)
    }

    /// The policy's reason codes (empty unless the policy refused).
    ///
    /// ```
    /// # use kruispunt_sdk::client::ApiProblem;
    /// # use kruispunt_sdk::wire::ProblemDetails;
    /// let d = ProblemDetails { type_uri: "urn:kruispunt:problem:policy-denied".into(),
    ///     title: String::new(), status: 403, detail: String::new(),
    ///     reasons: vec!["kind_not_allowed".into()], request_id: None };
    /// assert_eq!(ApiProblem::new(403, d, None).reasons(), ["kind_not_allowed"]);
    /// ```
    pub fn reasons(&self) -> &[String] {
        &self.details.reasons
    }

    /// Whether the policy gave reason code `code`.
    ///
    /// ```
    /// # use kruispunt_sdk::client::ApiProblem;
    /// # use kruispunt_sdk::wire::ProblemDetails;
    /// let d = ProblemDetails { type_uri: "urn:kruispunt:problem:policy-denied".into(),
    ///     title: String::new(), status: 403, detail: String::new(),
    ///     reasons: vec!["bsn_private_partner".into()], request_id: None };
    /// assert!(ApiProblem::new(403, d, None).has_reason("bsn_private_partner"));
    /// ```
    pub fn has_reason(&self, code: &str) -> bool {
        self.details.reasons.iter().any(|r| r == code)
    }
}

impl fmt::Display for ApiProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.slug(),
            self.status,
            self.details.detail
        )?;
        if !self.details.reasons.is_empty() {
            write!(f, " [reasons: {}]", self.details.reasons.join(", "))?;
        }
        Ok(())
    }
}

/// Every error the client returns.
///
/// ```
/// use kruispunt_sdk::client::ClientError;
///
/// fn explain(e: &ClientError) -> String {
///     match e.problem() {
///         Some(p) if p.slug() == "policy-denied" => format!("refused: {}", p.reasons().join(", ")),
///         Some(p) => format!("broker said {}", p.slug()),
///         None => format!("no answer from the broker: {e}"),
///     }
/// }
/// # let _ = explain;
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The broker answered with a problem document.
    #[error("the broker refused the request: {0}")]
    Problem(Box<ApiProblem>),
    /// The request did not reach the broker, or the answer did not arrive.
    #[error("transport: {0}")]
    Transport(#[from] reqwest::Error),
    /// The client was built with bad settings (CA, key, URL).
    #[error("client configuration: {0}")]
    Config(String),
    /// A token could not be produced.
    #[error("token: {0}")]
    Token(String),
    /// The broker answered something that is not what the API describes.
    #[error("unexpected answer (HTTP {status}): {detail}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// What was wrong with the answer.
        detail: String,
    },
}

impl ClientError {
    /// The broker's problem, if the broker answered with one.
    ///
    /// ```
    /// # use kruispunt_sdk::client::ClientError;
    /// let e = ClientError::Config("no CA".into());
    /// assert!(e.problem().is_none());
    /// ```
    pub fn problem(&self) -> Option<&ApiProblem> {
        match self {
            ClientError::Problem(p) => Some(p),
            _ => None,
        }
    }

    /// The problem type slug, if the broker answered with a problem.
    ///
    /// ```
    /// # use kruispunt_sdk::client::ClientError;
    /// assert_eq!(ClientError::Token("x".into()).slug(), None);
    /// ```
    pub fn slug(&self) -> Option<&str> {
        self.problem().map(ApiProblem::slug)
    }

    /// The policy's reason codes (empty unless the policy refused).
    ///
    /// ```
    /// # use kruispunt_sdk::client::ClientError;
    /// assert!(ClientError::Token("x".into()).reasons().is_empty());
    /// ```
    pub fn reasons(&self) -> &[String] {
        self.problem().map(ApiProblem::reasons).unwrap_or(&[])
    }
}
