-- Cases (casussen) and the public prosecutor's consents (docs/CASES.md). A police match under
-- a case reference is decided against these rows, read for every such request on whichever
-- broker receives it: closing a case or withdrawing a consent refuses the next query at once.
-- Themes, legal frame and a consent's kinds are JSON arrays of strings (read whole, never
-- searched); the participants are rows, because "the cases an organisation takes part in" is
-- a look-up by organisation.
CREATE TABLE cases (
    reference TEXT PRIMARY KEY,
    gemeente TEXT NOT NULL,
    themes TEXT NOT NULL,
    legal_frame TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'intervention', 'closed')),
    intervention TEXT,
    result TEXT,
    opened_by_org TEXT NOT NULL,
    opened_by_user TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    updated_by_org TEXT NOT NULL,
    updated_by_user TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE case_participants (
    reference TEXT NOT NULL REFERENCES cases (reference),
    org TEXT NOT NULL,
    PRIMARY KEY (reference, org)
);

CREATE INDEX case_participants_by_org ON case_participants (org, reference);

CREATE TABLE consents (
    id TEXT PRIMARY KEY,
    case_reference TEXT NOT NULL REFERENCES cases (reference),
    purpose TEXT NOT NULL,
    kinds TEXT NOT NULL,
    max_identifiers BIGINT NOT NULL,
    ceiling TEXT NOT NULL,
    valid_until BIGINT NOT NULL,
    issuer_org TEXT NOT NULL,
    issuer_user TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    withdrawn_at BIGINT,
    withdrawn_by_user TEXT
);

CREATE INDEX consents_by_case ON consents (case_reference);
