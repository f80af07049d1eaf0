//! A witness for transparency logs (`kruispunt witness serve`), and the broker's side of asking
//! witnesses to cosign its audit checkpoints.
//!
//! A witness keeps, per log it witnesses, the latest checkpoint it cosigned, and cosigns a new
//! one only if the log signed it and a consistency proof shows that it extends that one. Run by
//! parties independent of the broker's operator (a partner's privacy officer, the RIEC's
//! functionaris gegevensbescherming, the Autoriteit Persoonsgegevens), it makes a split view —
//! one history shown to one verifier and another to someone else — visible: the broker cannot
//! get both views cosigned by the same witness, and verifiers that require a quorum of
//! cosignatures ([`kruispunt_sdk::transparency::WitnessPolicy`]) accept only one of them.
//!
//! It speaks C2SP `tlog-witness` (`POST /add-checkpoint`) and signs C2SP `tlog-cosignature`
//! (`cosignature/v1`), so other witnesses and verifiers interoperate with it. The protocol
//! authenticates by signatures (the log's on the request, the witness's on the answer), so
//! plain HTTP is acceptable.
//!
//! - [`key`]: the witness's Ed25519 key (C2SP/`sumdb/note` signer key file) and cosigning.
//! - [`request`]: the `add-checkpoint` request body.
//! - [`state`]: the durable record of the latest cosigned checkpoint per log.
//! - [`witness`]: the checks, atomic per log, and the evidence of refused requests.
//! - [`http`]: the HTTP server.
//! - [`client`]: the broker asking its witnesses after each checkpoint it signs.

pub mod client;
pub mod http;
pub mod key;
pub mod request;
pub mod state;
#[allow(clippy::module_inception)]
pub mod witness;

pub use key::WitnessKey;
pub use witness::{AddError, Witness};
