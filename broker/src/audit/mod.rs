//! The audit trail, in one place: what an entry records, how the log of entries is signed, who
//! may read which entries, and how they are exported.
//!
//! - [`entry`]: the entry type (defined in the SDK, because its canonical encoding is part of
//!   the verifiable format) and the builders every route uses to fill it.
//! - [`action`]: the `action` string of every entry the broker writes, in one list.
//! - [`log`]: the stored RFC 6962 tree's checkpoint signer ([`log::AuditLog`]).
//! - [`anchor`]: the last signed checkpoint, kept beside the signing key, that every later
//!   checkpoint must extend.
//! - [`sign`]: signing C2SP notes and checkpoints with the broker's audit key.
//! - [`access`]: who may read which entries (the review's access rules, shared by the HTTP
//!   routes and the CLI), and the embargo summary a supplier sees.
//! - [`csv`]: the CSV export of the review.
//! - [`ldv`]: the same review as Logboek Dataverwerkingen records (the Dutch government's
//!   logging standard for data processing).
//! - [`transparency`]: the pure, verifiable core (hashing, proofs, notes, checkpoints), which
//!   lives in [`kruispunt_sdk::transparency`] so that privacy officers' tools check the log
//!   with exactly the code the broker builds it with. Only signing is the broker's own.
//!
//! The storage of entries and of the tree is the store's ([`crate::store`]: every effect and its
//! entry in one transaction); the HTTP routes are `routes::audit*`. The formats are in
//! docs/AUDIT.md.

pub mod access;
pub mod action;
pub mod anchor;
pub mod csv;
pub mod entry;
pub mod ldv;
pub mod log;
pub mod sign;

pub use entry::{AuditEntry, Operation};
pub use kruispunt_sdk::transparency;
pub use sign::{sign_checkpoint, sign_note};
