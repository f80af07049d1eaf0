//! The audit trail in the Dutch government's logging standard for data processing, *Logboek
//! Dataverwerkingen* (Logius; component "Logboek", its interface fields), as JSON lines: `GET
//! /v1/audit/review?format=ldv` gives the reviewer's entries — the same entries, filters and
//! access rules as the JSON and CSV review — one record per entry and data subject.
//!
//! The mapping, field by field (docs/AUDIT.md, "Logboek Dataverwerkingen", says why):
//!
//! - `trace_id` (16 bytes, hex): the first 16 bytes of the entry's leaf hash. An entry is one
//!   processing; the leaf is public, unique per entry and reveals nothing, so anyone holding the
//!   log can find the record's entry again.
//! - `span_id` (8 bytes, hex): the first 8 bytes of SHA-256(leaf ‖ u32 big-endian data-subject
//!   number): one action per data subject within the processing.
//! - `status_code`: `STATUS_CODE_OK` for a processing that happened, `STATUS_CODE_UNSET` for a
//!   refusal (a client-side outcome, as the standard says for 4xx); server errors leave no entry.
//! - `name`: the entry's action (`match`, `signals.upload`, …); `start_time` = `end_time`: the
//!   entry's time (Unix ms) — the broker stamps one instant per entry.
//! - `parent_span_id`, `foreign_operation`: absent — partners send no trace context; the
//!   requesting organisation is the attribute `dpl.kruispunt.requester`.
//! - `resource.attributes`: `service.name` = `kruispunt`, `kruispunt.origin` = the log's origin.
//! - `attributes`: `dpl.core.processing_activity_id` = the purpose's `processing_activity` from
//!   the registry (or `urn:kruispunt:verwerkingsactiviteit:<purpose>`);
//!   `dpl.core.data_subject_id` = the pseudonym **as the entry holds it** (the at-rest form —
//!   never a clear identifier, never the partner's pseudonym) and `dpl.core.data_subject_id_type`
//!   = `urn:kruispunt:pseudonym:at-rest`; and in the namespace `dpl.kruispunt.`: `operation`,
//!   `purpose`, `legal_basis`, `case_reference`, `decision`, `reasons`, `requester`, `user`,
//!   `recipients`, `suppliers`, `audit_index`.
//!
//! Only lines shown in full become records: a leaf, an erased line or an embargo summary has
//! nothing to map (and a record for an embargoed line would say what the embargo withholds).

use kruispunt_policy::Registry;
use kruispunt_sdk::transparency::LogLine;
use ring::digest::{SHA256, digest};
use serde_json::{Value, json};

use crate::audit::entry::Operation;

/// The `dpl.core.data_subject_id_type` of Kruispunt's records.
pub const SUBJECT_TYPE: &str = "urn:kruispunt:pseudonym:at-rest";

