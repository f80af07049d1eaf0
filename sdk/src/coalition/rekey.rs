//! Re-uploading a partner's signals under a new coalition key version: after a rotation the
//! broker erases signals under the old version once the grace period ends (docs/COALITIONS.md),
//! so every partner pseudonymises its own records again with the new key and uploads them.
//! The partner keeps its records in the clear; only pseudonyms leave it. The upload is the
//! client's bulk upload (NDJSON, progress callback, retries), not a second implementation.

use crate::IdentifierKind;
use crate::client::{BulkProgress, Client, ClientError};
use crate::pseudonym::CoalitionKey;
use crate::wire::{SignalIn, UploadResponse};

/// One record a partner holds in the clear, to be signalled under the coalition's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRecord {
    /// The identifier's kind.
    pub kind: IdentifierKind,
    /// The identifier as the partner holds it (normalised before pseudonymisation).
    pub identifier: String,
    /// Signal code from the registry's taxonomy.
    pub code: String,
    /// `YYYY-MM-DD`.
    pub observed: String,
    /// District id from the registry.
    pub district: String,
    /// CBS municipality code (`GM0344`), if the partner recorded one.
    pub gemeente: Option<String>,
    /// CBS wijk code (`WK034405`), if the partner recorded one.
    pub wijk: Option<String>,
    /// Purposes the signal may be used for.
    pub purposes: Vec<String>,
    /// Optional earlier end of retention, `YYYY-MM-DD`.
    pub expires: Option<String>,
}

/// Why a re-upload did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RekeyError {
    /// A record's identifier does not normalise for its kind; nothing was uploaded. The
    /// identifier itself is never in the message.
    #[error("record {index}: identifier: not a valid {kind}")]
    Identifier {
        /// Position of the record (0-based).
        index: usize,
        /// The kind it failed to normalise as.
        kind: IdentifierKind,
    },
    /// The upload itself failed.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Pseudonymises `records` under `key` (every record first, so a bad one uploads nothing).
pub fn pseudonymise_records(
    key: &CoalitionKey,
    records: &[PartnerRecord],
) -> Result<Vec<SignalIn>, RekeyError> {
    records
        .iter()
        .enumerate()
        .map(|(index, r)| {
            let pseudonym = key
                .pseudonymiser(r.kind)
                .pseudonymise(&r.identifier)
                .map_err(|_| RekeyError::Identifier {
                    index,
                    kind: r.kind,
                })?;
            Ok(SignalIn {
                kind: r.kind.to_string(),
                pseudonym: pseudonym.to_hex(),
                key_version: key.version(),
                code: r.code.clone(),
                observed: r.observed.clone(),
                district: r.district.clone(),
                gemeente: r.gemeente.clone(),
                wijk: r.wijk.clone(),
                purposes: r.purposes.clone(),
                expires: r.expires.clone(),
            })
        })
        .collect()
}

/// Pseudonymises `records` under the coalition's new `key` and uploads them with
/// [`Client::upload_bulk`], calling `progress` as lines are sent.
pub async fn reupload<F>(
    client: &Client,
    key: &CoalitionKey,
    records: &[PartnerRecord],
    progress: F,
) -> Result<UploadResponse, RekeyError>
where
    F: Fn(BulkProgress) + Send + Sync + 'static,
{
    let signals = pseudonymise_records(key, records)?;
    Ok(client.upload_bulk(signals, progress).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(plate: &str) -> PartnerRecord {
        PartnerRecord {
            kind: IdentifierKind::Kenteken,
            identifier: plate.into(),
            code: "cash-rent".into(),
            observed: "2026-11-01".into(),
            district: "oost-utrecht".into(),
            gemeente: Some("GM0307".into()),
            wijk: None,
            purposes: vec!["kvo-buitengebied-signalering".into()],
            expires: None,
        }
    }

    #[test]
    fn records_take_the_new_version_and_pseudonym() {
        let v1 = CoalitionKey::new([1u8; 32], 1);
        let v2 = CoalitionKey::new([2u8; 32], 2);
        let a = pseudonymise_records(&v1, &[record("12-ABC-3")]).unwrap();
        let b = pseudonymise_records(&v2, &[record("12-abc-3")]).unwrap();
        assert_eq!((a[0].key_version, b[0].key_version), (1, 2));
        assert_ne!(a[0].pseudonym, b[0].pseudonym);
        let again = pseudonymise_records(&v2, &[record("12ABC3")]).unwrap();
        assert_eq!(
            again[0].pseudonym, b[0].pseudonym,
            "normalised before pseudonymising"
        );
    }

    #[test]
    fn a_bad_identifier_names_its_index_not_its_value() {
        let key = CoalitionKey::new([1u8; 32], 2);
        let err = pseudonymise_records(&key, &[record("12-ABC-3"), record("!!")]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("record 1: identifier"), "{msg}");
        assert!(!msg.contains("!!"));
    }
}
