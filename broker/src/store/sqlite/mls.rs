//! The MLS delivery store's statements that are SQLite's own; the rest is shared
//! ([`crate::store::sql::mls`]). SQLite has a single writer and every write transaction holds
//! its lock from `BEGIN IMMEDIATE`, so no statement needs a row lock.

use super::SqliteStore;
use crate::store::sql::MlsDialect;

impl MlsDialect for SqliteStore {
    /// See [`MlsDialect::CLAIM_ORDINARY_KEY_PACKAGE`].
    const CLAIM_ORDINARY_KEY_PACKAGE: &'static str = "UPDATE mls_key_packages SET claimed_by = $2, claimed_at = $3 WHERE ref = \
         (SELECT ref FROM mls_key_packages WHERE org = $1 AND last_resort = 0 \
          AND claimed_by IS NULL AND expires_at > $3 ORDER BY published_at, ref LIMIT 1) \
         RETURNING ref, data";

    /// See [`MlsDialect::CURRENT_KEY_VERSION`].
    const CURRENT_KEY_VERSION: &'static str =
        "SELECT key_version FROM coalition_key_versions WHERE coalition = $1";
}
