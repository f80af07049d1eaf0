//! One entry of the audit trail: who did what, why, to which pseudonyms, and when.
//!
//! The broker writes an entry in the same database transaction as the effect it records
//! (upload, withdrawal, decision, purge, refusal) and its Merkle log commits to the stored
//! bytes, [`AuditEntry::canonical_json`] (see [`super::leaf`]). The encoding here is therefore
//! part of the log's format: changing a field's name, order or type changes every leaf. It lives
//! in the SDK so that a verifier recomputes the bytes with the very code that wrote them.
//!
//! An entry never holds a clear identifier: `pseudonyms` are the hex of the broker's *at-rest*
//! forms (`HMAC(broker_key, partner pseudonym)`), which mean nothing without the broker key.

use serde::{Deserialize, Serialize};

/// The kind of processing an entry records, after Wpg art. 32/32a and Directive 2016/680
/// art. 25 (collection, alteration, consultation, disclosure, combination, erasure), plus
/// `refuse` for requests the broker turned down — a refusal is as reviewable as a disclosure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Data received and stored (an upload).
    Collect,
    /// Stored data changed.
    Alter,
    /// Data looked at without being passed on (a no-hit match, reading the audit trail).
    Consult,
    /// Data passed on to a recipient.
    Disclose,
    /// Data from several sources brought together.
    Combine,
    /// Data deleted (withdrawal, retention purge, key rotation).
    Erase,
    /// A request refused (authentication failure, policy denial).
    Refuse,
}

crate::wire_names! {
    /// The name used in JSON and in the database's `operation` column (for filtering).
    Operation {
        Collect => "collect",
        Alter => "alter",
        Consult => "consult",
        Disclose => "disclose",
        Combine => "combine",
        Erase => "erase",
        Refuse => "refuse",
    }
}

impl std::str::FromStr for Operation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|op| op.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|op| op.as_str()).collect();
                format!(
                    "unknown operation {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// One audit entry. Field order is the canonical order (see [`AuditEntry::canonical_json`]).
///
/// Unknown fields are refused when parsing, so an entry read back from the log (or from an
/// export) is exactly what was written; list fields and `detail` may be omitted on input and
/// default to empty/`null`, but are always present in the canonical form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// When the effect happened, milliseconds since the Unix epoch (UTC).
    pub time_ms: i64,
    /// What kind of processing this was.
    pub operation: Operation,
    /// The broker action, e.g. `signals.upload`, `match`, `auth.refused`, `signal.withdraw`,
    /// `retention.purge`, `audit.read`.
    pub action: String,
    /// The requesting organisation (partner id), when known.
    pub actor_org: Option<String>,
    /// The requesting user (`sub` of the token), when known.
    pub actor_user: Option<String>,
    /// The registered purpose the request was made for.
    pub purpose: Option<String>,
    /// The legal basis claimed (e.g. `wpg-art-20`).
    pub legal_basis: Option<String>,
    /// The police case or Bibob file reference.
    pub case_reference: Option<String>,
    /// `allow` or `deny` when a policy decision was taken.
    pub decision: Option<String>,
    /// Reason codes of the decision (or of the refusal).
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Hash of the policy bundle that decided.
    pub policy_hash: Option<String>,
    /// Hex of the at-rest pseudonyms involved — never clear identifiers.
    #[serde(default)]
    pub pseudonyms: Vec<String>,
    /// Organisations whose data was involved (suppliers of matched or erased signals).
    #[serde(default)]
    pub source_orgs: Vec<String>,
    /// Organisations that received data.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Anything else worth recording (counts, disclosure level, signal ids…).
    #[serde(default)]
    pub detail: serde_json::Value,
}

impl AuditEntry {
    /// An entry with only the mandatory fields set; fill in the rest with struct update syntax
    /// (`AuditEntry { purpose: Some(..), ..AuditEntry::new(..) }`).
    pub fn new(time_ms: i64, operation: Operation, action: impl Into<String>) -> Self {
        Self {
            time_ms,
            operation,
            action: action.into(),
            actor_org: None,
            actor_user: None,
            purpose: None,
            legal_basis: None,
            case_reference: None,
            decision: None,
            reasons: Vec::new(),
            policy_hash: None,
            pseudonyms: Vec::new(),
            source_orgs: Vec::new(),
            recipients: Vec::new(),
            detail: serde_json::Value::Null,
        }
    }

