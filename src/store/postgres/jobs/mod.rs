//! Jobs on PostgreSQL: uploads, claims with `FOR UPDATE SKIP LOCKED` and
//! leases, staging, and the one set-based merge that applies a job and
//! completes it in one transaction.

use crate::domain::history::Origin;
use crate::domain::job::{JobCounts, JobKind, JobStatus, OnError};
use crate::domain::{JobId, KeyId};
use crate::store::postgres::PgStore;
use crate::store::postgres::snapshots::sweep_unlisted_copies;
use crate::store::record_rows;
use crate::store::{
    ApplyJob, BillerId, DirectLoad, Duplicate, Fence, Heartbeat, Job, JobError, JobRecord, JobStore, KnownFingerprints,
    MAX_KNOWN_FINGERPRINTS, NewJob, RecordFormat, StageItem, StoreError, StoreResult, stored_count,
};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use std::time::Duration;
use time::OffsetDateTime;
use tokio_postgres::binary_copy::{BinaryCopyInWriter, BinaryCopyOutStream};
use tokio_postgres::types::Type;
use tokio_postgres::{Row, Transaction};

mod merge;
mod staging;

use merge::merge;
use staging::{copy_first_uses, stage_checked};

const JOB_COLUMNS: &str = "seq, id, biller_id, kind, status, on_error, dry_run, confirm_removals, total, processed, \
     created, updated, unchanged, removed, failed, error, created_at, started_at, finished_at, attempts, \
     force_holds, key_id, source, format";

fn to_job(r: &Row) -> StoreResult<Job> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("job {what}"));
    let n = |i: usize| r.get::<_, i64>(i).max(0) as u64;
    Ok(Job {
        seq: r.get(0),
        id: JobId::parse(r.get(1)).ok_or_else(|| corrupt("id"))?,
        biller_id: r.get(2),
        kind: JobKind::parse(r.get(3)).ok_or_else(|| corrupt("kind"))?,
        status: JobStatus::parse(r.get(4)).ok_or_else(|| corrupt("status"))?,
        on_error: OnError::parse(r.get(5)).ok_or_else(|| corrupt("on_error"))?,
        dry_run: r.get(6),
        confirm_removals: r.get::<_, Option<i64>>(7).map(|v| v.max(0) as u64),
        counts: JobCounts {
            total: n(8),
            processed: n(9),
            created: n(10),
            updated: n(11),
            unchanged: n(12),
            removed: n(13),
            failed: n(14),
        },
        error: r.get(15),
        created_at: r.get(16),
        started_at: r.get(17),
        finished_at: r.get(18),
        attempts: r.get(19),
        force_holds: r.get(20),
        origin: Origin {
            key_id: r.get::<_, Option<&str>>(21).and_then(KeyId::parse),
            source: r.get::<_, Option<String>>(22).unwrap_or_else(|| "job".to_owned()),
        },
        format: RecordFormat::parse(r.get::<_, Option<&str>>(23)),
    })
}

/// Whether `fence` still holds the job; locks the job row for the caller's transaction.
pub(super) async fn fenced(tx: &Transaction<'_>, fence: &Fence) -> StoreResult<Heartbeat> {
    let row = tx
        .query_opt(
            "SELECT lease_owner, attempts, cancel_requested, status FROM jobs WHERE seq = $1 FOR UPDATE",
            &[&fence.seq],
        )
        .await?;
    Ok(match row {
        Some(r)
            if r.get::<_, Option<String>>(0).as_deref() == Some(fence.owner.as_str())
                && r.get::<_, i64>(1) == fence.attempt
                && !JobStatus::parse(r.get(3)).is_some_and(JobStatus::is_finished) =>
        {
            if r.get::<_, bool>(2) {
                Heartbeat::CancelRequested
            } else {
                Heartbeat::Continue
            }
        }
        _ => Heartbeat::Lost,
    })
}

fn counts_params(c: &JobCounts) -> [i64; 7] {
    [c.total, c.processed, c.created, c.updated, c.unchanged, c.removed, c.failed].map(|v| v as i64)
}

