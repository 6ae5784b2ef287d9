//! The one set-based merge that applies a staged job and completes it in
//! one transaction: its plan, the holds and CRN guards, and the writes.

use crate::domain::job::JobCounts;
use crate::domain::sync::WriteMode;
use crate::store::sqlite::snapshots::keep_snapshot;
use crate::store::{
    ApplyJob, BillerId, Fence, JoinPass, MergePlan, StoreError, StoreResult, check_key_rows, judge, snapshot_due,
};
use rusqlite::params;

pub(super) fn merge(
    tx: &rusqlite::Transaction,
    fence: &Fence,
    biller: BillerId,
    apply: &ApplyJob,
    now: i64,
) -> StoreResult<(JobCounts, Option<String>)> {
    let seq = fence.seq;
    let version: i64 = tx.query_row("SELECT settings_version FROM billers WHERE id = ?1", [biller], |r| r.get(0))?;
    if version != apply.settings_version {
        return Err(StoreError::SettingsChanged);
    }
    if apply.counts.failed > 0 {
        // Keys claimed by invalid records (skipped with on_error=skip) are not applied.
        let dropped = tx.execute(
            "DELETE FROM staging WHERE biller_id = ?1 AND job_seq = ?2 AND doc IS NULL",
            params![biller, seq],
        )?;
        check_key_rows(apply, dropped as u64)?;
    }
    let t = std::time::Instant::now();
    let plan = plan(tx, biller, seq, apply.mode)?;
    let counts = plan.counts(apply.counts);
    tracing::debug!(ms = t.elapsed().as_millis(), "merge: planned");
    if let Err(e) = guard_holds_and_crns(tx, biller, apply.force_holds) {
        tx.execute("DELETE FROM merge_plan", [])?;
        return Err(e);
    }
    if let Some(dry) = judge(apply, counts, plan.existing)? {
        tx.execute("DELETE FROM merge_plan", [])?;
        return Ok(dry);
    }
    if let Some(snap) =
        snapshot_due(apply.snapshot.as_ref(), apply.mode, counts.created, counts.updated, counts.removed)
    {
        keep_snapshot(tx, biller, snap, plan.existing, now)?;
    }
    tracing::debug!(ms = t.elapsed().as_millis(), "merge: snapshot kept");
    // The counts above say which statements have work; at a million rows a
    // join with nothing to do still costs seconds.
    // Each change's history: the contacts as they are, before it.
    if counts.updated + counts.removed > 0 {
        tx.execute(
            "INSERT INTO contact_history (biller_id, contact_id, at, key_id, source, action, version, account_number,
                 crn, before)
             SELECT c.biller_id, c.id, ?2, ?3, ?4, CASE p.remove WHEN 1 THEN 'deleted' ELSE 'updated' END,
                 c.version + 1, c.account_number, c.crn, c.doc
             FROM merge_plan p JOIN contacts c ON c.rowid = p.contact",
            params![biller, now, apply.origin.key_id.as_ref().map(|k| k.as_str()), apply.origin.source],
        )?;
    }
    tracing::debug!(ms = t.elapsed().as_millis(), "merge: history kept");
    if counts.updated > 0 {
        // Each staged row found by its rowid, as the plan noted it; a CRN the
        // record does not name stays.
        tx.execute(
            "UPDATE contacts SET (name_folded, contact_type, active, doc, fingerprint, crn, email_key, reference_key,
                         external_key, phone_keys, tag_keys) =
                     (SELECT r.name_folded, r.contact_type, r.active, r.doc, r.fingerprint, COALESCE(r.crn, contacts.crn),
                          r.email_key, r.reference_key, r.external_key, r.phone_keys, r.tag_keys
                      FROM staging r WHERE r.rowid = (SELECT staged FROM merge_plan WHERE contact = contacts.rowid)),
                 version = version + 1, updated_at = ?2
             WHERE rowid IN (SELECT contact FROM merge_plan WHERE remove = 0) AND biller_id = ?1",
            params![biller, now],
        )?;
    }
    tracing::debug!(ms = t.elapsed().as_millis(), "merge: updated");
    if counts.removed > 0 {
        tx.execute(
            "DELETE FROM holds WHERE biller_id = ?1 AND contact_id IN
                 (SELECT c.id FROM merge_plan p JOIN contacts c ON c.rowid = p.contact WHERE p.remove = 1)",
            [biller],
        )?;
        tx.execute(
            "DELETE FROM contacts WHERE rowid IN (SELECT contact FROM merge_plan WHERE remove = 1) AND biller_id = ?1",
            [biller],
        )?;
    }
    tracing::debug!(ms = t.elapsed().as_millis(), "merge: removed");
    if counts.created > 0 {
        // Every staged number is new when the counts (in this transaction)
        // say so; the guard against existing ones is then left out. Staging
        // is read in the order it was written (one pass over its pages).
        let only_new = if counts.updated + counts.unchanged == 0 {
            ""
        } else {
            "AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.biller_id = ?1 AND c.account_number = r.account_number)"
        };
        tx.execute(
            &format!(
                "INSERT INTO contacts (biller_id, id, account_number, name_folded, contact_type, active, doc, fingerprint,
                     version, created_at, updated_at, crn, job_id, email_key, reference_key, external_key, phone_keys,
                     tag_keys)
                 SELECT r.biller_id, r.new_id, r.account_number, r.name_folded, r.contact_type, r.active, r.doc,
                     r.fingerprint, 1, ?3, ?3, r.crn, ?4, r.email_key, r.reference_key, r.external_key, r.phone_keys,
                     r.tag_keys
                 FROM staging r NOT INDEXED
                 WHERE r.biller_id = ?1 AND r.job_seq = ?2 {only_new}"
            ),
            params![biller, seq, now, apply.job_id.as_str()],
        )?;
    }
    tx.execute("DELETE FROM merge_plan", [])?;
    Ok((counts, None))
}

