//! A worker's writes under its lease: staged rows (by COPY where no earlier
//! record used the number, checked one by one where one may have), errors,
//! and the merge.

use super::merge::merge;
use super::{VACUUM_AFTER, drop_work, end_job, fenced, vacuum_contacts};
use crate::domain::JobId;
use crate::domain::job::{JobCounts, JobStatus};
use crate::store::postgres::{PgStore, direct_load};
use crate::store::{
    ApplyJob, BillerId, DirectLoad, Duplicate, Fence, Heartbeat, JobError, JobStaging, KnownFingerprints,
    MAX_KNOWN_FINGERPRINTS, StageItem, StoreResult,
};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use time::OffsetDateTime;
use tokio_postgres::Transaction;
use tokio_postgres::binary_copy::{BinaryCopyInWriter, BinaryCopyOutStream};
use tokio_postgres::types::Type;

/// Stages items no earlier item of the job used the number of: no conflict
/// is possible, so no conflict check (COPY fails whole if one slips through).
async fn copy_first_uses(
    tx: &Transaction<'_>,
    biller: BillerId,
    seq: i64,
    items: impl Iterator<Item = &StageItem>,
) -> StoreResult<()> {
    let sink = tx
        .copy_in(
            "COPY job_rows (biller_id, job_seq, account_number, idx, line, new_id, name_folded, contact_type,
                 active, doc, fingerprint, crn, email_key, reference_key, external_key, phone_keys, tag_keys)
             FROM STDIN BINARY",
        )
        .await?;
    let types = [
        Type::INT8,
        Type::INT8,
        Type::TEXT,
        Type::INT8,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::BOOL,
        Type::TEXT,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
    ];
    let writer = BinaryCopyInWriter::new(sink, &types);
    futures_util::pin_mut!(writer);
    for i in items {
        let fingerprint = i.row.as_ref().map(|r| r.fingerprint);
        // An unchanged row is staged by key and fingerprint alone.
        let r = i.row.as_ref().filter(|_| !i.unchanged);
        let (idx, line) = (i.idx as i64, i.line as i64);
        writer
            .as_mut()
            .write(&[
                &biller,
                &seq,
                &i.account_number,
                &idx,
                &line,
                &r.map(|r| r.new_id.as_str()),
                &r.map(|r| r.name_folded.as_str()),
                &r.and_then(|r| r.contact_type.as_deref()),
                &r.map(|r| r.active),
                &r.map(|r| r.doc.as_str()),
                &fingerprint,
                &r.and_then(|r| r.crn.as_deref()),
                &r.and_then(|r| r.keys.email.as_deref()),
                &r.and_then(|r| r.keys.reference_id.as_deref()),
                &r.and_then(|r| r.keys.external_id.as_deref()),
                &r.and_then(|r| r.keys.phones.as_deref()),
                &r.and_then(|r| r.keys.tags.as_deref()),
            ])
            .await?;
    }
    writer.finish().await?;
    Ok(())
}

/// Stages items whose number may have been used before, in job order, and
/// returns those it was (`Duplicate::item` is the position beside each).
async fn stage_checked(
    tx: &Transaction<'_>,
    biller: BillerId,
    seq: i64,
    items: &[(usize, &StageItem)],
) -> StoreResult<Vec<Duplicate>> {
    let acct: Vec<&str> = items.iter().map(|(_, i)| i.account_number.as_str()).collect();
    let idx: Vec<i64> = items.iter().map(|(_, i)| i.idx as i64).collect();
    let line: Vec<i64> = items.iter().map(|(_, i)| i.line as i64).collect();
    let fp: Vec<Option<i64>> = items.iter().map(|(_, i)| i.row.as_ref().map(|r| r.fingerprint)).collect();
    let rows: Vec<Option<&crate::store::StagedRow>> =
        items.iter().map(|(_, i)| i.row.as_ref().filter(|_| !i.unchanged)).collect();
    let new_id: Vec<Option<&str>> = rows.iter().map(|r| r.map(|r| r.new_id.as_str())).collect();
    let folded: Vec<Option<&str>> = rows.iter().map(|r| r.map(|r| r.name_folded.as_str())).collect();
    let ctype: Vec<Option<&str>> = rows.iter().map(|r| r.and_then(|r| r.contact_type.as_deref())).collect();
    let active: Vec<Option<bool>> = rows.iter().map(|r| r.map(|r| r.active)).collect();
    let doc: Vec<Option<&str>> = rows.iter().map(|r| r.map(|r| r.doc.as_str())).collect();
    let crn: Vec<Option<&str>> = rows.iter().map(|r| r.and_then(|r| r.crn.as_deref())).collect();
    let key = |f: fn(&crate::store::SearchKeys) -> Option<&str>| -> Vec<Option<&str>> {
        rows.iter().map(|r| r.and_then(|r| f(&r.keys))).collect()
    };
    let email = key(|k| k.email.as_deref());
    let reference = key(|k| k.reference_id.as_deref());
    let external = key(|k| k.external_id.as_deref());
    let phones = key(|k| k.phones.as_deref());
    let tags = key(|k| k.tags.as_deref());
    let inserted: std::collections::HashSet<i64> = tx
        .query(
            "INSERT INTO job_rows (biller_id, job_seq, account_number, idx, line, new_id, name_folded, contact_type,
                 active, doc, fingerprint, crn, email_key, reference_key, external_key, phone_keys, tag_keys)
             SELECT $1, $2, u.acct, u.idx, u.line, u.id, u.name, u.ctype, u.active, u.doc, u.fp, u.crn, u.email,
                 u.reference, u.external, u.phones, u.tags
             FROM unnest($3::text[], $4::int8[], $5::int8[], $6::text[], $7::text[], $8::text[], $9::bool[],
                         $10::text[], $11::int8[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
                         $17::text[])
                  AS u(acct, idx, line, id, name, ctype, active, doc, fp, crn, email, reference, external, phones,
                       tags)
             ORDER BY u.idx
             ON CONFLICT DO NOTHING
             RETURNING idx",
            &[
                &biller, &seq, &acct, &idx, &line, &new_id, &folded, &ctype, &active, &doc, &fp, &crn, &email,
                &reference, &external, &phones, &tags,
            ],
        )
        .await?
        .iter()
        .map(|r| r.get::<_, i64>(0))
        .collect();
    let repeated: Vec<&(usize, &StageItem)> =
        items.iter().filter(|(_, i)| !inserted.contains(&(i.idx as i64))).collect();
    if repeated.is_empty() {
        return Ok(Vec::new());
    }
    let numbers: Vec<&str> = repeated.iter().map(|(_, i)| i.account_number.as_str()).collect();
    let first: std::collections::HashMap<String, (i64, i64)> = tx
        .query(
            "SELECT account_number, COALESCE(idx, 0), COALESCE(line, 0) FROM job_rows
             WHERE biller_id = $1 AND job_seq = $2 AND account_number = ANY($3)",
            &[&biller, &seq, &numbers],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    Ok(repeated
        .iter()
        .map(|(pos, i)| {
            let (idx, line) = first.get(&i.account_number).copied().unwrap_or_default();
            Duplicate { item: *pos, first_idx: idx as u64, first_line: line as u64 }
        })
        .collect())
}

#[async_trait]
impl JobStaging for PgStore {
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
        direct_load::begin(self.pool.clone(), &self.direct_loads, biller, settings_version, job, now).await
    }
}
