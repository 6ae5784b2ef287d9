//! Jobs on SQLite: uploads, atomic claims with leases, staging, and the one
//! set-based merge that applies a job and completes it in one transaction.

use crate::domain::history::Origin;
use crate::domain::job::{JobCounts, JobKind, JobStatus, OnError};
use crate::domain::{JobId, KeyId};
use crate::store::record_rows;
use crate::store::sqlite::SqliteStore;
use crate::store::time_conv::{from_micros, to_micros};
use crate::store::{
    ApplyJob, BillerId, Duplicate, Fence, Heartbeat, Job, JobError, JobRecord, JobStore, NewJob, RecordFormat,
    StageItem, StoreError, StoreResult, stored_count,
};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use std::time::Duration;
use time::OffsetDateTime;

mod merge;

use merge::merge;

const JOB_COLUMNS: &str = "seq, id, biller_id, kind, status, on_error, dry_run, confirm_removals, total, processed, \
     created, updated, unchanged, removed, failed, error, created_at, started_at, finished_at, attempts, \
     force_holds, key_id, source, format";

fn corrupt(what: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnType(0, what.to_owned(), rusqlite::types::Type::Text)
}

fn job_row(r: &Row) -> rusqlite::Result<Job> {
    let micros = |i: usize| -> rusqlite::Result<Option<OffsetDateTime>> {
        r.get::<_, Option<i64>>(i)?.map(|v| from_micros(v).map_err(|_| corrupt("timestamp"))).transpose()
    };
    let n = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
    Ok(Job {
        seq: r.get(0)?,
        id: JobId::parse(&r.get::<_, String>(1)?).ok_or_else(|| corrupt("job id"))?,
        biller_id: r.get(2)?,
        kind: JobKind::parse(&r.get::<_, String>(3)?).ok_or_else(|| corrupt("kind"))?,
        status: JobStatus::parse(&r.get::<_, String>(4)?).ok_or_else(|| corrupt("status"))?,
        on_error: OnError::parse(&r.get::<_, String>(5)?).ok_or_else(|| corrupt("on_error"))?,
        dry_run: r.get(6)?,
        confirm_removals: r.get::<_, Option<i64>>(7)?.map(|v| v.max(0) as u64),
        counts: JobCounts {
            total: n(8)?,
            processed: n(9)?,
            created: n(10)?,
            updated: n(11)?,
            unchanged: n(12)?,
            removed: n(13)?,
            failed: n(14)?,
        },
        error: r.get(15)?,
        created_at: micros(16)?.ok_or_else(|| corrupt("created_at"))?,
        started_at: micros(17)?,
        finished_at: micros(18)?,
        attempts: r.get(19)?,
        force_holds: r.get(20)?,
        origin: Origin {
            key_id: r.get::<_, Option<String>>(21)?.as_deref().and_then(KeyId::parse),
            source: r.get::<_, Option<String>>(22)?.unwrap_or_else(|| "job".to_owned()),
        },
        format: RecordFormat::parse(r.get::<_, Option<String>>(23)?.as_deref()),
    })
}

/// Whether `fence` still holds the job, read inside the caller's transaction.
fn fenced(c: &Connection, fence: &Fence) -> StoreResult<Heartbeat> {
    let row = c
        .prepare_cached("SELECT lease_owner, attempts, cancel_requested, status FROM jobs WHERE seq = ?1")?
        .query_row([fence.seq], |r| {
            Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?, r.get::<_, bool>(2)?, r.get::<_, String>(3)?))
        })
        .optional()?;
    Ok(match row {
        Some((Some(owner), attempt, cancel, status))
            if owner == fence.owner
                && attempt == fence.attempt
                && !JobStatus::parse(&status).is_some_and(JobStatus::is_finished) =>
        {
            if cancel {
                Heartbeat::CancelRequested
            } else {
                Heartbeat::Continue
            }
        }
        _ => Heartbeat::Lost,
    })
}

/// Runs `f` in a write transaction only while `fence` holds.
fn with_fence(
    c: &mut Connection,
    fence: &Fence,
    f: impl FnOnce(&rusqlite::Transaction) -> StoreResult<()>,
) -> StoreResult<Heartbeat> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let state = fenced(&tx, fence)?;
    if state == Heartbeat::Continue {
        f(&tx)?;
        tx.commit()?;
    }
    Ok(state)
}

fn counts_params(c: &JobCounts) -> [i64; 7] {
    [c.total, c.processed, c.created, c.updated, c.unchanged, c.removed, c.failed].map(|v| v as i64)
}

