//! What Kruispunt partners link: normalisation of Dutch identifiers, the public pseudonym
//! construction, the wire types (the API's JSON, the bearer token's claims), and (feature
//! `client`) the HTTPS client of the broker API.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "client")]
pub mod civil;
pub mod client;
pub mod coalition;
pub mod identifiers;
pub mod pseudonym;
pub mod token;
pub mod transparency;
pub mod wire;

pub use identifiers::{IdentifierError, IdentifierKind};
pub use pseudonym::{CoalitionKey, Pseudonym, Pseudonymiser};
