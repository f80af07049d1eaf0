-- MLS delivery: epochs apart from proposals, and log compaction, SQLite. Keep in step with
-- ../postgres/0013_mls_epochs_and_compaction.sql.
-- Applied once and checksummed by sqlx: never edit after release, add a new file instead.

-- Bumped by commits and re-initialisations only (`revision` moves with every standalone
-- proposal too): a commit or an application message must find the epoch it was made for, not
-- the revision, so a member's proposals cannot send the administrator's commit back with 409.
ALTER TABLE mls_groups ADD COLUMN epoch_revision INTEGER NOT NULL DEFAULT 0 CHECK (epoch_revision >= 0);
-- The first sequence number of the group's current incarnation: 0, or where the administrator
-- re-initialised it. The administrator's join point; the log below the oldest current member's
-- join point is compacted away.
ALTER TABLE mls_groups ADD COLUMN from_seq INTEGER NOT NULL DEFAULT 0 CHECK (from_seq >= 0);
-- A member's join point (the newest welcome to it for the group).
CREATE INDEX mls_welcomes_join ON mls_welcomes (group_id, org, from_seq);
