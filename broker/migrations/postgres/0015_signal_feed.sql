-- The signal feed: every change to the live signals (upload, withdrawal, purge, key-version
-- erasure), written in the transaction that makes it, so that every broker on the database
-- can make its in-memory match index follow the database (docs/OPERATIONS.md, "Several
-- brokers"; the format in docs/ARCHITECTURE.md, "The signal feed").
--
-- A change is keyed by the sequence number of the audit entry committed in the same
-- transaction: appending that entry holds the audit counter's row lock until commit, so these
-- numbers are commit-ordered. The change's records go into signal_feed_part *before* the audit
-- entry is appended (a large upload must not hold the counter's lock while they are written),
-- linked by a random 16-byte batch token; the one signal_feed row comes after the append.
CREATE TABLE signal_feed (
    seq BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    batch BYTEA NOT NULL
);

-- op 1: inserted, changes = 16-byte signal ids; op 2: removed, changes = per signal its id
-- (16), at-rest pseudonym (32), key version (4, big-endian), kind length (1) and kind (ASCII).
CREATE TABLE signal_feed_part (
    batch BYTEA NOT NULL,
    part BIGINT NOT NULL,
    op BIGINT NOT NULL CHECK (op IN (1, 2)),
    changes BYTEA NOT NULL,
    PRIMARY KEY (batch, part)
);

-- Feed rows below this sequence number were pruned: a follower whose cursor is below it has
-- missed changes and must rebuild its index (restart).
CREATE TABLE signal_feed_pruned (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    below BIGINT NOT NULL
);
INSERT INTO signal_feed_pruned (id, below) VALUES (0, 0);

CREATE INDEX signal_feed_at ON signal_feed (at_ms);
