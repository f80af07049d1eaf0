//! The typed async HTTPS client of the broker API (feature `client`).
//!
//! ```no_run
//! use kruispunt_sdk::client::{Client, TokenClaims, TokenSigner};
//! use kruispunt_sdk::wire::SignalIn;
//! use kruispunt_sdk::{CoalitionKey, IdentifierKind};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The partner's own key (registered with the broker under the kid) signs its tokens.
//! let pkcs8 = std::fs::read("kruispunt-data/keys/partners/autobedrijf-de-vecht.pk8")?;
//! let claims = TokenClaims::new("autobedrijf-de-vecht", "j.jansen", "midden-nederland-dev")
//!     .roles(["compliance"]);
//! let signer = TokenSigner::from_pkcs8("autobedrijf-de-vecht-dev-1", &pkcs8, claims)?;
//! let client = Client::builder("https://127.0.0.1:8443")
//!     .ca_pem(&std::fs::read("kruispunt-data/tls/ca.pem")?)
//!     .token(signer)
//!     .build()?;
//!
//! // Pseudonymise locally with the coalition key: the broker never sees the plate.
//! let key = CoalitionKey::generate(1);
//! let p = key.pseudonymiser(IdentifierKind::Kenteken).pseudonymise("GB-001-B")?;
//! let answer = client
//!     .upload(&[SignalIn {
//!         kind: "kenteken".into(),
//!         pseudonym: p.to_hex(),
//!         key_version: key.version(),
//!         code: "cash-car-purchase".into(),
//!         observed: "2026-11-20".into(),
//!         district: "west-utrecht".into(),
//!         gemeente: Some("GM0356".into()), // Nieuwegein (CBS code); optional
//!         wijk: None,
//!         purposes: vec!["autobranche-contante-aankopen".into()],
//!         expires: None,
//!     }])
//!     .await?;
//! println!("stored {}", answer.stored);
//! # Ok(()) }
//! ```

mod audit;
mod beeld;
mod bulk;
mod cases;
mod error;
mod retry;
mod token;

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The scope wire type, here beside the signer that sends it (defined in [`crate::token`]).
pub use crate::token::TokenScope;
pub use audit::{AUDIT_PAGE, AuditEntries, ConsistencyProof, InclusionProof, VerifiedLog};
pub use bulk::{BulkProgress, BulkSource, FnSource};
pub use error::{ApiProblem, ClientError, PROBLEM_TYPE_PREFIX};
pub use retry::{MAX_RETRY_AFTER, RetryPolicy, retry_after};
pub use token::{DEFAULT_TTL, TokenClaims, TokenSigner, TokenSource};

use crate::wire::{
    MatchRequest, MatchResponse, ProblemDetails, SignalBatch, SignalIn, UploadResponse,
    WithdrawResponse,
};

/// Default time limit of one request (the broker cuts JSON requests off at 30 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Installs ring as the process-wide rustls provider (harmless when one is installed). The
/// client configures ring explicitly, so this only matters for other rustls users in the
/// process; reqwest without a built-in provider panics if none is installed.
///
/// ```
/// kruispunt_sdk::client::install_ring_provider();
/// ```
pub fn install_ring_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds a [`Client`]. See the module example.
///
/// ```
/// use kruispunt_sdk::client::{Client, RetryPolicy, TokenSource};
///
/// let err = Client::builder("http://broker.example").token(TokenSource::fixed("t")).build();
/// assert!(err.is_err(), "plain HTTP is refused");
/// let _builder = Client::builder("https://broker.example").retry(RetryPolicy::none());
/// ```
#[derive(Debug)]
pub struct ClientBuilder {
    base_url: String,
    ca_pem: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    token: Option<TokenSource>,
    retry: RetryPolicy,
    timeout: Duration,
}

impl ClientBuilder {
    /// Trusts only the CA(s) in this PEM (e.g. the development CA `tls/ca.pem`) instead of the
    /// system's roots.
    ///
    /// ```
    /// # use kruispunt_sdk::client::{Client, TokenSource};
    /// let r = Client::builder("https://b").ca_pem(b"not pem").token(TokenSource::fixed("t")).build();
    /// assert!(r.is_err());
    /// ```
    pub fn ca_pem(mut self, pem: &[u8]) -> Self {
        self.ca_pem = Some(pem.to_vec());
        self
    }

