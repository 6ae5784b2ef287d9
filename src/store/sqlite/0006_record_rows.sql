-- An upload's records, up to a thousand consecutive ones to a row (see
-- store/record_rows.rs): a million records are a thousand rows to write and
-- to delete, not a million. Records of jobs still open move over, one to a row.
CREATE TABLE job_record_rows (
    biller_id INTEGER NOT NULL,
    job_seq   INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    last_idx  INTEGER NOT NULL,
    first_idx INTEGER NOT NULL,
    lines     TEXT NOT NULL,
    ends      TEXT NOT NULL,
    bodies    TEXT NOT NULL,
    PRIMARY KEY (biller_id, job_seq, last_idx)
);
INSERT INTO job_record_rows (biller_id, job_seq, last_idx, first_idx, lines, ends, bodies)
SELECT r.biller_id, r.job_seq, r.idx, r.idx, r.line, length(CAST(r.body AS BLOB)), r.body
FROM job_records r JOIN jobs j ON j.seq = r.job_seq
WHERE j.status IN ('receiving', 'queued', 'validating', 'running');
DROP TABLE job_records;
