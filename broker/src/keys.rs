//! The broker's own key material, and the development key pairs of the demo partners.
//!
//! Two secrets belong to the broker and live in `DATA_DIR/keys/`, apart from the database:
//!
//! - `at-rest.key`: 32 random bytes (hex). Every pseudonym a partner sends is keyed once more
//!   with it before it is stored (`stored = HMAC-SHA256(at_rest_key, pseudonym)`, docs/ARCHITECTURE.md).
//!   A stolen database together with a partner's coalition key therefore still reveals nothing:
//!   the attacker would also need this file. It is kept out of the database for exactly that
//!   reason, and must never be backed up together with it.
//! - `audit-signing.pk8`: the Ed25519 key (PKCS#8 v2, as written by ring) that signs the audit
//!   log's checkpoints. Its public half is what privacy officers use to verify the log offline.
//!
//! Both are created on first start with mode 0600 (from the first byte, see [`secret_file`])
//! and loaded afterwards; an existing file is never overwritten, so a restart can never silently
//! rotate a key and orphan the stored data or break the log's signature chain.
//!
//! [`dev_partner_keys`] writes a signing key per partner of the registry, so that a development
//! set-up can mint tokens (`kruispunt token`) without any partner infrastructure.

use std::fmt;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair};

use crate::secret_file;

/// Folder inside the data directory that holds all key files.
pub const KEYS_DIR: &str = "keys";
/// File name of the at-rest key (hex, 32 bytes).
pub const AT_REST_KEY_FILE: &str = "at-rest.key";
/// File name of the audit-log signing key (Ed25519, PKCS#8 DER).
pub const AUDIT_SIGNING_KEY_FILE: &str = "audit-signing.pk8";

/// The broker's secret keys. `Debug` shows only public material.
pub struct BrokerKeys {
    at_rest: hmac::Key,
    audit: Ed25519KeyPair,
}

impl fmt::Debug for BrokerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerKeys")
            .field("at_rest", &"[redacted]")
            .field("audit_public_key", &hex::encode(self.audit_public_key()))
            .finish()
    }
}

impl BrokerKeys {
    /// Loads `DATA_DIR/keys/at-rest.key` and `DATA_DIR/keys/audit-signing.pk8`, creating each
    /// (mode 0600, folder 0700) if it does not exist yet.
    ///
    /// Two brokers starting at once on an empty directory are safe: files are created with
    /// `create_new`, and the loser of the race loads the winner's key.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<BrokerKeys> {
        let dir = data_dir.join(KEYS_DIR);
        secret_file::create_private_dir(&dir)
            .with_context(|| format!("cannot create key folder {}", dir.display()))?;
        let rng = SystemRandom::new();

        let at_rest_path = dir.join(AT_REST_KEY_FILE);
        let at_rest_hex = load_or_create_file(&at_rest_path, || {
            let mut key = [0u8; 32];
            rng.fill(&mut key)
                .map_err(|_| anyhow!("the system random generator failed"))?;
            Ok(format!("{}\n", hex::encode(key)).into_bytes())
        })?;
        let at_rest = parse_at_rest_key(&at_rest_hex)
            .with_context(|| format!("invalid at-rest key in {}", at_rest_path.display()))?;

