//! The witness's checks (C2SP `tlog-witness`, `add-checkpoint`), atomic per log: the check of
//! the old size against the latest cosigned checkpoint and the durable update happen under one
//! lock per log, so two concurrent requests can never roll the record back (A checked at N, B
//! checked and stored at N+K, A stored at N).

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use kruispunt_sdk::transparency::{
    Checkpoint, NoteError, Verifier, split_note, verify_consistency, verify_note,
};
use tokio::sync::Mutex;

use super::key::WitnessKey;
use super::request;
use super::state::{self, Cosigned, StateError};

/// File in the state folder where refused requests that show a log misbehaving are kept.
pub const EVIDENCE_FILE: &str = "evidence.jsonl";

/// Why a checkpoint was not cosigned. Each maps to the status the specification prescribes
/// ([`crate::witness::http`]).
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// 400: the body is not an `add-checkpoint` request.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// 404: this witness does not witness that log.
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// 403: no signature of a key trusted for the log verifies (or a trusted key's fails).
    #[error("the checkpoint is not signed by a key trusted for {origin}: {error}")]
    NotSigned { origin: String, error: NoteError },
    /// 400: the old size is beyond the checkpoint.
    #[error("old size {old} is larger than the checkpoint's size {size}")]
    OldBeyondSize { old: u64, size: u64 },
    /// 409 with `text/x.tlog.size`: the client's old size is not the latest cosigned.
    #[error("old size {old} is not the size of the latest cosigned checkpoint, {latest}")]
    SizeConflict { old: u64, latest: u64 },
    /// 409: a checkpoint of the cosigned size with another root — a fork.
    #[error("a checkpoint of size {size} with another root was cosigned: the log forked")]
    Fork { size: u64 },
    /// 422: the consistency proof does not verify.
    #[error("the consistency proof from {old} to {size} does not verify: {reason}")]
    BadProof { old: u64, size: u64, reason: String },
    /// 500: the record could not be written, so nothing was cosigned.
    #[error("the witness state could not be written: {0}")]
    Persist(std::io::Error),
}

struct Log {
    verifiers: Vec<Verifier>,
    latest: Mutex<Option<Cosigned>>,
}

/// A witness of some logs.
pub struct Witness {
    key: WitnessKey,
    dir: PathBuf,
    logs: HashMap<String, Log>,
    evidence: std::sync::Mutex<()>,
}

impl Witness {
    /// A witness with `key`, keeping its state in `dir`, of the logs `logs` (origin and a
    /// trusted key; several keys for one origin are all trusted).
    pub fn open(
        key: WitnessKey,
        dir: &Path,
        logs: Vec<(String, Verifier)>,
    ) -> Result<Witness, StateError> {
        crate::secret_file::create_private_dir(dir).map_err(|error| StateError::Io {
            path: dir.display().to_string(),
            error,
        })?;
        let mut map: HashMap<String, Log> = HashMap::new();
        for (origin, verifier) in logs {
            match map.get_mut(&origin) {
                Some(log) => log.verifiers.push(verifier),
                None => {
                    let latest = state::load(dir, &origin)?;
                    map.insert(
                        origin,
                        Log {
                            verifiers: vec![verifier],
                            latest: Mutex::new(latest),
                        },
                    );
                }
            }
        }
        Ok(Witness {
            key,
            dir: dir.to_path_buf(),
            logs: map,
            evidence: std::sync::Mutex::new(()),
        })
    }

    pub fn key(&self) -> &WitnessKey {
        &self.key
    }

    /// The latest cosigned size of `origin`, if any.
    pub async fn latest_size(&self, origin: &str) -> Option<u64> {
        let log = self.logs.get(origin)?;
        log.latest.lock().await.as_ref().map(|c| c.size)
    }

