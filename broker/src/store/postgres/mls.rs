//! The MLS delivery store's statements that are PostgreSQL's own; the rest is shared
//! ([`crate::store::sql::mls`]). Row locks (the conditional `UPDATE` of the group row, `SKIP
//! LOCKED` on key packages, `FOR UPDATE` on the key version) make it safe for several brokers
//! on one database.

/// See [`Dialect::CLAIM_ORDINARY_KEY_PACKAGE`](crate::store::sql::Dialect): a package another
/// broker is claiming is skipped, not waited for, and re-checked unclaimed under the lock.
pub(super) const CLAIM_ORDINARY_KEY_PACKAGE: &str = "UPDATE mls_key_packages SET claimed_by = $2, claimed_at = $3 WHERE ref = \
     (SELECT ref FROM mls_key_packages WHERE org = $1 AND NOT last_resort \
      AND claimed_by IS NULL AND expires_at > $3 ORDER BY published_at, ref LIMIT 1 \
      FOR UPDATE SKIP LOCKED) AND claimed_by IS NULL \
     RETURNING ref, data";

/// See [`Dialect::CURRENT_KEY_VERSION`](crate::store::sql::Dialect): the row stays locked until
/// the announcement commits.
pub(super) const CURRENT_KEY_VERSION: &str =
    "SELECT key_version FROM coalition_key_versions WHERE coalition = $1 FOR UPDATE";
