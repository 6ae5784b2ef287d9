//! Contacts on PostgreSQL: set-based bulk writes, single reads and writes, lists.

use crate::domain::query::{ContactFilter, PageRequest};
use crate::domain::sync::{Action, Existing, WriteMode};
use crate::domain::{Contact, ContactId, ContactIdRun, ContactRef};
use crate::store::codec::{self, CONTACT_COLUMNS, page_of};
use crate::store::list_query::{Arg, list_query};
use crate::store::postgres::PgStore;
use crate::store::postgres::snapshots::SnapshotCopy;
use crate::store::{
    BillerId, ContactPage, ContactStore, StoreError, StoreResult, WriteBatch, WriteOutcome, encode_all, prepare,
    snapshot_due,
};
use async_trait::async_trait;
use std::collections::HashMap;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

pub(super) fn to_contact(r: &Row) -> StoreResult<Contact> {
    let id: String = r.get(0);
    let doc: String = r.get(2);
    Ok(Contact {
        id: ContactId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("contact id {id}")))?,
        data: codec::decode(r.get(1), &doc)?,
        version: r.get(3),
        created_at: r.get(4),
        updated_at: r.get(5),
    })
}

fn to_existing(map: &mut HashMap<String, Existing>, r: &Row) -> StoreResult<()> {
    let id: String = r.get(1);
    let id = ContactId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("contact id {id}")))?;
    map.insert(r.get(0), Existing { id, fingerprint: r.get(2), version: r.get(3) });
    Ok(())
}

/// Locks the biller row (`lock` is `FOR UPDATE` or `FOR SHARE`) and refuses a
/// write validated against settings that have since changed.
async fn check_settings_version(
    tx: &tokio_postgres::Transaction<'_>,
    biller: BillerId,
    expected: i64,
    lock: &str,
) -> StoreResult<()> {
    let row = tx.query_one(&format!("SELECT settings_version FROM billers WHERE id = $1 {lock}"), &[&biller]).await?;
    if row.get::<_, i64>(0) == expected { Ok(()) } else { Err(StoreError::SettingsChanged) }
}

#[async_trait]
impl ContactStore for PgStore {
    async fn write_contacts(
        &self,
        biller: BillerId,
        batch: WriteBatch,
        now: OffsetDateTime,
    ) -> StoreResult<WriteOutcome> {
        // Encoding is CPU work: off the async threads, and before any lock.
        let (batch, rows) = tokio::task::spawn_blocking(move || {
            let rows = encode_all(&batch);
            (batch, rows)
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?;
        let rows = rows?;
        let mut c = self.pool.get().await?;
        let copy_conn = self.copy_connection(batch.snapshot.as_ref(), batch.mode, batch.dry_run).await?;
        let tx = c.transaction().await?;
        // One bulk writer per biller at a time, so the plan sees what it changes.
        check_settings_version(&tx, biller, batch.settings_version, "FOR UPDATE").await?;
        let copy = SnapshotCopy::start(copy_conn, biller).await?;
        let mut existing = HashMap::new();
        let total = match batch.mode {
            WriteMode::Replace => {
                for r in tx
                    .query(
                        "SELECT account_number, id, fingerprint, version FROM contacts WHERE biller_id = $1",
                        &[&biller],
                    )
                    .await?
                {
                    to_existing(&mut existing, &r)?;
                }
                existing.len() as u64
            }
            WriteMode::Add => {
                let accts: Vec<&str> = batch.records.iter().map(|r| r.account_number.as_str()).collect();
                let rows = tx
                    .query(
                        "SELECT account_number, id, fingerprint, version FROM contacts WHERE biller_id = $1 AND account_number = ANY($2)",
                        &[&biller, &accts],
                    )
                    .await?;
                for r in &rows {
                    to_existing(&mut existing, r)?;
                }
                0
            }
        };
        let prepared = prepare(&batch, rows, &existing, total)?;
        if batch.dry_run {
            return Ok(prepared.outcome);
        }
        let n = prepared.outcome.counts;
        let kept = match snapshot_due(batch.snapshot.as_ref(), batch.mode, n.created, n.updated, n.removed) {
            Some(snap) => Some(copy.keep(&tx, biller, snap, total, now).await?),
            None => None,
        };
        let mut ids = ContactIdRun::new(&mut rand::thread_rng());
        let mut new = Columns::default();
        let mut changed = Columns::default();
        for ((record, row), action) in batch.records.iter().zip(&prepared.rows).zip(&prepared.plan.actions) {
            let (cols, id) = match action {
                Action::Create => (&mut new, ids.next_id().as_str().to_owned()),
                Action::Update { id, .. } => (&mut changed, id.as_str().to_owned()),
                Action::Unchanged => continue,
            };
            cols.id.push(id);
            cols.account_number.push(record.account_number.as_str().to_owned());
            cols.name.push(codec::fold(&record.name));
            cols.contact_type.push(record.contact_type.clone());
            cols.active.push(record.active);
            cols.doc.push(row.doc.clone());
            cols.fingerprint.push(row.fingerprint);
        }
        if !new.id.is_empty() {
            tx.execute(
                "INSERT INTO contacts (biller_id, id, account_number, name_folded, contact_type, active, doc, fingerprint, version, created_at, updated_at)
                 SELECT $1, u.id, u.acct, u.name, u.ctype, u.active, u.doc, u.fp, 1, $9, $9
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[], $8::int8[])
                      AS u(id, acct, name, ctype, active, doc, fp)",
                &new.params(&biller, &now),
            )
            .await?;
        }
        if !changed.id.is_empty() {
            tx.execute(
                "UPDATE contacts c SET name_folded = u.name, contact_type = u.ctype, active = u.active, doc = u.doc,
                     fingerprint = u.fp, version = c.version + 1, updated_at = $9
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[], $8::int8[])
                      AS u(id, acct, name, ctype, active, doc, fp)
                 WHERE c.biller_id = $1 AND c.id = u.id",
                &changed.params(&biller, &now),
            )
            .await?;
        }
        if !prepared.plan.removals.is_empty() {
            let ids: Vec<&str> = prepared.plan.removals.iter().map(|(id, _)| id.as_str()).collect();
            tx.execute("DELETE FROM contacts WHERE biller_id = $1 AND id = ANY($2)", &[&biller, &ids]).await?;
        }
        if let Some(kept) = kept {
            kept.committed().await?;
        }
        tx.commit().await?;
        Ok(prepared.outcome)
    }