    /// Handles an `add-checkpoint` body; answers the cosignature line(s).
    pub async fn add_checkpoint(&self, body: &[u8]) -> Result<String, AddError> {
        let req = request::parse(body).map_err(AddError::Malformed)?;
        let (text, _) = split_note(req.note.as_bytes())
            .map_err(|e| AddError::Malformed(format!("checkpoint: {e}")))?;
        let claimed = Checkpoint::parse_body(text)
            .map_err(|e| AddError::Malformed(format!("checkpoint: {e}")))?;
        let log = self
            .logs
            .get(&claimed.origin)
            .ok_or_else(|| AddError::UnknownOrigin(claimed.origin.clone()))?;
        let cp = verify_note(&req.note, &log.verifiers).map_err(|error| AddError::NotSigned {
            origin: claimed.origin.clone(),
            error,
        })?;
        if req.old > cp.size {
            return Err(AddError::OldBeyondSize {
                old: req.old,
                size: cp.size,
            });
        }
        // From here to the durable write, one request per log at a time.
        let mut latest = log.latest.lock().await;
        let latest_size = latest.as_ref().map_or(0, |c| c.size);
        if req.old != latest_size {
            return Err(AddError::SizeConflict {
                old: req.old,
                latest: latest_size,
            });
        }
        let refused = |e: AddError| {
            self.keep_evidence(&cp.origin, &e, body);
            e
        };
        let bad_proof = |reason: &str| AddError::BadProof {
            old: req.old,
            size: cp.size,
            reason: reason.to_string(),
        };
        match latest.as_ref() {
            // Never cosigned (old is 0): nothing to be consistent with.
            None => {
                if !req.proof.is_empty() {
                    return Err(refused(bad_proof("from size 0 the proof must be empty")));
                }
            }
            Some(prev) if prev.size == cp.size => {
                if prev.root != cp.root {
                    return Err(refused(AddError::Fork { size: cp.size }));
                }
                if !req.proof.is_empty() {
                    return Err(refused(bad_proof(
                        "between checkpoints of one size the proof must be empty",
                    )));
                }
            }
            Some(prev) => {
                verify_consistency(prev.size, cp.size, &req.proof, &prev.root, &cp.root)
                    .map_err(|e| refused(bad_proof(&e.to_string())))?;
            }
        }
        let line = self
            .key
            .cosign(text, u64::try_from(crate::civil::now_secs()).unwrap_or(0));
        let next = Cosigned {
            size: cp.size,
            root: cp.root,
            note: format!("{}{line}", req.note),
        };
        let (dir, origin, record) = (self.dir.clone(), cp.origin.clone(), next.clone());
        tokio::task::spawn_blocking(move || state::store(&dir, &origin, &record))
            .await
            .map_err(|e| AddError::Persist(std::io::Error::other(e)))?
            .map_err(AddError::Persist)?;
        *latest = Some(next);
        Ok(line)
    }

