//! What Kruispunt partners link: normalisation of Dutch identifiers, the public pseudonym
//! construction, and (later) the wire types and HTTP client.
#![forbid(unsafe_code)]

pub mod coalition;
pub mod identifiers;
pub mod pseudonym;
pub mod wire;

pub use identifiers::{IdentifierError, IdentifierKind};
pub use pseudonym::{CoalitionKey, Pseudonym, Pseudonymiser};
