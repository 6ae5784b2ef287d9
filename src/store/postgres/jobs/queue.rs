//! The queue as clients see it: uploads, listing, cancelling, the sweeps.

use super::{FINISHED_JOBS, JOB_COLUMNS, drop_work, to_job};
use crate::domain::JobId;
use crate::domain::job::JobStatus;
use crate::store::postgres::PgStore;
use crate::store::postgres::snapshots::sweep_unlisted_copies;
use crate::store::record_rows;
use crate::store::{BillerId, Job, JobError, JobQueue, JobRecord, NewJob, StoreError, StoreResult, stored_count};
use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

#[async_trait]
impl JobQueue for PgStore {
    async fn create_job(&self, biller: BillerId, job: &NewJob, now: OffsetDateTime) -> StoreResult<Job> {
        let confirm_removals = job.confirm_removals.map(stored_count).transpose()?;
        let c = self.pool.get().await?;
        let row = c
            .query_one(
                &format!(
                    "INSERT INTO jobs (biller_id, id, kind, status, on_error, dry_run, confirm_removals, created_at,
                         force_holds, key_id, source, format)
                     VALUES ($1, $2, $3, 'receiving', $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {JOB_COLUMNS}"
                ),
                &[
                    &biller,
                    &job.id.as_str(),
                    &job.kind.as_str(),
                    &job.on_error.as_str(),
                    &job.dry_run,
                    &confirm_removals,
                    &now,
                    &job.force_holds,
                    &job.origin.key_id.as_ref().map(|k| k.as_str()),
                    &job.origin.source,
                    &job.format.as_str(),
                ],
            )
            .await?;
        to_job(&row)
    }

