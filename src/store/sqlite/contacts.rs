//! Contacts on SQLite: the synchronous bulk write path, reads and lists.

use crate::domain::query::{ContactFilter, PageRequest};
use crate::domain::sync::{Action, Existing, WriteMode};
use crate::domain::{Aliases, Contact, ContactId, ContactIdRun, ContactRef, JobId};
use crate::store::codec::{self, CONTACT_COLUMNS, page_of};
use crate::store::list_query::{Arg, SQLITE, count_query, list_query};
use crate::store::sqlite::SqliteStore;
use crate::store::sqlite::history::{held, record};
use crate::store::sqlite::snapshots::keep_snapshot;
use crate::store::time_conv::{from_micros, to_micros};
use crate::store::{
    BillerId, ContactPage, ContactStore, StoreError, StoreResult, WriteBatch, WriteOutcome, encode_all, prepare,
    snapshot_due,
};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};
use std::collections::HashMap;
use time::OffsetDateTime;

/// A contact's columns, as `CONTACT_COLUMNS` selects them.
pub(super) struct ContactRow {
    row: (String, String, String, i64, i64, i64, Option<String>, Option<String>),
    aliases: Aliases,
}

pub(super) fn contact_row(row: &Row) -> rusqlite::Result<ContactRow> {
    Ok(ContactRow {
        row: (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?, row.get(7)?),
        aliases: Aliases { pay_advantage: row.get(8)?, instantpay: row.get(9)? },
    })
}

pub(super) fn to_contact(ContactRow { row, aliases }: ContactRow) -> StoreResult<Contact> {
    let (id, acct, doc, version, created, updated, crn, job) = row;
    Ok(Contact {
        id: ContactId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("contact id {id}")))?,
        data: codec::decode(acct, &doc, crn)?,
        version,
        job_id: job.as_deref().and_then(JobId::parse),
        aliases,
        created_at: from_micros(created)?,
        updated_at: from_micros(updated)?,
    })
}

/// The contact a reference names, read inside the caller's transaction.
pub(super) fn find(c: &rusqlite::Connection, biller: BillerId, by: &ContactRef) -> StoreResult<Option<Contact>> {
    let (condition, key) = codec::ref_condition(by, "?1", "?2");
    let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE biller_id = ?1 AND {condition}");
    let row = c.prepare_cached(&sql)?.query_row(params![biller, key], contact_row).optional()?;
    row.map(to_contact).transpose()
}

fn existing_row(r: &Row) -> rusqlite::Result<(String, String, i64, i64, Option<String>)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn to_existing(
    map: &mut HashMap<String, Existing>,
    (acct, id, fingerprint, version, crn): (String, String, i64, i64, Option<String>),
) -> StoreResult<()> {
    let id = ContactId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("contact id {id}")))?;
    map.insert(acct, Existing { id, fingerprint, version, crn });
    Ok(())
}

/// Refuses a write validated against settings that have since changed.
pub(super) fn check_settings_version(tx: &rusqlite::Connection, biller: BillerId, expected: i64) -> StoreResult<()> {
    let current: i64 =
        tx.prepare_cached("SELECT settings_version FROM billers WHERE id = ?1")?.query_row([biller], |r| r.get(0))?;
    if current == expected { Ok(()) } else { Err(StoreError::SettingsChanged) }
}

/// A CRN, once a contact has one, changes only when cleared first.
pub(super) fn crn_fixed(numbers: &[&str]) -> StoreError {
    StoreError::CrnFixed(numbers.iter().map(|n| n.to_string()).collect())
}

