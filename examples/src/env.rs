//! Where the scenarios run: a broker URL, the CA to trust, the deployment name (JWT `aud`) and
//! the demo partners' keys — all read from a development data directory as `kruispunt serve`
//! or `kruispunt init` wrote it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kruispunt_sdk::CoalitionKey;
use kruispunt_sdk::client::{Client, RetryPolicy, TokenClaims, TokenScope, TokenSigner};
use kruispunt_sdk::coalition::http::BrokerMls;
use serde::Deserialize;

use crate::ScenarioError;
use crate::synthetic::{Dataset, Scale};

/// Seed of the demo data set: every run tells the same story.
pub const DEMO_SEED: u64 = 20_261_128;

/// The coalition key the demo partners share. In a real coalition it is 32 random bytes that
/// travel inside the coalition's MLS group and never reach the broker; the demo derives a
/// fixed one so that separate example runs pseudonymise alike.
pub fn demo_coalition_key() -> CoalitionKey {
    let d = ring::digest::digest(&ring::digest::SHA256, b"kruispunt demo coalition key v1");
    let mut k = [0u8; 32];
    k.copy_from_slice(d.as_ref());
    CoalitionKey::new(k, 1)
}

#[derive(Deserialize)]
struct ConfigView {
    #[serde(default)]
    development: bool,
    deployment: String,
    listen: String,
}

/// A partner's own register of what it uploaded: its pseudonyms and the signal ids the broker
/// answered with. Partners keep this anyway (to withdraw signals); the privacy officer uses it
/// to answer a data-subject request.
pub type Register = BTreeMap<String, Vec<(String, String)>>;

/// File in the data directory where the examples keep the partners' registers.
pub const REGISTER_FILE: &str = "examples-partner-registers.json";

