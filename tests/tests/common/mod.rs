//! An in-process broker over real HTTPS on a free loopback port, on a fresh data directory
//! (SQLite) or a fresh PostgreSQL database, and the example environment pointed at it.

#![allow(dead_code)]

use std::path::Path;

use kruispunt_broker::config::{Config, Limits};
use kruispunt_broker::server::{self, RunningServer};
use kruispunt_examples::Env;
use kruispunt_examples::synthetic::Scale;

pub struct Broker {
    pub running: RunningServer,
    pub env: Env,
    pub dir: tempfile::TempDir,
    pub pg: Option<PgDatabase>,
}

#[derive(Default)]
pub struct Options {
    /// A PostgreSQL server URL: the broker gets a fresh database on it.
    pub postgres: Option<String>,
    pub limits: Option<Limits>,
}

pub async fn start(opts: Options) -> Broker {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let listen = "127.0.0.1:0".parse().unwrap();
    Config::init_development(dir.path(), listen).expect("development set-up");
    let mut config = Config::load(dir.path()).expect("configuration");
    config.listen = listen;
    if let Some(l) = opts.limits {
        config.limits = l;
    }
    let pg = match &opts.postgres {
        Some(url) => Some(PgDatabase::create(url).await),
        None => None,
    };
    if let Some(db) = &pg {
        config.database = db.url.clone();
    }
    let running = server::start(&config).await.expect("the broker starts");
    let env = Env::from_data_dir(
        dir.path(),
        Some(&format!("https://{}", running.addr)),
        Scale::SMALL,
    )
    .expect("example environment");
    Broker {
        running,
        env,
        dir,
        pg,
    }
}

impl Broker {
    pub async fn stop(self) {
        self.running.shutdown().await.expect("clean shutdown");
        if let Some(db) = self.pg {
            db.drop_database().await;
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Publishes a checkpoint over every entry so far (what the broker does every 2 s).
    pub async fn publish_checkpoint(&self) {
        let s = &self.running.state;
        s.audit_log
            .sync(&*s.store, &s.keys)
            .await
            .expect("checkpoint");
    }
}

/// A database of its own on the PostgreSQL server, dropped afterwards, so runs never share
/// budgets, signals or audit entries.
pub struct PgDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgDatabase {
    async fn create(server_url: &str) -> PgDatabase {
        use sqlx::Connection;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("kp_e2e_{}_{nanos}", std::process::id());
        let mut c = sqlx::PgConnection::connect(server_url)
            .await
            .expect("KRUISPUNT_TEST_POSTGRES_URL must point at a reachable PostgreSQL server");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .expect("CREATE DATABASE");
        let base = server_url.split('?').next().unwrap();
        let prefix = &base[..base.rfind('/').expect("a database path in the URL")];
        PgDatabase {
            url: format!("{prefix}/{name}"),
            admin_url: server_url.to_string(),
            name,
        }
    }

    async fn drop_database(self) {
        use sqlx::Connection;
        if let Ok(mut c) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut c)
            .await;
        }
    }
}

/// The PostgreSQL server to test against, or a loud note that the test did not run.
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("KRUISPUNT_TEST_POSTGRES_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            eprintln!(
                "NOTE: {test} did NOT run: set KRUISPUNT_TEST_POSTGRES_URL=postgres://user@host:port/db \
                 to run it against PostgreSQL"
            );
            None
        }
    }
}
