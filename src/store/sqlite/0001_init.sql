CREATE TABLE billers (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    settings    TEXT NOT NULL,
    -- Grows on every settings change; a write validated against an older one is refused.
    settings_version INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL
);

CREATE TABLE api_keys (
    key_id      TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE key_grants (
    key_id    TEXT NOT NULL REFERENCES api_keys (key_id) ON DELETE CASCADE,
    biller_id INTEGER NOT NULL REFERENCES billers (id),
    PRIMARY KEY (key_id, biller_id)
) WITHOUT ROWID;

CREATE TABLE tokens (
    token_hash BLOB PRIMARY KEY,
    key_id     TEXT NOT NULL REFERENCES api_keys (key_id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tokens_expiry ON tokens (expires_at);

-- Every tenant table leads its keys with the biller.
CREATE TABLE contacts (
    biller_id      INTEGER NOT NULL REFERENCES billers (id),
    id             TEXT NOT NULL,
    account_number TEXT NOT NULL,
    -- Lower-cased for search the same way on both backends; the name itself is in doc.
    name_folded    TEXT NOT NULL,
    contact_type   TEXT,
    active         INTEGER NOT NULL,
    doc            TEXT NOT NULL,
    fingerprint    INTEGER NOT NULL,
    version        INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE UNIQUE INDEX contacts_id ON contacts (biller_id, id);
CREATE UNIQUE INDEX contacts_account ON contacts (biller_id, account_number);
