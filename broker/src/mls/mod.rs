//! The broker as MLS delivery service (RFC 9420 §2, RFC 9750): it stores key packages, keeps
//! an ordered log per group and routes welcomes — but is never a member, so it never holds a
//! coalition key or reads an application message.
//!
//! - [`public_state`]: the broker's copy of each group's *public* state (openmls
//!   `PublicGroup`), which lets it check commits it cannot decrypt nothing of: handshake
//!   messages are signed public messages (the wire-format policy in
//!   `kruispunt_sdk::coalition::mls`), application messages stay encrypted.
//! - [`delivery`]: the rules — key package validation, first commit per epoch wins, the
//!   registry decides who may be added, every delivery audited with metadata only.
//! - [`authorise`]: who may do what in a group — every proposal and credential of a
//!   handshake message, before the policy is asked about adds.
//! - [`case_channel`]: case channels and the case register — who may register one and whom it
//!   holds (the case's participants, as the policy says), and the revocation of its channel when
//!   the case closes.
//! - [`key_version`]: the current key version per coalition and the erasure of signals under
//!   older ones after the grace period.
//! - [`store`]: the storage trait with its SQLite and PostgreSQL implementations.
//!
//! The HTTP side is `routes::mls`; the flows are in docs/COALITIONS.md.

pub mod authorise;
pub mod case_channel;
pub mod delivery;
pub mod key_version;
pub mod public_state;
pub mod store;

pub use store::MlsStore;
