-- MLS delivery hardening, SQLite. Keep in step with ../postgres/0012_mls_replay_and_limits.sql.
-- Applied once and checksummed by sqlx: never edit after release, add a new file instead.

-- SHA-256 of each message as posted: the same ciphertext twice in a group is a replay and is
-- refused (a member would fail to decrypt it, and before the SDK skipped such messages it
-- stopped there for good). Rows logged before this migration have none.
ALTER TABLE mls_messages ADD COLUMN digest BLOB;
CREATE UNIQUE INDEX mls_messages_digest ON mls_messages (group_id, digest) WHERE digest IS NOT NULL;

-- Every key package handed out, to whom and when: the claim quota per claimer and organisation
-- counts these, and a last-resort package claimed again by the same claimer (who holds it
-- already) is handed out without a new audit entry. Rows go with their package (key package
-- purge).
CREATE TABLE mls_key_package_claims (
    ref        BLOB    NOT NULL,
    claimer    TEXT    NOT NULL,
    org        TEXT    NOT NULL,
    claimed_at INTEGER NOT NULL,
    PRIMARY KEY (ref, claimer)
);
CREATE INDEX mls_key_package_claims_quota ON mls_key_package_claims (org, claimer, claimed_at);
