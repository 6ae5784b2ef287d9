//! The one set-based merge that applies a staged job and completes it in
//! one transaction: its plan, the holds and CRN guards, and the writes.

use crate::domain::job::JobCounts;
use crate::domain::sync::WriteMode;
use crate::store::postgres::contacts::{BillerLock, lock_biller};
use crate::store::postgres::contacts::{crn_fixed, held};
use crate::store::postgres::snapshots::{CopyConnection, SnapshotCopy};
use crate::store::{
    ApplyJob, BillerId, Fence, JoinPass, MergePlan, StoreError, StoreResult, check_key_rows, judge, snapshot_due,
};
use time::OffsetDateTime;
use tokio_postgres::Transaction;

pub(super) async fn merge(
    tx: &Transaction<'_>,
    fence: &Fence,
    biller: BillerId,
    apply: &ApplyJob,
    copy_conn: Option<CopyConnection>,
    now: OffsetDateTime,
) -> StoreResult<(JobCounts, Option<String>)> {
    let seq = fence.seq;
    tx.batch_execute("SET LOCAL work_mem = '64MB'").await?;
    // The biller's lock orders this merge with every other bulk write of it.
    lock_biller(tx, biller, BillerLock::Exclusive).await?;
    let version: i64 = tx.query_one("SELECT settings_version FROM billers WHERE id = $1", &[&biller]).await?.get(0);
    if version != apply.settings_version {
        return Err(StoreError::SettingsChanged);
    }
    let copy = SnapshotCopy::start(copy_conn, biller).await?;
    if apply.counts.failed > 0 {
        // Keys claimed by invalid records (skipped with on_error=skip) are not applied.
        let dropped = tx
            .execute(
                "DELETE FROM job_rows WHERE biller_id = $1 AND job_seq = $2 AND fingerprint IS NULL",
                &[&biller, &seq],
            )
            .await?;
        check_key_rows(apply, dropped)?;
    }
    let t = std::time::Instant::now();
    let plan = plan(tx, biller, seq, apply.mode, apply.unchanged_staged).await?;
    let counts = plan.counts(apply.counts);
    tracing::debug!(ms = t.elapsed().as_millis(), "merge: planned");
    guard_holds_and_crns(tx, biller, apply.force_holds).await?;
    if let Some(dry) = judge(apply, counts, plan.existing)? {
        return Ok(dry);
    }
    // A copy beside this transaction sees none of its writes (uncommitted),
    // so they go on meanwhile.
    let kept = match snapshot_due(apply.snapshot.as_ref(), apply.mode, counts.created, counts.updated, counts.removed) {
        Some(snap) => Some(copy.keep(tx, biller, snap, plan.existing, now).await?),
        None => None,
    };
    tracing::debug!(ms = t.elapsed().as_millis(), "merge: snapshot kept");
    // The counts above say which statements have work; at a million rows a
    // join with nothing to do still costs seconds.
    // Each change's history: the contacts as they are, before it.
    if counts.updated + counts.removed > 0 {
        tx.execute(
            "INSERT INTO contact_history (biller_id, contact_id, at, key_id, source, action, version, account_number,
                 crn, before)
             SELECT c.biller_id, c.id, $2, $3, $4, CASE WHEN p.remove THEN 'deleted' ELSE 'updated' END,
                 c.version + 1, c.account_number, c.crn, c.doc
             FROM merge_plan p JOIN contacts c ON c.biller_id = $1 AND c.id = p.id",
            &[&biller, &now, &apply.origin.key_id.as_ref().map(|k| k.as_str()), &apply.origin.source],
        )
        .await?;
    }
    tracing::debug!(ms = t.elapsed().as_millis(), "merge: history kept");
    if counts.updated > 0 {
        // A CRN the record does not name stays.
        tx.execute(
            "UPDATE contacts c SET name_folded = p.name_folded, contact_type = p.contact_type, active = p.active,
                 doc = p.doc, fingerprint = p.fingerprint, crn = COALESCE(p.crn, c.crn), version = c.version + 1,
                 updated_at = $2, email_key = p.email_key, reference_key = p.reference_key,
                 external_key = p.external_key, phone_keys = p.phone_keys, tag_keys = p.tag_keys
             FROM merge_plan p
             WHERE NOT p.remove AND c.biller_id = $1 AND c.id = p.id",
            &[&biller, &now],
        )
        .await?;
    }
    tracing::debug!(ms = t.elapsed().as_millis(), "merge: updated");
    if counts.removed > 0 {
        tx.execute(
            "DELETE FROM holds h USING merge_plan p WHERE p.remove AND h.biller_id = $1 AND h.contact_id = p.id",
            &[&biller],
        )
        .await?;
        tx.execute(
            "DELETE FROM contacts c USING merge_plan p WHERE p.remove AND c.biller_id = $1 AND c.id = p.id",
            &[&biller],
        )
        .await?;
    }
    tracing::debug!(ms = t.elapsed().as_millis(), "merge: removed");
    if counts.created > 0 {
        // Every staged number is new when the counts (under the biller's
        // lock) say so; the guard against existing ones is then left out.
        let only_new = if counts.updated + counts.unchanged == 0 {
            ""
        } else {
            "AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.biller_id = $1 AND c.account_number = r.account_number)"
        };
        tx.execute(
            &format!(
                "INSERT INTO contacts (biller_id, id, account_number, name_folded, contact_type, active, doc, fingerprint,
                     version, created_at, updated_at, crn, job_id, email_key, reference_key, external_key, phone_keys,
                     tag_keys)
                 SELECT r.biller_id, r.new_id, r.account_number, r.name_folded, r.contact_type, r.active, r.doc,
                     r.fingerprint, 1, $3, $3, r.crn, $4, r.email_key, r.reference_key, r.external_key, r.phone_keys,
                     r.tag_keys
                 FROM job_rows r
                 WHERE r.biller_id = $1 AND r.job_seq = $2 {only_new}"
            ),
            &[&biller, &seq, &now, &apply.job_id.as_str()],
        )
        .await?;
    }
    if let Some(kept) = kept {
        kept.committed().await?;
    }
    tracing::debug!(ms = t.elapsed().as_millis(), "merge: inserted, snapshot copied");
    Ok((counts, None))
}

