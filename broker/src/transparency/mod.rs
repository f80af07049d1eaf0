//! The broker's side of the tamper-evident audit log. The pure, verifiable core (RFC 6962 /
//! RFC 9162 hashing and proofs, C2SP signed notes and checkpoints) lives in
//! [`kruispunt_sdk::transparency`] so that privacy officers' tools and partners' clients check
//! the log with exactly the code the broker builds it with; it is re-exported here unchanged.
//! Only signing is the broker's own: nobody else holds the log's key.

pub mod sign;

pub use kruispunt_sdk::transparency::*;
pub use sign::{sign_checkpoint, sign_note};
