-- Background jobs. seq identifies a job from the start of its upload;
-- queue_order is given when the upload is stored whole (the 202), and jobs of
-- one biller apply in that order.
CREATE TABLE jobs (
    seq              BIGSERIAL PRIMARY KEY,
    biller_id        BIGINT NOT NULL REFERENCES billers (id),
    id               TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    on_error         TEXT NOT NULL,
    dry_run          BOOLEAN NOT NULL,
    confirm_removals BIGINT,
    total            BIGINT NOT NULL DEFAULT 0,
    processed        BIGINT NOT NULL DEFAULT 0,
    created          BIGINT NOT NULL DEFAULT 0,
    updated          BIGINT NOT NULL DEFAULT 0,
    unchanged        BIGINT NOT NULL DEFAULT 0,
    removed          BIGINT NOT NULL DEFAULT 0,
    failed           BIGINT NOT NULL DEFAULT 0,
    error            TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    lease_owner      TEXT,
    lease_expires_at TIMESTAMPTZ,
    attempts         BIGINT NOT NULL DEFAULT 0,
    queue_order      BIGINT,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX jobs_biller ON jobs (biller_id, seq);
CREATE INDEX jobs_open ON jobs (status, queue_order);

-- The uploaded records, as received (one JSON object each).
CREATE TABLE job_records (
    biller_id BIGINT NOT NULL,
    job_seq   BIGINT NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    idx       BIGINT NOT NULL,
    line      BIGINT NOT NULL,
    body      TEXT NOT NULL,
    PRIMARY KEY (biller_id, job_seq, idx)
);

-- Validated, encoded rows staged for the one set-based merge.
CREATE TABLE job_rows (
    biller_id      BIGINT NOT NULL,
    job_seq        BIGINT NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    account_number TEXT COLLATE "C" NOT NULL,
    new_id         TEXT NOT NULL,
    name_folded    TEXT NOT NULL,
    contact_type   TEXT,
    active         BOOLEAN NOT NULL,
    doc            TEXT NOT NULL,
    fingerprint    BIGINT NOT NULL,
    PRIMARY KEY (biller_id, job_seq, account_number)
);

CREATE TABLE job_errors (
    biller_id      BIGINT NOT NULL,
    job_seq        BIGINT NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    ord            BIGINT NOT NULL,
    idx            BIGINT NOT NULL,
    line           BIGINT NOT NULL,
    account_number TEXT,
    field          TEXT NOT NULL,
    code           TEXT NOT NULL,
    message        TEXT NOT NULL,
    PRIMARY KEY (biller_id, job_seq, ord)
);

CREATE SEQUENCE job_queue_order;