/// Refuses a merge that would remove (unless `force_holds`) or deactivate a
/// contact with holds, or name another CRN for a contact that has one. Holds
/// are few: they lead the join, so a biller without any costs one index probe.
async fn guard_holds_and_crns(tx: &Transaction<'_>, biller: BillerId, force_holds: bool) -> StoreResult<()> {
    let held_rows = tx
        .query(
            "SELECT DISTINCT p.id, p.remove FROM holds h JOIN merge_plan p ON p.id = h.contact_id
             WHERE h.biller_id = $1 AND (p.remove OR (p.was_active AND NOT p.active))",
            &[&biller],
        )
        .await?;
    for deactivating in [false, true] {
        if !deactivating && force_holds {
            continue;
        }
        let ids: Vec<String> =
            held_rows.iter().filter(|r| r.get::<_, bool>(1) != deactivating).map(|r| r.get(0)).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        if let Some(h) = held(tx, biller, &refs, deactivating).await? {
            return Err(StoreError::Held(h));
        }
    }
    let fixed: Vec<String> = tx
        .query(
            "SELECT c.account_number FROM merge_plan p JOIN contacts c ON c.biller_id = $1 AND c.id = p.id
             WHERE NOT p.remove AND p.crn IS NOT NULL AND p.old_crn IS NOT NULL AND p.crn <> p.old_crn LIMIT 10",
            &[&biller],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !fixed.is_empty() {
        let numbers: Vec<&str> = fixed.iter().map(String::as_str).collect();
        return Err(crn_fixed(&numbers));
    }
    Ok(())
}

/// What a merge will do, found in one pass of its join, which also lists the
/// contacts to update or remove (by id) in `merge_plan`, a temporary table
/// dropped at the end of the merge's transaction.
async fn plan(
    tx: &Transaction<'_>,
    biller: BillerId,
    seq: i64,
    mode: WriteMode,
    unchanged_staged: u64,
) -> StoreResult<MergePlan> {
    tx.batch_execute(
        "CREATE TEMP TABLE merge_plan (id TEXT NOT NULL, remove BOOLEAN NOT NULL, name_folded TEXT,
             contact_type TEXT, active BOOLEAN, doc TEXT, fingerprint BIGINT, crn TEXT, old_crn TEXT,
             was_active BOOLEAN, email_key TEXT, reference_key TEXT, external_key TEXT, phone_keys TEXT,
             tag_keys TEXT) ON COMMIT DROP",
    )
    .await?;
    // (the contact, whether a staged number matched it, whether it is
    // unchanged, and the number). Only these narrow columns go through the
    // join: the staged rows of the contacts that change (a tenth, say) are
    // fetched after it by their key, so the join's hash stays small.
    let join = match mode {
        // Unchanged: the same document, and no CRN named or the contact's own.
        WriteMode::Add => {
            "SELECT c.id, true AS matched,
                 c.fingerprint = r.fingerprint AND (r.crn IS NULL OR r.crn IS NOT DISTINCT FROM c.crn) AS same,
                 r.account_number AS number, r.doc IS NULL AS key_only, c.crn AS old_crn, c.active AS was_active
             FROM job_rows r
             LEFT JOIN contacts c ON c.biller_id = r.biller_id AND c.account_number = r.account_number
             WHERE r.biller_id = $1 AND r.job_seq = $2"
        }
        WriteMode::Replace => {
            "SELECT c.id, r.account_number IS NOT NULL AS matched,
                 c.fingerprint = r.fingerprint AND (r.crn IS NULL OR r.crn IS NOT DISTINCT FROM c.crn) AS same,
                 r.account_number AS number, r.doc IS NULL AS key_only, c.crn AS old_crn, c.active AS was_active
             FROM contacts c
             LEFT JOIN job_rows r ON r.biller_id = $1 AND r.job_seq = $2 AND r.account_number = c.account_number
             WHERE c.biller_id = $1"
        }
    };
    // `OFFSET 0` makes it one lookup by key per changed contact: the planner
    // cannot tell how many rows of `j` pass the filter and could hash every
    // staged row, whole, to join a tenth of them. (A 1M replace changing
    // every contact took 5.5 s for this statement either way.)
    // A replace joins two whole sets, which only a hash or merge join does
    // well; but staging is new each job and never analyzed, and estimated at
    // a row or so, the planner may loop over it once per contact (a 20k
    // replace took 16 s so). The lookups below still loop: nothing else can.
    // Up to PostgreSQL 17 that adds a fixed 1e10 to the plan's cost, which
    // would have every replace, however small, compiled by JIT: not that.
    if mode == WriteMode::Replace {
        tx.batch_execute("SET LOCAL enable_nestloop = off; SET LOCAL jit = off").await?;
    }
    let row = tx
        .query_one(
            &format!(
                "WITH j AS MATERIALIZED ({join}),
                 listed AS (INSERT INTO merge_plan
                            SELECT j.id, NOT j.matched, s.name_folded, s.contact_type, s.active, s.doc, s.fingerprint,
                                s.crn, j.old_crn, j.was_active, s.email_key, s.reference_key, s.external_key,
                                s.phone_keys, s.tag_keys
                            FROM j LEFT JOIN LATERAL (
                                SELECT r.name_folded, r.contact_type, r.active, r.doc, r.fingerprint, r.crn,
                                    r.email_key, r.reference_key, r.external_key, r.phone_keys, r.tag_keys
                                FROM job_rows r
                                WHERE j.matched AND r.biller_id = $1 AND r.job_seq = $2 AND r.account_number = j.number
                                OFFSET 0) s ON true
                            WHERE j.id IS NOT NULL AND NOT (j.matched AND j.same))
                 SELECT COUNT(*), COUNT(*) FILTER (WHERE same), COUNT(*) FILTER (WHERE id IS NULL OR NOT matched),
                     COUNT(*) FILTER (WHERE same AND key_only)
                 FROM j"
            ),
            &[&biller, &seq],
        )
        .await?;
    tx.batch_execute("SET LOCAL enable_nestloop TO DEFAULT; SET LOCAL jit TO DEFAULT").await?;
    let rows = row.get::<_, i64>(0) as u64;
    let staged = match mode {
        WriteMode::Add => rows,
        WriteMode::Replace => tx
            .query_one("SELECT COUNT(*) FROM job_rows WHERE biller_id = $1 AND job_seq = $2", &[&biller, &seq])
            .await?
            .get::<_, i64>(0) as u64,
    };
    // The planner knows nothing of a new table: what is in it decides how
    // the update and delete join it.
    tx.batch_execute("ANALYZE merge_plan").await?;
    let plan = MergePlan::of(
        mode,
        JoinPass { rows, unchanged: row.get::<_, i64>(1) as u64, unmatched: row.get::<_, i64>(2) as u64, staged },
    )?;
    // Every row staged as unchanged must still be: one a write changed
    // meanwhile has no row to write (the job validates again, staging all).
    if row.get::<_, i64>(3) as u64 != unchanged_staged {
        return Err(StoreError::StaleHints);
    }
    Ok(plan)
}
