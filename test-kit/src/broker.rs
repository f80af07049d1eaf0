//! The broker in process, over real HTTPS on a free loopback port, on a fresh development data
//! directory — or the real `kruispunt serve` process on such a directory ([`Options::serve`]) —
//! and what the tests do with it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use kruispunt_broker::audit::entry::AuditEntry;
use kruispunt_broker::auth::Claims;
use kruispunt_broker::config::{Config, Connections, Limits};
use kruispunt_broker::devpki::DevPki;
use kruispunt_broker::server::{self, RunningServer};
use kruispunt_broker::state::AppState;
use kruispunt_broker::store::{self, Store};
use kruispunt_sdk::coalition::http::BrokerMls;
use serde_json::Value;

use crate::TestDatabase;
use crate::serve_process::ServeProcess;

/// How to start a [`Broker`].
#[derive(Default)]
pub struct Options {
    /// The database URL; `None` is SQLite in the data directory.
    pub database: Option<String>,
    /// The rate limits; `None` keeps those of the development configuration.
    pub limits: Option<Limits>,
    /// Raises the request rate and burst to 100 000, which no test traffic reaches.
    pub unlimited: bool,
    /// Timeouts and the connection cap; `None` keeps the defaults.
    pub connections: Option<Connections>,
    /// The `kruispunt` binary (`env!("CARGO_BIN_EXE_kruispunt")`): the broker runs as the real
    /// `kruispunt serve` child process, configured through the data directory's
    /// `kruispunt.toml` (limits included), instead of in this process. It has no in-process
    /// [`Broker::state`]; [`Broker::audit`] and [`Broker::sync`] read its database.
    pub serve: Option<PathBuf>,
    /// A registry (TOML text) to run with instead of the embedded one: written into the data
    /// directory as `registry.toml` and named in its `kruispunt.toml` (relative, so a
    /// [`Broker::serve_copy`] uses its own copy), e.g. [`crate::bench::raised_registry`] for a
    /// load benchmark.
    pub registry: Option<String>,
}

/// A running broker and its data directory, with a client that trusts the development CA.
pub struct Broker {
    /// `None` only while stopping or restarting.
    pub running: Option<RunningServer>,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    /// `https://localhost:PORT`.
    pub base: String,
    /// The deployment name: the audience of its tokens.
    pub aud: String,
    /// The development CA certificate.
    pub ca_path: PathBuf,
    /// The limits it was started with, to restart with.
    limits: Option<Limits>,
    unlimited: bool,
    /// The PostgreSQL database the broker runs on, if it is the test's own: dropped with it.
    pg: Option<TestDatabase>,
    /// The `kruispunt` binary, when the broker runs as `kruispunt serve`.
    serve: Option<PathBuf>,
    /// That process, while it runs.
    process: Option<ServeProcess>,
}

impl Broker {
    /// A broker on a fresh development data directory, on `database` (SQLite in the data
    /// directory when `None`), with rate limits no test reaches.
    pub async fn start(database: Option<String>) -> Broker {
        Broker::start_with(Options {
            database,
            unlimited: true,
            ..Options::default()
        })
        .await
    }

