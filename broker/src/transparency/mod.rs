//! The pure core of the tamper-evident audit log: RFC 6962 / RFC 9162 Merkle tree hashing and
//! proofs, and C2SP `signed-note` / `tlog-checkpoint` signing and verification.
//!
//! Nothing here touches the database or the network, so that the same code can run in the broker
//! (to build proofs and sign checkpoints), in `kruispunt audit verify` (to check them offline) and
//! in any third party's tool that wants to re-implement the checks. Storage plugs in through
//! [`TreeStore`] (synchronous look-ups) or through [`ProofPlan`] (ask which nodes are needed,
//! fetch them in one query, then assemble), so an async database backend needs no callbacks.
//!
//! * [`merkle`]: leaf and node hashing, [`NodeId`] addressing of perfect subtrees, the
//!   incremental [`Frontier`] (compact range) an appender keeps in memory, and [`MemoryTree`].
//! * [`proof`]: inclusion and consistency proof generation and verification (RFC 9162 §2.1.3,
//!   §2.1.4).
//! * [`note`]: C2SP signed notes with Ed25519 keys, verifier-key strings.
//! * [`checkpoint`]: C2SP tlog checkpoints inside signed notes.

pub mod checkpoint;
pub mod merkle;
pub mod note;
pub mod proof;

pub use checkpoint::{Checkpoint, CheckpointError, sign_checkpoint, verify_note};
pub use merkle::{
    Frontier, FrontierError, HASH_LEN, Hash, MemoryTree, NodeId, StoreError, TreeStore, empty_root,
    leaf_hash, node_hash, root,
};
pub use note::{
    KeyError, NoteError, VerifiedNote, Verifier, key_id, open_note, parse_verifier_key, sign_note,
    verifier_key,
};
pub use proof::{
    ProofError, ProofPlan, consistency_proof, inclusion_proof, root_at, root_from_inclusion_proof,
    verify_consistency, verify_inclusion,
};
