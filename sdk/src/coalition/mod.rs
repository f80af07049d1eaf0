//! Coalitions over MLS: the partners of a coalition share the key from which pseudonyms are
//! made (see [`crate::pseudonym`]) through an MLS group; the broker is only the delivery
//! service. See docs/COALITIONS.md.
//!
//! - [`wire`]: the JSON the broker's `/v1/mls/…` endpoints speak (always compiled, so the
//!   broker's types-only dependency has it).
//! - With the `coalition` feature: [`Member`] (create, invite, join, process, remove, leave,
//!   key rotation, persistence), the shared [`mls`] settings and state [`snapshot`]s.
//! - With `coalition-http`: [`http::BrokerMls`], a small adapter over reqwest.
//! - With `client`: `rekey`, re-pseudonymising a partner's records under a new key version
//!   and uploading them with the client's bulk upload.

pub mod wire;

#[cfg(feature = "coalition")]
pub mod member;
#[cfg(feature = "coalition")]
pub mod mls;
#[cfg(feature = "coalition")]
pub mod payload;
#[cfg(feature = "coalition")]
pub mod snapshot;

#[cfg(feature = "coalition-http")]
pub mod http;

/// Re-uploading a partner's records under a new key version (needs the HTTP client).
#[cfg(feature = "client")]
pub mod rekey;

#[cfg(feature = "coalition")]
pub use member::{
    CoalitionError, CommitPending, Event, Fetched, Member, Outgoing, PendingProposal,
    UNREADABLE_LEAF,
};
