//! Audit lines as CSV (RFC 4180) for privacy officers' spreadsheets.
//!
//! Fields that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or
//! carriage return) are prefixed with `'`: entry fields such as the user or the case reference
//! come from partners and must not turn into code on an officer's machine (CSV injection).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kruispunt_sdk::transparency::{LogLine, Withheld};

use crate::civil::format_date;

/// The header row. The columns after `salt` were added later (appended, so that a
/// spreadsheet built on the earlier ones keeps working): what a match disclosed — the level
/// asked for and the level given, how many identifiers were asked about and how many hit, and
/// the prosecutor's consent it rested on (docs/AUDIT.md, "CSV").
pub const COLUMNS: [&str; 24] = [
    "index",
    "time_utc",
    "operation",
    "action",
    "actor_org",
    "actor_user",
    "purpose",
    "legal_basis",
    "case_reference",
    "decision",
    "reasons",
    "source_orgs",
    "recipients",
    "pseudonyms",
    "justification",
    "withheld",
    "embargo_until_utc",
    "leaf",
    "salt",
    "requested_level",
    "disclosed_level",
    "identifiers",
    "hits",
    "consent_id",
];

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for Unix milliseconds.
pub fn utc(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        format_date(days),
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// Appends one RFC 4180 field, quoted where needed and with a spreadsheet formula defused
/// (the module doc says why); also used for the ondermijningsbeeld's CSV (`kruispunt beeld`).
pub fn field(out: &mut String, value: &str) {
    let risky = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let needs_quotes = risky || value.contains([',', '"', '\n', '\r']);
    if needs_quotes {
        out.push('"');
        if risky {
            out.push('\'');
        }
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

fn withheld_name(w: Withheld) -> &'static str {
    match w {
        Withheld::NotConcerned => "not_concerned",
        Withheld::Embargo => "embargo",
        Withheld::Erased => "erased",
        Withheld::NotPermitted => "not_permitted",
        Withheld::Missing => "missing",
    }
}

/// The lines as CSV with a header row; rows end in CRLF as RFC 4180 says.
pub fn to_csv(lines: &[LogLine]) -> String {
    let mut out = String::new();
    out.push_str(&COLUMNS.join(","));
    out.push_str("\r\n");
    for l in lines {
        let e = l.entry.as_ref();
        let opt = |v: Option<&String>| v.cloned().unwrap_or_default();
        let (time, operation) = match (e, &l.summary) {
            (Some(e), _) => (utc(e.time_ms), e.operation.as_str().to_string()),
            (None, Some(s)) => (utc(s.time_ms), s.operation.as_str().to_string()),
            _ => (String::new(), String::new()),
        };
        // A value of the entry's detail as text (strings bare, numbers as digits).
        let detail = |key: &str| -> String {
            match e.and_then(|e| e.detail.get(key)) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                _ => String::new(),
            }
        };
        let row: [String; 24] = [
            l.index.to_string(),
            time,
            operation,
            e.map(|e| e.action.clone()).unwrap_or_default(),
            opt(e.and_then(|e| e.actor_org.as_ref())),
            opt(e.and_then(|e| e.actor_user.as_ref())),
            opt(e.and_then(|e| e.purpose.as_ref())),
            opt(e.and_then(|e| e.legal_basis.as_ref())),
            opt(e.and_then(|e| e.case_reference.as_ref())),
            opt(e.and_then(|e| e.decision.as_ref())),
            e.map(|e| e.reasons.join(";")).unwrap_or_default(),
            e.map(|e| e.source_orgs.join(";")).unwrap_or_default(),
            e.map(|e| e.recipients.join(";")).unwrap_or_default(),
            e.map(|e| e.pseudonyms.join(";")).unwrap_or_default(),
            e.and_then(|e| e.detail.get("justification"))
                .and_then(|j| j.as_str())
                .unwrap_or_default()
                .to_string(),
            l.withheld
                .map(withheld_name)
                .unwrap_or_default()
                .to_string(),
            l.embargo_until
                .map(|s| utc(s.saturating_mul(1000)))
                .unwrap_or_default(),
            B64.encode(l.leaf),
            l.salt.map(|s| B64.encode(s)).unwrap_or_default(),
            detail("requested_level"),
            detail("disclosed_level"),
            detail("identifiers"),
            detail("hits"),
            detail("consent_id"),
        ];
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            field(&mut out, v);
        }
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::entry::{AuditEntry, Operation};

    #[test]
    fn times_are_utc_with_milliseconds() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        let mut e = AuditEntry::new(0, Operation::Disclose, "match");
        e.actor_user = Some("=HYPERLINK(\"x\")".into());
        e.case_reference = Some("a,b".into());
        let csv = to_csv(&[LogLine::shown(7, [1; 32], e)]);
        let row = csv.lines().nth(1).unwrap();
        assert!(
            row.starts_with("7,1970-01-01T00:00:00.000Z,disclose,match,,"),
            "{row}"
        );
        assert!(row.contains(r#""'=HYPERLINK(""x"")""#), "{row}");
        assert!(row.contains(r#""a,b""#), "{row}");
        assert!(csv.ends_with("\r\n"));
    }

    #[test]
    fn what_a_match_disclosed_has_columns_of_its_own() {
        let mut e = AuditEntry::new(0, Operation::Disclose, "match");
        e.detail = serde_json::json!({
            "identifiers": 3, "hits": 1, "requested_level": "categories",
            "disclosed_level": "hit", "justification": "dossier 12", "consent_id": "c-1"
        });
        let csv = to_csv(&[LogLine::shown(1, [1; 32], e)]);
        let mut rows = csv.lines();
        let header: Vec<&str> = rows.next().unwrap().split(',').collect();
        let row: Vec<&str> = rows.next().unwrap().split(',').collect();
        let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
        assert_eq!(col("requested_level"), "categories");
        assert_eq!(col("disclosed_level"), "hit");
        assert_eq!(col("identifiers"), "3");
        assert_eq!(col("hits"), "1");
        assert_eq!(col("consent_id"), "c-1");
        assert_eq!(col("justification"), "dossier 12");
    }
}