fn load_registers(data_dir: &Path) -> Register {
    std::fs::read(data_dir.join(REGISTER_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Everything a scenario needs to talk to the broker as any demo partner.
#[derive(Debug, Clone)]
pub struct Env {
    /// `https://host:port` of the broker.
    pub base_url: String,
    /// The development CA (PEM).
    pub ca_pem: Vec<u8>,
    /// The deployment name, used as the tokens' audience.
    pub audience: String,
    /// The data directory holding `keys/partners/<partner>.pk8`.
    pub data_dir: PathBuf,
    /// The shared demo coalition key.
    pub key: Arc<CoalitionKey>,
    /// The synthetic data set.
    pub data: Arc<Dataset>,
    /// Per partner: (pseudonym hex, signal id) of every signal it uploaded.
    pub registers: Arc<Mutex<Register>>,
}

impl Env {
    /// Reads `DIR/kruispunt.toml` and the development CA; `url` overrides the configured
    /// listen address (needed when the broker listens on port 0 or behind another name).
    pub fn from_data_dir(
        data_dir: &Path,
        url: Option<&str>,
        scale: Scale,
    ) -> Result<Env, ScenarioError> {
        let cfg_path = data_dir.join("kruispunt.toml");
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| {
            ScenarioError::Setup(format!(
                "cannot read {} ({e}); start the broker once with `cargo run --release -- serve --data-dir {}` or run `kruispunt init`",
                cfg_path.display(),
                data_dir.display()
            ))
        })?;
        let cfg: ConfigView = toml::from_str(&text)
            .map_err(|e| ScenarioError::Setup(format!("{}: {e}", cfg_path.display())))?;
        if !cfg.development {
            return Err(ScenarioError::Setup(format!(
                "{} is not a development set-up: the examples sign with the demo partners' keys",
                cfg_path.display()
            )));
        }
        let ca_path = data_dir.join("tls/ca.pem");
        let ca_pem = std::fs::read(&ca_path).map_err(|e| {
            ScenarioError::Setup(format!(
                "cannot read the development CA {}: {e}",
                ca_path.display()
            ))
        })?;
        let base_url = match url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("https://{}", cfg.listen.replace("0.0.0.0", "127.0.0.1")),
        };
        Ok(Env {
            base_url,
            ca_pem,
            audience: cfg.deployment,
            data_dir: data_dir.to_path_buf(),
            key: Arc::new(demo_coalition_key()),
            data: Arc::new(Dataset::generate(DEMO_SEED, scale)),
            registers: Arc::new(Mutex::new(load_registers(data_dir))),
        })
    }

    /// `partner`'s token signer for `user` with `roles` (and `scope`), from its demo key.
    fn signer(
        &self,
        partner: &str,
        user: &str,
        roles: &[&str],
        scope: Option<TokenScope>,
    ) -> Result<TokenSigner, ScenarioError> {
        let key_path = self
            .data_dir
            .join("keys/partners")
            .join(format!("{partner}.pk8"));
        let pkcs8 = std::fs::read(&key_path).map_err(|e| {
            ScenarioError::Setup(format!(
                "no key for {partner} at {}: {e}",
                key_path.display()
            ))
        })?;
        let mut claims =
            TokenClaims::new(partner, user, &self.audience).roles(roles.iter().copied());
        if let Some(s) = scope {
            claims = claims.scope(s);
        }
        Ok(TokenSigner::from_pkcs8(
            format!("{partner}-dev-1"),
            &pkcs8,
            claims,
        )?)
    }

    /// `partner`'s development client certificate and key (PEM), if it was issued one (the
    /// partners that must use mTLS).
    fn client_identity(&self, partner: &str) -> Option<(Vec<u8>, Vec<u8>)> {
        let dir = self.data_dir.join("tls/clients");
        let cert = std::fs::read(dir.join(format!("{partner}.pem"))).ok()?;
        let key = std::fs::read(dir.join(format!("{partner}.key"))).ok()?;
        Some((cert, key))
    }

    /// `partner`'s connection to the MLS delivery service (coalitions and case channels), as
    /// `user` with `roles`, presenting its client certificate when it has one.
    pub fn mls(
        &self,
        partner: &str,
        user: &str,
        roles: &[&str],
    ) -> Result<BrokerMls, ScenarioError> {
        let token = self.signer(partner, user, roles, None)?.token()?;
        kruispunt_sdk::client::install_ring_provider();
        let setup = |e: reqwest::Error| ScenarioError::Setup(format!("MLS client: {e}"));
        let mut b = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&self.ca_pem).map_err(setup)?]);
        if let Some((mut pem, key)) = self.client_identity(partner) {
            pem.extend(key);
            b = b.identity(reqwest::Identity::from_pem(&pem).map_err(setup)?);
        }
        Ok(BrokerMls::new(
            b.build().map_err(setup)?,
            self.base_url.clone(),
            token,
        ))
    }

    /// A client acting as `user` of `partner` with `roles`, signing its own short-lived tokens
    /// with the partner's development key; `scope` makes it a scoped (police) token. If the data
    /// directory holds `tls/clients/<partner>.pem` and `.key`, the client presents them (mTLS).
    pub fn client(
        &self,
        partner: &str,
        user: &str,
        roles: &[&str],
        scope: Option<TokenScope>,
    ) -> Result<Client, ScenarioError> {
        let signer = self.signer(partner, user, roles, scope)?;
        let mut b = Client::builder(&self.base_url)
            .ca_pem(&self.ca_pem)
            .token(signer)
            .retry(RetryPolicy::default());
        if let Some((c, k)) = self.client_identity(partner) {
            b = b.client_identity_pem(&c, &k);
        }
        Ok(b.build()?)
    }

    /// Records upload results in `partner`'s register.
    pub fn remember(&self, partner: &str, pairs: impl IntoIterator<Item = (String, String)>) {
        let mut r = self.registers.lock().unwrap_or_else(|p| p.into_inner());
        let list = r.entry(partner.to_string()).or_default();
        for p in pairs {
            if !list.contains(&p) {
                list.push(p);
            }
        }
        // Kept beside the broker's data so that a later example run (the privacy officer)
        // finds what an earlier one uploaded; best effort, the story works in one process too.
        if let Ok(json) = serde_json::to_vec_pretty(&*r) {
            let _ = std::fs::write(self.data_dir.join(REGISTER_FILE), json);
        }
    }

    /// The signal ids `partner` holds for pseudonym `hex`.
    pub fn recall(&self, partner: &str, hex: &str) -> Vec<String> {
        let r = self.registers.lock().unwrap_or_else(|p| p.into_inner());
        r.get(partner)
            .map(|l| {
                l.iter()
                    .filter(|(p, _)| p == hex)
                    .map(|(_, id)| id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}
