//! `kruispunt partner keygen`: the organisation's own token-signing key.
//!
//! In production the broker never holds a partner's private key: the partner makes its key
//! pair itself, keeps the private half in an owner-only file and sends the public half to the
//! registry's keeper, who adds it to the partner's `[[partners]]` entry. This command does
//! both halves of that, so a partner without a Rust team needs no code to take part; `kruispunt
//! token --key FILE` then signs its tokens.
//!
//! The key file is the Ed25519 key as PKCS#8 in PEM (`-----BEGIN PRIVATE KEY-----`), which
//! OpenSSL and Python's `cryptography` read too. The key id (`kid`) is derived from the key
//! ([`kid_for`]), so the token command needs no second file and no flag to name it.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::{Args, Subcommand};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};

use crate::secret_file;

#[derive(Debug, Subcommand)]
pub enum PartnerCommand {
    /// Write the organisation's Ed25519 token-signing key (owner-only file, never
    /// overwritten) and print the public-key entry to send to the registry's keeper.
    Keygen(KeygenArgs),
}

#[derive(Debug, Clone, Args)]
pub struct KeygenArgs {
    /// The organisation's partner id in the registry, e.g. autobedrijf-de-vecht.
    #[arg(long, value_name = "ORG")]
    pub org: String,
    /// Where to write the private key (PEM, mode 0600); an existing file is refused.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

pub fn run(cmd: PartnerCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PartnerCommand::Keygen(args) => {
            let entry = keygen(&args.org, &args.out)?;
            eprintln!(
                "wrote the private key of {} to {} (owner-only; keep it there, never send it)",
                args.org,
                args.out.display()
            );
            eprintln!(
                "send the entry below to the registry's keeper: it goes under the [[partners]] \
                 entry with id = \"{}\"",
                args.org
            );
            print!("{entry}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Whether `org` has the form of a registry partner id (lowercase letters, digits, `-`).
pub fn check_org(org: &str) -> anyhow::Result<()> {
    let ok = !org.is_empty()
        && org.len() <= 64
        && !org.starts_with('-')
        && org
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        bail!(
            "--org: {org:?} is not a partner id (1–64 lowercase letters, digits and `-`, as in \
             the registry, e.g. autobedrijf-de-vecht)"
        );
    }
    Ok(())
}

/// Writes a fresh key to `out` (0600, refusing an existing file) and returns the registry
/// entry of its public half.
pub fn keygen(org: &str, out: &Path) -> anyhow::Result<String> {
    check_org(org)?;
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| anyhow!("the system random generator failed"))?;
    let pem = to_pem(pkcs8.as_ref());
    match secret_file::write_secret(out, pem.as_bytes()) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => bail!(
            "--out: {} exists; a key is never overwritten (tokens signed with it would stop \
             working once the keeper replaced its entry). Choose another file name.",
            out.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("--out: cannot write {}", out.display())),
    }
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|e| anyhow!("the generated key does not load: {e}"))?;
    Ok(registry_entry(org, pair.public_key().as_ref()))
}

/// The registry's form of a partner key (`[[partners.keys]]` under the partner's
/// `[[partners]]` table), as the keeper pastes it.
pub fn registry_entry(org: &str, public_key: &[u8]) -> String {
    format!(
        "# public key of {org}; paste under its [[partners]] entry\n\
         [[partners.keys]]\n\
         kid = \"{kid}\"\n\
         alg = \"EdDSA\"\n\
         public_key = \"{pk}\"\n",
        kid = kid_for(org, public_key),
        pk = STANDARD.encode(public_key),
    )
}

/// The key id of `org`'s key: `ORG-` and the first 8 bytes of SHA-256 of the raw public key,
/// in hex. Derived rather than chosen so that the key file alone says which `kid` its tokens
/// carry, and a second key of the same organisation gets another id.
pub fn kid_for(org: &str, public_key: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public_key);
    format!("{org}-{}", hex::encode(&digest.as_ref()[..8]))
}

/// A signing key read from a file `keygen` wrote (PEM) or a raw PKCS#8 DER file: the PKCS#8
/// document and its raw public key.
pub struct SigningKey {
    pub pkcs8: Vec<u8>,
    pub public_key: Vec<u8>,
}

/// Reads an Ed25519 PKCS#8 key, PEM or DER, naming the file in every error.
pub fn load_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    let bytes = std::fs::read(path).with_context(|| format!("--key: {}", path.display()))?;
    let der = match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN") => from_pem(text)
            .with_context(|| format!("--key: {}: not a PEM private key", path.display()))?,
        _ => bytes,
    };
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(|e| {
        anyhow!(
            "--key: {}: not an Ed25519 key in PKCS#8 ({e}); make one with `kruispunt partner keygen`",
            path.display()
        )
    })?;
    Ok(SigningKey {
        public_key: pair.public_key().as_ref().to_vec(),
        pkcs8: der,
    })
}

fn to_pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

fn from_pem(text: &str) -> anyhow::Result<Vec<u8>> {
    let body = text
        .split("-----BEGIN PRIVATE KEY-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END PRIVATE KEY-----").next())
        .ok_or_else(|| anyhow!("no `PRIVATE KEY` block"))?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(b64)
        .map_err(|e| anyhow!("the PEM body is not base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_writes_an_owner_only_key_that_loads_and_refuses_to_overwrite() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("org.pem");
        let entry = keygen("autobedrijf-de-vecht", &path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let key = load_signing_key(&path).unwrap();
        assert!(entry.contains(&kid_for("autobedrijf-de-vecht", &key.public_key)));
        assert!(entry.contains(&STANDARD.encode(&key.public_key)));
        let before = std::fs::read(&path).unwrap();
        let err = keygen("autobedrijf-de-vecht", &path).unwrap_err();
        assert!(err.to_string().contains("never overwritten"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn a_bad_org_is_refused_naming_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let err = keygen("Autobedrijf De Vecht", &dir.path().join("k.pem")).unwrap_err();
        assert!(err.to_string().contains("--org"), "{err}");
        assert!(!dir.path().join("k.pem").exists());
    }
}
