//! Contacts on SQLite: the bulk write path, single reads and writes, lists.

use crate::domain::query::{ContactFilter, PageRequest};
use crate::domain::sync::{Action, Existing, WriteMode};
use crate::domain::{Contact, ContactId, ContactIdRun, ContactRef};
use crate::store::codec::{self, CONTACT_COLUMNS, page_of};
use crate::store::list_query::{Arg, list_query};
use crate::store::sqlite::SqliteStore;
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

pub(super) fn contact_row(row: &Row) -> rusqlite::Result<(String, String, String, i64, i64, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
}

pub(super) fn to_contact(
    (id, acct, doc, version, created, updated): (String, String, String, i64, i64, i64),
) -> StoreResult<Contact> {
    Ok(Contact {
        id: ContactId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("contact id {id}")))?,
        data: codec::decode(acct, &doc)?,
        version,
        created_at: from_micros(created)?,
        updated_at: from_micros(updated)?,
    })
}

fn existing_row(r: &Row) -> rusqlite::Result<(String, String, i64, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_existing(
    map: &mut HashMap<String, Existing>,
    (acct, id, fingerprint, version): (String, String, i64, i64),
) -> StoreResult<()> {
    let id = ContactId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("contact id {id}")))?;
    map.insert(acct, Existing { id, fingerprint, version });
    Ok(())
}

/// Refuses a write validated against settings that have since changed.
fn check_settings_version(tx: &rusqlite::Transaction, biller: BillerId, expected: i64) -> StoreResult<()> {
    let current: i64 =
        tx.prepare_cached("SELECT settings_version FROM billers WHERE id = ?1")?.query_row([biller], |r| r.get(0))?;
    if current == expected { Ok(()) } else { Err(StoreError::SettingsChanged) }
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
            let mut stmt = tx
                .prepare_cached("SELECT account_number, id, fingerprint, version FROM contacts WHERE biller_id = ?1")?;
            for row in stmt.query_map([biller], existing_row)? {
                to_existing(&mut existing, row?)?;
            }
            existing.len() as u64
        }
        WriteMode::Add => {
            let mut stmt = tx.prepare_cached(
                "SELECT account_number, id, fingerprint, version FROM contacts WHERE biller_id = ?1 AND account_number = ?2",
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
    if batch.dry_run {
        return Ok(prepared.outcome);
    }
    let c = prepared.outcome.counts;
    if let Some(snap) = snapshot_due(batch.snapshot.as_ref(), batch.mode, c.created, c.updated, c.removed) {
        keep_snapshot(&tx, biller, snap, total, now)?;
    }
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO contacts (biller_id, id, account_number, name_folded, contact_type, active, doc, fingerprint, version, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9)",
        )?;
        let mut update = tx.prepare_cached(
            "UPDATE contacts SET name_folded = ?3, contact_type = ?4, active = ?5, doc = ?6, fingerprint = ?7,
                 version = version + 1, updated_at = ?8
             WHERE biller_id = ?1 AND id = ?2",
        )?;
        let mut ids = ContactIdRun::new(&mut rand::thread_rng());
        for ((record, row), action) in batch.records.iter().zip(&prepared.rows).zip(&prepared.plan.actions) {
            match action {
                Action::Create => {
                    let id = ids.next_id();
                    insert.execute(params![
                        biller,
                        id.as_str(),
                        record.account_number.as_str(),
                        codec::fold(&record.name),
                        record.contact_type,
                        record.active,
                        row.doc,
                        row.fingerprint,
                        now
                    ])?;
                }
                Action::Update { id, .. } => {
                    update.execute(params![
                        biller,
                        id.as_str(),
                        codec::fold(&record.name),
                        record.contact_type,
                        record.active,
                        row.doc,
                        row.fingerprint,
                        now
                    ])?;
                }
                Action::Unchanged => {}
            }
        }
        let mut delete = tx.prepare_cached("DELETE FROM contacts WHERE biller_id = ?1 AND id = ?2")?;
        for (id, _) in &prepared.plan.removals {
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

    async fn create_contact(&self, biller: BillerId, settings_version: i64, contact: &Contact) -> StoreResult<()> {
        let row = codec::encode(&contact.data)?;
        let contact = contact.clone();
        self.writer
            .run(move |c| {
                let d = &contact.data;
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                check_settings_version(&tx, biller, settings_version)?;
                tx.prepare_cached(
                    "INSERT INTO contacts (biller_id, id, account_number, name_folded, contact_type, active, doc, fingerprint, version, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )?
                .execute(params![
                    biller,
                    contact.id.as_str(),
                    d.account_number.as_str(),
                    codec::fold(&d.name),
                    d.contact_type,
                    d.active,
                    row.doc,
                    row.fingerprint,
                    contact.version,
                    to_micros(contact.created_at),
                    to_micros(contact.updated_at)
                ])
                .map_err(|e| match StoreError::from(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!("account number {}", d.account_number)),
                    other => other,
                })?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn contact(&self, biller: BillerId, by: &ContactRef) -> StoreResult<Option<Contact>> {
        let (sql, key) = match by {
            ContactRef::Id(id) => (
                format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE biller_id = ?1 AND id = ?2"),
                id.as_str().to_owned(),
            ),
            ContactRef::AccountNumber(a) => (
                format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE biller_id = ?1 AND account_number = ?2"),
                a.clone(),
            ),
        };
        let row = self
            .readers
            .run(move |c| Ok(c.prepare_cached(&sql)?.query_row(params![biller, key], contact_row).optional()?))
            .await?;
        row.map(to_contact).transpose()
    }

    async fn contacts(&self, biller: BillerId, filter: &ContactFilter, page: &PageRequest) -> StoreResult<ContactPage> {
        let q = list_query(CONTACT_COLUMNS, biller, filter, page, |n| format!("?{n}"), "LIKE ? ESCAPE '\\'");
        let sql = q.sql;
        let args: Vec<rusqlite::types::Value> = q
            .args
            .into_iter()
            .map(|a| match a {
                Arg::Int(i) => rusqlite::types::Value::Integer(i),
                Arg::Bool(b) => rusqlite::types::Value::Integer(i64::from(b)),
                Arg::Text(t) => rusqlite::types::Value::Text(t),
                Arg::Time(t) => rusqlite::types::Value::Integer(to_micros(t)),
            })
            .collect();
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

    async fn delete_contact(&self, biller: BillerId, id: &ContactId) -> StoreResult<bool> {
        let id = id.as_str().to_owned();
        self.writer
            .run(move |c| {
                Ok(c.execute("DELETE FROM contacts WHERE biller_id = ?1 AND id = ?2", params![biller, id])? > 0)
            })
            .await
    }

    async fn count_contacts(&self, biller: BillerId) -> StoreResult<u64> {
        self.readers
            .run(move |c| {
                Ok(c.query_row("SELECT COUNT(*) FROM contacts WHERE biller_id = ?1", [biller], |r| r.get::<_, i64>(0))?
                    as u64)
            })
            .await
    }
}
