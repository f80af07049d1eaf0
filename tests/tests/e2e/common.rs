//! The end-to-end tests' broker: the test kit's, on a fresh data directory (SQLite) or a fresh
//! PostgreSQL database, and the example environment pointed at it.

#![allow(dead_code)]

use std::path::Path;

use kruispunt_broker::config::Limits;
use kruispunt_examples::Env;
use kruispunt_examples::synthetic::Scale;
pub use kruispunt_test_kit::postgres_url;
use kruispunt_test_kit::{self as kit, TestDatabase};

pub struct Broker {
    pub kit: kit::Broker,
    pub env: Env,
}

#[derive(Default)]
pub struct Options {
    /// A PostgreSQL server URL: the broker gets a fresh database on it.
    pub postgres: Option<String>,
    pub limits: Option<Limits>,
}

pub async fn start(opts: Options) -> Broker {
    let kit_opts = kit::Options {
        limits: opts.limits,
        ..kit::Options::default()
    };
    let kit = match &opts.postgres {
        Some(url) => kit::Broker::start_on(TestDatabase::create_on(url).await, kit_opts).await,
        None => kit::Broker::start_with(kit_opts).await,
    };
    let addr = kit.running.as_ref().unwrap().addr;
    let env = Env::from_data_dir(
        kit.data_dir(),
        Some(&format!("https://{addr}")),
        Scale::SMALL,
    )
    .expect("example environment");
    Broker { kit, env }
}

impl Broker {
    pub async fn stop(self) {
        self.kit.stop().await;
    }

    pub fn data_dir(&self) -> &Path {
        self.kit.data_dir()
    }

    /// Publishes a checkpoint over every entry so far (what the broker does every 500 ms).
    pub async fn publish_checkpoint(&self) {
        self.kit.sync().await;
    }
}
