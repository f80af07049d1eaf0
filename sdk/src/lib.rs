//! What Kruispunt partners link: normalisation of Dutch identifiers, the public pseudonym
//! construction, the wire types, and (feature `client`) the HTTPS client of the broker API.
#![forbid(unsafe_code)]

#[cfg(feature = "client")]
pub mod civil;
pub mod client;
pub mod coalition;
pub mod identifiers;
pub mod pseudonym;
pub mod transparency;
pub mod wire;

pub use identifiers::{IdentifierError, IdentifierKind};
pub use pseudonym::{CoalitionKey, Pseudonym, Pseudonymiser};
