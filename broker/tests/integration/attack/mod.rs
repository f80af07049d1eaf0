//! The attack suite: the findings of the security review "Hardening: what an attacker found"
//! (issue 20) and the classes of attack behind them, replayed against the real
//! `kruispunt serve` process — the binary an operator runs, configured only through its data
//! directory's `kruispunt.toml` — so that they stay fixed. Each test plays the attacker and
//! asserts what the attacker does **not** get: no data, no effect, no silent entry, no start on
//! a forged log.
//!
//! | module | attacker | what is tried |
//! |---|---|---|
//! | [`tokens`] | outsider, partner | `alg: none`, another partner's key, `crit`, a token valid for years, an expired one; the `jti` traced |
//! | [`authorization`] | partner | a role the registry does not allow the organisation, a scoped token beyond its scope (upload, withdraw, aggregates), the embargo bypass through the disclosure accounting and review filters |
//! | [`input`] | partner, outsider | unbounded free text, the date the store refused, errors that were not RFC 9457 |
//! | [`flood`] | outsider, partner | a garbage-token flood (counted refusals), a runaway partner (the default rate limit), a sweep in one large request |
//! | [`connections`] | outsider | slowloris heads, idle TLS connections |
//! | [`tampering`] | someone with the database | an audit row edited or the log truncated while the broker is stopped, a recent entry made to look lawfully erased |
//! | [`page`] | anyone who can send a link | the `/audit/` page signing a visitor in from a `#token=` link |
//!
//! The process is the test kit's broker started with [`Options::serve`]; the database the
//! tests read or tamper with is the one it runs on. Tests whose subject is storage run on
//! SQLite and (when `KRUISPUNT_TEST_POSTGRES_URL` is set) on PostgreSQL.

use std::path::PathBuf;

pub use crate::audit_common::*;
pub use kruispunt_test_kit::Options;

mod authorization;
mod connections;
mod flood;
mod input;
mod page;
mod tampering;
mod tokens;

/// The `kruispunt` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kruispunt"))
}

/// Options starting `kruispunt serve` (rate limits out of reach unless a test sets them).
pub fn serve_opts() -> Options {
    Options {
        serve: Some(bin()),
        unlimited: true,
        ..Options::default()
    }
}

/// `kruispunt serve` as `opts` says, on SQLite.
pub async fn serve(opts: Options) -> Broker {
    Broker::start_with(opts).await
}

/// Runs an attack (an `async fn(&Broker)`) against `kruispunt serve` on SQLite.
pub async fn on_sqlite(attack: impl AsyncFnOnce(&Broker)) {
    let b = serve(serve_opts()).await;
    attack(&b).await;
    b.stop().await;
}

/// Runs an attack against `kruispunt serve` on a fresh PostgreSQL database of its own, or skips
/// loudly, naming `name`, when no server is configured.
pub async fn on_postgres(name: &str, attack: impl AsyncFnOnce(&Broker)) {
    let Some(b) = Broker::start_on_postgres(name, serve_opts()).await else {
        return;
    };
    attack(&b).await;
    b.stop().await;
}

/// Declares an attack as two tests against `kruispunt serve`, one per backend:
/// `attack_tests!(NAME_ON_SQLITE, NAME_ON_POSTGRES = BODY; …)`.
macro_rules! attack_tests {
    ($($sqlite:ident, $postgres:ident = $body:path);+ $(;)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $sqlite() {
                $crate::attack::on_sqlite($body).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $postgres() {
                $crate::attack::on_postgres(stringify!($postgres), $body).await;
            }
        )+
    };
}
pub(crate) use attack_tests;

/// Checks that `(status, body, content type)` is an RFC 9457 problem of `status` whose type
/// ends in `:slug`; answers the body.
pub fn problem(
    (status, body, ct): (u16, serde_json::Value, String),
    want: u16,
    slug: &str,
) -> serde_json::Value {
    assert_eq!(status, want, "{body}");
    assert_eq!(ct, "application/problem+json", "{status}: {body}");
    assert_eq!(body["status"], want, "{body}");
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with(&format!(":{slug}"))),
        "expected {slug}: {body}"
    );
    body
}
