//! A broker over real HTTPS on SQLite (or PostgreSQL) for the audit tests, with helpers to
//! mint tokens and make some traffic worth auditing.
#![allow(dead_code)]

use kruispunt_broker::auth::{Claims, mint};
use kruispunt_broker::config::Config;
use kruispunt_broker::devpki::DevPki;
use kruispunt_broker::keys::dev_partner_keys::load_partner_signing_key;
use kruispunt_broker::server::{self, RunningServer};
use kruispunt_broker::state::AppState;
use kruispunt_sdk::{CoalitionKey, IdentifierKind};
use serde_json::{Value, json};

pub const DEALER_A: &str = "autobedrijf-de-vecht";
pub const DEALER_B: &str = "autohandel-amersfoort";
pub const DEALER_C: &str = "autoschade-almere";
pub const PURPOSE: &str = "autobranche-contante-aankopen";
pub const OFFICER: &str = "privacy-officer";

pub struct Broker {
    pub running: Option<RunningServer>,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    pub base: String,
    pub aud: String,
    pub ca_path: std::path::PathBuf,
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl Broker {
    pub async fn start(database: Option<String>) -> Broker {
        kruispunt_broker::tls::install_ring_provider();
        let dir = tempfile::tempdir().unwrap();
        Config::init_development(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
        if let Some(db) = &database {
            use_database(dir.path(), db);
        }
        let mut cfg = Config::load(dir.path()).unwrap();
        cfg.limits.requests_per_second = 100_000.0;
        cfg.limits.burst = 100_000.0;
        let running = server::start(&cfg).await.unwrap();
        let ca_path = DevPki::in_dir(dir.path()).ca_cert;
        let ca = std::fs::read(&ca_path).unwrap();
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
            ca_path,
        }
    }

    pub fn state(&self) -> AppState {
        self.running.as_ref().unwrap().state.clone()
    }

    pub async fn sync(&self) -> u64 {
        let st = self.state();
        st.audit_log.sync(&*st.store, &st.keys).await.unwrap()
    }

    pub fn token_with(
        &self,
        partner: &str,
        roles: &[&str],
        edit: impl FnOnce(&mut Claims),
    ) -> String {
        token_in(self.dir.path(), &self.aud, partner, roles, edit)
    }

    pub fn token(&self, partner: &str, roles: &[&str]) -> String {
        self.token_with(partner, roles, |_| {})
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let resp = self.get(path, token).await;
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// Uploads by dealers A and B of the same plate, and a hit on it for dealer C.
    pub async fn traffic(&self) {
        let ta = self.token(DEALER_A, &["compliance"]);
        let tb = self.token(DEALER_B, &["compliance"]);
        let tc = self.token(DEALER_C, &["compliance"]);
        let s = signal("GB-001-B", "cash-car-purchase");
        let (st, v) = self
            .post("/v1/signals", Some(&ta), &json!({ "signals": [s] }))
            .await;
        assert_eq!((st, &v["stored"]), (200, &json!(1)), "{v}");
        let (st, v) = self
            .post(
                "/v1/signals",
                Some(&tb),
                &json!({ "signals": [signal("GB001B", "split-payments")] }),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let (st, v) = self
            .post("/v1/matches", Some(&tc), &match_query(PURPOSE))
            .await;
        assert_eq!((st, &v["results"][0]["hit"]), (200, &json!(true)), "{v}");
    }

    pub async fn stop(mut self) {
        self.running.take().unwrap().shutdown().await.unwrap();
    }
}

/// Points the development data directory `dir` at the database `url` (in its kruispunt.toml,
/// so that `kruispunt serve` and `kruispunt audit export --data-dir` use it too).
pub fn use_database(dir: &std::path::Path, url: &str) {
    let path = dir.join("kruispunt.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = text.replace(
        "database = \"sqlite://kruispunt.db\"",
        &format!("database = \"{url}\""),
    );
    assert_ne!(changed, text, "the configuration names the SQLite database");
    std::fs::write(&path, changed).unwrap();
}

/// A token of `partner`'s user for the deployment `aud`, signed with the demo partner key kept in
/// the development data directory `dir`.
pub fn token_in(
    dir: &std::path::Path,
    aud: &str,
    partner: &str,
    roles: &[&str],
    edit: impl FnOnce(&mut Claims),
) -> String {
    let (kid, pkcs8) = load_partner_signing_key(dir, partner).unwrap();
    let mut claims = Claims {
        iss: partner.into(),
        sub: format!("user@{partner}"),
        aud: aud.into(),
        exp: now() + 600,
        iat: now(),
        nbf: None,
        roles: roles.iter().map(|r| r.to_string()).collect(),
        jti: None,
        scope: None,
    };
    edit(&mut claims);
    mint(&kid, &pkcs8, &claims).unwrap()
}

/// A fresh PostgreSQL database for one test, on the server `KRUISPUNT_TEST_POSTGRES_URL` names;
/// `None` (after saying clearly that the test did not run) when the variable is not set.
pub struct TestPostgres {
    /// The fresh database's URL.
    pub url: String,
    name: String,
    admin: sqlx::PgPool,
}

impl TestPostgres {
    pub async fn create(test: &str) -> Option<TestPostgres> {
        let Ok(url) = std::env::var("KRUISPUNT_TEST_POSTGRES_URL") else {
            eprintln!(
                "SKIPPED: KRUISPUNT_TEST_POSTGRES_URL not set — the PostgreSQL part of {test} did not run"
            );
            return None;
        };
        let name = format!("kp_{test}_{}", std::process::id());
        let base = &url[..url.rfind('/').unwrap()];
        let admin = sqlx::PgPool::connect(&format!("{base}/postgres"))
            .await
            .unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&admin)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        Some(TestPostgres {
            url: format!("{base}/{name}"),
            name,
            admin,
        })
    }

    pub async fn drop_database(self) {
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&self.admin)
        .await
        .unwrap();
        self.admin.close().await;
    }
}

/// Runs the `kruispunt` binary to completion: (success, stdout followed by stderr).
pub fn kruispunt(args: &[String]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kruispunt"))
        .args(args)
        .env_remove("KRUISPUNT_TOKEN")
        .env_remove("KRUISPUNT_DATA_DIR")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

pub fn pseudonym(plate: &str) -> String {
    CoalitionKey::new([7u8; 32], 1)
        .pseudonymiser(IdentifierKind::Kenteken)
        .pseudonymise(plate)
        .unwrap()
        .to_hex()
}

pub fn signal(plate: &str, code: &str) -> Value {
    json!({
        "kind": "kenteken", "pseudonym": pseudonym(plate), "key_version": 1, "code": code,
        "observed": "2026-11-01", "district": "oost-utrecht", "purposes": [PURPOSE]
    })
}

pub fn match_query(purpose: &str) -> Value {
    json!({ "purpose": purpose, "level": "hit",
            "identifiers": [{ "kind": "kenteken", "pseudonym": pseudonym("GB-001-B"), "key_version": 1 }] })
}
