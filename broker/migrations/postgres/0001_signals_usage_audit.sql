-- Kruispunt broker schema, PostgreSQL. Keep in step with ../sqlite/0001_signals_usage_audit.sql.
-- Applied once and checksummed by sqlx: never edit after release, add a new file instead.

-- Signals uploaded by partners. `stored` is the at-rest pseudonym HMAC(broker_key, pseudonym):
-- the clear identifier and the partner pseudonym never reach the database.
CREATE TABLE signals (
    id          BYTEA   NOT NULL PRIMARY KEY CHECK (octet_length(id) = 16),
    org         TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    key_version BIGINT  NOT NULL CHECK (key_version BETWEEN 0 AND 4294967295),
    stored      BYTEA   NOT NULL CHECK (octet_length(stored) = 32),
    code        TEXT    NOT NULL,
    observed    DATE    NOT NULL,
    district    TEXT    NOT NULL,
    purposes    TEXT[]  NOT NULL,
    expires_at  BIGINT  NOT NULL,                 -- Unix seconds; live while now < expires_at
    uploaded_at BIGINT  NOT NULL                  -- Unix seconds
);
-- Matching looks signals up by at-rest pseudonym; it never crosses identifier kinds or key
-- versions, but those are checked on the (few) rows found: `stored` is a keyed hash, uniformly
-- spread, so leading with it is as selective as (kind, key_version, stored) while the index is
-- narrower (less to write per upload, less memory at 10 M signals).
CREATE INDEX signals_lookup ON signals (stored);
-- Retention purge.
CREATE INDEX signals_expiry ON signals (expires_at);

-- Per (organisation, purpose, day) counters for the enumeration guard.
CREATE TABLE usage_counters (
    org         TEXT   NOT NULL,
    purpose     TEXT   NOT NULL,
    day         TEXT   NOT NULL,                  -- YYYY-MM-DD
    identifiers BIGINT NOT NULL DEFAULT 0,
    queries     BIGINT NOT NULL DEFAULT 0,
    no_hits     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (org, purpose, day)
);

-- The audit sequence counter: one row, incremented inside every writing transaction. Its row
-- lock serialises appenders across brokers and a rolled-back transaction takes its increment
-- with it, so sequence numbers are gapless and in commit order (a SERIAL would leave gaps).
CREATE TABLE audit_head (
    id   SMALLINT PRIMARY KEY CHECK (id = 0),
    size BIGINT   NOT NULL CHECK (size >= 0)
);
INSERT INTO audit_head (id, size) VALUES (0, 0);

-- The audit entries. `entry` holds the canonical JSON bytes (AuditEntry::canonical_json) that
-- the Merkle log hashes; the other columns copy fields out of it for review queries.
-- The audit-log issue adds its leaf/tree columns or tables in later migrations.
CREATE TABLE audit_log (
    seq            BIGINT PRIMARY KEY CHECK (seq >= 0),
    time_ms        BIGINT NOT NULL,
    operation      TEXT   NOT NULL,
    action         TEXT   NOT NULL,
    actor_org      TEXT,
    purpose        TEXT,
    case_reference TEXT,
    entry          BYTEA  NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (time_ms);
CREATE INDEX audit_log_actor ON audit_log (actor_org, time_ms);
CREATE INDEX audit_log_purpose ON audit_log (purpose, time_ms);
CREATE INDEX audit_log_case ON audit_log (case_reference, time_ms);
CREATE INDEX audit_log_operation ON audit_log (operation, time_ms);
