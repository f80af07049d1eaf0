//! Authentication, in one place: who is asking, proven how.
//!
//! - [`jwt`]: the partner-signed bearer token — header checks, the [`TokenVerifier`] and the
//!   verified [`Principal`]. The claims themselves are a wire type shared with the SDK's
//!   signer ([`Claims`], [`TokenScope`]).
//! - [`mtls`]: how a client certificate names the partner it was issued to, and the
//!   per-partner `require_mtls` rule ([`check_mtls`]).
//! - [`cache`]: tokens already verified, so a repeated token costs a hash, not a signature check.
//! - [`extractor`]: authenticating one HTTP request — token, mTLS binding, rate limit — as the
//!   axum extractor [`Authenticated`], with an audit entry for every refusal.
//! - [`refusals`]: identical refusals recorded once per interval with their count, so that
//!   unauthenticated clients cannot flood the audit trail.
//!
//! What the authenticated principal may then do is the policy's decision
//! ([`kruispunt_policy`]), never this module's.

pub mod cache;
pub mod extractor;
pub mod jwt;
pub mod mtls;
pub mod refusals;

pub use cache::TokenCache;
pub use extractor::Authenticated;
pub use jwt::{
    AuthError, MAX_TOKEN_LEN, Principal, SCOPE_UNBOUNDED_IDENTIFIERS, TokenVerifier, mint,
};
/// The token's claims, one wire type shared with the partners' signer (defined in the SDK).
pub use kruispunt_sdk::token::{Claims, TokenScope};
pub use mtls::check_mtls;
