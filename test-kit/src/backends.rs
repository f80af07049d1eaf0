//! A test body run on SQLite and, when [`crate::POSTGRES_ENV`] is set, on PostgreSQL: on a whole
//! broker ([`with_backends`]) or on a bare store ([`on_both_backends!`]) — or as two tests, one
//! per backend, on a broker ([`on_broker`]) or on a data directory ([`on_data_dir`]) through
//! [`per_backend_tests!`].

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use kruispunt_broker::config::Config;
use kruispunt_broker::store::postgres::PostgresStore;
use kruispunt_broker::store::{self, Store};
use sqlx::postgres::PgPoolOptions;

use crate::{Broker, Options, TestDatabase, use_database};

/// What a test body over a broker returns (boxed, so that plain `fn`s can name it).
pub type TestFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A test body over a broker.
pub type TestFn = fn(Broker) -> TestFuture;

/// Runs `test` on a broker on SQLite, then on one on a fresh PostgreSQL database (dropped
/// afterwards) when [`crate::POSTGRES_ENV`] is set; says so loudly when it is not.
pub async fn with_backends(test: TestFn) {
    test(Broker::start(None).await).await;
    let opts = Options {
        unlimited: true,
        ..Options::default()
    };
    if let Some(b) = Broker::start_on_postgres("this test", opts).await {
        test(b).await;
    }
}

/// Runs `test` on a store in a fresh SQLite file.
pub async fn store_on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("kruispunt.db").display());
    let store = store::connect(&url).await.expect("open SQLite store");
    assert_eq!(store.backend(), "sqlite");
    let outcome = tokio::spawn(test(store)).await;
    drop(dir);
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// Runs `test` on a store in a fresh PostgreSQL database, dropped afterwards (even when the test
/// fails), or skips loudly when no server is configured.
pub async fn store_on_postgres<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(db) = TestDatabase::create("this test").await else {
        return;
    };
    let pg = PostgresStore::connect_with(PgPoolOptions::new().max_connections(8), db.options())
        .await
        .expect("open PostgreSQL store");
    let store: Arc<dyn Store> = Arc::new(pg.clone());
    assert_eq!(store.backend(), "postgres");
    let outcome = tokio::spawn(test(store)).await;
    pg.close().await;
    drop(db);
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// Declares the test `NAME`, which runs the broker test body `BODY` (a [`TestFn`]) through
/// [`with_backends`]: `broker_test!(NAME = BODY);`.
#[macro_export]
macro_rules! broker_test {
    ($($name:ident = $body:path),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::with_backends($body).await;
            }
        )*
    };
}

/// Instantiates each generic store test `NAME(store: Arc<dyn Store>)` of the calling module for
/// both backends: `sqlite::NAME` and `postgres::NAME`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::store_on_sqlite(super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::store_on_postgres(super::$name).await;
                }
            )*
        }
    };
}

/// A test body over a `&Broker`, one test per backend (see [`per_backend_tests!`]): the broker
/// is started for it and stopped after it.
pub mod on_broker {
    use super::*;

    /// Runs `test` on a broker on SQLite.
    pub async fn sqlite(test: impl AsyncFnOnce(&Broker)) {
        let b = Broker::start(None).await;
        test(&b).await;
        b.stop().await;
    }

    /// Runs `test` on a broker on a fresh PostgreSQL database of its own (dropped when it
    /// stops), or skips loudly, naming `name`, when [`crate::POSTGRES_ENV`] is not set.
    pub async fn postgres(name: &str, test: impl AsyncFnOnce(&Broker)) {
        let opts = Options {
            unlimited: true,
            ..Options::default()
        };
        let Some(b) = Broker::start_on_postgres(name, opts).await else {
            return;
        };
        test(&b).await;
        b.stop().await;
    }
}

/// A test body over a fresh development data directory (no broker running: the body opens the
/// store or runs the CLI itself), one test per backend (see [`per_backend_tests!`]).
pub mod on_data_dir {
    use super::*;

    fn fresh() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        Config::init_development(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
        dir
    }

    /// The store of the database the data directory `dir` is configured with.
    pub async fn store(dir: &Path) -> Arc<dyn Store> {
        let cfg = Config::load(dir).unwrap();
        store::connect(&cfg.database).await.unwrap()
    }

    /// Runs `test` on a data directory whose database is SQLite.
    pub async fn sqlite(test: impl AsyncFnOnce(&Path)) {
        let dir = fresh();
        test(dir.path()).await;
    }

    /// Runs `test` on a data directory pointed at a fresh PostgreSQL database (dropped
    /// afterwards), or skips loudly, naming `name`, when [`crate::POSTGRES_ENV`] is not set.
    pub async fn postgres(name: &str, test: impl AsyncFnOnce(&Path)) {
        let Some(pg) = TestDatabase::create(name).await else {
            return;
        };
        let dir = fresh();
        use_database(dir.path(), &pg.url);
        test(dir.path()).await;
        pg.drop_database().await;
    }
}

/// Declares the same test body as two tests, one per backend, so that each passes or fails on
/// its own: `per_backend_tests!(on_broker: NAME_ON_SQLITE, NAME_ON_POSTGRES = BODY; …)` runs the
/// `async fn BODY(&Broker)` through [`on_broker`]; `on_data_dir:` runs an `async fn BODY(&Path)`
/// through [`on_data_dir`].
#[macro_export]
macro_rules! per_backend_tests {
    ($on:ident: $($sqlite:ident, $postgres:ident = $body:path);+ $(;)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $sqlite() {
                $crate::$on::sqlite($body).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $postgres() {
                $crate::$on::postgres(stringify!($postgres), $body).await;
            }
        )+
    };
}
