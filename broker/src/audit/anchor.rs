//! The last checkpoint this broker signed, kept **outside the database**: the anchor every later
//! checkpoint must be consistent with.
//!
//! The database holds the entries and the tree, so whoever can write to it but does not hold
//! the signing key could otherwise rewrite an entry (recomputing its leaf, the interior nodes
//! and the border) or truncate the log, and the broker would sign the forged tree on its next
//! start. The anchor closes that: it is the signed note of the last checkpoint, in
//! `DATA_DIR/keys/audit-checkpoint` beside the signing key (owner-only, replaced atomically:
//! temporary file, fsync, rename, fsync of the folder), and before signing anything the log
//! checks the stored tree against it ([`Divergence`]): the same size must have the same root, a
//! larger tree must prove consistency from it, a smaller one is refused. The broker refuses to
//! start (and stops signing while running) on any difference; the recovery is in
//! docs/OPERATIONS.md ("The audit log differs from its last signed checkpoint").
//!
//! This protects against a database writer without the key folder. An operator who holds the
//! key folder can replace the anchor too; witnesses that keep checkpoints elsewhere cover that.

use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kruispunt_sdk::transparency::{Checkpoint, Hash, Verifier, verify_note};

use crate::keys::KEYS_DIR;

/// File name of the anchor, in the key folder.
pub const ANCHOR_FILE: &str = "audit-checkpoint";

/// Where the anchor of the data directory `data_dir` lives.
pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join(KEYS_DIR).join(ANCHOR_FILE)
}

/// How the stored tree differs from the last signed checkpoint. Each says what differs, in
/// numbers an operator can check, and where the recovery is documented.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Divergence {
    #[error(
        "the stored audit log has {stored} entries, but this broker signed a checkpoint of {signed} \
         entries (kept in {anchor}): entries were removed from the database behind the broker's \
         back, or an older backup was restored. Refusing to serve; see docs/OPERATIONS.md, \
         \"The audit log differs from its last signed checkpoint\""
    )]
    Shrunk {
        signed: u64,
        stored: u64,
        anchor: String,
    },
    #[error(
        "the stored audit tree of {size} entries has root {stored_root}, but this broker signed \
         root {signed_root} for that size (kept in {anchor}): entries were rewritten in the \
         database behind the broker's back. Refusing to serve; see docs/OPERATIONS.md, \"The \
         audit log differs from its last signed checkpoint\""
    )]
    RootDiffers {
        size: u64,
        signed_root: String,
        stored_root: String,
        anchor: String,
    },
    #[error(
        "the stored audit tree of {stored} entries does not extend the checkpoint of {signed} \
         entries this broker signed (kept in {anchor}; the consistency proof from it fails: \
         {reason}): entries among the first {signed} were rewritten in the database behind the \
         broker's back. Refusing to serve; see docs/OPERATIONS.md, \"The audit log differs \
         from its last signed checkpoint\""
    )]
    Inconsistent {
        signed: u64,
        stored: u64,
        reason: String,
        anchor: String,
    },
    #[error(
        "the last signed checkpoint in {anchor} cannot be used: {reason}. Refusing to serve; see \
         docs/OPERATIONS.md, \"The audit log differs from its last signed checkpoint\""
    )]
    Unreadable { anchor: String, reason: String },
}

/// A root as shown in messages: the base64 of a checkpoint's root line.
pub fn show_root(root: &Hash) -> String {
    B64.encode(root)
}

/// Reads the anchor at `path`: `None` when there is none yet (a fresh data directory, or a data
/// directory from before anchors). The note must verify with `verifier` and name `origin`:
/// an anchor that does not is refused, never ignored.
pub fn load(
    path: &Path,
    origin: &str,
    verifier: &Verifier,
) -> Result<Option<Checkpoint>, Divergence> {
    let unreadable = |reason: String| Divergence::Unreadable {
        anchor: path.display().to_string(),
        reason,
    };
    let note = match std::fs::read(path) {
        Ok(n) => n,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e.to_string())),
    };
    let cp = verify_note(&note, std::slice::from_ref(verifier)).map_err(|e| {
        unreadable(format!(
            "it does not verify with this broker's audit key ({e})"
        ))
    })?;
    if cp.origin != origin {
        return Err(unreadable(format!(
            "it is a checkpoint of the log {:?}, not of {origin:?}",
            cp.origin
        )));
    }
    Ok(Some(cp))
}

/// Replaces the anchor at `path` with `note`, atomically: a reader (or a crash) sees the old
/// note or the new one, whole. The file is created owner-only (0600) from its first byte.
pub fn store(path: &Path, note: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::secret_file::create_private_dir(dir)?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(note.as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    // The rename itself is durable only once the folder is.
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair as _};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn an_anchor_round_trips_owner_only_and_a_foreign_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join(ANCHOR_FILE);
        let key = Ed25519KeyPair::from_seed_unchecked(&[9; 32]).unwrap();
        let v = Verifier::new("kruispunt/t", key.public_key().as_ref()).unwrap();
        assert_eq!(load(&path, "kruispunt/t", &v).unwrap(), None);
        let note =
            crate::audit::sign_checkpoint("kruispunt/t", 3, &[7; 32], "kruispunt/t", &key).unwrap();
        store(&path, &note).unwrap();
        store(&path, &note).unwrap(); // replacing works
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let cp = load(&path, "kruispunt/t", &v).unwrap().unwrap();
        assert_eq!((cp.size, cp.root), (3, [7; 32]));
        assert!(matches!(
            load(&path, "kruispunt/other", &v),
            Err(Divergence::Unreadable { .. })
        ));
        std::fs::write(&path, note.replace("\n3\n", "\n4\n")).unwrap();
        assert!(matches!(
            load(&path, "kruispunt/t", &v),
            Err(Divergence::Unreadable { .. })
        ));
    }
}
