//! The harness of the MLS tests: a broker over real HTTPS on SQLite and (when
//! `KRUISPUNT_TEST_POSTGRES_URL` is set) on a fresh PostgreSQL database, tokens, the audit log,
//! signal uploads and matches, and a partner (`Member` + `BrokerMls`) with its persisted state.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use kruispunt_broker::audit::entry::AuditEntry;
use kruispunt_broker::auth::{Claims, mint};
use kruispunt_broker::config::Config;
use kruispunt_broker::devpki::DevPki;
use kruispunt_broker::keys::dev_partner_keys::load_partner_signing_key;
use kruispunt_broker::server::{self, RunningServer};
use kruispunt_broker::state::AppState;
use kruispunt_sdk::coalition::http::BrokerMls;
use kruispunt_sdk::coalition::{Event, Member};
use kruispunt_sdk::{CoalitionKey, IdentifierKind};
use serde_json::{Value, json};

pub const POSTGRES_ENV: &str = "KRUISPUNT_TEST_POSTGRES_URL";
pub const COALITION: &str = "kvo-buitengebied-oost-utrecht";
pub const ADMIN: &str = "riec-midden-nederland";
pub const KVO: &str = "kvo-buitengebied-oost-utrecht";
pub const HEUVELRUG: &str = "gemeente-utrechtse-heuvelrug";
pub const AMERSFOORT: &str = "gemeente-amersfoort";
/// A private partner that is not in the coalition.
pub const DEALER: &str = "autobedrijf-de-vecht";
pub const ADMIN_ROLE: &str = "coalitiebeheerder";
/// The coalition's own purpose (disclosure ceiling `categories`, two sources needed).
pub const KVO_PURPOSE: &str = "kvo-buitengebied-signalering";
pub const KVO_DISTRICT: &str = "oost-utrecht";

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub struct Broker {
    pub running: Option<RunningServer>,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    pub base: String,
    pub aud: String,
    pg_db: Option<(String, String)>,
}