    /// A broker on a fresh development data directory, started as `opts` says. The database is
    /// written into the directory's `kruispunt.toml`, so that `kruispunt serve` and the CLI's
    /// `--data-dir` use it too.
    pub async fn start_with(opts: Options) -> Broker {
        kruispunt_broker::tls::install_ring_provider();
        let dir = tempfile::tempdir().unwrap();
        Config::init_development(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
        if let Some(db) = &opts.database {
            use_database(dir.path(), db);
        }
        if let Some(c) = &opts.connections {
            let path = dir.path().join("kruispunt.toml");
            let mut cfg: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
            cfg.insert("connections".into(), toml::Value::try_from(c).unwrap());
            std::fs::write(&path, toml::to_string(&cfg).unwrap()).unwrap();
        }
        if let Some(registry) = &opts.registry {
            write_registry(dir.path(), registry);
        }
        if let Some(bin) = opts.serve {
            write_limits(dir.path(), opts.limits.as_ref(), opts.unlimited);
            return match Broker::try_spawn_in(dir, bin).await {
                Ok(b) => b,
                Err((_, e)) => panic!("kruispunt serve did not start: {e:#}"),
            };
        }
        Broker::start_in(dir, opts.limits, opts.unlimited).await
    }

    /// A broker on a fresh PostgreSQL database of its own (dropped when it stops) on the server
    /// [`crate::POSTGRES_ENV`] names; `None` (after a loud note) when that is not set.
    pub async fn start_on_postgres(test: &str, opts: Options) -> Option<Broker> {
        let db = TestDatabase::create(test).await?;
        Some(Broker::start_on(db, opts).await)
    }

    /// A broker started as `opts` says on the PostgreSQL database `db` (instead of
    /// `opts.database`), which it drops when it stops.
    pub async fn start_on(db: TestDatabase, opts: Options) -> Broker {
        let mut b = Broker::start_with(Options {
            database: Some(db.url.clone()),
            ..opts
        })
        .await;
        assert_eq!(b.store().await.backend(), "postgres");
        b.pg = Some(db);
        b
    }

    async fn start_in(dir: tempfile::TempDir, limits: Option<Limits>, unlimited: bool) -> Broker {
        match Broker::try_start_in(dir, limits, unlimited).await {
            Ok(b) => b,
            Err((_, e)) => panic!("the broker did not start: {e:#}"),
        }
    }

    /// Starts a broker on `dir`; on failure answers the error and the directory back.
    async fn try_start_in(
        dir: tempfile::TempDir,
        limits: Option<Limits>,
        unlimited: bool,
    ) -> Result<Broker, (tempfile::TempDir, anyhow::Error)> {
        let mut cfg = Config::load(dir.path()).unwrap();
        if let Some(l) = &limits {
            cfg.limits = l.clone();
        }
        if unlimited {
            cfg.limits.requests_per_second = 100_000.0;
            cfg.limits.burst = 100_000.0;
        }
        let running = match server::start(&cfg).await {
            Ok(r) => r,
            Err(e) => return Err((dir, e)),
        };
        let (ca_path, client) = https_client(dir.path());
        let base = format!("https://localhost:{}", running.addr.port());
        Ok(Broker {
            running: Some(running),
            dir,
            client,
            base,
            aud: cfg.deployment.clone(),
            ca_path,
            limits,
            unlimited,
            pg: None,
            serve: None,
            process: None,
        })
    }

    /// Starts `kruispunt serve` (the binary `bin`) on `dir` on a free loopback port and waits
    /// for the line saying where it listens; when it ends before that, answers what it wrote on
    /// standard error, with the directory back.
    async fn try_spawn_in(
        dir: tempfile::TempDir,
        bin: PathBuf,
    ) -> Result<Broker, (tempfile::TempDir, anyhow::Error)> {
        let (path, program) = (dir.path().to_path_buf(), bin.clone());
        let spawned =
            tokio::task::spawn_blocking(move || ServeProcess::spawn(&program, &path, &[], "warn"))
                .await
                .unwrap();
        let process = match spawned {
            Ok(p) => p,
            Err(e) => return Err((dir, anyhow::anyhow!(e))),
        };
        let port = process.port;
        let cfg = Config::load(dir.path()).unwrap();
        let (ca_path, client) = https_client(dir.path());
        Ok(Broker {
            running: None,
            dir,
            client,
            base: format!("https://localhost:{port}"),
            aud: cfg.deployment.clone(),
            ca_path,
            limits: None,
            unlimited: false,
            pg: None,
            serve: Some(bin),
            process: Some(process),
        })
    }

    /// Stops what runs: the in-process server, or the `kruispunt serve` process (SIGTERM, so it
    /// finishes in-flight requests and stops cleanly, as an operator stops it).
    async fn halt(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await.unwrap();
        }
        if let Some(mut p) = self.process.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &p.pid().to_string()])
                .status();
            tokio::task::spawn_blocking(move || {
                let _ = p.child.wait();
            })
            .await
            .unwrap();
        }
    }

    /// Starts again on the same data directory, as it was started.
    async fn try_again(
        dir: tempfile::TempDir,
        limits: Option<Limits>,
        unlimited: bool,
        serve: Option<PathBuf>,
    ) -> Result<Broker, (tempfile::TempDir, anyhow::Error)> {
        match serve {
            Some(bin) => Broker::try_spawn_in(dir, bin).await,
            None => Broker::try_start_in(dir, limits, unlimited).await,
        }
    }

    /// Another `kruispunt serve` process on a copy of this one's data directory: the same
    /// configuration, keys, development PKI and database — a second broker on the same
    /// PostgreSQL database, as an operator adds one (docs/OPERATIONS.md, "Several brokers").
    /// It does not drop the database; this broker does.
    pub async fn serve_copy(&self) -> Broker {
        let bin = self
            .serve
            .clone()
            .expect("a copy of a `kruispunt serve` broker only");
        let dir = tempfile::tempdir().unwrap();
        copy_dir(self.dir.path(), dir.path());
        match Broker::try_spawn_in(dir, bin).await {
            Ok(b) => b,
            Err((_, e)) => panic!("the copy did not start: {e:#}"),
        }
    }

    /// The `kruispunt serve` process's id, while it runs (to kill it with SIGKILL while
    /// requests to it are in flight; [`Broker::restart`] starts it again).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServeProcess::pid)
    }

    /// The loopback address the broker listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        let port = self.base.rsplit(':').next().unwrap().parse().unwrap();
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// Whether the broker runs as the `kruispunt serve` process (not in this process).
    pub fn is_process(&self) -> bool {
        self.serve.is_some()
    }

    /// The store of the broker's database: its own in process; for the `kruispunt serve`
    /// process, a connection of the test's to the same database.
    pub async fn store(&self) -> Arc<dyn Store> {
        match &self.running {
            Some(r) => r.state.store.clone(),
            None => store::connect(&Config::load(self.dir.path()).unwrap().database)
                .await
                .unwrap(),
        }
    }

    /// Stops the broker and starts it again on the same data directory and database: the
    /// match index is rebuilt from the database.
    pub async fn restart(self) -> Broker {
        match self.try_restart().await {
            Ok(b) => b,
            Err((_, e)) => panic!("the broker did not start again: {e:#}"),
        }
    }

    /// Stops the broker, keeping its data directory and database, so that a test can change
    /// them behind its back before [`Broker::try_restart`] (or [`Broker::restart`]) starts it
    /// again.
    pub async fn pause(&mut self) {
        self.halt().await;
    }

    /// Stops the broker and tries to start it again on the same data directory and database;
    /// when it refuses to start, answers why, with the stopped broker (its data kept, for
    /// another try).
    pub async fn try_restart(mut self) -> Result<Broker, (Broker, anyhow::Error)> {
        self.halt().await;
        let pg = self.pg.take();
        let again = Broker::try_again(
            self.dir,
            self.limits.clone(),
            self.unlimited,
            self.serve.clone(),
        );
        match again.await {
            Ok(mut b) => {
                b.pg = pg;
                Ok(b)
            }
            Err((dir, e)) => {
                self.dir = dir;
                self.pg = pg;
                Err((self, e))
            }
        }
    }

    /// Stops the broker (and drops its own PostgreSQL database, if any).
    pub async fn stop(mut self) {
        self.halt().await;
        if let Some(db) = self.pg.take() {
            db.drop_database().await;
        }
    }

    /// The in-process broker's state (not for the `kruispunt serve` process).
    pub fn state(&self) -> AppState {
        self.running
            .as_ref()
            .expect("the broker's state: only in process, not as `kruispunt serve`")
            .state
            .clone()
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The audit log's verifier key line (`GET /v1/audit/key`, trimmed).
    pub async fn audit_key(&self) -> String {
        let key = self.get("/v1/audit/key", None::<&str>).await;
        key.text().await.unwrap().trim().to_string()
    }

    /// The checkpoint note served now (`GET /v1/audit/checkpoint`), with any cosignatures.
    pub async fn checkpoint_note(&self) -> String {
        let note = self.get("/v1/audit/checkpoint", None::<&str>).await;
        note.text().await.unwrap()
    }

    /// Publishes a checkpoint over every entry so far (what the broker does every 500 ms); answers
    /// the tree size.
    ///
    /// For the `kruispunt serve` process, waits until the checkpoint it serves covers every
    /// entry in its database (it publishes one every 500 ms).
    pub async fn sync(&self) -> u64 {
        if self.running.is_none() {
            return self.published().await;
        }
        let st = self.state();
        st.audit_log.sync(&*st.store, &st.keys).await.unwrap()
    }

    /// Waits until the served checkpoint's size is the number of stored entries; answers it.
    async fn published(&self) -> u64 {
        let store = self.store().await;
        // A bound on waiting (a minute on a loaded machine), not a timing the test asserts.
        for _ in 0..600 {
            let stored = store.audit().audit_len().await.unwrap();
            let note = self.checkpoint_note().await;
            // A C2SP checkpoint: origin, size, root hash, blank line, signatures.
            let size = note.lines().nth(1).and_then(|l| l.parse::<u64>().ok());
            if size == Some(stored) {
                return stored;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("kruispunt serve published no checkpoint of its whole log");
    }

    /// A token of `partner`'s user with `roles`, signed with the partner's development key.
    pub fn token(&self, partner: &str, roles: &[&str]) -> String {
        crate::token_in(self.dir.path(), &self.aud, partner, roles)
    }

    /// A token like [`Broker::token`] whose claims `edit` changes first (expired, another
    /// audience, …).
    pub fn token_with(
        &self,
        partner: &str,
        roles: &[&str],
        edit: impl FnOnce(&mut Claims),
    ) -> String {
        crate::token::token_in_with(self.dir.path(), &self.aud, partner, roles, edit)
    }

    /// A client that trusts the development CA and presents `partner`'s development client
    /// certificate (`tls/clients/<partner>.pem`, issued to the partners that must use mTLS).
    pub fn mtls_client(&self, partner: &str) -> reqwest::Client {
        let clients = self.dir.path().join("tls/clients");
        let mut pem = std::fs::read(clients.join(format!("{partner}.pem"))).unwrap();
        pem.extend(std::fs::read(clients.join(format!("{partner}.key"))).unwrap());
        let ca = std::fs::read(&self.ca_path).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
            .identity(reqwest::Identity::from_pem(&pem).unwrap())
            .build()
            .unwrap()
    }

    /// The SDK's MLS delivery-service client, as `partner`'s user with `roles`.
    pub fn mls(&self, partner: &str, roles: &[&str]) -> BrokerMls {
        BrokerMls::new(
            self.client.clone(),
            self.base.clone(),
            self.token(partner, roles),
        )
    }

    /// Sends `body` (if any) with `method` to `path`; answers the status, the JSON body (`null`
    /// if none) and the content type.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: impl Bearer,
        body: Option<&Value>,
    ) -> (u16, Value, String) {
        let mut req = self.request(method, path, token);
        if let Some(b) = body {
            req = req.json(b);
        }
        typed(req.send().await.unwrap()).await
    }

    /// Sends `body` (if any) with `method` to `path`; answers the status and the JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: impl Bearer,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let (status, v, _) = self.send(method, path, token, body).await;
        (status, v)
    }

    /// POSTs `body` as JSON; answers the status and the JSON body.
    pub async fn post(&self, path: &str, token: impl Bearer, body: &Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// POSTs `body` as JSON; answers the status, the JSON body and the content type.
    pub async fn post_typed(
        &self,
        path: &str,
        token: impl Bearer,
        body: &Value,
    ) -> (u16, Value, String) {
        self.send(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// `GET path`, with the token if there is one.
    pub async fn get(&self, path: &str, token: impl Bearer) -> reqwest::Response {
        self.bare(reqwest::Method::GET, path, token).await
    }

    /// `DELETE path`, with the token if there is one.
    pub async fn delete(&self, path: &str, token: impl Bearer) -> reqwest::Response {
        self.bare(reqwest::Method::DELETE, path, token).await
    }

    /// POSTs `body` as one NDJSON stream to the bulk upload route.
    pub async fn post_bulk(&self, token: impl Bearer, body: String) -> reqwest::Response {
        self.request(reqwest::Method::POST, "/v1/signals/bulk", token)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// A request without a body.
    async fn bare(
        &self,
        method: reqwest::Method,
        path: &str,
        token: impl Bearer,
    ) -> reqwest::Response {
        self.request(method, path, token).send().await.unwrap()
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: impl Bearer,
    ) -> reqwest::RequestBuilder {
        let req = self.client.request(method, format!("{}{path}", self.base));
        match token.bearer() {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    pub async fn get_json(&self, path: &str, token: impl Bearer) -> (u16, Value) {
        let resp = self.get(path, token).await;
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// Every audit entry, in order.
    pub async fn audit(&self) -> Vec<AuditEntry> {
        let store = self.store().await;
        all_entries(&*store)
            .await
            .into_iter()
            .map(|(_, e)| e)
            .collect()
    }

    /// The audit entries with `action`.
    pub async fn audit_of(&self, action: &str) -> Vec<AuditEntry> {
        self.audit()
            .await
            .into_iter()
            .filter(|e| e.action == action)
            .collect()
    }
}

/// The bearer token of a request, if any: `&str`, `&String`, or an `Option<&str>` (`None`: no
/// `Authorization` header).
pub trait Bearer {
    fn bearer(&self) -> Option<&str>;
}

impl Bearer for &str {
    fn bearer(&self) -> Option<&str> {
        Some(self)
    }
}

impl Bearer for &String {
    fn bearer(&self) -> Option<&str> {
        Some(self)
    }
}

impl Bearer for Option<&str> {
    fn bearer(&self) -> Option<&str> {
        *self
    }
}

impl Bearer for Option<&String> {
    fn bearer(&self) -> Option<&str> {
        self.map(String::as_str)
    }
}

/// Writes the rate limits a `kruispunt serve` process is to run with into `dir`'s
/// `kruispunt.toml`: `limits` if given, raised out of reach when `unlimited` (as in process).
fn write_limits(dir: &Path, limits: Option<&Limits>, unlimited: bool) {
    if limits.is_none() && !unlimited {
        return;
    }
    let path = dir.join("kruispunt.toml");
    let mut cfg: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let mut l = match limits {
        Some(l) => l.clone(),
        None => Config::load(dir).unwrap().limits,
    };
    if unlimited {
        l.requests_per_second = 100_000.0;
        l.burst = 100_000.0;
    }
    cfg.insert("limits".into(), toml::Value::try_from(l).unwrap());
    std::fs::write(&path, toml::to_string(&cfg).unwrap()).unwrap();
}

/// Writes `registry` (TOML text) into `dir` as `registry.toml` and names it in `dir`'s
/// `kruispunt.toml` (a path relative to the data directory).
fn write_registry(dir: &Path, registry: &str) {
    const FILE: &str = "registry.toml";
    std::fs::write(dir.join(FILE), registry).unwrap();
    let path = dir.join("kruispunt.toml");
    let mut cfg: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    cfg.insert("registry".into(), toml::Value::String(FILE.into()));
    std::fs::write(&path, toml::to_string(&cfg).unwrap()).unwrap();
}

/// Points the development data directory `dir` at the database `url` (in its kruispunt.toml,
/// so that `kruispunt serve` and `kruispunt audit export --data-dir` use it too).
pub fn use_database(dir: &Path, url: &str) {
    let path = dir.join("kruispunt.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = text.replace(
        "database = \"sqlite://kruispunt.db\"",
        &format!("database = \"{url}\""),
    );
    assert_ne!(changed, text, "the configuration names the SQLite database");
    std::fs::write(&path, changed).unwrap();
}

/// Copies the directory `from` into `to` (files and folders, permissions kept).
fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            std::fs::set_permissions(&target, entry.metadata().unwrap().permissions()).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The development CA of the broker in `dir`, and an HTTPS client that trusts it alone.
fn https_client(dir: &Path) -> (PathBuf, reqwest::Client) {
    let ca_path = DevPki::in_dir(dir).ca_cert;
    let ca = std::fs::read(&ca_path).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .build()
        .unwrap();
    (ca_path, client)
}

/// Every entry of `store`'s log that is still there, with its position.
pub async fn all_entries(store: &dyn Store) -> Vec<(u64, AuditEntry)> {
    let len = store.audit().audit_len().await.unwrap();
    store.audit().audit_entries(0, len).await.unwrap()
}

/// A response's status, body and content type; the body as JSON, or as one JSON string when
/// it is not JSON (so a failing assertion shows it).
pub async fn typed(resp: reqwest::Response) -> (u16, Value, String) {
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body, ct)
}