    async fn create_contact(&self, biller: BillerId, settings_version: i64, contact: &Contact) -> StoreResult<()> {
        let row = codec::encode(&contact.data)?;
        let d = &contact.data;
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // Shares the biller lock with other single writes; waits for bulk writes.
        check_settings_version(&tx, biller, settings_version, "FOR SHARE").await?;
        tx.execute(
            "INSERT INTO contacts (biller_id, id, account_number, name_folded, contact_type, active, doc, fingerprint, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &biller,
                &contact.id.as_str(),
                &d.account_number.as_str(),
                &codec::fold(&d.name),
                &d.contact_type,
                &d.active,
                &row.doc,
                &row.fingerprint,
                &contact.version,
                &contact.created_at,
                &contact.updated_at,
            ],
        )
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("account number {}", d.account_number)),
            other => other,
        })?;
        tx.commit().await?;
        Ok(())
    }

    async fn contact(&self, biller: BillerId, by: &ContactRef) -> StoreResult<Option<Contact>> {
        let c = self.pool.get().await?;
        let (sql, key) = match by {
            ContactRef::Id(id) => ("id", id.as_str()),
            ContactRef::AccountNumber(a) => ("account_number", a.as_str()),
        };
        let stmt = c
            .prepare_cached(&format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE biller_id = $1 AND {sql} = $2"))
            .await?;
        c.query_opt(&stmt, &[&biller, &key]).await?.as_ref().map(to_contact).transpose()
    }

    async fn contacts(&self, biller: BillerId, filter: &ContactFilter, page: &PageRequest) -> StoreResult<ContactPage> {
        let c = self.pool.get().await?;
        let q = list_query(CONTACT_COLUMNS, biller, filter, page, |n| format!("${n}"), "LIKE ?");
        let args: Vec<&(dyn ToSql + Sync)> = q
            .args
            .iter()
            .map(|a| -> &(dyn ToSql + Sync) {
                match a {
                    Arg::Int(i) => i,
                    Arg::Bool(b) => b,
                    Arg::Text(t) => t,
                    Arg::Time(t) => t,
                }
            })
            .collect();
        let sql = q.sql;
        let rows = c.query(&sql, &args).await?;
        Ok(page_of(rows.iter().map(to_contact).collect::<StoreResult<Vec<_>>>()?, page.limit))
    }

    async fn delete_contact(&self, biller: BillerId, id: &ContactId) -> StoreResult<bool> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        tx.execute("SELECT 1 FROM billers WHERE id = $1 FOR SHARE", &[&biller]).await?;
        let n = tx.execute("DELETE FROM contacts WHERE biller_id = $1 AND id = $2", &[&biller, &id.as_str()]).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn count_contacts(&self, biller: BillerId) -> StoreResult<u64> {
        let c = self.pool.get().await?;
        let n: i64 = c.query_one("SELECT COUNT(*) FROM contacts WHERE biller_id = $1", &[&biller]).await?.get(0);
        Ok(n as u64)
    }
}

/// Column arrays for one set-based statement.
#[derive(Default)]
struct Columns {
    id: Vec<String>,
    account_number: Vec<String>,
    name: Vec<String>,
    contact_type: Vec<Option<String>>,
    active: Vec<bool>,
    doc: Vec<String>,
    fingerprint: Vec<i64>,
}

impl Columns {
    fn params<'a>(&'a self, biller: &'a BillerId, now: &'a OffsetDateTime) -> [&'a (dyn ToSql + Sync); 9] {
        [
            biller,
            &self.id,
            &self.account_number,
            &self.name,
            &self.contact_type,
            &self.active,
            &self.doc,
            &self.fingerprint,
            now,
        ]
    }
}
