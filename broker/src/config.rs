//! `kruispunt.toml`: what a deployment names (listen address, certificate, database, keys).
//! On first start in development a complete configuration is written into the data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::devpki::DevPki;
use crate::secret_file;

pub const CONFIG_FILE: &str = "kruispunt.toml";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Development mode enables `kruispunt token` with the demo partners' keys.
    #[serde(default)]
    pub development: bool,
    /// Name of this deployment; it appears in the audit log's origin line and as JWT `aud`.
    pub deployment: String,
    pub listen: SocketAddr,
    pub tls: TlsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA whose certificates identify partners that must use mTLS; optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
}

impl Config {
    /// Loads `DIR/kruispunt.toml`; relative paths inside it are relative to `DIR`.
    pub fn load(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let mut cfg: Config =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        cfg.tls.cert = data_dir.join(&cfg.tls.cert);
        cfg.tls.key = data_dir.join(&cfg.tls.key);
        if let Some(ca) = cfg.tls.client_ca.as_mut() {
            *ca = data_dir.join(&*ca);
        }
        Ok(cfg)
    }

    /// Creates the data directory with a development configuration and PKI if it has none.
    /// Returns true when something was created.
    pub fn init_development(data_dir: &Path, listen: SocketAddr) -> anyhow::Result<bool> {
        secret_file::create_private_dir(data_dir)?;
        let pki = DevPki::in_dir(data_dir);
        let created_pki = pki.create_if_missing(&[])?;
        let path = data_dir.join(CONFIG_FILE);
        if path.exists() {
            return Ok(created_pki);
        }
        let cfg = Config {
            development: true,
            deployment: "midden-nederland-dev".into(),
            listen,
            tls: TlsConfig {
                cert: "tls/server.pem".into(),
                key: "tls/server.key".into(),
                client_ca: None,
            },
        };
        let text = format!(
            "# Kruispunt development configuration, written on first start.\n\
             # `development = true` lets `kruispunt token` mint tokens with the demo partners' keys:\n\
             # never use it in production.\n{}",
            toml::to_string_pretty(&cfg)?
        );
        secret_file::write_secret(&path, text.as_bytes())?;
        Ok(true)
    }
}