        let audit_path = dir.join(AUDIT_SIGNING_KEY_FILE);
        let audit_pkcs8 = load_or_create_file(&audit_path, || {
            Ed25519KeyPair::generate_pkcs8(&rng)
                .map(|doc| doc.as_ref().to_vec())
                .map_err(|_| anyhow!("the system random generator failed"))
        })?;
        BrokerKeys::from_parts(&at_rest, &audit_pkcs8)
            .with_context(|| format!("invalid audit signing key in {}", audit_path.display()))
    }

    /// Builds the keys from their raw forms (tests, or a deployment that keeps them in a
    /// secret store). `audit_pkcs8` is an Ed25519 PKCS#8 document, v1 or v2.
    pub fn from_parts(at_rest_key: &[u8; 32], audit_pkcs8: &[u8]) -> anyhow::Result<BrokerKeys> {
        let audit = Ed25519KeyPair::from_pkcs8_maybe_unchecked(audit_pkcs8)
            .map_err(|e| anyhow!("not an Ed25519 PKCS#8 key: {e}"))?;
        Ok(BrokerKeys {
            at_rest: hmac::Key::new(hmac::HMAC_SHA256, at_rest_key),
            audit,
        })
    }

    /// The form in which a partner's pseudonym is stored and matched:
    /// `HMAC-SHA256(at_rest_key, pseudonym)`. Deterministic (so equal pseudonyms still match)
    /// and different for every broker key.
    pub fn at_rest(&self, pseudonym: &[u8; 32]) -> [u8; 32] {
        let tag = hmac::sign(&self.at_rest, pseudonym);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// The key that signs audit checkpoints.
    /// The key of the ondermijningsbeeld's noise (crate::beeld::noise): `HMAC(at-rest key,
    /// "kruispunt beeld noise v1")`, so brokers sharing the at-rest key draw the same noise and
    /// no one without it can predict or remove it.
    pub fn beeld_noise_key(&self) -> [u8; 32] {
        let tag = hmac::sign(&self.at_rest, b"kruispunt beeld noise v1");
        let mut key = [0u8; 32];
        key.copy_from_slice(tag.as_ref());
        key
    }

    pub fn audit_signing_key(&self) -> &Ed25519KeyPair {
        &self.audit
    }

    /// The raw 32-byte public half of [`BrokerKeys::audit_signing_key`], as published for
    /// offline verification of the audit log.
    pub fn audit_public_key(&self) -> &[u8] {
        self.audit.public_key().as_ref()
    }
}

fn parse_at_rest_key(text: &[u8]) -> anyhow::Result<[u8; 32]> {
    let text = std::str::from_utf8(text).map_err(|_| anyhow!("not text"))?;
    let bytes = hex::decode(text.trim()).map_err(|e| anyhow!("not hex: {e}"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| anyhow!("expected 32 bytes (64 hex digits), found {}", bytes.len()))
}

/// Reads `path`; if it does not exist, writes `create()` to it as a secret (0600, never
/// overwriting) and returns that. A file that other users may read is loaded, with a warning:
/// refusing would break secret mounts of container platforms, which default to 0644.
fn load_or_create_file(
    path: &Path,
    create: impl FnOnce() -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            warn_if_readable_by_others(path);
            Ok(bytes)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let bytes = create()?;
            match secret_file::write_secret(path, &bytes) {
                Ok(()) => Ok(bytes),
                // Another process created it first: use theirs.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
                }
                Err(e) => Err(e).with_context(|| format!("cannot write {}", path.display())),
            }
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "key file is accessible to other users; restrict it to the owner (chmod 600)"
        );
    }
}

/// Development key pairs for the demo partners of a registry.
///
/// Real partners keep their private keys themselves and register only the public half in the
/// registry. A development set-up has no partners, so the broker plays all of them: it writes
/// one Ed25519 key per partner to `keys/partners/<id>.pk8` (0600) and the public halves to
/// `keys/partners.toml`, which the broker adds to the registry's keys **only in development**.
/// `kruispunt token` signs with these keys.
pub mod dev_partner_keys {
    use super::*;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use kruispunt_policy::registry::{KeyAlg, PartnerKey, Registry};
    use serde::{Deserialize, Serialize};

