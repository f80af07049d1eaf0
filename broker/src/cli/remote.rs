//! Where a subcommand that talks to a running broker finds it: `--url`, `--token` (or
//! `KRUISPUNT_TOKEN`, so the token stays out of the shell history), `--ca`, and for partners
//! that must use mTLS (the police, the OM) `--cert`/`--key`. Shared by `kruispunt audit`,
//! `kruispunt beeld`, `kruispunt case` and `kruispunt consent`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use kruispunt_sdk::client::{Client, TokenSource};

/// A broker over HTTPS and the partner user asking it.
#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// The broker's base URL, e.g. https://broker.example:8443
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Bearer token of a partner user (for `audit`, a privacy officer's token also shows the
    /// entries concerning its organisation, which are then recomputed from their content).
    #[arg(
        long,
        env = "KRUISPUNT_TOKEN",
        value_name = "T",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// PEM file of the CA that signed the broker's certificate (default: the system's roots).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// PEM file of this partner's client certificate, for a partner the registry marks
    /// `require_mtls` (the police, the OM); with --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key; with --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
}

impl Remote {
    /// The SDK's client for this broker and token (HTTPS only, the `--ca` trusted if given).
    pub fn sdk_client(&self) -> anyhow::Result<Client> {
        let url = self.url.clone().context("--url: required")?;
        if !url.starts_with("https://") {
            bail!("--url: must start with https:// (the broker speaks TLS only)");
        }
        let token = self
            .token
            .clone()
            .context("--token (or KRUISPUNT_TOKEN): a partner token is required")?;
        let mut builder = Client::builder(url).token(TokenSource::fixed(token));
        if let Some(ca) = &self.ca {
            let pem = std::fs::read(ca).with_context(|| format!("--ca: {}", ca.display()))?;
            builder = builder.ca_pem(&pem);
        }
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            let c = std::fs::read(cert).with_context(|| format!("--cert: {}", cert.display()))?;
            let k = std::fs::read(key).with_context(|| format!("--key: {}", key.display()))?;
            builder = builder.client_identity_pem(&c, &k);
        }
        builder
            .build()
            .map_err(|e| anyhow::anyhow!("--ca/--url: {e}"))
    }
}
