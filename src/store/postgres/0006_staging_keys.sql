-- Staging also keeps the first use of every account number in a job, with
-- its position (idx, line), so the duplicate check is a key lookup rather
-- than a map in the worker's memory. An invalid record claims its key with
-- no row (doc NULL). Columns are added nullable so a server of the previous
-- version, still staging during a rolling upgrade, keeps working.
ALTER TABLE job_rows
    ADD COLUMN idx BIGINT,
    ADD COLUMN line BIGINT,
    ALTER COLUMN new_id DROP NOT NULL,
    ALTER COLUMN name_folded DROP NOT NULL,
    ALTER COLUMN active DROP NOT NULL,
    ALTER COLUMN doc DROP NOT NULL,
    ALTER COLUMN fingerprint DROP NOT NULL;
