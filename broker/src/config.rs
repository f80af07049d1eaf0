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
    /// `sqlite://FILE` (relative to the data directory) or `postgres://…`.
    #[serde(default = "default_database")]
    pub database: String,
    /// A file holding the PostgreSQL password (first line), so the password is in neither this
    /// file nor the URL; `PGPASSWORD` in the environment works too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_password_file: Option<PathBuf>,
    /// Registry TOML; the embedded Midden-Nederland registry when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<PathBuf>,
    /// Directory of `*.rego` files; the embedded bundle when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_bundle: Option<PathBuf>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub connections: Connections,
    /// Witnesses that cosign the audit log's checkpoints, and the quorum policy
    /// (docs/AUDIT.md, "Witnesses and cosigned checkpoints").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witnesses: Option<crate::witness::client::WitnessConfig>,
    /// The operator's metrics listener (plain HTTP, `GET /metrics`); none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsConfig>,
    /// Where this configuration was loaded from (keys live beside it).
    #[serde(skip)]
    pub data_dir: PathBuf,
}

/// Per-partner request rate (token bucket) and how often expired signals are purged.
///
/// The default rate, [`DEFAULT_REQUESTS_PER_SECOND`] after a burst of [`DEFAULT_BURST`],
/// limits a runaway client well below what even a 2-core broker serves one partner, while the
/// documented use never meets it (see the constants).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub requests_per_second: f64,
    pub burst: f64,
    pub purge_interval_secs: u64,
    /// Longest token lifetime (`exp − iat`) accepted; see
    /// [`crate::auth::jwt::DEFAULT_MAX_TOKEN_LIFETIME_SECS`].
    #[serde(default = "default_max_token_lifetime_secs")]
    pub max_token_lifetime_secs: u64,
    /// Longest interval between snapshots of the ondermijningsbeeld, bounding every purpose's
    /// (crate::beeld::snapshot); absent: the purposes' own (a development set-up: 10 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beeld_snapshot_interval_secs: Option<u32>,
    /// Failed authentications per second a client address may make (token bucket, refilled at
    /// this rate), checked **before** authenticating; see [`crate::rate_limit::AddressLimiter`].
    #[serde(default = "default_unauthenticated_per_second")]
    pub unauthenticated_per_second: f64,
    /// The bucket's size: failed authentications an address may make at once.
    #[serde(default = "default_unauthenticated_burst")]
    pub unauthenticated_burst: f64,
    /// Identical refusals within this many seconds are one audit entry with their count
    /// ([`crate::auth::refusals`]).
    #[serde(default = "default_refusal_interval_secs")]
    pub refusal_interval_secs: u64,
}

fn default_unauthenticated_per_second() -> f64 {
    1.0
}

fn default_unauthenticated_burst() -> f64 {
    20.0
}

fn default_refusal_interval_secs() -> u64 {
    60
}

fn default_max_token_lifetime_secs() -> u64 {
    crate::auth::jwt::DEFAULT_MAX_TOKEN_LIFETIME_SECS
}

/// Requests per second a partner may sustain, per broker process.
///
/// On the 2-core development machine one partner is served hundreds to thousands of requests a
/// second (docs/OPERATIONS.md, "Sizing: one partner's request rate"), so the former default of
/// 5 000/s after a burst of 10 000 did not limit a runaway client there. 50/s is a few percent
/// of the cheapest request's rate, so a runaway client leaves the broker to the others, and it
/// is far above the documented use: the policy allows a partner 60 match requests a minute per
/// purpose (1/s), uploads carry up to 10 000 signals a request (or stream in one bulk request),
/// and the web pages and MLS clients ask a few times a second.
pub const DEFAULT_REQUESTS_PER_SECOND: f64 = 50.0;

/// Requests a partner may make at once before [`DEFAULT_REQUESTS_PER_SECOND`] applies: ten
/// seconds' worth, so a page load, parallel uploads or `kruispunt audit verify --url` paging
/// through 500 000 entries (which also retries a 429 after `Retry-After`) go through at once.
pub const DEFAULT_BURST: f64 = 500.0;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            requests_per_second: DEFAULT_REQUESTS_PER_SECOND,
            burst: DEFAULT_BURST,
            purge_interval_secs: 60,
            max_token_lifetime_secs: default_max_token_lifetime_secs(),
            beeld_snapshot_interval_secs: None,
            unauthenticated_per_second: default_unauthenticated_per_second(),
            unauthenticated_burst: default_unauthenticated_burst(),
            refusal_interval_secs: default_refusal_interval_secs(),
        }
    }
}

