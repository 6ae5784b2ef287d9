CREATE TABLE billers (
    id          BIGSERIAL PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    settings    TEXT NOT NULL,
    -- Grows on every settings change; a write validated against an older one is refused.
    settings_version BIGINT NOT NULL DEFAULT 1,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    key_id      TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);

CREATE TABLE key_grants (
    key_id    TEXT NOT NULL REFERENCES api_keys (key_id) ON DELETE CASCADE,
    biller_id BIGINT NOT NULL REFERENCES billers (id),
    PRIMARY KEY (key_id, biller_id)
);

CREATE TABLE tokens (
    token_hash BYTEA PRIMARY KEY,
    key_id     TEXT NOT NULL REFERENCES api_keys (key_id) ON DELETE CASCADE,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX tokens_expiry ON tokens (expires_at);

-- Every tenant table leads its keys with the biller.
CREATE TABLE contacts (
    biller_id      BIGINT NOT NULL REFERENCES billers (id),
    id             TEXT NOT NULL,
    account_number TEXT COLLATE "C" NOT NULL,
    -- Lower-cased for search the same way on both backends; the name itself is in doc.
    name_folded    TEXT NOT NULL,
    contact_type   TEXT,
    active         BOOLEAN NOT NULL,
    doc            TEXT NOT NULL,
    fingerprint    BIGINT NOT NULL,
    version        BIGINT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
ALTER TABLE contacts ADD PRIMARY KEY (biller_id, id);
CREATE UNIQUE INDEX contacts_account ON contacts (biller_id, account_number);