    /// Public file listing the development verification keys, relative to the data dir.
    pub const PARTNERS_FILE: &str = "keys/partners.toml";
    /// Folder of the development private keys, relative to the data dir.
    pub const PARTNERS_DIR: &str = "keys/partners";

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PartnersFile {
        #[serde(default)]
        key: Vec<KeyEntry>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct KeyEntry {
        partner: String,
        kid: String,
        alg: KeyAlg,
        public_key: String,
    }

    /// The `kid` of a partner's development key.
    pub fn dev_kid(partner: &str) -> String {
        format!("{partner}-dev-1")
    }

    fn private_key_path(data_dir: &Path, partner: &str) -> anyhow::Result<PathBuf> {
        // Partner ids come from the registry, but they become file names here: refuse
        // anything that could leave the folder.
        let ok = !partner.is_empty()
            && !partner.starts_with('.')
            && partner
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !ok {
            bail!("partner id {partner:?} cannot be used as a key file name");
        }
        Ok(data_dir.join(PARTNERS_DIR).join(format!("{partner}.pk8")))
    }

    /// Writes a key pair for every partner of `registry` that has none yet, and (re)writes
    /// `keys/partners.toml` with the public halves of all of them. Existing private keys are
    /// never replaced, so tokens minted earlier stay valid across restarts.
    pub fn create_if_missing(data_dir: &Path, registry: &Registry) -> anyhow::Result<()> {
        let dir = data_dir.join(PARTNERS_DIR);
        secret_file::create_private_dir(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let rng = SystemRandom::new();
        let mut entries = Vec::with_capacity(registry.partners.len());
        for partner in &registry.partners {
            let path = private_key_path(data_dir, &partner.id)?;
            let pkcs8 = load_or_create_file(&path, || {
                Ed25519KeyPair::generate_pkcs8(&rng)
                    .map(|doc| doc.as_ref().to_vec())
                    .map_err(|_| anyhow!("the system random generator failed"))
            })?;
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
                .map_err(|e| anyhow!("{}: not an Ed25519 PKCS#8 key: {e}", path.display()))?;
            entries.push(KeyEntry {
                partner: partner.id.clone(),
                kid: dev_kid(&partner.id),
                alg: KeyAlg::EdDsa,
                public_key: STANDARD.encode(pair.public_key().as_ref()),
            });
        }
        let text = format!(
            "# Development JWT verification keys of the demo partners, written by the broker.\n\
             # Public halves only; the private keys are in {PARTNERS_DIR}/<partner>.pk8.\n\
             # The broker trusts these keys only when kruispunt.toml says `development = true`.\n\n{}",
            toml::to_string(&PartnersFile { key: entries })?
        );
        let path = data_dir.join(PARTNERS_FILE);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            return Ok(());
        }
        // Replace atomically: a broker reading the file meanwhile sees the old or the new list.
        let tmp = path.with_extension(format!("toml.tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        secret_file::write_public(&tmp, text.as_bytes())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
    }

    /// The development verification keys from `keys/partners.toml`, as (partner id, key).
    /// A missing file gives an empty list (a production data dir has none).
    pub fn load_registered_keys(data_dir: &Path) -> anyhow::Result<Vec<(String, PartnerKey)>> {
        let path = data_dir.join(PARTNERS_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let file: PartnersFile =
            toml::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        Ok(file
            .key
            .into_iter()
            .map(|k| {
                (
                    k.partner,
                    PartnerKey {
                        kid: k.kid,
                        alg: k.alg,
                        public_key: k.public_key,
                    },
                )
            })
            .collect())
    }

    /// The development signing key of `partner`: its `kid` and the Ed25519 PKCS#8 document.
    pub fn load_partner_signing_key(
        data_dir: &Path,
        partner: &str,
    ) -> anyhow::Result<(String, Vec<u8>)> {
        let path = private_key_path(data_dir, partner)?;
        let pkcs8 = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => bail!(
                "no development key for partner `{partner}` in {} (run `kruispunt init --data-dir {}` first)",
                path.display(),
                data_dir.display()
            ),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
            .map_err(|e| anyhow!("{}: not an Ed25519 PKCS#8 key: {e}", path.display()))?;
        Ok((dev_kid(partner), pkcs8))
    }
}