    /// Presents a client certificate (mTLS) — for partners the registry marks `require_mtls`.
    ///
    /// ```
    /// # use kruispunt_sdk::client::Client;
    /// let _b = Client::builder("https://b").client_identity_pem(b"cert", b"key");
    /// ```
    pub fn client_identity_pem(mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Self {
        self.identity = Some((cert_chain_pem.to_vec(), key_pem.to_vec()));
        self
    }

    /// Where the bearer tokens come from (required).
    ///
    /// ```
    /// # use kruispunt_sdk::client::{Client, TokenSource};
    /// let _b = Client::builder("https://b").token(TokenSource::fixed("eyJ..."));
    /// ```
    pub fn token(mut self, source: impl Into<TokenSource>) -> Self {
        self.token = Some(source.into());
        self
    }

    /// How 429 and 503 answers are retried ([`RetryPolicy::default`] unless set).
    ///
    /// ```
    /// # use kruispunt_sdk::client::{Client, RetryPolicy};
    /// let _b = Client::builder("https://b").retry(RetryPolicy::none());
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Time limit per request attempt ([`DEFAULT_TIMEOUT`]); bulk uploads have none.
    ///
    /// ```
    /// # use kruispunt_sdk::client::Client;
    /// let _b = Client::builder("https://b").timeout(std::time::Duration::from_secs(5));
    /// ```
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Builds the client: HTTPS only, rustls with ring, HTTP/1.1.
    ///
    /// ```
    /// # use kruispunt_sdk::client::Client;
    /// let e = Client::builder("https://b").build().unwrap_err();
    /// assert!(e.to_string().contains("token"));
    /// ```
    pub fn build(self) -> Result<Client, ClientError> {
        let base = self.base_url.trim_end_matches('/').to_string();
        if !base.starts_with("https://") {
            return Err(ClientError::Config(format!(
                "base URL `{base}`: the broker speaks HTTPS only"
            )));
        }
        let token = self.token.ok_or_else(|| {
            ClientError::Config("no token source: call .token(…) on the builder".into())
        })?;
        install_ring_provider();
        let mut http = reqwest::Client::builder()
            .https_only(true)
            .http1_only()
            .user_agent(concat!("kruispunt-sdk/", env!("CARGO_PKG_VERSION")));
        if self.ca_pem.is_some() || self.identity.is_some() {
            http = http.tls_backend_preconfigured(tls_config(
                self.ca_pem.as_deref(),
                self.identity.as_ref(),
            )?);
        }
        Ok(Client {
            inner: Arc::new(Inner {
                http: http.build()?,
                base,
                token,
                retry: self.retry,
                timeout: self.timeout,
            }),
        })
    }
}

fn tls_config(
    ca_pem: Option<&[u8]>,
    identity: Option<&(Vec<u8>, Vec<u8>)>,
) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| ClientError::Config(format!("CA PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| ClientError::Config(format!("CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(ClientError::Config(
                "CA PEM: no CERTIFICATE block found".into(),
            ));
        }
    } else {
        return Err(ClientError::Config(
            "a client certificate needs the broker's CA as well: call .ca_pem(…)".into(),
        ));
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    let mut cfg = match identity {
        Some((cert_pem, key_pem)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
                .collect::<Result<_, _>>()
                .map_err(|e| ClientError::Config(format!("client certificate PEM: {e}")))?;
            let key = PrivateKeyDer::from_pem_slice(key_pem)
                .map_err(|e| ClientError::Config(format!("client key PEM: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ClientError::Config(format!("client certificate: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

struct Inner {
    http: reqwest::Client,
    base: String,
    token: TokenSource,
    retry: RetryPolicy,
    timeout: Duration,
}

/// A connection to one broker as one partner user. Cheap to clone (shared connection pool).
///
/// ```no_run
/// # use kruispunt_sdk::client::{Client, TokenSource};
/// # async fn run() -> Result<(), kruispunt_sdk::client::ClientError> {
/// let client = Client::builder("https://127.0.0.1:8443")
///     .ca_pem(&std::fs::read("kruispunt-data/tls/ca.pem").unwrap())
///     .token(TokenSource::fixed(std::env::var("KRUISPUNT_TOKEN").unwrap()))
///     .build()?;
/// client.health().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.inner.base)
            .field("retry", &self.inner.retry)
            .finish()
    }
}

/// How a request attempt is built: a fresh builder each time, because a retried request (and
/// its streamed body) cannot be reused.
type Build<'a> = dyn Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder + Send + Sync + 'a;

impl Client {
    /// Starts building a client for the broker at `base_url` (`https://host:port`).
    ///
    /// ```
    /// let _b = kruispunt_sdk::client::Client::builder("https://127.0.0.1:8443");
    /// ```
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            ca_pem: None,
            identity: None,
            token: None,
            retry: RetryPolicy::default(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The broker's base URL.
    ///
    /// ```no_run
    /// # fn f(c: &kruispunt_sdk::client::Client) { println!("{}", c.base_url()); }
    /// ```
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.base)
    }

    /// Sends with retries on 429/503 and on connection failures before sending; returns the
    /// successful response or the broker's problem.
    async fn execute(
        &self,
        build: &Build<'_>,
        authenticated: bool,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, ClientError> {
        let policy = self.inner.retry;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let last = attempt >= policy.max_attempts.max(1);
            let mut req = build(&self.inner.http, &self.inner.base);
            if authenticated {
                req = req.header(
                    AUTHORIZATION,
                    format!("Bearer {}", self.inner.token.token()?),
                );
            }
            if let Some(t) = timeout {
                req = req.timeout(t);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                // Nothing reached the broker: safe to try again, for any request.
                Err(e) if e.is_connect() && !last => {
                    tokio::time::sleep(policy.delay(attempt, None)).await;
                    continue;
                }
                Err(e) => return Err(ClientError::Transport(e)),
            };
            let status = resp.status().as_u16();
            if resp.status().is_success() {
                return Ok(resp);
            }
            let problem = read_problem(resp).await?;
            if retry::retryable_status(status) && !last {
                tokio::time::sleep(policy.delay(attempt, problem.retry_after)).await;
                continue;
            }
            return Err(ClientError::Problem(Box::new(problem)));
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        build: &Build<'_>,
        authenticated: bool,
    ) -> Result<T, ClientError> {
        let resp = self
            .execute(build, authenticated, Some(self.inner.timeout))
            .await?;
        decode(resp).await
    }

    /// An authenticated `POST` of `body` as JSON to `path`, answered with JSON; `what` names
    /// the body in the error if it cannot be encoded.
    pub(crate) async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        what: &str,
    ) -> Result<T, ClientError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| ClientError::Config(format!("cannot encode {what}: {e}")))?;
        self.json(
            &|h, b| {
                h.post(format!("{b}{path}"))
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone())
            },
            true,
        )
        .await
    }

    /// A `GET` of `path` without a token (the public audit endpoints), answered with text.
    async fn public_text(&self, path: &str) -> Result<String, ClientError> {
        let resp = self
            .execute(
                &|h, b| h.get(format!("{b}{path}")),
                false,
                Some(self.inner.timeout),
            )
            .await?;
        Ok(resp.text().await?)
    }

    /// `GET /healthz`: the broker is up.
    ///
    /// ```no_run
    /// # async fn f(c: &kruispunt_sdk::client::Client) -> Result<(), kruispunt_sdk::client::ClientError> {
    /// c.health().await?;
    /// # Ok(()) }
    /// ```
    pub async fn health(&self) -> Result<(), ClientError> {
        self.execute(
            &|h, b| h.get(format!("{b}/healthz")),
            false,
            Some(self.inner.timeout),
        )
        .await
        .map(drop)
    }

    /// `POST /v1/signals`: uploads up to [`crate::wire::MAX_SIGNAL_BATCH`] signals. Each item is
    /// `stored`, `duplicate` or `rejected` (with field and reason); good items are stored even
    /// when others are rejected. Safe to retry: see [`RetryPolicy`].
    ///
    /// ```no_run
    /// # async fn f(c: &kruispunt_sdk::client::Client, s: Vec<kruispunt_sdk::wire::SignalIn>) -> Result<(), kruispunt_sdk::client::ClientError> {
    /// let r = c.upload(&s).await?;
    /// for item in r.results.iter().filter(|i| i.reason.is_some()) {
    ///     eprintln!("item {} refused: {:?} {:?}", item.index, item.field, item.reason);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn upload(&self, signals: &[SignalIn]) -> Result<UploadResponse, ClientError> {
        let batch = SignalBatch {
            signals: signals.to_vec(),
        };
        self.post_json("/v1/signals", &batch, "the batch").await
    }

