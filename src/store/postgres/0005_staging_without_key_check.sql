-- Staged rows live only while their job is claimed, and every write of them
-- first locks the job's row (the fence), so the per-row key check on jobs
-- only cost time (about half of staging at a million rows).
ALTER TABLE job_rows DROP CONSTRAINT IF EXISTS job_rows_job_seq_fkey;
