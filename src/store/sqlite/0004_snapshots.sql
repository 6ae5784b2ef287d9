-- A biller's contacts as they were just before a replace changed them, kept
-- (the newest N per biller) so the replace can be undone.
CREATE TABLE snapshots (
    seq        INTEGER PRIMARY KEY,
    biller_id  INTEGER NOT NULL REFERENCES billers (id),
    id         TEXT NOT NULL UNIQUE,
    job_id     TEXT,
    contacts   INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX snapshots_biller ON snapshots (biller_id, seq);

-- No foreign key: a snapshot's rows are deleted with it, by their key prefix
-- (a key check per deleted snapshot would scan this table).
CREATE TABLE snapshot_contacts (
    biller_id      INTEGER NOT NULL,
    snapshot_seq   INTEGER NOT NULL,
    account_number TEXT NOT NULL,
    id             TEXT NOT NULL,
    doc            TEXT NOT NULL,
    version        INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (biller_id, snapshot_seq, account_number)
) WITHOUT ROWID;
