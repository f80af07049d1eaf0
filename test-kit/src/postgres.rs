//! A PostgreSQL database of a test's own, so that runs never share budgets, signals or audit
//! entries.

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// A fresh database on a PostgreSQL server, dropped (`WITH (FORCE)`, so open pools do not stand
/// in the way) when this value goes out of scope — also when the test panics.
pub struct TestDatabase {
    /// The fresh database's URL.
    pub url: String,
    name: String,
    /// The server's maintenance database, which always exists: databases are created and
    /// dropped from there.
    admin: PgConnectOptions,
    options: PgConnectOptions,
}

impl TestDatabase {
    /// A fresh database on the server [`crate::POSTGRES_ENV`] names; `None` (after saying
    /// clearly that the PostgreSQL part of `test` did not run) when the variable is not set.
    pub async fn create(test: &str) -> Option<TestDatabase> {
        let url = crate::postgres_url(test)?;
        Some(TestDatabase::create_on(&url).await)
    }

    /// A fresh database on the server of `server_url` (whichever database that URL names).
    pub async fn create_on(server_url: &str) -> TestDatabase {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "kp_test_{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let server = PgConnectOptions::from_str(server_url).expect("parse the PostgreSQL URL");
        let admin = server.clone().database("postgres");
        let mut c = admin
            .connect()
            .await
            .expect("the PostgreSQL URL must point at a reachable PostgreSQL server");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .expect("CREATE DATABASE");
        let _ = c.close().await;
        let base = server_url.split('?').next().unwrap();
        let prefix = &base[..base.rfind('/').expect("a database path in the URL")];
        TestDatabase {
            url: format!("{prefix}/{name}"),
            options: server.database(&name),
            name,
            admin,
        }
    }

    /// Connection options for the fresh database (for a pool of a chosen size).
    pub fn options(&self) -> PgConnectOptions {
        self.options.clone()
    }

    /// Drops the database now (what going out of scope does anyway).
    pub async fn drop_database(self) {
        drop(self);
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own
        // with a runtime of its own does the dropping.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut c = admin.connect().await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut c)
                    .await?;
                c.close().await
            })
        })
        .join();
        if !std::thread::panicking() {
            dropped
                .expect("dropping the test database")
                .expect("DROP DATABASE");
        }
    }
}
