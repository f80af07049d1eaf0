//! The registry the demo runs with: the embedded Midden-Nederland registry with two documented
//! changes that work around gaps of the current broker and policy (see docs/SDK.md):
//!
//! 1. `require_mtls` is dropped for the police and the OM: the broker does not yet terminate
//!    client certificates, so a partner marked `require_mtls` can never authenticate.
//! 2. The supplying partners' roles (`signaleerder`, `compliance`) are added to the purposes
//!    whose `roles` list only the asking role (`politie-opsporing-wpg19`, `…-wpg20`,
//!    `horeca-bibob-screening`): the policy checks an uploader's role against the purpose's
//!    `roles`, so no dealer, KVO or horeca partner could register a signal for a police or
//!    Bibob purpose. Asking stays limited by `requester_sectors`, which is unchanged.

use std::path::Path;

use crate::synthetic::REGISTRY_TOML;

/// File name of the demo registry inside a data directory.
pub const FILE: &str = "demo-registry.toml";

/// The demo registry's text.
pub fn text() -> String {
    let mut out = String::from(
        "# Demo registry written by the Kruispunt examples: the embedded registry with\n\
         # `require_mtls` dropped and supplier roles added to police and Bibob purposes.\n\
         # See examples/src/demo_registry.rs. Not for production.\n",
    );
    for line in REGISTRY_TOML.lines() {
        let l = line.trim();
        if l == "require_mtls = true" {
            continue;
        }
        let patched = match l {
            r#"roles = ["rechercheur"]"# => {
                r#"roles = ["rechercheur", "signaleerder", "compliance"]"#
            }
            r#"roles = ["rechercheur", "analist"]"# => {
                r#"roles = ["rechercheur", "analist", "signaleerder", "compliance"]"#
            }
            r#"roles = ["bibob-adviseur"]"# => r#"roles = ["bibob-adviseur", "signaleerder"]"#,
            _ => line,
        };
        out.push_str(patched);
        out.push('\n');
    }
    out
}

/// Writes the demo registry into `data_dir` and points `kruispunt.toml` at it (restart the
/// broker afterwards). Returns false when the configuration already names a registry.
pub fn install(data_dir: &Path) -> std::io::Result<bool> {
    let cfg = data_dir.join("kruispunt.toml");
    let text = std::fs::read_to_string(&cfg)?;
    if text.lines().any(|l| l.trim_start().starts_with("registry")) {
        return Ok(false);
    }
    std::fs::write(data_dir.join(FILE), self::text())?;
    // Top-level keys must come before the first table.
    let mut out = String::with_capacity(text.len() + 64);
    let mut inserted = false;
    for line in text.lines() {
        if !inserted && line.trim_start().starts_with('[') {
            out.push_str(&format!("registry = \"{FILE}\"\n"));
            inserted = true;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !inserted {
        out.push_str(&format!("registry = \"{FILE}\"\n"));
    }
    std::fs::write(&cfg, out)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn patches_exactly_the_documented_lines() {
        let t = super::text();
        assert!(!t.contains("require_mtls = true"));
        assert_eq!(t.matches(r#""signaleerder", "compliance"]"#).count(), 2);
        assert!(t.contains(r#"roles = ["bibob-adviseur", "signaleerder"]"#));
        let parsed: toml::Table = toml::from_str(&t).unwrap();
        assert!(parsed.contains_key("purposes"));
    }
}
