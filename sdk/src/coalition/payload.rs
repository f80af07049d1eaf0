//! The application messages members send each other inside a group (encrypted by MLS; the
//! broker sees only their size): the coalition key with its version, and case details.

use serde::{Deserialize, Serialize};

/// One application message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Payload {
    /// The coalition key (32 bytes, base64) and its version.
    CoalitionKey {
        /// The key version.
        version: u32,
        /// The 32 key bytes, standard base64.
        key: String,
    },
    /// Details of a case, end-to-end encrypted among the case channel's members (e.g. the
    /// farmer's own account of the barn rental offer).
    CaseDetail {
        /// The case the details are about.
        case_reference: String,
        /// The details, free text.
        text: String,
    },
}

impl Payload {
    /// The JSON form sent as the MLS application message.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a payload always serialises")
    }

    /// Parses a received application message; refuses unknown types and fields.
    pub fn from_bytes(bytes: &[u8]) -> Result<Payload, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}
