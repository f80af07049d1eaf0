//! What partners and the broker's delivery service agree on: the ciphersuite, the wire-format
//! policy, how an organisation is named in a credential, and the openmls provider.

use openmls::prelude::*;
use openmls_memory_storage::MemoryStorage;
use openmls_rust_crypto::RustCrypto;

/// X25519, AES-128-GCM, SHA-256, Ed25519: mandatory-to-implement in RFC 9420 and provided by
/// openmls' RustCrypto backend. The broker refuses key packages and groups of any other suite.
pub const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// Handshake messages (proposals, commits) are signed *public* messages, so the delivery
/// service can follow membership and refuse an add the registry does not allow; application
/// messages are always encrypted by openmls whatever this policy says.
pub const WIRE_FORMAT_POLICY: WireFormatPolicy = PURE_PLAINTEXT_WIRE_FORMAT_POLICY;

/// How many past epochs a member keeps secrets for, so an application message sent just
/// before a commit (and delivered after it) can still be read.
pub const MAX_PAST_EPOCHS: usize = 3;

/// Why a credential does not name an organisation.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Not a basic credential (the only kind Kruispunt issues).
    #[error("the credential is not a basic credential")]
    NotBasic,
    /// The identity is not a well-formed partner id.
    #[error("the credential's identity is not a valid organisation id")]
    BadOrg,
}

/// The organisation (registry partner id) a basic credential names.
pub fn org_of(credential: &Credential) -> Result<String, IdentityError> {
    let basic =
        BasicCredential::try_from(credential.clone()).map_err(|_| IdentityError::NotBasic)?;
    let org = std::str::from_utf8(basic.identity()).map_err(|_| IdentityError::BadOrg)?;
    if org.is_empty()
        || org.len() > 128
        || !org
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(IdentityError::BadOrg);
    }
    Ok(org.to_string())
}

/// The openmls provider of one partner (or of the broker's public view of one group):
/// RustCrypto with the in-memory storage that [`super::snapshot`] persists.
#[derive(Debug, Default)]
pub struct Provider {
    crypto: RustCrypto,
    storage: MemoryStorage,
}

impl Provider {
    /// A provider over an existing storage (restored from a snapshot).
    pub fn with_storage(storage: MemoryStorage) -> Provider {
        Provider {
            crypto: RustCrypto::default(),
            storage,
        }
    }
}

impl OpenMlsProvider for Provider {
    type CryptoProvider = RustCrypto;
    type RandProvider = RustCrypto;
    type StorageProvider = MemoryStorage;

    fn storage(&self) -> &Self::StorageProvider {
        &self.storage
    }

    fn crypto(&self) -> &Self::CryptoProvider {
        &self.crypto
    }

    fn rand(&self) -> &Self::RandProvider {
        &self.crypto
    }
}
