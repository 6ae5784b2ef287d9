//! A worker's claim on a job: taking it, its heartbeat, its records, its end.

use super::{JOB_COLUMNS, counts_params, drop_work, end_job, fenced, to_job};
use crate::domain::job::{JobCounts, JobStatus};
use crate::store::postgres::PgStore;
use crate::store::record_rows;
use crate::store::{BillerId, Fence, Heartbeat, Job, JobLease, JobRecord, StoreResult, stored_count};
use async_trait::async_trait;
use std::time::Duration;
use time::OffsetDateTime;

#[async_trait]
impl JobLease for PgStore {
    async fn claim_job(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease: Duration,
        max_records: Option<u64>,
    ) -> StoreResult<Option<Job>> {
        let max_records = max_records.map(stored_count).transpose()?;
        let c = self.pool.get().await?;
        let until = now + lease;
        // SKIP LOCKED: servers claiming at once each get a different job.
        let row = c
            .query_opt(
                &format!(
                    "UPDATE jobs SET status = CASE status WHEN 'queued' THEN 'validating' ELSE status END,
                         lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1,
                         started_at = COALESCE(started_at, $3)
                     WHERE seq = (
                         SELECT j.seq FROM jobs j
                         WHERE j.status IN ('queued', 'validating', 'running')
                           AND (j.status = 'queued' OR j.lease_expires_at < $3)
                           AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.biller_id = j.biller_id
                                           AND o.queue_order < j.queue_order
                                           AND o.status IN ('queued', 'validating', 'running'))
                           AND ($4::BIGINT IS NULL OR j.total <= $4)
                         ORDER BY j.queue_order LIMIT 1
                         FOR UPDATE SKIP LOCKED)
                     RETURNING {JOB_COLUMNS}"
                ),
                &[&owner, &until, &now, &max_records],
            )
            .await?;
        row.as_ref().map(to_job).transpose()
    }

    async fn job_heartbeat(
        &self,
        fence: &Fence,
        status: JobStatus,
        counts: JobCounts,
        now: OffsetDateTime,
        lease: Duration,
    ) -> StoreResult<Heartbeat> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let state = fenced(&tx, fence).await?;
        if state != Heartbeat::Lost {
            let [total, processed, .., failed] = counts_params(&counts);
            tx.execute(
                "UPDATE jobs SET status = $2, total = $3, processed = $4, failed = $5, lease_expires_at = $6 WHERE seq = $1",
                &[&fence.seq, &status.as_str(), &total, &processed, &failed, &(now + lease)],
            )
            .await?;
            tx.commit().await?;
        }
        Ok(state)
    }

    async fn job_records(
        &self,
        biller: BillerId,
        seq: i64,
        after: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<JobRecord>> {
        let c = self.pool.get().await?;
        let after = after.map_or(-1, |a| a as i64);
        // The server stops where the chunk will: after the row that takes
        // the text past READ_BYTES (`octet_length` reads a compressed
        // value's size without decompressing it).
        let rows = c
            .query(
                "SELECT first_idx, lines, ends, bodies FROM (
                     SELECT last_idx, first_idx, lines, ends, bodies, SUM(octet_length(bodies))
                         OVER (ORDER BY last_idx ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
                     FROM job_record_rows
                     WHERE biller_id = $1 AND job_seq = $2 AND last_idx > $3 AND last_idx < $3 + $4 + $5
                       AND first_idx <= $3 + $4
                 ) r
                 WHERE COALESCE(before, 0) < $6
                 ORDER BY last_idx",
                &[
                    &biller,
                    &seq,
                    &after,
                    &(limit as i64),
                    &(record_rows::PER_ROW as i64),
                    &(record_rows::READ_BYTES as i64),
                ],
            )
            .await?;
        let mut chunk = record_rows::Chunk::new(after, limit);
        for r in rows {
            if !chunk.add((r.get(0), r.get(1), r.get(2), r.get(3)))? {
                break;
            }
        }
        Ok(chunk.records)
    }

    async fn reset_job_work(&self, fence: &Fence, biller: BillerId) -> StoreResult<Heartbeat> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let state = fenced(&tx, fence).await?;
        if state == Heartbeat::Continue {
            tx.execute("DELETE FROM job_rows WHERE biller_id = $1 AND job_seq = $2", &[&biller, &fence.seq]).await?;
            tx.execute("DELETE FROM job_errors WHERE biller_id = $1 AND job_seq = $2", &[&biller, &fence.seq]).await?;
            tx.commit().await?;
        }
        Ok(state)
    }

    async fn finish_job(
        &self,
        fence: &Fence,
        status: JobStatus,
        error: Option<String>,
        counts: JobCounts,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        if fenced(&tx, fence).await? == Heartbeat::Lost {
            return Ok(false);
        }
        let biller: BillerId = tx.query_one("SELECT biller_id FROM jobs WHERE seq = $1", &[&fence.seq]).await?.get(0);
        end_job(&tx, fence.seq, status, error.as_deref(), &counts, now).await?;
        tx.commit().await?;
        drop_work(&mut c, biller, fence.seq).await;
        Ok(true)
    }
}
