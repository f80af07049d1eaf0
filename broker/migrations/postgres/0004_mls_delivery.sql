-- MLS delivery service, PostgreSQL. Keep in step with ../sqlite/0004_mls_delivery.sql.
-- Applied once and checksummed by sqlx: never edit after release, add a new file instead.

-- Published key packages. `ref` is the KeyPackageRef (RFC 9420 §5.2) the welcome names;
-- `claimed_by` keeps the mapping ref → owner after a claim, so the welcome can be routed.
CREATE TABLE mls_key_packages (
    ref          BYTEA   PRIMARY KEY,
    org          TEXT    NOT NULL,
    data         BYTEA   NOT NULL,
    last_resort  BOOLEAN NOT NULL,
    expires_at   BIGINT  NOT NULL,
    published_at BIGINT  NOT NULL,
    claimed_by   TEXT,
    claimed_at   BIGINT
);
CREATE INDEX mls_key_packages_free ON mls_key_packages (org, last_resort, claimed_by, published_at);

-- One row per group: the broker's copy of the group's public state (openmls PublicGroup,
-- serialised), its epoch, a revision bumped on every state change (compare-and-set: the first
-- commit for an epoch wins, across brokers), and the next message sequence number.
CREATE TABLE mls_groups (
    id         TEXT    PRIMARY KEY,
    coalition  TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('coalition', 'case')),
    allowed    TEXT,
    epoch      BIGINT  NOT NULL CHECK (epoch >= 0),
    revision   BIGINT  NOT NULL CHECK (revision >= 0),
    next_seq   BIGINT  NOT NULL CHECK (next_seq >= 0),
    members    TEXT    NOT NULL,
    state      BYTEA   NOT NULL,
    created_by TEXT    NOT NULL,
    created_at BIGINT  NOT NULL
);

-- The ordered log of each group: handshake (public) and application (encrypted) messages.
CREATE TABLE mls_messages (
    group_id     TEXT    NOT NULL REFERENCES mls_groups (id),
    seq          BIGINT  NOT NULL CHECK (seq >= 0),
    epoch        BIGINT  NOT NULL,
    sender       TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    data         BYTEA   NOT NULL,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (group_id, seq)
);

-- Welcomes, routed to the invited organisation; `id` is the per-recipient cursor, `from_seq`
-- the first message of the group's log the new member can read (the one after the commit).
CREATE TABLE mls_welcomes (
    id         BIGSERIAL PRIMARY KEY,
    org        TEXT    NOT NULL,
    group_id   TEXT    NOT NULL REFERENCES mls_groups (id),
    epoch      BIGINT  NOT NULL,
    from_seq   BIGINT  NOT NULL,
    data       BYTEA   NOT NULL,
    created_at BIGINT  NOT NULL
);
CREATE INDEX mls_welcomes_org ON mls_welcomes (org, id);
