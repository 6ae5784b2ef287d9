-- An upload's records, up to a thousand consecutive ones to a row (see
-- store/record_rows.rs): a million records are a thousand rows to write, log
-- and delete, not a million, and their text is compressed (lz4 where the
-- server has it: several times faster than the default). Records of jobs
-- still open move over, one to a row. Stop servers of the previous version
-- before starting one of this: they use the table this drops, and a job one
-- of them works on after the move fails (nothing of it applied).
CREATE TABLE job_record_rows (
    biller_id BIGINT NOT NULL,
    job_seq   BIGINT NOT NULL,
    last_idx  BIGINT NOT NULL,
    first_idx BIGINT NOT NULL,
    lines     TEXT NOT NULL,
    ends      TEXT NOT NULL,
    bodies    TEXT NOT NULL,
    PRIMARY KEY (biller_id, job_seq, last_idx)
);
DO $$
BEGIN
    EXECUTE 'ALTER TABLE job_record_rows ALTER COLUMN bodies SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    NULL;
END $$;
-- An upload still being stored by a server of the previous version finishes
-- its batch before the move (and fails its next one), never losing a batch.
LOCK TABLE job_records IN ACCESS EXCLUSIVE MODE;
-- Ends are byte offsets in the UTF-8 text the client reads, whatever the database's encoding.
INSERT INTO job_record_rows (biller_id, job_seq, last_idx, first_idx, lines, ends, bodies)
SELECT r.biller_id, r.job_seq, r.idx, r.idx, r.line::text, octet_length(convert_to(r.body, 'UTF8'))::text, r.body
FROM job_records r JOIN jobs j ON j.seq = r.job_seq
WHERE j.status IN ('receiving', 'queued', 'validating', 'running');
DROP TABLE job_records;
