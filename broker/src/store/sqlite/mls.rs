//! The MLS delivery store's statements that are SQLite's own; the rest is shared
//! ([`crate::store::sql::mls`]). SQLite has a single writer and every write transaction holds
//! its lock from `BEGIN IMMEDIATE`, so no statement needs a row lock.

/// See [`Dialect::CLAIM_ORDINARY_KEY_PACKAGE`](crate::store::sql::Dialect).
pub(super) const CLAIM_ORDINARY_KEY_PACKAGE: &str = "UPDATE mls_key_packages SET claimed_by = $2, claimed_at = $3 WHERE ref = \
     (SELECT ref FROM mls_key_packages WHERE org = $1 AND last_resort = 0 \
      AND claimed_by IS NULL AND expires_at > $3 ORDER BY published_at, ref LIMIT 1) \
     RETURNING ref, data";

/// See [`Dialect::CURRENT_KEY_VERSION`](crate::store::sql::Dialect).
pub(super) const CURRENT_KEY_VERSION: &str =
    "SELECT key_version FROM coalition_key_versions WHERE coalition = $1";
