//! The verifiable core of Kruispunt's tamper-evident audit log: RFC 6962 / RFC 9162 Merkle tree
//! hashing and proofs, and C2SP `signed-note` / `tlog-checkpoint` parsing and Ed25519
//! verification (ring).
//!
//! Nothing here touches the database or the network, so that the same code runs in the broker
//! (to build proofs), in `kruispunt audit verify` and the SDK client (to check them) and in any
//! privacy officer's tool that checks the log without the broker. Signing is the broker's alone
//! (`kruispunt_broker::transparency::sign`). Storage plugs in through
//! [`TreeStore`] (synchronous look-ups) or through [`ProofPlan`] (ask which nodes are needed,
//! fetch them in one query, then assemble), so an async database backend needs no callbacks.
//!
//! * [`merkle`]: leaf and node hashing, [`NodeId`] addressing of perfect subtrees, the
//!   incremental [`Frontier`] (compact range) an appender keeps in memory, and [`MemoryTree`].
//! * [`proof`]: inclusion and consistency proof generation and verification (RFC 9162 §2.1.3,
//!   §2.1.4).
//! * [`note`]: C2SP signed notes with Ed25519 keys (opening and verifying), verifier-key strings.
//! * [`checkpoint`]: C2SP tlog checkpoints inside signed notes.
//! * [`cosignature`]: C2SP witness cosignatures (`cosignature/v1`) and witness keys.
//! * [`witness_policy`]: which witnesses must cosign (a Sigsum-style quorum policy), and the
//!   check that a checkpoint carries the log's signature and the quorum's cosignatures.
//! * [`entry`]: the audit entry and its canonical bytes.
//! * [`leaf`]: the leaf, a salted commitment to an entry (so that entries can be erased).
//! * [`log`]: the served/exported line format and the whole-log verifier.

pub mod checkpoint;
pub mod cosignature;
pub mod entry;
pub mod leaf;
pub mod log;
pub mod merkle;
pub mod note;
pub mod proof;
pub mod witness_policy;

pub use checkpoint::{Checkpoint, CheckpointError, verify_note};
pub use cosignature::{
    ALG_COSIGNATURE_V1, CosignatureError, WitnessVerifier, cosignature_key_id, cosigned_message,
    parse_witness_key,
};
pub use entry::{AuditEntry, Operation};
pub use leaf::{SALT_LEN, Salt, commitment, new_salt};
pub use log::{
    ERASE_ACTION, EXPORT_FILES, Export, ExportError, LogError, LogLine, LogReport, LogVerifier,
    Summary, TIME_ORDER_SLACK_MS, VerifiedExport, Withheld, erase_cut_off_ms, open_checkpoint,
    runs, verify_log,
};
pub use merkle::{
    Frontier, FrontierError, HASH_LEN, Hash, MemoryTree, NodeId, TreeStore, TreeStoreError,
    empty_root, leaf_hash, node_hash, root,
};
pub use note::{
    KeyError, NoteError, NoteKey, SignatureLine, VerifiedNote, Verifier, key_id, open_note,
    parse_verifier_key, split_note, verifier_key,
};
pub use proof::{
    ProofError, ProofPlan, consistency_proof, inclusion_proof, root_at, root_from_inclusion_proof,
    verify_consistency, verify_inclusion,
};
pub use witness_policy::{
    CosignedCheckpoint, CosignedError, DEFAULT_MAX_CLOCK_SKEW_SECS, PolicyError, PolicyWitness,
    WitnessPolicy,
};