    /// `POST /v1/signals/bulk`: streams every signal of `source` as NDJSON in constant memory,
    /// calling `progress` as lines are handed to the connection. The broker commits every
    /// 10 000 lines with its own audit entry; when a 429/503 makes the client start again, the
    /// source is re-opened and what was already committed comes back as `duplicate`. The
    /// answer's `results` lists rejected lines only (at most 1000).
    ///
    /// ```no_run
    /// # async fn f(c: &kruispunt_sdk::client::Client, signals: Vec<kruispunt_sdk::wire::SignalIn>) -> Result<(), kruispunt_sdk::client::ClientError> {
    /// let total = signals.len() as u64;
    /// let r = c
    ///     .upload_bulk(signals, move |p| {
    ///         eprint!("\r{}/{total} lines sent", p.lines);
    ///     })
    ///     .await?;
    /// println!("\nstored {}, duplicates {}, rejected {}", r.stored, r.duplicates, r.rejected);
    /// # Ok(()) }
    /// ```
    pub async fn upload_bulk<S, F>(
        &self,
        source: S,
        progress: F,
    ) -> Result<UploadResponse, ClientError>
    where
        S: BulkSource,
        F: Fn(BulkProgress) + Send + Sync + 'static,
    {
        let progress = Arc::new(progress);
        let source = Arc::new(source);
        let attempt = std::sync::atomic::AtomicU32::new(0);
        let build = |h: &reqwest::Client, b: &str| {
            let n = attempt.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let progress: Arc<dyn Fn(BulkProgress) + Send + Sync> = progress.clone();
            h.post(format!("{b}/v1/signals/bulk"))
                .header(CONTENT_TYPE, "application/x-ndjson")
                .body(bulk::ndjson_body(source.clone(), progress, n))
        };
        let resp = self.execute(&build, true, None).await?;
        decode(resp).await
    }

