//! The schema migrations, embedded in the binary with `include_str!` — one folder per backend
//! under `broker/migrations/`, named `<version>_<description>.sql` as sqlx expects.
//!
//! Why not `sqlx::migrate!`: it needs sqlx's `macros` feature (~30 s more build) and, without a
//! build script, does not notice a new file in the folder. `include_str!` is tracked by cargo.
//! Adding a migration therefore means adding the file **and** a line to the list below.
//! Applied migrations are recorded in `_sqlx_migrations` with a checksum, so an edited file that
//! has already run is refused at start-up instead of silently diverging.

use futures_util::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use std::borrow::Cow;

/// (version, description, SQL)
pub(super) type Script = (i64, &'static str, &'static str);

pub(super) const SQLITE: &[Script] = &[
    (
        1,
        "signals usage audit",
        include_str!("../../migrations/sqlite/0001_signals_usage_audit.sql"),
    ),
    (
        3,
        "audit tree",
        include_str!("../../migrations/sqlite/0003_audit_tree.sql"),
    ),
    (
        4,
        "mls delivery",
        include_str!("../../migrations/sqlite/0004_mls_delivery.sql"),
    ),
    (
        5,
        "coalition key versions",
        include_str!("../../migrations/sqlite/0005_coalition_key_versions.sql"),
    ),
    (
        7,
        "audit tree border",
        include_str!("../../migrations/sqlite/0007_audit_tree_border.sql"),
    ),
    (
        8,
        "time ordered signal ids",
        include_str!("../../migrations/sqlite/0008_time_ordered_signal_ids.sql"),
    ),
    (
        9,
        "audit log indexes",
        include_str!("../../migrations/sqlite/0009_audit_log_indexes.sql"),
    ),
    (
        10,
        "signal gemeente",
        include_str!("../../migrations/sqlite/0010_signal_gemeente.sql"),
    ),
    (
        11,
        "privacy budget",
        include_str!("../../migrations/sqlite/0011_privacy_budget.sql"),
    ),
    (
        12,
        "mls replay and limits",
        include_str!("../../migrations/sqlite/0012_mls_replay_and_limits.sql"),
    ),
    (
        13,
        "mls epochs and compaction",
        include_str!("../../migrations/sqlite/0013_mls_epochs_and_compaction.sql"),
    ),
    (
        14,
        "cases and consents",
        include_str!("../../migrations/sqlite/0014_cases_and_consents.sql"),
    ),
    (
        15,
        "signal feed",
        include_str!("../../migrations/sqlite/0015_signal_feed.sql"),
    ),
    (
        16,
        "case channel case",
        include_str!("../../migrations/sqlite/0016_case_channel_case.sql"),
    ),
    (
        17,
        "case closure seq",
        include_str!("../../migrations/sqlite/0017_case_closure_seq.sql"),
    ),
    (
        18,
        "case measures and feedback",
        include_str!("../../migrations/sqlite/0018_case_measures_and_feedback.sql"),
    ),
];

pub(super) const POSTGRES: &[Script] = &[
    (
        1,
        "signals usage audit",
        include_str!("../../migrations/postgres/0001_signals_usage_audit.sql"),
    ),
    (
        3,
        "audit tree",
        include_str!("../../migrations/postgres/0003_audit_tree.sql"),
    ),
    (
        4,
        "mls delivery",
        include_str!("../../migrations/postgres/0004_mls_delivery.sql"),
    ),
    (
        5,
        "coalition key versions",
        include_str!("../../migrations/postgres/0005_coalition_key_versions.sql"),
    ),
    (
        7,
        "audit tree border",
        include_str!("../../migrations/postgres/0007_audit_tree_border.sql"),
    ),
    (
        8,
        "time ordered signal ids",
        include_str!("../../migrations/postgres/0008_time_ordered_signal_ids.sql"),
    ),
    (
        9,
        "audit log indexes",
        include_str!("../../migrations/postgres/0009_audit_log_indexes.sql"),
    ),
    (
        10,
        "signal gemeente",
        include_str!("../../migrations/postgres/0010_signal_gemeente.sql"),
    ),
    (
        11,
        "privacy budget",
        include_str!("../../migrations/postgres/0011_privacy_budget.sql"),
    ),
    (
        12,
        "mls replay and limits",
        include_str!("../../migrations/postgres/0012_mls_replay_and_limits.sql"),
    ),
    (
        13,
        "mls epochs and compaction",
        include_str!("../../migrations/postgres/0013_mls_epochs_and_compaction.sql"),
    ),
    (
        14,
        "cases and consents",
        include_str!("../../migrations/postgres/0014_cases_and_consents.sql"),
    ),
    (
        15,
        "signal feed",
        include_str!("../../migrations/postgres/0015_signal_feed.sql"),
    ),
    (
        16,
        "case channel case",
        include_str!("../../migrations/postgres/0016_case_channel_case.sql"),
    ),
    (
        17,
        "case closure seq",
        include_str!("../../migrations/postgres/0017_case_closure_seq.sql"),
    ),
    (
        18,
        "case measures and feedback",
        include_str!("../../migrations/postgres/0018_case_measures_and_feedback.sql"),
    ),
];

/// A migration source over an embedded list.
#[derive(Debug)]
struct Embedded(&'static [Script]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// The migrator for one backend's list.
pub(super) async fn migrator(
    scripts: &'static [Script],
) -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded(scripts)).await
}
