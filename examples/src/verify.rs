//! Checking the audit log as a partner can: the signed checkpoint against the log's public key,
//! and the Merkle root recomputed from every leaf (own entries in full, others as hashes).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kruispunt_sdk::client::{AuditRecord, Client};

use crate::ScenarioError;
use crate::scenarios::explain;

/// What a verified log showed its reader.
#[derive(Debug, Clone)]
pub struct VerifiedLog {
    /// The log's origin line.
    pub origin: String,
    /// Entries covered by the checkpoint.
    pub size: u64,
    /// The verified root.
    pub root: [u8; 32],
    /// The entries that concern the reader, with their index.
    pub mine: Vec<(u64, AuditRecord)>,
}

fn bad(what: impl Into<String>) -> ScenarioError {
    ScenarioError::Unexpected(format!("audit log: {}", what.into()))
}

/// Fetches the checkpoint, verifies its signature with the published key, fetches every entry
/// it covers and recomputes the root.
pub async fn verify_log(client: &Client) -> Result<VerifiedLog, ScenarioError> {
    let note = client.audit_checkpoint().await.map_err(explain)?;
    let key = client.audit_key().await.map_err(explain)?;
    let (origin, size, root) = open_note(&note, &key)?;
    let mut leaves = Vec::with_capacity(size as usize);
    let mut mine = Vec::new();
    let mut start = 0;
    while start < size {
        let end = (start + 1000).min(size);
        let page = client.audit_entries(start, end).await.map_err(explain)?;
        for (k, leaf) in page.entries.into_iter().enumerate() {
            if leaf.index != start + k as u64 {
                return Err(bad(format!(
                    "entry {} answered out of order",
                    start + k as u64
                )));
            }
            leaves.push(leaf.leaf_hash()?);
            if let Some(e) = leaf.entry {
                mine.push((leaf.index, e));
            }
        }
        start = end;
    }
    if leaves.len() as u64 != size {
        return Err(bad(format!(
            "expected {size} entries, got {}",
            leaves.len()
        )));
    }
    if mth(&leaves) != root {
        return Err(bad(
            "the recomputed Merkle root differs from the signed checkpoint",
        ));
    }
    Ok(VerifiedLog {
        origin,
        size,
        root,
        mine,
    })
}

/// RFC 6962 Merkle tree hash over leaf hashes.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => ring::digest::digest(&ring::digest::SHA256, b"")
            .as_ref()
            .try_into()
            .expect("32 bytes"),
        1 => leaves[0],
        n => {
            let k = n.next_power_of_two() / 2;
            let (l, r) = (mth(&leaves[..k]), mth(&leaves[k..]));
            let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
            ctx.update(&[1]);
            ctx.update(&l);
            ctx.update(&r);
            ctx.finish().as_ref().try_into().expect("32 bytes")
        }
    }
}

/// Verifies a C2SP signed note carrying a tlog checkpoint with the verifier key
/// `name+hash+base64(0x01 ‖ key)`; returns origin, size and root.
fn open_note(note: &str, key: &str) -> Result<(String, u64, [u8; 32]), ScenarioError> {
    let mut parts = key.trim().splitn(3, '+');
    let (name, _id, k) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let k = STANDARD
        .decode(k)
        .map_err(|_| bad("verifier key is not base64"))?;
    if k.len() != 33 || k[0] != 1 {
        return Err(bad("verifier key is not an Ed25519 key"));
    }
    let pk = &k[1..];
    let split = note
        .find("\n\n")
        .ok_or_else(|| bad("checkpoint is not a signed note"))?;
    let body = &note[..split + 1];
    let mut verified = false;
    for line in note[split + 2..].lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            continue;
        };
        let Some((n, sig)) = rest.split_once(' ') else {
            continue;
        };
        if n != name {
            continue;
        }
        let sig = STANDARD
            .decode(sig)
            .map_err(|_| bad("signature is not base64"))?;
        if sig.len() == 68
            && ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, pk)
                .verify(body.as_bytes(), &sig[4..])
                .is_ok()
        {
            verified = true;
        }
    }
    if !verified {
        return Err(bad("no valid signature by the log's key on the checkpoint"));
    }
    let mut lines = body.lines();
    let origin = lines.next().unwrap_or_default().to_string();
    let size = lines
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("checkpoint size"))?;
    let root = lines
        .next()
        .and_then(|s| STANDARD.decode(s).ok())
        .and_then(|r| <[u8; 32]>::try_from(r.as_slice()).ok())
        .ok_or_else(|| bad("checkpoint root"))?;
    Ok((origin, size, root))
}
