-- Current coalition key version, PostgreSQL. Keep in step with ../sqlite/0005_coalition_key_versions.sql.
-- Applied once and checksummed by sqlx: never edit after release, add a new file instead.

-- One row per coalition whose administrator announced its current key version. Signals of the
-- coalition under an older version are erased by the retention task once `grace_until` passed.
CREATE TABLE coalition_key_versions (
    coalition    TEXT    PRIMARY KEY,
    key_version  BIGINT  NOT NULL CHECK (key_version >= 1),
    grace_until  BIGINT  NOT NULL,                 -- Unix seconds
    announced_by TEXT    NOT NULL,
    announced_at BIGINT  NOT NULL
);
