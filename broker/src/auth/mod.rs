//! Authentication, in one place: who is asking, proven how.
//!
//! - [`jwt`]: the partner-signed bearer token — header checks, claims, the [`jwt::Verifier`]
//!   and the verified [`jwt::Principal`].
//! - [`mtls`]: how a client certificate names the partner it was issued to (the per-partner
//!   `require_mtls` rule).
//! - [`request`]: authenticating one HTTP request — token, mTLS binding, rate limit — with an
//!   audit entry for every refusal.
//!
//! What the authenticated principal may then do is the policy's decision
//! ([`kruispunt_policy`]), never this module's.

pub mod jwt;
pub mod mtls;
pub mod request;

pub use jwt::*;
