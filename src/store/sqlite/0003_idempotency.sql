-- Idempotency keys, per biller: the request they were first used with and
-- the response it got (NULL while that request is still being served).
CREATE TABLE idempotency_keys (
    biller_id       INTEGER NOT NULL REFERENCES billers (id),
    key             TEXT NOT NULL,
    request_hash    BLOB NOT NULL,
    response_status INTEGER,
    response_body   TEXT,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (biller_id, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
