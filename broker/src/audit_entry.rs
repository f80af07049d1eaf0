//! One entry of the audit trail. The type and its canonical encoding are part of the log's
//! verifiable format, so they live in [`kruispunt_sdk::transparency::entry`] (one definition for
//! the broker that writes entries and for every tool that checks them); re-exported here.

pub use kruispunt_sdk::transparency::entry::{AuditEntry, Operation};
