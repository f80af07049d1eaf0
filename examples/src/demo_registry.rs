//! The registry the demo runs with: the embedded Midden-Nederland registry with one documented
//! change (see docs/SDK.md): `require_mtls` is dropped for the police and the OM. The broker
//! checks client certificates (with `tls.client_ca` in `kruispunt.toml`), but the development
//! set-up (`kruispunt serve` on a fresh data directory) issues no partner client certificates
//! and names no client CA, so a partner marked `require_mtls` could not authenticate there.
//! Everything else — who may ask, who may supply (`supplier_roles`) — is the embedded
//! registry's.

use std::path::Path;

use crate::synthetic::REGISTRY_TOML;

/// File name of the demo registry inside a data directory.
pub const FILE: &str = "demo-registry.toml";

/// The demo registry's text.
pub fn text() -> String {
    let mut out = String::from(
        "# Demo registry written by the Kruispunt examples: the embedded registry with\n\
         # `require_mtls` dropped (no development client certificates).\n\
         # See examples/src/demo_registry.rs. Not for production.\n",
    );
    for line in REGISTRY_TOML.lines() {
        let l = line.trim();
        if l == "require_mtls = true" {
            continue;
        }
        out.push_str(line);
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
    fn drops_exactly_the_mtls_lines() {
        let t = super::text();
        assert!(!t.contains("require_mtls = true"));
        // Only the mTLS lines differ from the embedded registry.
        let dropped = crate::synthetic::REGISTRY_TOML
            .lines()
            .filter(|l| l.trim() == "require_mtls = true")
            .count();
        assert_eq!(dropped, 2);
        assert_eq!(
            t.lines().count(),
            crate::synthetic::REGISTRY_TOML.lines().count() - dropped + 3
        );
        let parsed: toml::Table = toml::from_str(&t).unwrap();
        assert!(parsed.contains_key("purposes"));
    }
}