    /// The canonical bytes of this entry: compact JSON (no whitespace), fields in declaration
    /// order, every field present (`null` / `[]` when empty), object keys inside `detail`
    /// sorted by their UTF-8 bytes at every depth, strings escaped as `serde_json` does (only
    /// `"`, `\` and control characters). These are the bytes stored and hashed into the log.
    ///
    /// Sorting `detail` ourselves keeps the output deterministic even if some crate in the
    /// build turns on `serde_json/preserve_order` (which would otherwise keep insertion order).
    pub fn canonical_json(&self) -> Vec<u8> {
        // Serialised through borrowing views (no copy of the entry): this runs once per
        // appended entry, in the request handler, and the copy cost as much as the encoding.
        let canonical = Canonical {
            time_ms: self.time_ms,
            operation: self.operation,
            action: &self.action,
            actor_org: &self.actor_org,
            actor_user: &self.actor_user,
            purpose: &self.purpose,
            legal_basis: &self.legal_basis,
            case_reference: &self.case_reference,
            decision: &self.decision,
            reasons: &self.reasons,
            policy_hash: &self.policy_hash,
            pseudonyms: &self.pseudonyms,
            source_orgs: &self.source_orgs,
            recipients: &self.recipients,
            detail: Sorted(&self.detail),
        };
        let mut out = Vec::with_capacity(512);
        // Serialising plain strings, integers and a `Value` into a Vec cannot fail.
        serde_json::to_writer(&mut out, &canonical).expect("an audit entry always serialises");
        out
    }

    /// Parses canonical (or any valid) JSON back into an entry; unknown fields are refused.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// [`AuditEntry`] borrowed, field for field in the same order and with the same names, so
/// that it serialises to the same JSON.
#[derive(Serialize)]
struct Canonical<'a> {
    time_ms: i64,
    operation: Operation,
    action: &'a str,
    actor_org: &'a Option<String>,
    actor_user: &'a Option<String>,
    purpose: &'a Option<String>,
    legal_basis: &'a Option<String>,
    case_reference: &'a Option<String>,
    decision: &'a Option<String>,
    reasons: &'a [String],
    policy_hash: &'a Option<String>,
    pseudonyms: &'a [String],
    source_orgs: &'a [String],
    recipients: &'a [String],
    detail: Sorted<'a>,
}

/// A JSON value serialised with the keys of its objects in byte order at every depth.
struct Sorted<'a>(&'a serde_json::Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        use serde_json::Value;
        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    out.serialize_entry(key, &Sorted(value))?;
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&Sorted(item))?;
                }
                out.end()
            }
            other => other.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> AuditEntry {
        AuditEntry {
            actor_org: Some("politie-mn".into()),
            purpose: Some("ondermijning".into()),
            decision: Some("allow".into()),
            reasons: vec!["ok".into()],
            pseudonyms: vec!["ab".repeat(32)],
            detail: json!({"z": 1, "a": {"y": [true, null], "b": "x"}}),
            ..AuditEntry::new(1_700_000_000_123, Operation::Disclose, "match")
        }
    }

    #[test]
    fn canonical_json_is_compact_ordered_and_sorted() {
        let bytes = sample().canonical_json();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"time_ms":1700000000123,"operation":"disclose","action":"match","#,
                r#""actor_org":"politie-mn","actor_user":null,"purpose":"ondermijning","#,
                r#""legal_basis":null,"case_reference":null,"decision":"allow","reasons":["ok"],"#,
                r#""policy_hash":null,"pseudonyms":[""#,
                "abababababababababababababababababababababababababababababababab",
                r#""],"source_orgs":[],"recipients":[],"#,
                r#""detail":{"a":{"b":"x","y":[true,null]},"z":1}}"#
            )
        );
    }

    #[test]
    fn canonical_json_round_trips() {
        let entry = sample();
        let bytes = entry.canonical_json();
        let back = AuditEntry::from_json(&bytes).unwrap();
        assert_eq!(back, entry);
        assert_eq!(back.canonical_json(), bytes);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut value: serde_json::Value =
            serde_json::from_slice(&sample().canonical_json()).unwrap();
        value["extra"] = json!(1);
        let err = AuditEntry::from_json(value.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn operations_use_snake_case_names() {
        for op in Operation::ALL {
            let json = serde_json::to_string(&op).unwrap();
            assert_eq!(json, format!("\"{}\"", op.as_str()));
            assert_eq!(op.as_str().parse::<Operation>().unwrap(), op);
        }
        assert!("Disclose".parse::<Operation>().is_err());
    }
}