/// Refuses a merge that would remove (unless `force_holds`) or deactivate a
/// contact with holds, or name another CRN for a contact that has one. Holds
/// are few: they lead the join, so a merge of a biller without any costs one
/// index probe.
fn guard_holds_and_crns(tx: &rusqlite::Transaction, biller: BillerId, force_holds: bool) -> StoreResult<()> {
    let held_ids: Vec<(String, bool)> = tx
        .prepare_cached(
            "SELECT DISTINCT c.id, p.remove FROM holds h
             JOIN contacts c ON c.biller_id = h.biller_id AND c.id = h.contact_id
             JOIN merge_plan p ON p.contact = c.rowid
             LEFT JOIN staging r ON r.rowid = p.staged
             WHERE h.biller_id = ?1 AND (p.remove = 1 OR (c.active = 1 AND r.active = 0))",
        )?
        .query_map([biller], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for deactivating in [false, true] {
        if !deactivating && force_holds {
            continue;
        }
        let ids: Vec<crate::domain::ContactId> = held_ids
            .iter()
            .filter(|(_, remove)| *remove != deactivating)
            .filter_map(|(id, _)| crate::domain::ContactId::parse(id))
            .collect();
        let refs: Vec<&crate::domain::ContactId> = ids.iter().collect();
        if let Some(h) = crate::store::sqlite::history::held(tx, biller, &refs, deactivating)? {
            return Err(StoreError::Held(h));
        }
    }
    let fixed: Vec<String> = tx
        .prepare_cached(
            "SELECT r.account_number FROM merge_plan p JOIN contacts c ON c.rowid = p.contact
             JOIN staging r ON r.rowid = p.staged
             WHERE p.remove = 0 AND r.crn IS NOT NULL AND c.crn IS NOT NULL AND r.crn <> c.crn LIMIT 10",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if !fixed.is_empty() {
        let numbers: Vec<&str> = fixed.iter().map(String::as_str).collect();
        return Err(crate::store::sqlite::contacts::crn_fixed(&numbers));
    }
    Ok(())
}

/// What a merge will do, found in one pass of its join, which also lists
/// the contacts to update or remove (by rowid) in `merge_plan`; every merge
/// leaves that empty.
fn plan(tx: &rusqlite::Transaction, biller: BillerId, seq: i64, mode: WriteMode) -> StoreResult<MergePlan> {
    let mut list = tx.prepare_cached("INSERT INTO merge_plan (contact, remove, staged) VALUES (?1, ?2, ?3)")?;
    // An add reads its staging in the order written and looks up each
    // number's contact; a replace walks the biller's contacts and looks up
    // each one's staged number.
    // A row is unchanged when its document is, and it names no CRN or the contact's own.
    let join = match mode {
        WriteMode::Add => {
            "SELECT c.rowid, 1, c.fingerprint IS r.fingerprint AND (r.crn IS NULL OR r.crn IS c.crn), r.rowid
             FROM staging r NOT INDEXED
             LEFT JOIN contacts c ON c.biller_id = r.biller_id AND c.account_number = r.account_number
             WHERE r.biller_id = ?1 AND r.job_seq = ?2"
        }
        WriteMode::Replace => {
            "SELECT c.rowid, r.account_number IS NOT NULL,
                 c.fingerprint IS r.fingerprint AND (r.crn IS NULL OR r.crn IS c.crn), r.rowid
             FROM contacts c
             LEFT JOIN staging r ON r.biller_id = ?1 AND r.job_seq = ?2 AND r.account_number = c.account_number
             WHERE c.biller_id = ?1"
        }
    };
    let mut pass = JoinPass { rows: 0, unchanged: 0, unmatched: 0, staged: 0 };
    let mut rows = tx.prepare(join)?;
    let mut rows = rows.query(params![biller, seq])?;
    while let Some(row) = rows.next()? {
        pass.rows += 1;
        // (the contact, whether a staged number matched it, whether it is
        // unchanged; the staged row's rowid)
        match (row.get::<_, Option<i64>>(0)?, row.get::<_, bool>(1)?, row.get::<_, bool>(2)?) {
            (None, ..) => pass.unmatched += 1,
            (Some(_), true, true) => pass.unchanged += 1,
            (Some(contact), true, false) => _ = list.execute(params![contact, false, row.get::<_, i64>(3)?])?,
            (Some(contact), false, _) => {
                list.execute(params![contact, true, None::<i64>])?;
                pass.unmatched += 1;
            }
        }
    }
    pass.staged = match mode {
        WriteMode::Add => pass.rows,
        WriteMode::Replace => tx.query_row(
            "SELECT COUNT(*) FROM staging WHERE biller_id = ?1 AND job_seq = ?2",
            params![biller, seq],
            |r| r.get::<_, i64>(0),
        )? as u64,
    };
    MergePlan::of(mode, pass)
}