/// Connection hygiene (`[connections]`): how long a request, its head and its body may take,
/// and how many connections are served at once. Every field is optional.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Connections {
    /// A request on the JSON routes that takes longer is answered `503 request-timeout`
    /// (the streamed bulk upload has [`Connections::bulk_body_idle_timeout_secs`] instead).
    pub request_timeout_secs: u64,
    /// A connection must complete its TLS handshake, and then each request head, within this
    /// many seconds of starting to wait for it — which also closes an idle connection (one
    /// waiting for its next request) after this long. Slowloris heads are cut off here.
    pub header_read_timeout_secs: u64,
    /// Connections served at once; a connection beyond it is closed as soon as it is accepted
    /// (before the TLS handshake), and the client may retry.
    pub max_connections: usize,
    /// The streamed bulk upload's body must deliver data at least every this many seconds.
    pub bulk_body_idle_timeout_secs: u64,
}

impl Default for Connections {
    fn default() -> Self {
        Connections {
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            max_connections: 1024,
            bulk_body_idle_timeout_secs: 30,
        }
    }
}

/// Creates the empty SQLite file `kruispunt.db` in `data_dir` if missing: an empty file is a
/// valid empty database, and creating it here gives it mode 0600, which SQLite carries over to
/// its -wal and -shm files.
fn create_sqlite_file(data_dir: &Path) -> std::io::Result<()> {
    let db = data_dir.join("kruispunt.db");
    if db.exists() {
        return Ok(());
    }
    secret_file::write_secret(&db, b"")
}

fn default_database() -> String {
    "sqlite://kruispunt.db".to_string()
}