/// A job's staging: the first use of every account number in it, with its
/// position (idx, line), and for a valid record the row to merge (an invalid
/// one claims its key with doc NULL). Any re-run of a job stages again, so
/// this is a temporary table of the writer's connection, outside the WAL and
/// the main file (it lives in SQLite's temporary directory, `SQLITE_TMPDIR`
/// or `TMPDIR`). If the connection were lost, the merge's count of staged
/// rows finds it (`StagingLost`).
///
/// Rows are stored in the order they come (rowid) and keyed by a separate,
/// small index: an upload in no particular order of account numbers then
/// writes its rows one after another, and only the index takes random
/// inserts. (Keyed by number itself, the 1M rows of a shuffled upload took
/// 19 s to stage, each insert landing on a random page of 0.5 GB.)
pub(super) const STAGING: &str = "CREATE TEMP TABLE IF NOT EXISTS staging (
    biller_id      INTEGER NOT NULL,
    job_seq        INTEGER NOT NULL,
    account_number TEXT NOT NULL,
    idx            INTEGER NOT NULL,
    line           INTEGER NOT NULL,
    new_id         TEXT,
    name_folded    TEXT,
    contact_type   TEXT,
    active         INTEGER,
    doc            TEXT,
    fingerprint    INTEGER,
    crn            TEXT,
    email_key      TEXT,
    reference_key  TEXT,
    external_key   TEXT,
    phone_keys     TEXT,
    tag_keys       TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS temp.staging_key ON staging (biller_id, job_seq, account_number)";

/// The contacts a merge updates (`remove` 0, with the rowid of the staged
/// row that updates it) or removes (1), by rowid, as its plan found them: on
/// disk, so a merge's memory does not grow with the biller. Filled and
/// emptied inside the merge's transaction. (Temporary, made as the writer
/// connects: its columns need no migration.)
pub(super) const MERGE_PLAN: &str =
    "CREATE TEMP TABLE IF NOT EXISTS merge_plan (contact INTEGER PRIMARY KEY, remove INTEGER NOT NULL, staged INTEGER)";

/// Rows deleted per transaction when an ended job's work is dropped, so
/// other writes wait for one batch at most, not for a million rows.
const DROP_BATCH: i64 = 20_000;

impl SqliteStore {
    /// Drops an ended job's records and staging, after the transaction that
    /// ended it (at a million records this takes seconds the job need not
    /// wait for). What a crash leaves behind is swept by `purge_finished_work`.
    async fn drop_work(&self, biller: BillerId, seq: i64) {
        let batch = move |c: &mut Connection| -> StoreResult<usize> {
            // Staging that holds this job alone (the usual case) is emptied
            // whole: freeing its pages is far cheaper than deleting its rows.
            let alone: bool = c
                .prepare_cached(
                    "SELECT NOT EXISTS (SELECT 1 FROM staging WHERE (biller_id, job_seq) < (?1, ?2))
                    AND NOT EXISTS (SELECT 1 FROM staging WHERE (biller_id, job_seq) > (?1, ?2))",
                )?
                .query_row(params![biller, seq], |r| r.get(0))?;
            if alone {
                c.execute("DELETE FROM staging", [])?;
            }
            let rows = c.execute(
                "DELETE FROM staging WHERE biller_id = ?1 AND job_seq = ?2 AND account_number IN
                     (SELECT account_number FROM staging WHERE biller_id = ?1 AND job_seq = ?2 LIMIT ?3)",
                params![biller, seq, DROP_BATCH],
            )?;
            // About DROP_BATCH records, however many rows they are stored in.
            let records = c.execute(
                "DELETE FROM job_record_rows WHERE biller_id = ?1 AND job_seq = ?2 AND last_idx <
                     (SELECT MIN(last_idx) FROM job_record_rows WHERE biller_id = ?1 AND job_seq = ?2) + ?3",
                params![biller, seq, DROP_BATCH],
            )?;
            Ok(rows + records)
        };
        let started = std::time::Instant::now();
        loop {
            match self.writer.run(batch).await {
                Ok(0) => {
                    tracing::debug!(job_seq = seq, ms = started.elapsed().as_millis(), "dropped an ended job's work");
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, job_seq = seq, "dropping an ended job's records; the hourly purge retries");
                    return;
                }
            }
        }
    }
}

const FINISHED_JOBS: &str = "SELECT biller_id, seq FROM jobs WHERE status IN ('completed', 'failed', 'cancelled')";