    async fn append_job_records(&self, biller: BillerId, seq: i64, records: Vec<JobRecord>) -> StoreResult<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // Not yet durable is fine: the 202 waits for `queue_job`, whose
        // synchronous commit flushes everything written before it.
        tx.batch_execute("SET LOCAL synchronous_commit = off").await?;
        // One lock a batch (not a key check a row): a purge or discard waits
        // for this batch, and a batch after it finds the upload gone.
        if tx.query_opt("SELECT 1 FROM jobs WHERE seq = $1 FOR SHARE", &[&seq]).await?.is_none() {
            return Err(StoreError::UploadAbandoned);
        }
        let sink = tx
            .copy_in(
                "COPY job_record_rows (biller_id, job_seq, last_idx, first_idx, lines, ends, bodies) FROM STDIN BINARY",
            )
            .await?;
        let types = [Type::INT8, Type::INT8, Type::INT8, Type::INT8, Type::TEXT, Type::TEXT, Type::TEXT];
        let writer = BinaryCopyInWriter::new(sink, &types);
        futures_util::pin_mut!(writer);
        for r in record_rows::pack(records) {
            writer.as_mut().write(&[&biller, &seq, &r.last_idx, &r.first_idx, &r.lines, &r.ends, &r.bodies]).await?;
        }
        writer.finish().await?;
        tx.commit().await?;
        Ok(())
    }

    async fn queue_job(&self, seq: i64, total: u64) -> StoreResult<()> {
        let c = self.pool.get().await?;
        let queued = c
            .execute(
                "UPDATE jobs SET status = 'queued', total = $2, queue_order = nextval('job_queue_order')
                 WHERE seq = $1 AND status = 'receiving'",
                &[&seq, &(total as i64)],
            )
            .await?;
        if queued == 0 {
            return Err(StoreError::UploadAbandoned);
        }
        Ok(())
    }

    async fn discard_job(&self, seq: i64) -> StoreResult<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // The job first: only the records of a job really deleted go with it.
        let gone = tx
            .query_opt("DELETE FROM jobs WHERE seq = $1 AND status = 'receiving' RETURNING biller_id", &[&seq])
            .await?;
        if let Some(row) = gone {
            let biller: BillerId = row.get(0);
            tx.execute("DELETE FROM job_record_rows WHERE biller_id = $1 AND job_seq = $2", &[&biller, &seq]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn purge_abandoned_uploads(&self, started_before: OffsetDateTime) -> StoreResult<u64> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // The jobs first: an upload queued meanwhile keeps its records.
        let gone = tx
            .query(
                "DELETE FROM jobs WHERE status = 'receiving' AND created_at < $1 RETURNING biller_id, seq",
                &[&started_before],
            )
            .await?;
        for row in &gone {
            let (biller, seq): (BillerId, i64) = (row.get(0), row.get(1));
            tx.execute("DELETE FROM job_record_rows WHERE biller_id = $1 AND job_seq = $2", &[&biller, &seq]).await?;
        }
        tx.commit().await?;
        Ok(gone.len() as u64)
    }

    async fn purge_finished_work(&self) -> StoreResult<u64> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let rows =
            tx.execute(&format!("DELETE FROM job_rows WHERE (biller_id, job_seq) IN ({FINISHED_JOBS})"), &[]).await?;
        let records = tx
            .execute(&format!("DELETE FROM job_record_rows WHERE (biller_id, job_seq) IN ({FINISHED_JOBS})"), &[])
            .await?;
        let copies = sweep_unlisted_copies(&tx).await?;
        tx.commit().await?;
        Ok(rows + records + copies)
    }

    async fn job(&self, biller: BillerId, id: &JobId) -> StoreResult<Option<Job>> {
        let c = self.pool.get().await?;
        let row = c
            .query_opt(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE biller_id = $1 AND id = $2 AND status <> 'receiving'"),
                &[&biller, &id.as_str()],
            )
            .await?;
        row.as_ref().map(to_job).transpose()
    }

    async fn jobs(
        &self,
        biller: BillerId,
        status: Option<JobStatus>,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Job>> {
        let c = self.pool.get().await?;
        let status = status.map(JobStatus::as_str);
        let rows = c
            .query(
                &format!(
                    "SELECT {JOB_COLUMNS} FROM jobs
                     WHERE biller_id = $1 AND status <> 'receiving' AND ($2::text IS NULL OR status = $2) AND seq < $3
                     ORDER BY seq DESC LIMIT $4"
                ),
                &[&biller, &status, &before.unwrap_or(i64::MAX), &(limit as i64)],
            )
            .await?;
        rows.iter().map(to_job).collect()
    }

    async fn job_errors(
        &self,
        biller: BillerId,
        seq: i64,
        after: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<(u64, JobError)>> {
        let c = self.pool.get().await?;
        let after = after.map_or(-1, |a| a as i64);
        let rows = c
            .query(
                "SELECT ord, idx, line, account_number, field, code, message FROM job_errors
                 WHERE biller_id = $1 AND job_seq = $2 AND ord > $3 ORDER BY ord LIMIT $4",
                &[&biller, &seq, &after, &(limit as i64)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get::<_, i64>(0) as u64,
                    JobError {
                        idx: r.get::<_, i64>(1) as u64,
                        line: r.get::<_, i64>(2) as u64,
                        account_number: r.get(3),
                        field: r.get(4),
                        code: r.get(5),
                        message: r.get(6),
                    },
                )
            })
            .collect())
    }

    async fn cancel_job(&self, biller: BillerId, id: &JobId, now: OffsetDateTime) -> StoreResult<Option<Job>> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let Some(row) = tx
            .query_opt(
                "SELECT seq FROM jobs WHERE biller_id = $1 AND id = $2 AND status <> 'receiving' FOR UPDATE",
                &[&biller, &id.as_str()],
            )
            .await?
        else {
            return Ok(None);
        };
        let seq: i64 = row.get(0);
        let cancelled = tx
            .execute(
                "UPDATE jobs SET status = 'cancelled', finished_at = $2, lease_owner = NULL WHERE seq = $1 AND status = 'queued'",
                &[&seq, &now],
            )
            .await?;
        tx.execute(
            "UPDATE jobs SET cancel_requested = TRUE WHERE seq = $1 AND status IN ('validating', 'running')",
            &[&seq],
        )
        .await?;
        let job = to_job(&tx.query_one(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE seq = $1"), &[&seq]).await?)?;
        tx.commit().await?;
        if cancelled > 0 {
            drop_work(&mut c, biller, seq).await;
        }
        Ok(Some(job))
    }
}