    /// Appends a refused request that shows the log misbehaving (a fork, a proof that does not
    /// verify) to the evidence file: the request body as sent, signed by the log, is what a
    /// supervisor needs to hold it to account.
    fn keep_evidence(&self, origin: &str, error: &AddError, body: &[u8]) {
        let record = serde_json::json!({
            "time": crate::civil::now_secs(),
            "origin": origin,
            "refusal": error.to_string(),
            "request": String::from_utf8_lossy(body),
        });
        let _guard = self.evidence.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.dir.join(EVIDENCE_FILE);
        let written = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| {
                f.write_all(format!("{record}\n").as_bytes())?;
                f.sync_data()
            });
        match written {
            Ok(()) => {
                tracing::warn!(origin, refusal = %error, "refused checkpoint kept as evidence")
            }
            Err(e) => {
                tracing::error!(origin, refusal = %error, error = %e, "refused checkpoint could not be kept as evidence")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kruispunt_sdk::transparency::{MemoryTree, consistency_proof, root_at, split_note};
    use ring::signature::{Ed25519KeyPair, KeyPair as _};

    const ORIGIN: &str = "kruispunt/test";

    struct Log {
        key: Ed25519KeyPair,
        tree: MemoryTree,
    }

    impl Log {
        fn new(seed: u8, leaves: u64) -> Log {
            let mut tree = MemoryTree::new();
            for i in 0..leaves {
                tree.append_leaf(&i.to_be_bytes());
            }
            Log {
                key: Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap(),
                tree,
            }
        }
        fn verifier(&self) -> Verifier {
            Verifier::new(ORIGIN, self.key.public_key().as_ref()).unwrap()
        }
        fn note(&self, size: u64) -> String {
            let root = root_at(&self.tree, size).unwrap();
            crate::audit::sign_checkpoint(ORIGIN, size, &root, ORIGIN, &self.key).unwrap()
        }
        fn body(&self, old: u64, size: u64) -> String {
            let proof = if old == 0 || old >= size {
                Vec::new()
            } else {
                consistency_proof(&self.tree, old, size).unwrap()
            };
            request::encode(old, &proof, &self.note(size))
        }
    }

    fn witness(dir: &Path, log: &Log) -> Witness {
        let key = WitnessKey::generate("w/1").unwrap();
        Witness::open(key, dir, vec![(ORIGIN.into(), log.verifier())]).unwrap()
    }

    #[tokio::test]
    async fn the_specification_statuses() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::new(1, 20);
        let w = witness(dir.path(), &log);
        // Unknown origin, a stranger's signature, old beyond size, garbage.
        let other = Log::new(2, 20);
        let foreign = other.note(5).replace(ORIGIN, "kruispunt/other");
        assert!(matches!(
            w.add_checkpoint(request::encode(0, &[], &foreign).as_bytes())
                .await,
            Err(AddError::UnknownOrigin(_))
        ));
        assert!(matches!(
            w.add_checkpoint(other.body(0, 5).as_bytes()).await,
            Err(AddError::NotSigned { .. })
        ));
        assert!(matches!(
            w.add_checkpoint(log.body(6, 5).as_bytes()).await,
            Err(AddError::OldBeyondSize { old: 6, size: 5 })
        ));
        assert!(matches!(
            w.add_checkpoint(b"old 0\n").await,
            Err(AddError::Malformed(_))
        ));
        // First contact: old 0, then a stale old size learns the latest.
        let line = w.add_checkpoint(log.body(0, 5).as_bytes()).await.unwrap();
        let cosigned = format!("{}{line}", log.note(5));
        let (text, lines) = split_note(cosigned.as_bytes()).unwrap();
        w.key()
            .verifier()
            .verify(text, &lines[1].signature)
            .unwrap();
        assert!(matches!(
            w.add_checkpoint(log.body(0, 8).as_bytes()).await,
            Err(AddError::SizeConflict { old: 0, latest: 5 })
        ));
        // Growth with a proof; the same checkpoint again; a fork of the same size.
        w.add_checkpoint(log.body(5, 8).as_bytes()).await.unwrap();
        w.add_checkpoint(log.body(8, 8).as_bytes()).await.unwrap();
        let mut fork = Log::new(1, 7);
        fork.tree.append_leaf(b"another eighth entry");
        assert!(matches!(
            w.add_checkpoint(fork.body(8, 8).as_bytes()).await,
            Err(AddError::Fork { size: 8 })
        ));
        // A tree that does not extend the cosigned one: its own (valid) proof fails against
        // the cosigned root.
        let mut forked = Log::new(1, 7);
        for i in 0..5u64 {
            forked.tree.append_leaf(&(100 + i).to_be_bytes());
        }
        assert!(matches!(
            w.add_checkpoint(forked.body(8, 12).as_bytes()).await,
            Err(AddError::BadProof {
                old: 8,
                size: 12,
                ..
            })
        ));
        // Both refusals are kept as evidence, with the request.
        let evidence = std::fs::read_to_string(dir.path().join(EVIDENCE_FILE)).unwrap();
        assert_eq!(evidence.lines().count(), 2);
        assert!(evidence.contains("forked") && evidence.contains("old 8\\n"));
        // A restarted witness remembers size 8.
        drop(w);
        let again = witness(dir.path(), &log);
        assert_eq!(again.latest_size(ORIGIN).await, Some(8));
        assert!(matches!(
            again.add_checkpoint(log.body(5, 12).as_bytes()).await,
            Err(AddError::SizeConflict { latest: 8, .. })
        ));
    }

    /// The rollback race of the specification: two requests from the same old size, checked
    /// concurrently, must not both be cosigned (else the smaller, stored last, rolls back the
    /// larger). The per-log lock makes exactly one of them win, every time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_from_one_old_size_cosign_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::new(3, 64);
        let w = std::sync::Arc::new(witness(dir.path(), &log));
        w.add_checkpoint(log.body(0, 4).as_bytes()).await.unwrap();
        let mut old = 4;
        for round in 0..20u64 {
            let (a, b) = (old + 1 + round % 3, old + 5 + round % 7);
            let (ba, bb) = (log.body(old, a), log.body(old, b));
            let (wa, wb) = (w.clone(), w.clone());
            let ta = tokio::spawn(async move { wa.add_checkpoint(ba.as_bytes()).await });
            let tb = tokio::spawn(async move { wb.add_checkpoint(bb.as_bytes()).await });
            let (ra, rb) = (ta.await.unwrap(), tb.await.unwrap());
            assert!(ra.is_ok() != rb.is_ok(), "round {round}: {ra:?} {rb:?}");
            let (winner, loser) = if ra.is_ok() { (a, rb) } else { (b, ra) };
            assert!(
                matches!(loser, Err(AddError::SizeConflict { latest, .. }) if latest == winner)
            );
            assert_eq!(w.latest_size(ORIGIN).await, Some(winner));
            assert_eq!(
                state::load(dir.path(), ORIGIN).unwrap().unwrap().size,
                winner
            );
            old = winner;
            if old + 12 > 64 {
                break;
            }
        }
    }
}
