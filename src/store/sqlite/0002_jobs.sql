-- Background jobs. seq identifies a job from the start of its upload;
-- queue_order is given when the upload is stored whole (the 202), and jobs of
-- one biller apply in that order.
CREATE TABLE jobs (
    seq              INTEGER PRIMARY KEY,
    biller_id        INTEGER NOT NULL REFERENCES billers (id),
    id               TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    on_error         TEXT NOT NULL,
    dry_run          INTEGER NOT NULL,
    confirm_removals INTEGER,
    total            INTEGER NOT NULL DEFAULT 0,
    processed        INTEGER NOT NULL DEFAULT 0,
    created          INTEGER NOT NULL DEFAULT 0,
    updated          INTEGER NOT NULL DEFAULT 0,
    unchanged        INTEGER NOT NULL DEFAULT 0,
    removed          INTEGER NOT NULL DEFAULT 0,
    failed           INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    attempts         INTEGER NOT NULL DEFAULT 0,
    queue_order      INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_biller ON jobs (biller_id, seq);
CREATE INDEX jobs_open ON jobs (status, queue_order);

-- The uploaded records, as received (one JSON object each).
CREATE TABLE job_records (
    biller_id INTEGER NOT NULL,
    job_seq   INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    idx       INTEGER NOT NULL,
    line      INTEGER NOT NULL,
    body      TEXT NOT NULL,
    PRIMARY KEY (biller_id, job_seq, idx)
) WITHOUT ROWID;

-- Validated, encoded rows staged for the one set-based merge.
CREATE TABLE job_rows (
    biller_id      INTEGER NOT NULL,
    job_seq        INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    account_number TEXT NOT NULL,
    new_id         TEXT NOT NULL,
    name_folded    TEXT NOT NULL,
    contact_type   TEXT,
    active         INTEGER NOT NULL,
    doc            TEXT NOT NULL,
    fingerprint    INTEGER NOT NULL,
    PRIMARY KEY (biller_id, job_seq, account_number)
);

CREATE TABLE job_errors (
    biller_id      INTEGER NOT NULL,
    job_seq        INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    ord            INTEGER NOT NULL,
    idx            INTEGER NOT NULL,
    line           INTEGER NOT NULL,
    account_number TEXT,
    field          TEXT NOT NULL,
    code           TEXT NOT NULL,
    message        TEXT NOT NULL,
    PRIMARY KEY (biller_id, job_seq, ord)
);
