//! The queue as clients see it: uploads, listing, cancelling, the sweeps.

use super::{FINISHED_JOBS, JOB_COLUMNS, job_row};
use crate::domain::JobId;
use crate::domain::job::JobStatus;
use crate::store::record_rows;
use crate::store::sqlite::SqliteStore;
use crate::store::time_conv::to_micros;
use crate::store::{BillerId, Job, JobError, JobQueue, JobRecord, NewJob, StoreError, StoreResult, stored_count};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use time::OffsetDateTime;

#[async_trait]
impl JobQueue for SqliteStore {
    async fn create_job(&self, biller: BillerId, job: &NewJob, now: OffsetDateTime) -> StoreResult<Job> {
        let job = job.clone();
        let now = to_micros(now);
        let confirm_removals = job.confirm_removals.map(stored_count).transpose()?;
        self.writer
            .run(move |c| {
                c.execute(
                    "INSERT INTO jobs (biller_id, id, kind, status, on_error, dry_run, confirm_removals, created_at,
                         force_holds, key_id, source, format)
                     VALUES (?1, ?2, ?3, 'receiving', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        biller,
                        job.id.as_str(),
                        job.kind.as_str(),
                        job.on_error.as_str(),
                        job.dry_run,
                        confirm_removals,
                        now,
                        job.force_holds,
                        job.origin.key_id.as_ref().map(|k| k.as_str()),
                        job.origin.source,
                        job.format.as_str(),
                    ],
                )?;
                let seq = c.last_insert_rowid();
                Ok(c.query_row(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE seq = ?1"), [seq], job_row)?)
            })
            .await
    }

    async fn append_job_records(&self, biller: BillerId, seq: i64, records: Vec<JobRecord>) -> StoreResult<()> {
        self.writer
            .run(move |c| {
                let tx = c.transaction()?;
                {
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO job_record_rows (biller_id, job_seq, last_idx, first_idx, lines, ends, bodies)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?;
                    for r in record_rows::pack(records) {
                        insert.execute(params![biller, seq, r.last_idx, r.first_idx, r.lines, r.ends, r.bodies])?;
                    }
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn queue_job(&self, seq: i64, total: u64) -> StoreResult<()> {
        self.writer
            .run(move |c| {
                let queued = c.execute(
                    "UPDATE jobs SET status = 'queued', total = ?2,
                         queue_order = (SELECT COALESCE(MAX(queue_order), 0) + 1 FROM jobs)
                     WHERE seq = ?1 AND status = 'receiving'",
                    params![seq, total as i64],
                )?;
                if queued == 0 {
                    return Err(StoreError::UploadAbandoned);
                }
                Ok(())
            })
            .await
    }

    async fn discard_job(&self, seq: i64) -> StoreResult<()> {
        self.writer
            .run(move |c| {
                c.execute("DELETE FROM jobs WHERE seq = ?1 AND status = 'receiving'", [seq])?;
                Ok(())
            })
            .await
    }

    async fn purge_abandoned_uploads(&self, started_before: OffsetDateTime) -> StoreResult<u64> {
        let before = to_micros(started_before);
        self.writer
            .run(move |c| {
                Ok(c.execute("DELETE FROM jobs WHERE status = 'receiving' AND created_at < ?1", [before])? as u64)
            })
            .await
    }

    async fn purge_finished_work(&self) -> StoreResult<u64> {
        self.writer
            .run(|c| {
                let tx = c.transaction()?;
                let rows =
                    tx.execute(&format!("DELETE FROM staging WHERE (biller_id, job_seq) IN ({FINISHED_JOBS})"), [])?;
                let records = tx.execute(
                    &format!("DELETE FROM job_record_rows WHERE (biller_id, job_seq) IN ({FINISHED_JOBS})"),
                    [],
                )?;
                tx.commit()?;
                Ok((rows + records) as u64)
            })
            .await
    }

    async fn job(&self, biller: BillerId, id: &JobId) -> StoreResult<Option<Job>> {
        let id = id.as_str().to_owned();
        self.readers
            .run(move |c| {
                Ok(c.prepare_cached(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE biller_id = ?1 AND id = ?2 AND status <> 'receiving'"
                ))?
                .query_row(params![biller, id], job_row)
                .optional()?)
            })
            .await
    }

    async fn jobs(
        &self,
        biller: BillerId,
        status: Option<JobStatus>,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Job>> {
        let status = status.map(|s| s.as_str().to_owned());
        self.readers
            .run(move |c| {
                Ok(c.prepare_cached(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs
                     WHERE biller_id = ?1 AND status <> 'receiving' AND (?2 IS NULL OR status = ?2) AND seq < ?3
                     ORDER BY seq DESC LIMIT ?4"
                ))?
                .query_map(params![biller, status, before.unwrap_or(i64::MAX), limit as i64], job_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn job_errors(
        &self,
        biller: BillerId,
        seq: i64,
        after: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<(u64, JobError)>> {
        let after = after.map_or(-1, |a| a as i64);
        self.readers
            .run(move |c| {
                Ok(c.prepare_cached(
                    "SELECT ord, idx, line, account_number, field, code, message FROM job_errors
                     WHERE biller_id = ?1 AND job_seq = ?2 AND ord > ?3 ORDER BY ord LIMIT ?4",
                )?
                .query_map(params![biller, seq, after, limit as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        JobError {
                            idx: r.get::<_, i64>(1)? as u64,
                            line: r.get::<_, i64>(2)? as u64,
                            account_number: r.get(3)?,
                            field: r.get(4)?,
                            code: r.get(5)?,
                            message: r.get(6)?,
                        },
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn cancel_job(&self, biller: BillerId, id: &JobId, now: OffsetDateTime) -> StoreResult<Option<Job>> {
        let (id, now) = (id.as_str().to_owned(), to_micros(now));
        let cancelled = self
            .writer
            .run(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let seq: Option<i64> = tx
                    .query_row(
                        "SELECT seq FROM jobs WHERE biller_id = ?1 AND id = ?2 AND status <> 'receiving'",
                        params![biller, id],
                        |r| r.get(0),
                    )
                    .optional()?;
                let Some(seq) = seq else { return Ok(None) };
                tx.execute(
                    "UPDATE jobs SET status = 'cancelled', finished_at = ?2, lease_owner = NULL WHERE seq = ?1 AND status = 'queued'",
                    params![seq, now],
                )?;
                let cancelled = tx.changes() > 0;
                tx.execute(
                    "UPDATE jobs SET cancel_requested = 1 WHERE seq = ?1 AND status IN ('validating', 'running')",
                    [seq],
                )?;
                let job = tx.query_row(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE seq = ?1"), [seq], job_row)?;
                tx.commit()?;
                Ok(Some((job, cancelled)))
            })
            .await?;
        let Some((job, cancelled)) = cancelled else { return Ok(None) };
        if cancelled {
            self.drop_work(biller, job.seq).await;
        }
        Ok(Some(job))
    }
}