/// Drops an ended job's records and staging, after the transaction that
/// ended it (at a million records this takes seconds the job need not wait
/// for). What a crash leaves behind is swept by `purge_finished_work`.
pub(super) async fn drop_work(c: &mut deadpool_postgres::Object, biller: BillerId, seq: i64) {
    let dropped = async {
        let tx = c.transaction().await?;
        tx.execute("DELETE FROM job_rows WHERE biller_id = $1 AND job_seq = $2", &[&biller, &seq]).await?;
        tx.execute("DELETE FROM job_record_rows WHERE biller_id = $1 AND job_seq = $2", &[&biller, &seq]).await?;
        tx.commit().await
    };
    if let Err(e) = dropped.await {
        tracing::warn!(error = %e, job_seq = seq, "dropping an ended job's records; the hourly purge retries");
    }
}

/// Rows a merge writes from which contacts are vacuumed after it.
pub const VACUUM_AFTER: u64 = 50_000;

/// After a large merge, in the background: the first reader of each new row
/// version would mark it committed and so write its page a second time (in
/// the bench, the replace after a 1M add spent 2 s more on its join pass and
/// 0.9 s more on its snapshot). A vacuum does that at once, marks the pages
/// all-visible (unless an older transaction still runs) and refreshes the
/// planner's statistics, so the biller's next job does not pay for it. A
/// vacuum already running (autovacuum too) is not waited for.
pub(super) fn vacuum_contacts(pool: deadpool_postgres::Pool) {
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let vacuumed = async {
            pool.get().await?.batch_execute("VACUUM (ANALYZE, SKIP_LOCKED) contacts").await?;
            Ok::<_, StoreError>(())
        };
        match vacuumed.await {
            // PostgreSQL skips the table, with a warning in its own log, while
            // another vacuum holds it or when this role may not vacuum it.
            Ok(()) => {
                tracing::info!(ms = started.elapsed().as_millis(), "vacuum of contacts after a large merge ended")
            }
            Err(e) => tracing::warn!(error = %e, "vacuuming contacts after a large merge; autovacuum will"),
        }
    });
}

const FINISHED_JOBS: &str = "SELECT biller_id, seq FROM jobs WHERE status IN ('completed', 'failed', 'cancelled')";

