-- Staging is redone by any re-run of a job, so it need not be durable: an
-- unlogged table writes no WAL (half the cost of staging at a million rows).
-- After a PostgreSQL crash it comes back empty; the merge checks that every
-- valid record is staged, so a job caught by a crash fails, never half-applies.
ALTER TABLE job_rows SET UNLOGGED;

-- The per-row key check on jobs locks the job's row once per stored record
-- (it doubled the time to store an upload); the store deletes a job's records
-- itself wherever it deletes the job, and sweeps any left without one.
ALTER TABLE job_records DROP CONSTRAINT IF EXISTS job_records_job_seq_fkey;
