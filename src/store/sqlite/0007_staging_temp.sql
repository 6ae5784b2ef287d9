-- Staging moves to a temporary table, `staging`, on the writer's connection (see
-- STAGING in jobs.rs): it is redone by any re-run of a job, so it need not be
-- durable, and a million staged rows no longer pass through the WAL, the
-- checkpoints and the main file.
DROP TABLE main.job_rows;