/// The records of one line (none for a line not shown in full), as JSON values.
pub fn records(line: &LogLine, registry: &Registry, origin: &str) -> Vec<Value> {
    let Some(e) = &line.entry else {
        return Vec::new();
    };
    let trace_id = hex::encode(&line.leaf[..16]);
    let status = if e.operation == Operation::Refuse {
        "STATUS_CODE_UNSET"
    } else {
        "STATUS_CODE_OK"
    };
    let activity = e.purpose.as_ref().map(|p| {
        registry
            .purpose(p)
            .and_then(|r| r.processing_activity.clone())
            .unwrap_or_else(|| format!("urn:kruispunt:verwerkingsactiviteit:{p}"))
    });
    let mut base = serde_json::Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            base.insert(k.to_owned(), v);
        }
    };
    put("dpl.core.processing_activity_id", json!(activity));
    put("dpl.kruispunt.operation", json!(e.operation.as_str()));
    put("dpl.kruispunt.purpose", json!(e.purpose));
    put("dpl.kruispunt.legal_basis", json!(e.legal_basis));
    put("dpl.kruispunt.case_reference", json!(e.case_reference));
    put("dpl.kruispunt.decision", json!(e.decision));
    if !e.reasons.is_empty() {
        put("dpl.kruispunt.reasons", json!(e.reasons));
    }
    put("dpl.kruispunt.requester", json!(e.actor_org));
    put("dpl.kruispunt.user", json!(e.actor_user));
    if !e.recipients.is_empty() {
        put("dpl.kruispunt.recipients", json!(e.recipients));
    }
    if !e.source_orgs.is_empty() {
        put("dpl.kruispunt.suppliers", json!(e.source_orgs));
    }
    put("dpl.kruispunt.audit_index", json!(line.index));
    let record = |i: u32, subject: Option<&String>| {
        let mut seed = line.leaf.to_vec();
        seed.extend_from_slice(&i.to_be_bytes());
        let span_id = hex::encode(&digest(&SHA256, &seed).as_ref()[..8]);
        let mut attributes = base.clone();
        if let Some(s) = subject {
            attributes.insert("dpl.core.data_subject_id".into(), json!(s));
            attributes.insert("dpl.core.data_subject_id_type".into(), json!(SUBJECT_TYPE));
        }
        json!({
            "trace_id": trace_id,
            "span_id": span_id,
            "status_code": status,
            "name": e.action,
            "start_time": e.time_ms,
            "end_time": e.time_ms,
            "resource": { "attributes": {
                "service.name": "kruispunt", "kruispunt.origin": origin,
            }},
            "attributes": attributes,
        })
    };
    if e.pseudonyms.is_empty() {
        return vec![record(0, None)];
    }
    e.pseudonyms
        .iter()
        .zip(0u32..)
        .map(|(p, i)| record(i, Some(p)))
        .collect()
}

/// The lines as JSON lines (one record per line), for `format=ldv`.
pub fn to_jsonl(lines: &[LogLine], registry: &Registry, origin: &str) -> String {
    let mut out = String::new();
    for l in lines {
        for r in records(l, registry, origin) {
            out.push_str(&r.to_string());
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::entry::AuditEntry;

    #[test]
    fn one_record_per_subject_with_the_registry_activity_and_nothing_for_a_leaf() {
        let registry = Registry::embedded();
        let mut e = AuditEntry::new(1_700_000_000_000, Operation::Disclose, "match");
        e.purpose = Some("horeca-bibob-screening".into());
        e.actor_org = Some("gemeente-utrecht".into());
        e.pseudonyms = vec!["aa".repeat(32), "bb".repeat(32)];
        let line = LogLine::shown(9, [7; 32], e);
        let r = records(&line, &registry, "kruispunt/test");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["trace_id"], hex::encode(&line.leaf[..16]));
        assert_eq!(r[0]["trace_id"], r[1]["trace_id"], "one processing");
        assert_ne!(r[0]["span_id"], r[1]["span_id"], "one action per subject");
        assert_eq!(r[0]["span_id"].as_str().unwrap().len(), 16);
        assert_eq!(r[0]["status_code"], "STATUS_CODE_OK");
        assert_eq!(r[0]["name"], "match");
        let a = &r[1]["attributes"];
        assert_eq!(
            a["dpl.core.processing_activity_id"],
            "https://verwerkingsregister.hilversum.example/activiteiten/horeca-bibob-screening"
        );
        assert_eq!(a["dpl.core.data_subject_id"], "bb".repeat(32));
        assert_eq!(a["dpl.core.data_subject_id_type"], SUBJECT_TYPE);
        assert_eq!(a["dpl.kruispunt.requester"], "gemeente-utrecht");
        assert_eq!(a["dpl.kruispunt.audit_index"], 9);

        let mut refused = AuditEntry::new(0, Operation::Refuse, "match");
        refused.purpose = Some("no-such-purpose".into());
        let r = records(&LogLine::shown(1, [1; 32], refused), &registry, "o");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0]["status_code"], "STATUS_CODE_UNSET");
        assert_eq!(
            r[0]["attributes"]["dpl.core.processing_activity_id"],
            "urn:kruispunt:verwerkingsactiviteit:no-such-purpose"
        );
        assert!(r[0]["attributes"].get("dpl.core.data_subject_id").is_none());

        let leaf = LogLine::leaf_only(2, [2; 32], kruispunt_sdk::transparency::Withheld::Embargo);
        assert!(records(&leaf, &registry, "o").is_empty());
    }
}
