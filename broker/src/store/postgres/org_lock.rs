//! The organisation's upload lock across brokers: a PostgreSQL session advisory lock, held from
//! an upload's re-upload check through its index update (`crate::org_lock` holds the process's
//! own first). Without it, the same file sent by one organisation through two brokers at the
//! same moment could be stored twice: each broker's check finds nothing before either commits.
//!
//! The locks live on a small pool of their own, so an upload holding one can never wait for a
//! connection that another upload's lock holds (the main pool serves the upload itself). A
//! broker that dies drops its sessions, and PostgreSQL releases their locks.

use std::any::Any;

use ring::digest::{SHA256, digest};
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPool;
use sqlx::{Acquire, Postgres};

use crate::store::StoreError;

/// The advisory lock's class (its first key): "KP" — apart from sqlx's migration lock, which
/// uses the one-key form.
const CLASS: i32 = 0x4b50;

/// Connections of the lock pool: organisations uploading at once through one broker.
pub(super) const LOCK_CONNECTIONS: u32 = 8;

/// The lock's second key for `org`: the first 4 bytes of SHA-256("kruispunt.org-lock." ‖ org).
fn key(org: &str) -> i32 {
    let d = digest(&SHA256, format!("kruispunt.org-lock.{org}").as_bytes());
    i32::from_be_bytes(d.as_ref()[..4].try_into().expect("4 bytes"))
}

/// Held while the guard lives; unlocked (on its connection) when dropped.
struct Held {
    conn: Option<PoolConnection<Postgres>>,
    key: i32,
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let key = self.key;
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1, $2)")
                        .bind(CLASS)
                        .bind(key)
                        .execute(&mut *conn)
                        .await;
                    if unlocked.is_err() {
                        // Ending the session releases the lock.
                        conn.close_on_drop();
                    }
                });
            }
            Err(_) => conn.close_on_drop(),
        }
    }
}

/// Waits for `org`'s upload lock on a connection of `pool`.
pub(super) async fn lock(pool: &PgPool, org: &str) -> Result<Box<dyn Any + Send>, StoreError> {
    let mut conn = pool.acquire().await?;
    let key = key(org);
    sqlx::query("SELECT pg_advisory_lock($1, $2)")
        .bind(CLASS)
        .bind(key)
        .execute(conn.acquire().await?)
        .await?;
    Ok(Box::new(Held {
        conn: Some(conn),
        key,
    }))
}