pub(super) async fn end_job(
    tx: &Transaction<'_>,
    seq: i64,
    status: JobStatus,
    error: Option<&str>,
    counts: &JobCounts,
    now: OffsetDateTime,
) -> StoreResult<()> {
    let [total, processed, created, updated, unchanged, removed, failed] = counts_params(counts);
    tx.execute(
        "UPDATE jobs SET status = $2, error = $3, total = $4, processed = $5, created = $6, updated = $7,
             unchanged = $8, removed = $9, failed = $10, finished_at = $11, lease_owner = NULL, lease_expires_at = NULL
         WHERE seq = $1",
        &[&seq, &status.as_str(), &error, &total, &processed, &created, &updated, &unchanged, &removed, &failed, &now],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl JobStore for PgStore {
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

    async fn known_fingerprints(&self, biller: BillerId) -> StoreResult<Option<KnownFingerprints>> {
        let c = self.pool.get().await?;
        // COPY takes no parameters; the biller's id and the limit are numbers.
        let out = c
            .copy_out(&format!(
                "COPY (SELECT account_number, fingerprint FROM contacts WHERE biller_id = {biller} LIMIT {})
                 TO STDOUT BINARY",
                MAX_KNOWN_FINGERPRINTS + 1
            ))
            .await?;
        let rows = BinaryCopyOutStream::new(out, &[Type::TEXT, Type::INT8]);
        futures_util::pin_mut!(rows);
        let mut known = KnownFingerprints::new();
        while let Some(row) = rows.try_next().await? {
            if known.len() == MAX_KNOWN_FINGERPRINTS {
                return Ok(None);
            }
            known.insert(row.try_get(0)?, row.try_get(1)?);
        }
        Ok(Some(known).filter(|k| !k.is_empty()))
    }

    async fn stage_job_rows(
        &self,
        fence: &Fence,
        biller: BillerId,
        items: Vec<StageItem>,
    ) -> StoreResult<(Heartbeat, Vec<Duplicate>)> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let state = fenced(&tx, fence).await?;
        let mut duplicates = Vec::new();
        if state == Heartbeat::Continue {
            // Staged rows are redone from the records by any re-run (the
            // table is unlogged); the merge checks they are all there.
            tx.batch_execute("SET LOCAL synchronous_commit = off").await?;
            // First uses (nearly all) by binary COPY; the rest after them, in
            // job order, so of two uses of a number the first is kept.
            let (maybe, first): (Vec<(usize, &StageItem)>, Vec<_>) =
                items.iter().enumerate().partition(|(_, i)| i.maybe_repeated);
            copy_first_uses(&tx, biller, fence.seq, first.iter().map(|(_, i)| *i)).await?;
            if !maybe.is_empty() {
                duplicates = stage_checked(&tx, biller, fence.seq, &maybe).await?;
            }
            tx.commit().await?;
        }
        Ok((state, duplicates))
    }

    async fn add_job_errors(
        &self,
        fence: &Fence,
        biller: BillerId,
        first_ord: u64,
        errors: Vec<JobError>,
    ) -> StoreResult<Heartbeat> {
        let ord: Vec<i64> = (0..errors.len()).map(|i| (first_ord + i as u64) as i64).collect();
        let idx: Vec<i64> = errors.iter().map(|e| e.idx as i64).collect();
        let line: Vec<i64> = errors.iter().map(|e| e.line as i64).collect();
        let acct: Vec<Option<&str>> = errors.iter().map(|e| e.account_number.as_deref()).collect();
        let field: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        let code: Vec<&str> = errors.iter().map(|e| e.code.as_str()).collect();
        let message: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let state = fenced(&tx, fence).await?;
        if state == Heartbeat::Continue {
            tx.execute(
                "INSERT INTO job_errors (biller_id, job_seq, ord, idx, line, account_number, field, code, message)
                 SELECT $1, $2, u.* FROM unnest($3::int8[], $4::int8[], $5::int8[], $6::text[], $7::text[], $8::text[], $9::text[])
                      AS u(ord, idx, line, acct, field, code, message)",
                &[&biller, &fence.seq, &ord, &idx, &line, &acct, &field, &code, &message],
            )
            .await?;
            tx.commit().await?;
        }
        Ok(state)
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

    async fn apply_job(
        &self,
        fence: &Fence,
        biller: BillerId,
        apply: &ApplyJob,
        now: OffsetDateTime,
    ) -> StoreResult<Option<JobCounts>> {
        let mut c = self.pool.get().await?;
        let copy_conn = self.copy_connection(apply.snapshot.as_ref(), apply.mode, apply.dry_run).await?;
        let tx = c.transaction().await?;
        if fenced(&tx, fence).await? != Heartbeat::Continue {
            return Ok(None);
        }
        let t = std::time::Instant::now();
        let (counts, note) = merge(&tx, fence, biller, apply, copy_conn, now).await?;
        end_job(&tx, fence.seq, JobStatus::Completed, note.as_deref(), &counts, now).await?;
        tracing::debug!(ms = t.elapsed().as_millis(), "merge: written");
        tx.commit().await?;
        tracing::debug!(ms = t.elapsed().as_millis(), "merge: committed");
        let t = std::time::Instant::now();
        drop_work(&mut c, biller, fence.seq).await;
        tracing::debug!(ms = t.elapsed().as_millis(), "job's work dropped");
        if !apply.dry_run && counts.created + counts.updated + counts.removed >= VACUUM_AFTER {
            vacuum_contacts(self.pool.clone());
        }
        Ok(Some(counts))
    }

    async fn begin_direct_load(
        &self,
        biller: BillerId,
        settings_version: i64,
        job: &JobId,
        now: OffsetDateTime,
    ) -> StoreResult<Option<DirectLoad>> {
        let job = job.as_str().to_owned();
        super::direct_load::begin(self.pool.clone(), &self.direct_loads, biller, settings_version, job, now).await
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
