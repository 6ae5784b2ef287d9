//! A worker's writes under its lease: staged rows and errors, and the merge.

use super::merge::merge;
use super::{end_job, fenced, with_fence};
use crate::domain::job::{JobCounts, JobStatus};
use crate::store::sqlite::SqliteStore;
use crate::store::time_conv::to_micros;
use crate::store::{ApplyJob, BillerId, Duplicate, Fence, Heartbeat, JobError, JobStaging, StageItem, StoreResult};
use async_trait::async_trait;
use rusqlite::{TransactionBehavior, params};
use time::OffsetDateTime;

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
pub(in crate::store::sqlite) const STAGING: &str = "CREATE TEMP TABLE IF NOT EXISTS staging (
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

#[async_trait]
impl JobStaging for SqliteStore {
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
}
