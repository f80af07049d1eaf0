//! The claims of a Kruispunt bearer token, as a partner signs them and the broker verifies
//! them: one definition for both sides, so that the signer cannot send a claim the verifier
//! reads differently. Available without the `client` feature (the broker depends on the types
//! only); the SDK's signer is `client::TokenSigner`, the broker's verifier its `TokenVerifier`.
//!
//! The broker's documentation of the token (`docs/API.md`) says which claims it requires and
//! what it checks; this module is their JSON shape. The scope is a nested **object**, not the
//! space-separated OAuth string: a token whose `"scope"` is a string does not deserialise, so
//! the broker refuses it as malformed rather than taking it as an unbounded token.

use serde::{Deserialize, Serialize};

/// The claims of a Kruispunt token (all times are Unix seconds). Claims this type does not
/// know are ignored, as JWT allows; the scope's bounds are not (see [`TokenScope`]).
///
/// ```
/// use kruispunt_sdk::token::Claims;
///
/// let c: Claims = serde_json::from_str(
///     r#"{"iss":"a","sub":"b","aud":"c","exp":2,"iat":1,"roles":["r"]}"#,
/// ).unwrap();
/// assert_eq!(c.scope, None);
/// // The OAuth string form of `scope` is refused, not ignored.
/// assert!(serde_json::from_str::<Claims>(
///     r#"{"iss":"a","sub":"b","aud":"c","exp":2,"iat":1,"roles":["r"],"scope":"read"}"#,
/// ).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Partner id of the issuer.
    pub iss: String,
    /// User within the partner organisation.
    pub sub: String,
    /// The broker this token is meant for (its deployment name).
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issue time.
    pub iat: i64,
    /// Not valid before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Roles of the user; must not be empty.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Scope of a police token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<TokenScope>,
}

/// The bounds of a scoped (police) token, carried as the nested object claim `"scope"`:
///
/// ```json
/// "scope": { "purpose": "politie-opsporing-wpg19", "case_reference": "MN-2025-0042",
///            "legal_basis": "wpg-art-19", "consent_id": "OvJ-2025-17",
///            "kinds": ["kenteken"], "sectors": ["autobranche"],
///            "max_identifiers": 10, "not_after": 1767225600 }
/// ```
///
/// Empty lists and `None` mean "as the purpose allows" (and are left out of the token).
/// Unknown fields are refused: a misspelt bound (`max_identifier`) must not silently widen
/// the scope. The broker's verifier checks `not_after` only (its own problem type); all other
/// bounds are enforced by the policy and the request handler.
///
/// ```
/// use kruispunt_sdk::token::TokenScope;
///
/// let scope = TokenScope::new("politie-opsporing-wpg19")
///     .case_reference("MN-2026-0042")
///     .legal_basis("wpg-art-19")
///     .consent_id("OvJ-2026-17")
///     .kinds(["kenteken"])
///     .max_identifiers(10);
/// assert_eq!(scope.purpose, "politie-opsporing-wpg19");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenScope {
    /// Purpose id the token is bound to.
    pub purpose: String,
    /// Case reference (proces-verbaal / zaaknummer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_reference: Option<String>,
    /// Legal basis, e.g. `wpg-art-19`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<String>,
    /// Consent of the competent authority (Wpg art. 19) or partnership decision (art. 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_id: Option<String>,
    /// Identifier kinds the token may query; empty = as the purpose allows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// Source sectors whose signals may be revealed; empty = as the purpose allows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sectors: Vec<String>,
    /// Maximum identifiers per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_identifiers: Option<u64>,
    /// The scope lapses at this instant (Unix seconds; exclusive, like the policy's
    /// `now >= not_after`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<i64>,
}

impl TokenScope {
    /// A scope bound to `purpose` and nothing else yet.
    ///
    /// ```
    /// # use kruispunt_sdk::token::TokenScope;
    /// assert!(TokenScope::new("p").kinds.is_empty());
    /// ```
    pub fn new(purpose: impl Into<String>) -> Self {
        TokenScope {
            purpose: purpose.into(),
            case_reference: None,
            legal_basis: None,
            consent_id: None,
            kinds: Vec::new(),
            sectors: Vec::new(),
            max_identifiers: None,
            not_after: None,
        }
    }

    /// Sets the case reference.
    ///
    /// ```
    /// # use kruispunt_sdk::token::TokenScope;
    /// assert_eq!(TokenScope::new("p").case_reference("MN-1").case_reference.as_deref(), Some("MN-1"));
    /// ```
    pub fn case_reference(mut self, c: impl Into<String>) -> Self {
        self.case_reference = Some(c.into());
        self
    }

    /// Sets the legal basis.
    ///
    /// ```
    /// # use kruispunt_sdk::token::TokenScope;
    /// assert!(TokenScope::new("p").legal_basis("wpg-art-19").legal_basis.is_some());
    /// ```
    pub fn legal_basis(mut self, b: impl Into<String>) -> Self {
        self.legal_basis = Some(b.into());
        self
    }

    /// Sets the consent or partnership decision id.
    ///
    /// ```
    /// # use kruispunt_sdk::token::TokenScope;
    /// assert!(TokenScope::new("p").consent_id("OvJ-1").consent_id.is_some());
    /// ```
    pub fn consent_id(mut self, c: impl Into<String>) -> Self {
        self.consent_id = Some(c.into());
        self
    }

    /// Limits the identifier kinds.
    ///
    /// ```
    /// # use kruispunt_sdk::token::TokenScope;
    /// assert_eq!(TokenScope::new("p").kinds(["kenteken", "vin"]).kinds.len(), 2);
    /// ```
    pub fn kinds<I: IntoIterator<Item = S>, S: Into<String>>(mut self, kinds: I) -> Self {
        self.kinds = kinds.into_iter().map(Into::into).collect();
        self
    }

    /// Limits the source sectors that may be revealed.
    ///
    /// ```
    /// # use kruispunt_sdk::token::TokenScope;
    /// assert_eq!(TokenScope::new("p").sectors(["autobranche"]).sectors, ["autobranche"]);
    /// ```
    pub fn sectors<I: IntoIterator<Item = S>, S: Into<String>>(mut self, sectors: I) -> Self {
        self.sectors = sectors.into_iter().map(Into::into).collect();
        self
    }

    /// Limits the number of identifiers per request.
    ///
    /// ```
    /// # use kruispunt_sdk::token::TokenScope;
    /// assert_eq!(TokenScope::new("p").max_identifiers(5).max_identifiers, Some(5));
    /// ```
    pub fn max_identifiers(mut self, n: u64) -> Self {
        self.max_identifiers = Some(n);
        self
    }

    /// Sets the instant (Unix seconds) at which the scope lapses.
    ///
    /// ```
    /// # use kruispunt_sdk::token::TokenScope;
    /// assert_eq!(TokenScope::new("p").not_after(1).not_after, Some(1));
    /// ```
    pub fn not_after(mut self, unix_secs: i64) -> Self {
        self.not_after = Some(unix_secs);
        self
    }
}