impl Broker {
    pub async fn start(database: Option<String>) -> Broker {
        kruispunt_broker::tls::install_ring_provider();
        let dir = tempfile::tempdir().unwrap();
        Config::init_development(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
        let mut cfg = Config::load(dir.path()).unwrap();
        cfg.limits.requests_per_second = 100_000.0;
        cfg.limits.burst = 100_000.0;
        if let Some(db) = &database {
            cfg.database = db.clone();
        }
        let running = server::start(&cfg).await.unwrap();
        let ca = std::fs::read(DevPki::in_dir(dir.path()).ca_cert).unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
            .build()
            .unwrap();
        let base = format!("https://localhost:{}", running.addr.port());
        Broker {
            running: Some(running),
            dir,
            client,
            base,
            aud: cfg.deployment.clone(),
            pg_db: None,
        }
    }

    pub fn state(&self) -> AppState {
        self.running.as_ref().unwrap().state.clone()
    }

    pub fn token(&self, partner: &str, roles: &[&str]) -> String {
        let (kid, pkcs8) = load_partner_signing_key(self.dir.path(), partner).unwrap();
        let claims = Claims {
            iss: partner.into(),
            sub: format!("user@{partner}"),
            aud: self.aud.clone(),
            exp: now() + 600,
            iat: now(),
            nbf: None,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            jti: None,
            scope: None,
        };
        mint(&kid, &pkcs8, &claims).unwrap()
    }

    pub fn mls(&self, partner: &str, roles: &[&str]) -> BrokerMls {
        BrokerMls::new(
            self.client.clone(),
            self.base.clone(),
            self.token(partner, roles),
        )
    }

    /// Sends `body` (if any) with `method` to `path`; answers the status and the JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn audit(&self) -> Vec<AuditEntry> {
        let st = self.state();
        let n = st.store.audit().audit_len().await.unwrap();
        st.store
            .audit()
            .audit_entries(0, n)
            .await
            .unwrap()
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

    pub async fn stop(mut self) {
        self.running.take().unwrap().shutdown().await.unwrap();
        if let Some((admin, db)) = self.pg_db.take() {
            let pool = sqlx::PgPool::connect(&admin).await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .execute(&pool)
                .await
                .unwrap();
        }
    }
}

pub type TestFn = fn(Broker) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Runs `test` on SQLite, then on a fresh PostgreSQL database (dropped afterwards) when
/// [`POSTGRES_ENV`] is set; says so loudly when it is not.
pub async fn with_backends(test: TestFn) {
    test(Broker::start(None).await).await;
    let Ok(url) = std::env::var(POSTGRES_ENV) else {
        eprintln!("SKIPPED: {POSTGRES_ENV} not set — the PostgreSQL half of this test did not run");
        return;
    };
    static N: AtomicU32 = AtomicU32::new(0);
    let db = format!(
        "kp_mls_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let cut = url.rfind('/').unwrap();
    let admin = format!("{}/postgres", &url[..cut]);
    let pool = sqlx::PgPool::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let mut b = Broker::start(Some(format!("{}/{db}", &url[..cut]))).await;
    assert_eq!(b.state().store.backend(), "postgres");
    b.pg_db = Some((admin, db));
    test(b).await;
}

/// The pseudonym of KvK number `kvk` under a test coalition key of `version`.
pub fn kvk_pseudonym(kvk: &str, version: u32) -> String {
    CoalitionKey::new([version as u8; 32], version)
        .pseudonymiser(IdentifierKind::Kvk)
        .pseudonymise(kvk)
        .unwrap()
        .to_hex()
}

/// A signal on KvK number `kvk` under key `version`, observed yesterday.
pub fn kvk_signal(kvk: &str, version: u32, purpose: &str, district: &str) -> Value {
    let yesterday = kruispunt_broker::civil::format_date(now().div_euclid(86_400) - 1);
    json!({
        "kind": "kvk", "pseudonym": kvk_pseudonym(kvk, version), "key_version": version,
        "code": "barn-rental-unsolicited", "observed": yesterday, "district": district,
        "purposes": [purpose],
    })
}

/// A partner: its MLS state (persisted in `dir`) and its connection to the broker.
pub struct Partner {
    pub member: Member,
    pub api: BrokerMls,
    pub path: std::path::PathBuf,
    pub welcome_cursor: u64,
}

impl Partner {
    pub fn new(b: &Broker, org: &str, roles: &[&str], dir: &std::path::Path) -> Partner {
        let path = dir.join(format!("{org}.mls"));
        Partner {
            member: Member::new(org, Some(&path)).unwrap(),
            api: b.mls(org, roles),
            path,
            welcome_cursor: 0,
        }
    }

    pub async fn publish(&self, n: usize) {
        let kps = self.member.key_packages(n, true).unwrap();
        let published = self.api.publish_key_packages(&kps).await.unwrap();
        assert_eq!(published.refs.len(), n + 1);
    }

    /// Fetches and processes everything new in `group`.
    pub async fn sync(&mut self, group: &str) -> Vec<Event> {
        let from = self.member.cursor(group).unwrap();
        let fetched = self.api.fetch(group, from).await.unwrap();
        self.member.process(group, &fetched).unwrap()
    }

    /// Joins every group a welcome arrived for; returns their ids.
    pub async fn accept_welcomes(&mut self) -> Vec<String> {
        let list = self.api.welcomes(self.welcome_cursor).await.unwrap();
        self.welcome_cursor = list.next;
        let mut joined = Vec::new();
        for w in list.welcomes {
            let bytes = kruispunt_sdk::coalition::wire::unb64("welcome", &w.welcome).unwrap();
            let id = self.member.join(&bytes, w.from_seq).unwrap();
            assert_eq!(id, w.group_id);
            joined.push(id);
        }
        joined
    }

    /// Posts a commit; on acceptance merges it and posts the follow-up key messages.
    pub async fn commit(&mut self, group: &str, out: &kruispunt_sdk::coalition::Outgoing) {
        self.api.post(group, out).await.unwrap();
        for follow in self.member.confirm(group).unwrap() {
            self.api.post_raw(group, &follow, None).await.unwrap();
        }
        // Skip own messages on the next fetch.
        self.sync(group).await;
    }
}
