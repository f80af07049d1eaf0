//! Errors of the storage layer, typed so the HTTP layer can answer correctly without looking at
//! database messages: [`StoreError::is_unavailable`] ⇒ 503 (and nothing was disclosed, because
//! the effect and its audit entry share the failed transaction).

use std::borrow::Cow;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or did not answer in time (pool timeout, I/O, TLS,
    /// lock wait exceeded, serialisation failure). Retrying later may work. HTTP: 503.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A statement failed inside the database (constraint, disk full, schema mismatch). The
    /// transaction was rolled back, so no effect and no audit entry were stored. HTTP: 503.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A uniqueness rule was violated where the caller could have expected it.
    #[error("conflict: {0}")]
    Conflict(Cow<'static, str>),
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(Cow<'static, str>),
    /// The input broke an invariant the store relies on (e.g. a signal id that does not match
    /// its content); nothing was written. HTTP: 400 when it comes from a client.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// Something read back is not what was written (an audit entry that does not parse, a
    /// column of the wrong length): the database was edited behind the broker's back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A statement stepped directly on the SQLite handle failed (the bulk insert, see
    /// `kruispunt_sqlite_direct`); the transaction it ran in was rolled back. HTTP: 503.
    #[error("database error: {0}")]
    Direct(#[from] kruispunt_sqlite_direct::DirectError),
    /// Applying the schema migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database URL cannot be used.
    #[error("bad database URL: {0}")]
    Config(String),
    /// The group-commit batch this write was part of failed as a whole (see
    /// [`super::group_commit`]): nothing of the batch was committed. HTTP: 503.
    #[error("the group commit failed: {0}")]
    Batch(std::sync::Arc<StoreError>),
    /// The store's writer task is gone (the runtime is shutting down). HTTP: 503.
    #[error("the store's writer task has stopped")]
    WriterGone,
    /// The system random generator failed (no salt for an audit leaf: nothing was written).
    #[error("the system random generator failed")]
    Random,
}

impl StoreError {
    /// Whether the HTTP layer should answer 503 Service Unavailable.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_)
                | StoreError::Database(_)
                | StoreError::Direct(_)
                | StoreError::Migrate(_)
                | StoreError::Batch(_)
                | StoreError::WriterGone
                | StoreError::Random
        )
    }
}

/// SQLSTATEs (PostgreSQL) and extended result codes (SQLite) that mean "try again".
const TRANSIENT_CODES: &[&str] = &[
    "40001", // serialization_failure
    "40P01", // deadlock_detected
    "55P03", // lock_not_available
    "57P01", // admin_shutdown
    "57P03", // cannot_connect_now
    "53300", // too_many_connections
    "5",     // SQLITE_BUSY
    "6",     // SQLITE_LOCKED
    "261",   // SQLITE_BUSY_RECOVERY
    "517",   // SQLITE_BUSY_SNAPSHOT
];

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) => {
                if db.is_unique_violation() {
                    StoreError::Conflict(Cow::Owned(db.message().to_owned()))
                } else if db
                    .code()
                    .is_some_and(|code| TRANSIENT_CODES.contains(&code.as_ref()))
                {
                    StoreError::Unavailable(err)
                } else {
                    StoreError::Database(err)
                }
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err),
            sqlx::Error::Configuration(_) => StoreError::Config(err.to_string()),
            _ => StoreError::Database(err),
        }
    }
}

impl From<kruispunt_sqlite_direct::rusqlite::Error> for StoreError {
    fn from(err: kruispunt_sqlite_direct::rusqlite::Error) -> Self {
        StoreError::Direct(kruispunt_sqlite_direct::DirectError::Sqlite(err))
    }
}
