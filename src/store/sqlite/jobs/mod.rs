//! Jobs on SQLite: the queue (queue.rs), atomic claims with leases
//! (lease.rs), staging (staging.rs), and the one set-based merge that applies
//! a job and completes it in one transaction (merge.rs). Here: the job row,
//! the fence every worker write checks, and how an ended job's work goes.

use crate::domain::history::Origin;
use crate::domain::job::{JobCounts, JobKind, JobStatus, OnError};
use crate::domain::{JobId, KeyId};
use crate::store::sqlite::SqliteStore;
use crate::store::time_conv::from_micros;
use crate::store::{BillerId, Fence, Heartbeat, Job, RecordFormat, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use time::OffsetDateTime;

mod lease;
mod merge;
mod queue;
mod staging;

pub(super) use staging::STAGING;

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