/// `[metrics]`: where `GET /metrics` listens. Plain HTTP on an address of its own, so that it
/// is reachable from the operator's monitoring (loopback or a management network) and never
/// through the partners' port; see docs/OPERATIONS.md, "Metrics".
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    pub listen: SocketAddr,
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
        Config::from_toml_str(&text, &path.display().to_string(), data_dir)
    }

    /// Parses the text of a `kruispunt.toml` read from `source` (named in errors) as
    /// [`Config::load`] does, without touching the file system: paths in it become relative
    /// to `data_dir`.
    pub fn from_toml_str(text: &str, source: &str, data_dir: &Path) -> anyhow::Result<Self> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
        cfg.tls.cert = data_dir.join(&cfg.tls.cert);
        cfg.tls.key = data_dir.join(&cfg.tls.key);
        if let Some(ca) = cfg.tls.client_ca.as_mut() {
            *ca = data_dir.join(&*ca);
        }
        if let Some(p) = cfg.database_password_file.as_mut() {
            *p = data_dir.join(&*p);
        }
        if let Some(r) = cfg.registry.as_mut() {
            *r = data_dir.join(&*r);
        }
        if let Some(b) = cfg.policy_bundle.as_mut() {
            *b = data_dir.join(&*b);
        }
        if let Some(rest) = cfg.database.strip_prefix("sqlite://")
            && !rest.starts_with('/')
        {
            cfg.database = format!("sqlite://{}", data_dir.join(rest).display());
        }
        cfg.data_dir = data_dir.to_path_buf();
        Ok(cfg)
    }

    /// The configuration `init` writes: the server certificate and key at `tls/server.pem` and
    /// `tls/server.key`, the rest at its defaults.
    fn written(
        data_dir: &Path,
        deployment: &str,
        listen: SocketAddr,
        database: String,
        client_ca: Option<PathBuf>,
        development: bool,
    ) -> Config {
        Config {
            development,
            deployment: deployment.to_owned(),
            listen,
            tls: TlsConfig {
                cert: "tls/server.pem".into(),
                key: "tls/server.key".into(),
                client_ca,
            },
            database,
            database_password_file: None,
            registry: None,
            policy_bundle: None,
            limits: Limits::default(),
            connections: Connections::default(),
            witnesses: None,
            metrics: None,
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// Opens the configured database, with the password from `database_password_file` if set.
    pub async fn connect_store(&self) -> anyhow::Result<std::sync::Arc<dyn crate::store::Store>> {
        let password = match &self.database_password_file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("database_password_file {}: {e}", p.display()))?;
                Some(text.lines().next().unwrap_or_default().to_owned())
            }
            None => None,
        };
        Ok(crate::store::connect_with_password(&self.database, password.as_deref()).await?)
    }

    /// Creates a production data directory: `kruispunt.toml` (not development), the broker's
    /// own keys (at-rest key, audit signing key) and a TLS key with a certificate request for
    /// `tls_names` — and no development material (no CA, no demo partner keys, no client
    /// certificates). Refuses a directory that already holds a configuration. What is left for
    /// the operator (the signed certificate, the registry with partner keys) is named by
    /// `/readyz` until done.
    pub fn init_production(
        data_dir: &Path,
        deployment: &str,
        listen: SocketAddr,
        database: Option<&str>,
        tls_names: &[String],
    ) -> anyhow::Result<crate::keys::BrokerKeys> {
        let path = data_dir.join(CONFIG_FILE);
        if path.exists() {
            anyhow::bail!(
                "{} already exists; init --production only writes a new set-up",
                path.display()
            );
        }
        if tls_names.is_empty() {
            anyhow::bail!("--tls-name: give the broker's DNS name(s) for its certificate request");
        }
        if deployment.is_empty()
            || !deployment
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            anyhow::bail!(
                "--deployment: {deployment:?} must be lowercase letters, digits and '-' (it is the \
                 tokens' audience and the audit log's origin kruispunt/<deployment>)"
            );
        }
        secret_file::create_private_dir(data_dir)?;
        secret_file::create_private_dir(&data_dir.join("tls"))?;
        let keys = crate::keys::BrokerKeys::load_or_create(data_dir)?;
        crate::tls::write_key_and_request(
            &data_dir.join("tls/server.key"),
            &data_dir.join("tls/server.csr"),
            tls_names,
        )?;
        let database = match database {
            Some(d) => d.to_owned(),
            None => {
                create_sqlite_file(data_dir)?;
                default_database()
            }
        };
        let cfg = Config::written(data_dir, deployment, listen, database, None, false);
        let text = format!(
            "# Kruispunt production configuration, written by `kruispunt init --production`.\n\
             # Still to do (GET /readyz names what is missing):\n\
             # - put the certificate chain your CA issued for tls/server.csr at tls/server.pem;\n\
             # - registry = \"/etc/kruispunt/registry.toml\": the registry with every partner's\n\
             #   token key (`kruispunt partner keygen` prints a partner's entry);\n\
             # - [tls] client_ca = \"…\" if any partner must use mTLS;\n\
             # - [metrics] listen = \"127.0.0.1:9464\" for the operator's /metrics.\n\
             # Configuration reference: docs/OPERATIONS.md.\n{}",
            toml::to_string_pretty(&cfg)?
        );
        secret_file::write_secret(&path, text.as_bytes())?;
        Ok(keys)
    }

    /// Creates the data directory with a development configuration and PKI if it has none.
    /// Returns true when something was created.
    ///
    /// A directory that already holds a `kruispunt.toml` is left exactly as it is: `serve` on a
    /// production directory must never add a development CA or demo partner keys to it.
    pub fn init_development(data_dir: &Path, listen: SocketAddr) -> anyhow::Result<bool> {
        if data_dir.join(CONFIG_FILE).exists() {
            return Ok(false);
        }
        secret_file::create_private_dir(data_dir)?;
        let pki = DevPki::in_dir(data_dir);
        let created_pki = pki.create_if_missing(&[])?;
        crate::keys::BrokerKeys::load_or_create(data_dir)?;
        let registry = kruispunt_policy::Registry::embedded();
        crate::keys::dev_partner_keys::create_if_missing(data_dir, &registry)?;
        pki.create_client_certs_if_missing(&registry.mtls_partners())?;
        let path = data_dir.join(CONFIG_FILE);
        if path.exists() {
            return Ok(created_pki);
        }
        create_sqlite_file(data_dir)?;
        // The development CA also issued the client certificates of the partners that must use
        // mTLS (tls/clients/<partner>.pem), so it is the client CA too.
        let cfg = Config::written(
            data_dir,
            "midden-nederland-dev",
            listen,
            default_database(),
            Some("tls/ca.pem".into()),
            true,
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A password file that cannot be read stops the start with an error naming the setting,
    /// before any connection is tried; the password itself is read from the first line only.
    #[tokio::test]
    async fn database_password_file_is_named_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::from_toml_str(
            "deployment = \"t\"\nlisten = \"127.0.0.1:0\"\n\
             database = \"postgres://kruispunt@127.0.0.1:1/none\"\n\
             database_password_file = \"no-such-file\"\n\
             [tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n",
            "test",
            dir.path(),
        )
        .unwrap();
        assert_eq!(
            cfg.database_password_file.as_deref(),
            Some(dir.path().join("no-such-file").as_path())
        );
        let err = cfg.connect_store().await.err().expect("no such file");
        assert!(
            err.to_string().starts_with("database_password_file "),
            "{err}"
        );
    }
}
