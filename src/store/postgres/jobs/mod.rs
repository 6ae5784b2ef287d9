//! Jobs on PostgreSQL: the queue (queue.rs), claims with `FOR UPDATE SKIP
//! LOCKED` and leases (lease.rs), staging (staging.rs), and the one
//! set-based merge that applies a job and completes it in one transaction
//! (merge.rs). Here: the job row, the fence every worker write checks, and
//! how an ended job's work goes.

use crate::domain::history::Origin;
use crate::domain::job::{JobCounts, JobKind, JobStatus, OnError};
use crate::domain::{JobId, KeyId};
use crate::store::{BillerId, Fence, Heartbeat, Job, RecordFormat, StoreError, StoreResult};
use time::OffsetDateTime;
use tokio_postgres::{Row, Transaction};

mod lease;
mod merge;
mod queue;
mod staging;

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