fn write_batch(
    c: &mut rusqlite::Connection,
    biller: BillerId,
    batch: WriteBatch,
    now: i64,
) -> StoreResult<WriteOutcome> {
    let rows = encode_all(&batch)?;
    // IMMEDIATE takes the write lock up front, so the plan sees what it changes.
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    check_settings_version(&tx, biller, batch.settings_version)?;
    let mut existing = HashMap::new();
    let total = match batch.mode {
        WriteMode::Replace => {
            let mut stmt = tx.prepare_cached(
                "SELECT account_number, id, fingerprint, version, crn FROM contacts WHERE biller_id = ?1",
            )?;
            for row in stmt.query_map([biller], existing_row)? {
                to_existing(&mut existing, row?)?;
            }
            existing.len() as u64
        }
        WriteMode::Add => {
            let mut stmt = tx.prepare_cached(
                "SELECT account_number, id, fingerprint, version, crn FROM contacts
                 WHERE biller_id = ?1 AND account_number = ?2",
            )?;
            for r in &batch.records {
                if let Some(row) =
                    stmt.query_row(params![biller, r.account_number.as_str()], existing_row).optional()?
                {
                    to_existing(&mut existing, row)?;
                }
            }
            0
        }
    };
    let prepared = prepare(&batch, rows, &existing, total)?;
    let fixed: Vec<&str> = batch
        .records
        .iter()
        .filter(|r| {
            let stored = existing.get(r.account_number.as_str()).and_then(|e| e.crn.as_deref());
            matches!((r.crn.as_deref(), stored), (Some(new), Some(old)) if new != old)
        })
        .map(|r| r.account_number.as_str())
        .collect();
    if !fixed.is_empty() {
        return Err(crn_fixed(&fixed));
    }
    // Contacts with holds may be neither removed (unless forced) nor deactivated.
    let removing: Vec<&ContactId> =
        if batch.force_holds { Vec::new() } else { prepared.plan.removals.iter().map(|(id, _)| id).collect() };
    let deactivating: Vec<&ContactId> = batch
        .records
        .iter()
        .zip(&prepared.plan.actions)
        .filter_map(|(r, a)| match a {
            Action::Update { id, .. } if !r.active => Some(id),
            _ => None,
        })
        .collect();
    if let Some(refusal) = held(&tx, biller, &removing, false)?.or(held(&tx, biller, &deactivating, true)?) {
        return Err(StoreError::Held(refusal));
    }
    if batch.dry_run {
        return Ok(prepared.outcome);
    }
    let c = prepared.outcome.counts;
    if let Some(snap) = snapshot_due(batch.snapshot.as_ref(), batch.mode, c.created, c.updated, c.removed) {
        keep_snapshot(&tx, biller, snap, total, now)?;
    }
    let origin = &batch.origin;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO contacts (biller_id, id, account_number, name_folded, contact_type, active, doc, fingerprint,
                 version, created_at, updated_at, crn, email_key, reference_key, external_key, phone_keys, tag_keys)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?;
        let mut update = tx.prepare_cached(
            "UPDATE contacts SET name_folded = ?3, contact_type = ?4, active = ?5, doc = ?6, fingerprint = ?7,
                 version = version + 1, updated_at = ?8, crn = COALESCE(?9, crn), email_key = ?10,
                 reference_key = ?11, external_key = ?12, phone_keys = ?13, tag_keys = ?14
             WHERE biller_id = ?1 AND id = ?2",
        )?;
        let mut ids = ContactIdRun::new(&mut rand::thread_rng());
        for ((r, row), action) in batch.records.iter().zip(&prepared.rows).zip(&prepared.plan.actions) {
            match action {
                Action::Create => {
                    let id = ids.next_id();
                    insert.execute(params![
                        biller,
                        id.as_str(),
                        r.account_number.as_str(),
                        codec::fold(&r.name),
                        r.contact_type,
                        r.active,
                        row.doc,
                        row.fingerprint,
                        now,
                        r.crn,
                        row.keys.email,
                        row.keys.reference_id,
                        row.keys.external_id,
                        row.keys.phones,
                        row.keys.tags,
                    ])?;
                    record::created(&tx, biller, &id, r.account_number.as_str(), r.crn.as_deref(), origin, now)?;
                }
                Action::Update { id, .. } => {
                    record::changed(&tx, biller, id, crate::domain::history::Action::Updated, origin, now)?;
                    update.execute(params![
                        biller,
                        id.as_str(),
                        codec::fold(&r.name),
                        r.contact_type,
                        r.active,
                        row.doc,
                        row.fingerprint,
                        now,
                        r.crn,
                        row.keys.email,
                        row.keys.reference_id,
                        row.keys.external_id,
                        row.keys.phones,
                        row.keys.tags,
                    ])?;
                }
                Action::Unchanged => {}
            }
        }
        let mut delete = tx.prepare_cached("DELETE FROM contacts WHERE biller_id = ?1 AND id = ?2")?;
        for (id, _) in &prepared.plan.removals {
            record::changed(&tx, biller, id, crate::domain::history::Action::Deleted, origin, now)?;
            delete.execute(params![biller, id.as_str()])?;
        }
    }
    tx.commit()?;
    Ok(prepared.outcome)
}

#[async_trait]
impl ContactStore for SqliteStore {
    async fn write_contacts(
        &self,
        biller: BillerId,
        batch: WriteBatch,
        now: OffsetDateTime,
    ) -> StoreResult<WriteOutcome> {
        let now = to_micros(now);
        self.writer.run(move |c| write_batch(c, biller, batch, now)).await
    }

    async fn contact(&self, biller: BillerId, by: &ContactRef) -> StoreResult<Option<Contact>> {
        let by = by.clone();
        self.readers.quick(move |c| find(c, biller, &by)).await
    }

    async fn contacts(&self, biller: BillerId, filter: &ContactFilter, page: &PageRequest) -> StoreResult<ContactPage> {
        let q = list_query(CONTACT_COLUMNS, biller, filter, page, &SQLITE);
        let (sql, args) = (q.sql, values(q.args));
        let rows = self
            .readers
            .run(move |c| {
                Ok(c.prepare_cached(&sql)?
                    .query_map(rusqlite::params_from_iter(args), contact_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await?;
        Ok(page_of(rows.into_iter().map(to_contact).collect::<StoreResult<Vec<_>>>()?, page.limit))
    }

    async fn count_contacts(&self, biller: BillerId, filter: &ContactFilter) -> StoreResult<u64> {
        let q = count_query(biller, filter, &SQLITE);
        let (sql, args) = (q.sql, values(q.args));
        self.readers
            .run(move |c| {
                let n: i64 = c.prepare_cached(&sql)?.query_row(rusqlite::params_from_iter(args), |r| r.get(0))?;
                Ok(n.max(0) as u64)
            })
            .await
    }
}

/// A list query's arguments as SQLite binds them.
fn values(args: Vec<Arg>) -> Vec<rusqlite::types::Value> {
    args.into_iter()
        .map(|a| match a {
            Arg::Int(i) => rusqlite::types::Value::Integer(i),
            Arg::Bool(b) => rusqlite::types::Value::Integer(i64::from(b)),
            Arg::Text(t) => rusqlite::types::Value::Text(t),
            Arg::Time(t) => rusqlite::types::Value::Integer(to_micros(t)),
        })
        .collect()
}