fn end_job(
    tx: &rusqlite::Transaction,
    seq: i64,
    status: JobStatus,
    error: Option<&str>,
    counts: &JobCounts,
    now: i64,
) -> StoreResult<()> {
    let [total, processed, created, updated, unchanged, removed, failed] = counts_params(counts);
    tx.execute(
        "UPDATE jobs SET status = ?2, error = ?3, total = ?4, processed = ?5, created = ?6, updated = ?7,
             unchanged = ?8, removed = ?9, failed = ?10, finished_at = ?11, lease_owner = NULL, lease_expires_at = NULL
         WHERE seq = ?1",
        params![seq, status.as_str(), error, total, processed, created, updated, unchanged, removed, failed, now],
    )?;
    Ok(())
}

#[async_trait]
impl JobStore for SqliteStore {
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

    async fn stage_job_rows(
        &self,
        fence: &Fence,
        biller: BillerId,
        items: Vec<StageItem>,
    ) -> StoreResult<(Heartbeat, Vec<Duplicate>)> {
        let fence = fence.clone();
        self.writer
            .run(move |c| {
                let mut duplicates = Vec::new();
                let state = with_fence(c, &fence, |tx| {
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO staging (biller_id, job_seq, account_number, idx, line, new_id, name_folded,
                             contact_type, active, doc, fingerprint, crn, email_key, reference_key, external_key,
                             phone_keys, tag_keys)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
                         ON CONFLICT DO NOTHING",
                    )?;
                    let mut first = tx.prepare_cached(
                        "SELECT idx, line FROM staging WHERE biller_id = ?1 AND job_seq = ?2 AND account_number = ?3",
                    )?;
                    for (i, item) in items.iter().enumerate() {
                        let r = item.row.as_ref();
                        let inserted = insert.execute(params![
                            biller,
                            fence.seq,
                            item.account_number,
                            item.idx as i64,
                            item.line as i64,
                            r.map(|r| &r.new_id),
                            r.map(|r| &r.name_folded),
                            r.and_then(|r| r.contact_type.as_ref()),
                            r.map(|r| r.active),
                            r.map(|r| &r.doc),
                            r.map(|r| r.fingerprint),
                            r.and_then(|r| r.crn.as_ref()),
                            r.and_then(|r| r.keys.email.as_ref()),
                            r.and_then(|r| r.keys.reference_id.as_ref()),
                            r.and_then(|r| r.keys.external_id.as_ref()),
                            r.and_then(|r| r.keys.phones.as_ref()),
                            r.and_then(|r| r.keys.tags.as_ref())
                        ])?;
                        if inserted == 0 {
                            let (idx, line) = first
                                .query_row(params![biller, fence.seq, item.account_number], |r| {
                                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                                })?;
                            duplicates.push(Duplicate { item: i, first_idx: idx as u64, first_line: line as u64 });
                        }
                    }
                    Ok(())
                })?;
                Ok((state, duplicates))
            })
            .await
    }

    async fn add_job_errors(
        &self,
        fence: &Fence,
        biller: BillerId,
        first_ord: u64,
        errors: Vec<JobError>,
    ) -> StoreResult<Heartbeat> {
        let fence = fence.clone();
        self.writer
            .run(move |c| {
                with_fence(c, &fence, |tx| {
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO job_errors (biller_id, job_seq, ord, idx, line, account_number, field, code, message)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )?;
                    for (i, e) in errors.iter().enumerate() {
                        insert.execute(params![
                            biller,
                            fence.seq,
                            (first_ord + i as u64) as i64,
                            e.idx as i64,
                            e.line as i64,
                            e.account_number,
                            e.field,
                            e.code,
                            e.message
                        ])?;
                    }
                    Ok(())
                })
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

    async fn apply_job(
        &self,
        fence: &Fence,
        biller: BillerId,
        apply: &ApplyJob,
        now: OffsetDateTime,
    ) -> StoreResult<Option<JobCounts>> {
        let (fence, apply, now, seq) = (fence.clone(), apply.clone(), to_micros(now), fence.seq);
        let counts = self
            .writer
            .run(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                if fenced(&tx, &fence)? != Heartbeat::Continue {
                    return Ok(None);
                }
                let t = std::time::Instant::now();
                let (counts, note) = merge(&tx, &fence, biller, &apply, now)?;
                end_job(&tx, fence.seq, JobStatus::Completed, note.as_deref(), &counts, now)?;
                tracing::debug!(ms = t.elapsed().as_millis(), "merge: written");
                tx.commit()?;
                tracing::debug!(ms = t.elapsed().as_millis(), "merge: committed");
                Ok(Some(counts))
            })
            .await?;
        if counts.is_some() {
            let t = std::time::Instant::now();
            self.drop_work(biller, seq).await;
            tracing::debug!(ms = t.elapsed().as_millis(), "job's work dropped");
        }
        Ok(counts)
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
