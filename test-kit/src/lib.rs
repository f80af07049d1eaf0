//! The one test kit of the workspace: what the broker's integration tests, the end-to-end tests
//! and the benchmarks need to stand a broker up and talk to it, written once.
//!
//! - [`Broker`]: the broker in process over real HTTPS on a fresh development data directory,
//!   on SQLite or on a PostgreSQL database; restartable on the same data; with a client that
//!   trusts its CA and helpers for tokens, requests and the audit log.
//! - [`TestDatabase`]: a fresh PostgreSQL database on the server [`POSTGRES_ENV`] names, dropped
//!   when it goes out of scope (also when the test fails); [`TestCluster`]: a PostgreSQL server
//!   of the test's own, to stop and start under load.
//! - [`token`]: tokens signed with a partner's development key through the SDK's signer.
//! - [`with_backends`] and [`on_both_backends!`]: a test body run on SQLite and, when
//!   [`POSTGRES_ENV`] is set, on PostgreSQL — a whole broker or just a store; and
//!   [`per_backend_tests!`]: the same body as two tests, one per backend.
//!
//! - [`ServeProcess`]: a real `kruispunt serve` child process, started one way for every test.
//! - [`bench`]: the benchmarks' reproducible numbers, environment knobs and CPU clock.
//!
//! Without [`POSTGRES_ENV`] the PostgreSQL halves say loudly that they did not run, and pass, so
//! a plain `cargo test` works anywhere; CI (`.ci/run`) sets it.

mod backends;
pub mod bench;
mod broker;
mod postgres;
pub mod serve_process;
pub mod token;

pub use backends::{
    TestFn, TestFuture, on_broker, on_data_dir, store_on_postgres, store_on_sqlite, with_backends,
};
pub use broker::{Bearer, Broker, Options, all_entries, typed, use_database};
pub use postgres::{StopMode, TestCluster, TestDatabase};
pub use serve_process::ServeProcess;
pub use token::token_in;

/// The environment variable naming a PostgreSQL server (any database on it) for the tests to
/// create their databases on.
pub const POSTGRES_ENV: &str = "KRUISPUNT_TEST_POSTGRES_URL";

/// The current Unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The PostgreSQL server to test against, or `None` after a loud note that the PostgreSQL part
/// of `test` did not run.
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var(POSTGRES_ENV) {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            eprintln!(
                "SKIPPED: {POSTGRES_ENV} not set — the PostgreSQL part of {test} did not run \
                 (set {POSTGRES_ENV}=postgres://user@host:port/db to run it)"
            );
            None
        }
    }
}
