//! The MLS delivery store's statements that are PostgreSQL's own; the rest is shared
//! ([`crate::store::sql::mls`]). Row locks (the conditional `UPDATE` of the group row, `SKIP
//! LOCKED` on key packages, `FOR UPDATE` on the key version) make it safe for several brokers
//! on one database.

use super::PostgresStore;
use crate::store::sql::MlsDialect;

impl MlsDialect for PostgresStore {
    /// See [`MlsDialect::CLAIM_ORDINARY_KEY_PACKAGE`]: a package another
    /// broker is claiming is skipped, not waited for, and re-checked unclaimed under the lock.
    const CLAIM_ORDINARY_KEY_PACKAGE: &'static str = "UPDATE mls_key_packages SET claimed_by = $2, claimed_at = $3 WHERE ref = \
         (SELECT ref FROM mls_key_packages WHERE org = $1 AND NOT last_resort \
          AND claimed_by IS NULL AND expires_at > $3 ORDER BY published_at, ref LIMIT 1 \
          FOR UPDATE SKIP LOCKED) AND claimed_by IS NULL \
         RETURNING ref, data";

    /// See [`MlsDialect::CURRENT_KEY_VERSION`]: the row stays locked until
    /// the announcement commits.
    const CURRENT_KEY_VERSION: &'static str =
        "SELECT key_version FROM coalition_key_versions WHERE coalition = $1 FOR UPDATE";
}
