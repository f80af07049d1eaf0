-- Case channels tied to the case register, PostgreSQL. Keep in step with ../sqlite/0016_case_channel_case.sql.
-- Applied once and checksummed by sqlx: never edit after release, add a new file instead.

-- The registered case a case channel belongs to (docs/COALITIONS.md, "Case channels"): every
-- message posted to the channel reads that case's state, so a closed case's channel takes no
-- more. NULL for coalition groups, and for case channels registered before this migration,
-- which named a reference that was not checked against the register: those take no more
-- messages either (a case channel needs a registered case that is not closed).
ALTER TABLE mls_groups ADD COLUMN case_reference TEXT;
CREATE INDEX mls_groups_case_reference ON mls_groups (case_reference);
