-- Staging also keeps the first use of every account number in a job, with
-- its position (idx, line), so the duplicate check is a key lookup rather
-- than a map in the worker's memory. An invalid record claims its key with
-- no row (doc NULL). Staging is redone by any re-run of a job, so the table
-- is rebuilt empty.
DROP TABLE job_rows;
CREATE TABLE job_rows (
    biller_id      INTEGER NOT NULL,
    job_seq        INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    account_number TEXT NOT NULL,
    idx            INTEGER NOT NULL,
    line           INTEGER NOT NULL,
    new_id         TEXT,
    name_folded    TEXT,
    contact_type   TEXT,
    active         INTEGER,
    doc            TEXT,
    fingerprint    INTEGER,
    PRIMARY KEY (biller_id, job_seq, account_number)
);
