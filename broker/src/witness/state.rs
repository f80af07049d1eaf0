//! The witness's durable record, per log, of the latest checkpoint it cosigned: the note it
//! cosigned with its cosignature appended, one file per origin in the state folder.
//!
//! The file is replaced atomically (temporary file, fsync, rename, fsync of the folder; see
//! [`crate::audit::anchor::store`]) **before** the witness answers, so that after a crash it
//! remembers every checkpoint anyone has seen it cosign, and never cosigns a checkpoint
//! inconsistent with one of them.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use kruispunt_sdk::transparency::{Checkpoint, Hash, split_note};
use ring::digest;

/// The latest checkpoint cosigned for a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    pub size: u64,
    pub root: Hash,
    /// The checkpoint note as submitted, with the witness's cosignature line appended.
    pub note: String,
}

/// The state folder cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: not a cosigned checkpoint of {origin} ({reason}); refusing to start")]
    Damaged {
        path: String,
        origin: String,
        reason: String,
    },
}

/// The state file of `origin`: named by a hash of the origin, which may contain `/`.
pub fn path_for(dir: &Path, origin: &str) -> PathBuf {
    let d = digest::digest(&digest::SHA256, origin.as_bytes());
    dir.join(format!("{}.cosigned", hex::encode(&d.as_ref()[..16])))
}

/// Reads the latest cosigned checkpoint of `origin` (`None`: never cosigned one).
pub fn load(dir: &Path, origin: &str) -> Result<Option<Cosigned>, StateError> {
    let path = path_for(dir, origin);
    let note = match std::fs::read_to_string(&path) {
        Ok(n) => n,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(StateError::Io {
                path: path.display().to_string(),
                error,
            });
        }
    };
    let damaged = |reason: String| StateError::Damaged {
        path: path.display().to_string(),
        origin: origin.to_string(),
        reason,
    };
    let (text, _) = split_note(note.as_bytes()).map_err(|e| damaged(e.to_string()))?;
    let cp = Checkpoint::parse_body(text).map_err(|e| damaged(e.to_string()))?;
    if cp.origin != origin {
        return Err(damaged(format!("it names the log {:?}", cp.origin)));
    }
    Ok(Some(Cosigned {
        size: cp.size,
        root: cp.root,
        note,
    }))
}

/// Replaces the record of `origin`, durably and atomically.
pub fn store(dir: &Path, origin: &str, cosigned: &Cosigned) -> std::io::Result<()> {
    crate::audit::anchor::store(&path_for(dir, origin), &cosigned.note)
}
