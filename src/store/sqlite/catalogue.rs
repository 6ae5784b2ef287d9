//! A biller's tag catalogue and its contacts' holds, on SQLite.

use crate::domain::history::{Action, Origin};
use crate::domain::holds::{Hold, MAX_HOLDS};
use crate::domain::{ContactId, HoldId, TagId};
use crate::store::history_rows::hold_detail;
use crate::store::sqlite::SqliteStore;
use crate::store::sqlite::history::{hold_of, record, to_hold};
use crate::store::time_conv::{from_micros, to_micros};
use crate::store::{BillerId, CatalogueStore, StoreError, StoreResult, Tag, TagDeleted, codec};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use std::collections::HashSet;
use time::OffsetDateTime;

#[async_trait]
impl CatalogueStore for SqliteStore {
    async fn tags(&self, biller: BillerId) -> StoreResult<Vec<Tag>> {
        let rows = self
            .readers
            .run(move |c| {
                Ok(c.prepare_cached("SELECT id, name, created_at FROM tags WHERE biller_id = ?1 ORDER BY name")?
                    .query_map([biller], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await?;
        rows.into_iter()
            .map(|(id, name, at)| {
                let id = TagId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("tag id {id}")))?;
                Ok(Tag { id, name, created_at: from_micros(at)? })
            })
            .collect()
    }

    async fn known_tags(&self, biller: BillerId, ids: &[String]) -> StoreResult<HashSet<String>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let ids = ids.to_vec();
        self.readers
            .run(move |c| {
                let mut stmt = c.prepare_cached("SELECT 1 FROM tags WHERE biller_id = ?1 AND id = ?2")?;
                let mut known = HashSet::new();
                for id in ids {
                    if stmt.query_row(params![biller, id], |_| Ok(())).optional()?.is_some() {
                        known.insert(id);
                    }
                }
                Ok(known)
            })
            .await
    }

    async fn create_tag(&self, biller: BillerId, tag: &Tag) -> StoreResult<()> {
        let tag = tag.clone();
        self.writer
            .run(move |c| {
                c.execute(
                    "INSERT INTO tags (biller_id, id, name, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![biller, tag.id.as_str(), tag.name, to_micros(tag.created_at)],
                )
                .map_err(|e| match StoreError::from(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!("tag {:?} or tag id {}", tag.name, tag.id)),
                    other => other,
                })?;
                Ok(())
            })
            .await
    }

