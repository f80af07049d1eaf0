//! `kruispunt audit subject --type KIND VALUE`: one person's disclosure history, for a privacy
//! officer on the organisation's own machine — which holds the coalition key — without the
//! key ever reaching a browser: the value is normalised and pseudonymised here, and only the
//! pseudonym goes to the broker's `GET /v1/audit/disclosures` (which is itself audited, naming
//! the pseudonym). The clear value is not printed back.

use std::process::ExitCode;

use clap::Args;
use kruispunt_sdk::transparency::LogLine;
use kruispunt_sdk::{CoalitionKey, IdentifierKind};
use serde_json::Value;

use super::remote::Remote;
use crate::civil::amsterdam;

#[derive(Debug, Clone, Args)]
pub struct SubjectArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The identifier's kind (kenteken, kvk, iban, …).
    #[arg(long = "type", value_name = "KIND")]
    pub kind: IdentifierKind,
    /// The identifier, as written (it is normalised first).
    pub value: String,
    /// The coalition key, 64 hex characters. Prefer KRUISPUNT_COALITION_KEY over the command line.
    #[arg(long, env = "KRUISPUNT_COALITION_KEY", hide_env_values = true)]
    pub key_hex: String,
    #[arg(long, default_value_t = 1)]
    pub key_version: u32,
    /// Every operation naming the person (uploads, refusals …), not only disclosures.
    #[arg(long)]
    pub all: bool,
}

/// One line of the history, for people.
fn describe(line: &LogLine) -> Option<String> {
    let e = line.entry.as_ref()?;
    let mut s = format!(
        "{}  {:<8}  {}",
        amsterdam(e.time_ms),
        e.operation.as_str(),
        e.action
    );
    if let Some(org) = &e.actor_org {
        s.push_str(&format!("  by {org}"));
        if let Some(u) = &e.actor_user {
            s.push_str(&format!(" ({u})"));
        }
    }
    if let Some(p) = &e.purpose {
        s.push_str(&format!("  for {p}"));
    }
    if let Some(c) = &e.case_reference {
        s.push_str(&format!("  case {c}"));
    }
    if !e.source_orgs.is_empty() {
        s.push_str(&format!("  from {}", e.source_orgs.join(", ")));
    }
    if !e.recipients.is_empty() {
        s.push_str(&format!("  to {}", e.recipients.join(", ")));
    }
    let d = &e.detail;
    if let Some(level) = d.get("disclosed_level").and_then(Value::as_str) {
        s.push_str(&format!("  disclosed: {level}"));
    }
    if let Some(j) = d.get("justification").and_then(Value::as_str) {
        s.push_str(&format!("  why: {j}"));
    }
    if !e.reasons.is_empty() {
        s.push_str(&format!("  reasons: {}", e.reasons.join(", ")));
    }
    s.push_str(&format!("  [entry {}]", line.index));
    Some(s)
}

pub async fn run(a: SubjectArgs) -> anyhow::Result<ExitCode> {
    let key = CoalitionKey::from_hex(&a.key_hex, a.key_version)
        .map_err(|e| anyhow::anyhow!("--key-hex: {e}"))?;
    let pseudonym = key
        .pseudonymiser(a.kind)
        .pseudonymise(&a.value)
        .map_err(|e| anyhow::anyhow!("VALUE: not a valid {}: {e}", a.kind.as_str()))?
        .to_hex();
    let client = a.remote.sdk_client()?;
    let path = format!(
        "/v1/audit/disclosures?pseudonym={pseudonym}{}",
        if a.all { "&all=true" } else { "" }
    );
    let v: Value = client.get_json(&path).await?;
    let lines: Vec<LogLine> = serde_json::from_value(v["entries"].clone())?;
    let what = if a.all { "entry" } else { "disclosure" };
    println!(
        "History of one {} (pseudonym {}…, key version {}), as far as it concerns your \
         organisation; times in Amsterdam:",
        a.kind.as_str(),
        &pseudonym[..12],
        a.key_version
    );
    let shown: Vec<String> = lines.iter().filter_map(describe).collect();
    for s in &shown {
        println!("  {s}");
    }
    match shown.len() {
        0 => println!("No {what} recorded."),
        1 => println!("1 {what}."),
        n => println!("{n} {what}s."),
    }
    Ok(ExitCode::SUCCESS)
}