    /// `DELETE /v1/signals/{id}`: withdraws a signal this partner supplied (404 otherwise).
    ///
    /// ```no_run
    /// # async fn f(c: &kruispunt_sdk::client::Client) -> Result<(), kruispunt_sdk::client::ClientError> {
    /// let r = c.withdraw("0123456789abcdef0123456789abcdef").await?;
    /// assert!(r.withdrawn);
    /// # Ok(()) }
    /// ```
    pub async fn withdraw(&self, id: &str) -> Result<WithdrawResponse, ClientError> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ClientError::Config(format!(
                "signal id {id:?}: must be hex (as the upload answered)"
            )));
        }
        self.json(&|h, b| h.delete(format!("{b}/v1/signals/{id}")), true)
            .await
    }

    /// `POST /v1/matches`: asks whether the identifiers appear in other partners' signals, at
    /// the requested level. The policy decides once; the answer's `level` is what was actually
    /// disclosed and `audit_seq` the audit entry recording it. A refusal is
    /// [`ClientError::Problem`] with slug `policy-denied` and the reason codes.
    ///
    /// ```no_run
    /// # use kruispunt_sdk::wire::{IdentifierRef, Level, MatchRequest};
    /// # async fn f(c: &kruispunt_sdk::client::Client, p: String) -> Result<(), kruispunt_sdk::client::ClientError> {
    /// let answer = c.match_identifiers(&MatchRequest {
    ///     purpose: "kvo-buitengebied-signalering".into(),
    ///     coalition: None,
    ///     identifiers: vec![IdentifierRef { kind: "kvk".into(), pseudonym: p, key_version: 1 }],
    ///     level: Level::Hit,
    ///     case_reference: None, legal_basis: None, consent_id: None, justification: None,
    /// }).await?;
    /// println!("hit: {}", answer.results[0].hit);
    /// # Ok(()) }
    /// ```
    pub async fn match_identifiers(
        &self,
        request: &MatchRequest,
    ) -> Result<MatchResponse, ClientError> {
        self.post_json("/v1/matches", request, "the match").await
    }

    /// `GET /v1/audit/checkpoint` (public): the latest signed checkpoint as a C2SP signed note.
    ///
    /// ```no_run
    /// # async fn f(c: &kruispunt_sdk::client::Client) -> Result<(), kruispunt_sdk::client::ClientError> {
    /// let note = c.audit_checkpoint().await?;
    /// println!("{note}");
    /// # Ok(()) }
    /// ```
    pub async fn audit_checkpoint(&self) -> Result<String, ClientError> {
        self.public_text("/v1/audit/checkpoint").await
    }

    /// `GET /v1/audit/key` (public): the audit log's verifier key (`name+hash+base64`).
    ///
    /// ```no_run
    /// # async fn f(c: &kruispunt_sdk::client::Client) -> Result<(), kruispunt_sdk::client::ClientError> {
    /// let vkey = c.audit_key().await?;
    /// # Ok(()) }
    /// ```
    pub async fn audit_key(&self) -> Result<String, ClientError> {
        Ok(self.public_text("/v1/audit/key").await?.trim().to_string())
    }

    /// `GET /v1/audit/entries?start=&end=` (at most [`AUDIT_PAGE`]): for a privacy officer the
    /// entries that concern its organisation in full (salt and entry), every other line as its
    /// leaf; see [`Client::verify_audit_log`]. The read is itself audited.
    ///
    /// ```no_run
    /// # async fn f(c: &kruispunt_sdk::client::Client) -> Result<(), kruispunt_sdk::client::ClientError> {
    /// let page = c.audit_entries(0, 100).await?;
    /// let shown = page.entries.iter().filter(|l| l.entry.is_some()).count();
    /// # Ok(()) }
    /// ```
    pub async fn audit_entries(&self, start: u64, end: u64) -> Result<AuditEntries, ClientError> {
        self.get_json(&format!("/v1/audit/entries?start={start}&end={end}"))
            .await
    }

    /// `GET /v1/audit/proof/inclusion?index=&tree_size=`.
    ///
    /// ```no_run
    /// # async fn f(c: &kruispunt_sdk::client::Client) -> Result<(), kruispunt_sdk::client::ClientError> {
    /// let proof = c.inclusion_proof(3, 10).await?;
    /// # Ok(()) }
    /// ```
    pub async fn inclusion_proof(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, ClientError> {
        self.get_json(&format!(
            "/v1/audit/proof/inclusion?index={index}&tree_size={tree_size}"
        ))
        .await
    }

    /// `GET /v1/audit/proof/consistency?first=&second=`.
    ///
    /// ```no_run
    /// # async fn f(c: &kruispunt_sdk::client::Client) -> Result<(), kruispunt_sdk::client::ClientError> {
    /// let proof = c.consistency_proof(5, 10).await?;
    /// # Ok(()) }
    /// ```
    pub async fn consistency_proof(
        &self,
        first: u64,
        second: u64,
    ) -> Result<ConsistencyProof, ClientError> {
        self.get_json(&format!(
            "/v1/audit/proof/consistency?first={first}&second={second}"
        ))
        .await
    }

    /// A raw authenticated `GET` of `path`, for endpoints this client does not type yet.
    ///
    /// ```no_run
    /// # async fn f(c: &kruispunt_sdk::client::Client) -> Result<(), kruispunt_sdk::client::ClientError> {
    /// let doc: serde_json::Value = c.get_json("/v1/openapi.json").await?;
    /// # Ok(()) }
    /// ```
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = self.url(path);
        self.json(&|h, _| h.get(url.clone()), true).await
    }
}

/// Reads a non-success answer as a problem document.
async fn read_problem(resp: reqwest::Response) -> Result<ApiProblem, ClientError> {
    let status = resp.status().as_u16();
    let retry_after = retry::retry_after(resp.headers());
    let bytes = resp.bytes().await?;
    match serde_json::from_slice::<ProblemDetails>(&bytes) {
        Ok(details) => Ok(ApiProblem::new(status, details, retry_after)),
        Err(_) => {
            // Not a problem document (a proxy's error page, say): keep the facts, not the page.
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            Ok(ApiProblem::new(
                status,
                ProblemDetails {
                    type_uri: "about:blank".into(),
                    title: "HTTP error".into(),
                    status,
                    detail: text,
                    reasons: Vec::new(),
                    request_id: None,
                },
                retry_after,
            ))
        }
    }
}

async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Unexpected {
        status,
        detail: format!("the answer does not match the API: {e}"),
    })
}