    async fn delete_tag(
        &self,
        biller: BillerId,
        id: &TagId,
        detach: bool,
        origin: &Origin,
        now: OffsetDateTime,
    ) -> StoreResult<TagDeleted> {
        let (id, origin) = (id.as_str().to_owned(), origin.clone());
        self.writer
            .run(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let exists = tx
                    .query_row("SELECT 1 FROM tags WHERE biller_id = ?1 AND id = ?2", params![biller, id], |_| Ok(()))
                    .optional()?
                    .is_some();
                if !exists {
                    return Ok(TagDeleted::NotFound);
                }
                // The id's text narrows the search; the document says whether it is a tag.
                let carriers = tx
                    .prepare("SELECT id, account_number, doc, crn FROM contacts WHERE biller_id = ?1 AND doc LIKE ?2")?
                    .query_map(params![biller, format!("%\"{id}\"%")], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get(3)?))
                    })?
                    .collect::<rusqlite::Result<Vec<(String, String, String, Option<String>)>>>()?;
                let mut carrying = Vec::new();
                for (contact, acct, doc, crn) in carriers {
                    let data = codec::decode(acct, &doc, crn)?;
                    if data.tags.contains(&id) {
                        carrying.push((contact, data));
                    }
                }
                if !carrying.is_empty() && !detach {
                    return Ok(TagDeleted::InUse(carrying.len() as u64));
                }
                let now_us = to_micros(now);
                for (contact, mut data) in carrying.iter().cloned() {
                    let contact = ContactId::parse(&contact).ok_or_else(|| StoreError::Corrupt(contact.clone()))?;
                    data.tags.retain(|t| *t != id);
                    let row = codec::encode(&data)?;
                    record::changed(&tx, biller, &contact, Action::Updated, &origin, now_us)?;
                    tx.execute(
                        "UPDATE contacts SET doc = ?3, fingerprint = ?4, version = version + 1, updated_at = ?5,
                             tag_keys = ?6
                         WHERE biller_id = ?1 AND id = ?2",
                        params![biller, contact.as_str(), row.doc, row.fingerprint, now_us, row.keys.tags],
                    )?;
                }
                tx.execute("DELETE FROM tags WHERE biller_id = ?1 AND id = ?2", params![biller, id])?;
                // A write validated with the tag before this must not land after it.
                tx.execute("UPDATE billers SET settings_version = settings_version + 1 WHERE id = ?1", [biller])?;
                tx.execute(
                    "INSERT INTO settings_versions (biller_id, version, settings, created_at, key_id)
                     SELECT id, settings_version, settings, ?2, ?3 FROM billers WHERE id = ?1",
                    params![biller, now_us, origin.key_id.as_ref().map(|k| k.as_str())],
                )?;
                tx.commit()?;
                Ok(TagDeleted::Deleted(carrying.len() as u64))
            })
            .await
    }

    async fn holds(&self, biller: BillerId, contact: &ContactId) -> StoreResult<Vec<Hold>> {
        let contact = contact.as_str().to_owned();
        let rows = self
            .readers
            .run(move |c| {
                Ok(c.prepare_cached(
                    "SELECT id, contact_id, kind, reference, created_at FROM holds
                     WHERE biller_id = ?1 AND contact_id = ?2 ORDER BY created_at, id",
                )?
                .query_map(params![biller, contact], hold_of)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await?;
        rows.into_iter().map(to_hold).collect()
    }

    async fn place_hold(&self, biller: BillerId, hold: &Hold, origin: &Origin) -> StoreResult<bool> {
        let (hold, origin, detail) = (hold.clone(), origin.clone(), hold_detail(hold)?);
        self.writer
            .run(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let exists = tx
                    .query_row(
                        "SELECT 1 FROM contacts WHERE biller_id = ?1 AND id = ?2",
                        params![biller, hold.contact_id.as_str()],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if !exists {
                    return Ok(false);
                }
                let n: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM holds WHERE biller_id = ?1 AND contact_id = ?2",
                    params![biller, hold.contact_id.as_str()],
                    |r| r.get(0),
                )?;
                if n as usize >= MAX_HOLDS {
                    return Err(StoreError::LimitReached(format!(
                        "the contact carries {MAX_HOLDS} holds, the most it may; release one first"
                    )));
                }
                let at = to_micros(hold.created_at);
                tx.execute(
                    "INSERT INTO holds (biller_id, id, contact_id, kind, reference, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![biller, hold.id.as_str(), hold.contact_id.as_str(), hold.kind, hold.reference, at],
                )?;
                record::hold(&tx, biller, &hold.contact_id, Action::HoldPlaced, &detail, &origin, at)?;
                tx.commit()?;
                Ok(true)
            })
            .await
    }

    async fn release_hold(
        &self,
        biller: BillerId,
        contact: &ContactId,
        hold: &HoldId,
        origin: &Origin,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let (contact, hold, origin) = (contact.clone(), hold.as_str().to_owned(), origin.clone());
        self.writer
            .run(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let row = tx
                    .query_row(
                        "SELECT id, contact_id, kind, reference, created_at FROM holds
                         WHERE biller_id = ?1 AND contact_id = ?2 AND id = ?3",
                        params![biller, contact.as_str(), hold],
                        hold_of,
                    )
                    .optional()?;
                let Some(row) = row else { return Ok(false) };
                let released = to_hold(row)?;
                tx.execute("DELETE FROM holds WHERE biller_id = ?1 AND id = ?2", params![biller, hold])?;
                record::hold(
                    &tx,
                    biller,
                    &contact,
                    Action::HoldReleased,
                    &hold_detail(&released)?,
                    &origin,
                    to_micros(now),
                )?;
                tx.commit()?;
                Ok(true)
            })
            .await
    }
}
