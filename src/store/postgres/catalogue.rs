//! A biller's tag catalogue, its contacts' holds, and contact history, on
//! PostgreSQL.

use crate::domain::history::{Action, Origin};
use crate::domain::holds::{Hold, MAX_HOLDS};
use crate::domain::{ContactId, HoldId, TagId};
use crate::store::history_rows::{self, Columns, HISTORY_COLUMNS, hold_detail};
use crate::store::postgres::PgStore;
use crate::store::postgres::contact_rows::to_hold;
use crate::store::postgres::contacts::history_of;
use crate::store::postgres::contacts::{BillerLock, lock_biller};
use crate::store::{
    BillerId, CatalogueStore, HistoryFrom, HistoryRow, HistoryStore, StoreError, StoreResult, Tag, TagDeleted, codec,
};
use async_trait::async_trait;
use std::collections::HashSet;
use time::OffsetDateTime;
use tokio_postgres::Transaction;

/// A hold placed or released: the contact did not change (its version stays).
async fn hold_row(
    tx: &Transaction<'_>,
    biller: BillerId,
    contact: &ContactId,
    action: Action,
    detail: &str,
    origin: &Origin,
    at: OffsetDateTime,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO contact_history (biller_id, contact_id, at, key_id, source, action, version, detail,
             account_number, crn, before)
         SELECT biller_id, id, $3, $4, $5, $6, version, $7, account_number, crn, doc FROM contacts
         WHERE biller_id = $1 AND id = $2",
        &[
            &biller,
            &contact.as_str(),
            &at,
            &origin.key_id.as_ref().map(|k| k.as_str()),
            &origin.source,
            &action.as_str(),
            &detail,
        ],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl CatalogueStore for PgStore {
    async fn tags(&self, biller: BillerId) -> StoreResult<Vec<Tag>> {
        let c = self.pool.get().await?;
        c.query("SELECT id, name, created_at FROM tags WHERE biller_id = $1 ORDER BY name", &[&biller])
            .await?
            .iter()
            .map(|r| {
                let id: String = r.get(0);
                let id = TagId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("tag id {id}")))?;
                Ok(Tag { id, name: r.get(1), created_at: r.get(2) })
            })
            .collect()
    }

    async fn known_tags(&self, biller: BillerId, ids: &[String]) -> StoreResult<HashSet<String>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let c = self.pool.get().await?;
        Ok(c.query("SELECT id FROM tags WHERE biller_id = $1 AND id = ANY($2)", &[&biller, &ids])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    async fn create_tag(&self, biller: BillerId, tag: &Tag) -> StoreResult<()> {
        let c = self.pool.get().await?;
        c.execute(
            "INSERT INTO tags (biller_id, id, name, created_at) VALUES ($1, $2, $3, $4)",
            &[&biller, &tag.id.as_str(), &tag.name, &tag.created_at],
        )
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("tag {:?} or tag id {}", tag.name, tag.id)),
            other => other,
        })?;
        Ok(())
    }

    async fn delete_tag(
        &self,
        biller: BillerId,
        id: &TagId,
        detach: bool,
        origin: &Origin,
        now: OffsetDateTime,
    ) -> StoreResult<TagDeleted> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // Every write of the biller waits: none may use the tag meanwhile.
        lock_biller(&tx, biller, BillerLock::Exclusive).await?;
        if tx
            .query_opt("SELECT 1 FROM tags WHERE biller_id = $1 AND id = $2", &[&biller, &id.as_str()])
            .await?
            .is_none()
        {
            return Ok(TagDeleted::NotFound);
        }
        // The id's text narrows the search; the document says whether it is a tag.
        let rows = tx
            .query(
                "SELECT id, account_number, doc, crn FROM contacts WHERE biller_id = $1 AND doc LIKE $2",
                &[&biller, &format!("%\"{id}\"%")],
            )
            .await?;
        let mut carrying = Vec::new();
        for r in &rows {
            let doc: String = r.get(2);
            let data = codec::decode(r.get(1), &doc, r.get(3))?;
            if data.tags.iter().any(|t| t == id.as_str()) {
                carrying.push((r.get::<_, String>(0), data));
            }
        }
        if !carrying.is_empty() && !detach {
            return Ok(TagDeleted::InUse(carrying.len() as u64));
        }
        let ids: Vec<String> = carrying.iter().map(|(c, _)| c.clone()).collect();
        history_of(&tx, biller, &ids, Action::Updated.as_str(), origin, now).await?;
        for (contact, mut data) in carrying {
            data.tags.retain(|t| t != id.as_str());
            let row = codec::encode(&data)?;
            tx.execute(
                "UPDATE contacts SET doc = $3, fingerprint = $4, version = version + 1, updated_at = $5, tag_keys = $6
                 WHERE biller_id = $1 AND id = $2",
                &[&biller, &contact, &row.doc, &row.fingerprint, &now, &row.keys.tags],
            )
            .await?;
        }
        tx.execute("DELETE FROM tags WHERE biller_id = $1 AND id = $2", &[&biller, &id.as_str()]).await?;
        // A write validated with the tag before this must not land after it.
        tx.execute(
            "WITH b AS (UPDATE billers SET settings_version = settings_version + 1 WHERE id = $1
                        RETURNING id, settings_version, settings)
             INSERT INTO settings_versions (biller_id, version, settings, created_at, key_id)
             SELECT id, settings_version, settings, $2, $3 FROM b",
            &[&biller, &now, &origin.key_id.as_ref().map(|k| k.as_str())],
        )
        .await?;
        tx.commit().await?;
        Ok(TagDeleted::Deleted(ids.len() as u64))
    }

    async fn holds(&self, biller: BillerId, contact: &ContactId) -> StoreResult<Vec<Hold>> {
        let c = self.pool.get().await?;
        c.query(
            "SELECT id, contact_id, kind, reference, created_at FROM holds
             WHERE biller_id = $1 AND contact_id = $2 ORDER BY created_at, id",
            &[&biller, &contact.as_str()],
        )
        .await?
        .iter()
        .map(to_hold)
        .collect()
    }

    async fn place_hold(&self, biller: BillerId, hold: &Hold, origin: &Origin) -> StoreResult<bool> {
        let detail = hold_detail(hold)?;
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        lock_biller(&tx, biller, BillerLock::Shared).await?;
        let found = tx
            .query_opt(
                "SELECT 1 FROM contacts WHERE biller_id = $1 AND id = $2 FOR UPDATE",
                &[&biller, &hold.contact_id.as_str()],
            )
            .await?;
        if found.is_none() {
            return Ok(false);
        }
        let n: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM holds WHERE biller_id = $1 AND contact_id = $2",
                &[&biller, &hold.contact_id.as_str()],
            )
            .await?
            .get(0);
        if n as usize >= MAX_HOLDS {
            return Err(StoreError::LimitReached(format!(
                "the contact carries {MAX_HOLDS} holds, the most it may; release one first"
            )));
        }
        tx.execute(
            "INSERT INTO holds (biller_id, id, contact_id, kind, reference, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&biller, &hold.id.as_str(), &hold.contact_id.as_str(), &hold.kind, &hold.reference, &hold.created_at],
        )
        .await?;
        hold_row(&tx, biller, &hold.contact_id, Action::HoldPlaced, &detail, origin, hold.created_at).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn release_hold(
        &self,
        biller: BillerId,
        contact: &ContactId,
        hold: &HoldId,
        origin: &Origin,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let row = tx
            .query_opt(
                "DELETE FROM holds WHERE biller_id = $1 AND contact_id = $2 AND id = $3
                 RETURNING id, contact_id, kind, reference, created_at",
                &[&biller, &contact.as_str(), &hold.as_str()],
            )
            .await?;
        let Some(row) = row else { return Ok(false) };
        let released = to_hold(&row)?;
        hold_row(&tx, biller, contact, Action::HoldReleased, &hold_detail(&released)?, origin, now).await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[async_trait]
impl HistoryStore for PgStore {
    async fn history(
        &self,
        biller: BillerId,
        contact: &ContactId,
        from: HistoryFrom,
        limit: usize,
    ) -> StoreResult<Vec<HistoryRow>> {
        let c = self.pool.get().await?;
        let (seq, order, at) = from.sql("$3");
        let rows = c
            .query(
                &format!(
                    "SELECT {HISTORY_COLUMNS} FROM contact_history WHERE biller_id = $1 AND contact_id = $2 AND {seq}
                     ORDER BY {order} LIMIT $4"
                ),
                &[&biller, &contact.as_str(), &at, &(limit as i64)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                history_rows::decode(Columns {
                    seq: r.get(0),
                    at: r.get(1),
                    key_id: r.get(2),
                    source: r.get(3),
                    action: r.get(4),
                    version: r.get(5),
                    account_number: r.get(6),
                    crn: r.get(7),
                    before: r.get(8),
                    detail: r.get(9),
                })
            })
            .collect()
    }

    async fn purge_history(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let c = self.pool.get().await?;
        Ok(c.execute("DELETE FROM contact_history WHERE at < $1", &[&before]).await?)
    }
}
