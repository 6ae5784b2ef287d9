//! A worker's claim on a job: taking it, its heartbeat, its records, its end.

use super::{JOB_COLUMNS, counts_params, end_job, fenced, job_row, with_fence};
use crate::domain::job::{JobCounts, JobStatus};
use crate::store::record_rows;
use crate::store::sqlite::SqliteStore;
use crate::store::time_conv::to_micros;
use crate::store::{BillerId, Fence, Heartbeat, Job, JobLease, JobRecord, StoreResult, stored_count};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use std::time::Duration;
use time::OffsetDateTime;

#[async_trait]
impl JobLease for SqliteStore {
    async fn claim_job(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease: Duration,
        max_records: Option<u64>,
    ) -> StoreResult<Option<Job>> {
        let owner = owner.to_owned();
        let (now, until) = (to_micros(now), to_micros(now + lease));
        let max_records = max_records.map(stored_count).transpose()?;
        self.writer
            .run(move |c| {
                // One statement: the claim is atomic against every other writer.
                Ok(c.prepare_cached(&format!(
                    "UPDATE jobs SET status = CASE status WHEN 'queued' THEN 'validating' ELSE status END,
                         lease_owner = ?1, lease_expires_at = ?2, attempts = attempts + 1,
                         started_at = COALESCE(started_at, ?3)
                     WHERE seq = (
                         SELECT j.seq FROM jobs j
                         WHERE j.status IN ('queued', 'validating', 'running')
                           AND (j.status = 'queued' OR j.lease_expires_at < ?3)
                           AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.biller_id = j.biller_id
                                           AND o.queue_order < j.queue_order
                                           AND o.status IN ('queued', 'validating', 'running'))
                           AND (?4 IS NULL OR j.total <= ?4)
                         ORDER BY j.queue_order LIMIT 1)
                     RETURNING {JOB_COLUMNS}"
                ))?
                .query_row(params![owner, until, now, max_records], job_row)
                .optional()?)
            })
            .await
    }

    async fn job_heartbeat(
        &self,
        fence: &Fence,
        status: JobStatus,
        counts: JobCounts,
        now: OffsetDateTime,
        lease: Duration,
    ) -> StoreResult<Heartbeat> {
        let fence = fence.clone();
        let until = to_micros(now + lease);
        self.writer
            .run(move |c| {
                let state = {
                    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    let state = fenced(&tx, &fence)?;
                    if state != Heartbeat::Lost {
                        let [total, processed, .., failed] = counts_params(&counts);
                        tx.execute(
                            "UPDATE jobs SET status = ?2, total = ?3, processed = ?4, failed = ?5, lease_expires_at = ?6
                             WHERE seq = ?1",
                            params![fence.seq, status.as_str(), total, processed, failed, until],
                        )?;
                        tx.commit()?;
                    }
                    state
                };
                Ok(state)
            })
            .await
    }

    async fn job_records(
        &self,
        biller: BillerId,
        seq: i64,
        after: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<JobRecord>> {
        let after = after.map_or(-1, |a| a as i64);
        self.readers
            .run(move |c| {
                let mut read = c.prepare_cached(
                    "SELECT first_idx, lines, ends, bodies FROM job_record_rows
                     WHERE biller_id = ?1 AND job_seq = ?2 AND last_idx > ?3 AND last_idx < ?3 + ?4 + ?5
                       AND first_idx <= ?3 + ?4
                     ORDER BY last_idx",
                )?;
                let mut rows = read.query(params![biller, seq, after, limit as i64, record_rows::PER_ROW as i64])?;
                let mut chunk = record_rows::Chunk::new(after, limit);
                while let Some(r) = rows.next()? {
                    let text = |i| r.get_ref(i).and_then(|v| v.as_str().map_err(rusqlite::Error::from));
                    if !chunk.add((r.get(0)?, text(1)?, text(2)?, text(3)?))? {
                        break;
                    }
                }
                Ok(chunk.records)
            })
            .await
    }

    async fn reset_job_work(&self, fence: &Fence, biller: BillerId) -> StoreResult<Heartbeat> {
        let fence = fence.clone();
        self.writer
            .run(move |c| {
                with_fence(c, &fence, |tx| {
                    tx.execute(
                        "DELETE FROM staging WHERE biller_id = ?1 AND job_seq = ?2",
                        params![biller, fence.seq],
                    )?;
                    tx.execute(
                        "DELETE FROM job_errors WHERE biller_id = ?1 AND job_seq = ?2",
                        params![biller, fence.seq],
                    )?;
                    Ok(())
                })
            })
            .await
    }

    async fn finish_job(
        &self,
        fence: &Fence,
        status: JobStatus,
        error: Option<String>,
        counts: JobCounts,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let (fence, now, seq) = (fence.clone(), to_micros(now), fence.seq);
        let ended = self
            .writer
            .run(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                if fenced(&tx, &fence)? == Heartbeat::Lost {
                    return Ok(None);
                }
                let biller: BillerId =
                    tx.query_row("SELECT biller_id FROM jobs WHERE seq = ?1", [fence.seq], |r| r.get(0))?;
                end_job(&tx, fence.seq, status, error.as_deref(), &counts, now)?;
                tx.commit()?;
                Ok(Some(biller))
            })
            .await?;
        if let Some(biller) = ended {
            self.drop_work(biller, seq).await;
        }
        Ok(ended.is_some())
    }
}
