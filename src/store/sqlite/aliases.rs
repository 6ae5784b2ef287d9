//! Aliases on SQLite: ids passed as one JSON array, so an issue for a page
//! of contacts is a handful of statements in one transaction.

use crate::domain::{AliasKind, ContactId};
use crate::store::sqlite::SqliteStore;
use crate::store::time_conv::to_micros;
use crate::store::{ALIAS_ROUNDS, AliasStore, BillerId, StoreError, StoreResult, numbered_aliases};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use std::collections::HashMap;
use time::OffsetDateTime;

fn json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(e.to_string()))
}

#[async_trait]
impl AliasStore for SqliteStore {
    async fn issue_aliases(
        &self,
        biller: BillerId,
        kind: AliasKind,
        ids: &[ContactId],
        now: OffsetDateTime,
    ) -> StoreResult<HashMap<ContactId, String>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let ids = json(&ids.iter().map(ContactId::as_str).collect::<Vec<_>>())?;
        self.writer
            .run(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let dialect = kind.as_str();
                for _ in 0..ALIAS_ROUNDS {
                    let missing = tx
                        .prepare_cached(
                            "SELECT j.value FROM json_each(?3) j
                             WHERE EXISTS (SELECT 1 FROM contacts WHERE biller_id = ?1 AND id = j.value)
                               AND NOT EXISTS (SELECT 1 FROM contact_aliases a
                                   WHERE a.biller_id = ?1 AND a.dialect = ?2 AND a.contact_id = j.value)",
                        )?
                        .query_map(params![biller, dialect, ids], |r| r.get::<_, String>(0))?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    if missing.is_empty() {
                        break;
                    }
                    let n = missing.len() as i64;
                    let end: i64 = tx
                        .prepare_cached(
                            "INSERT INTO alias_counters (biller_id, dialect, next) VALUES (?1, ?2, 1 + ?3)
                         ON CONFLICT (biller_id, dialect) DO UPDATE SET next = next + ?3 RETURNING next",
                        )?
                        .query_row(params![biller, dialect, n], |r| r.get(0))?;
                    let made = json(&numbered_aliases(kind, end - n, &missing, now))?;
                    tx.prepare_cached(
                        "INSERT INTO contact_aliases (biller_id, dialect, alias, contact_id, created_at)
                         SELECT ?1, ?2, j.value ->> 0, j.value ->> 1, ?4 FROM json_each(?3) j WHERE true
                         ON CONFLICT DO NOTHING",
                    )?
                    .execute(params![biller, dialect, made, to_micros(now)])?;
                }
                let found = tx
                    .prepare_cached(
                        "SELECT a.contact_id, a.alias FROM json_each(?3) j JOIN contact_aliases a
                         ON a.biller_id = ?1 AND a.dialect = ?2 AND a.contact_id = j.value",
                    )?
                    .query_map(params![biller, dialect, ids], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                tx.commit()?;
                found
                    .into_iter()
                    .map(|(id, alias)| {
                        let id =
                            ContactId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("contact id {id}")))?;
                        Ok((id, alias))
                    })
                    .collect()
            })
            .await
    }

    async fn add_alias(
        &self,
        biller: BillerId,
        kind: AliasKind,
        id: &ContactId,
        alias: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let (id, alias) = (id.as_str().to_owned(), alias.to_owned());
        self.writer
            .run(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let found = tx
                    .query_row("SELECT 1 FROM contacts WHERE biller_id = ?1 AND id = ?2", params![biller, id], |_| Ok(()))
                    .optional()?;
                if found.is_none() {
                    return Ok(false);
                }
                let has: Option<String> = tx
                    .query_row(
                        "SELECT alias FROM contact_aliases WHERE biller_id = ?1 AND dialect = ?2 AND contact_id = ?3",
                        params![biller, kind.as_str(), id],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(has) = has {
                    return Err(StoreError::Conflict(format!("the contact's {} alias {has}", kind.as_str())));
                }
                tx.execute(
                    "INSERT INTO contact_aliases (biller_id, dialect, alias, contact_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![biller, kind.as_str(), alias, id, to_micros(now)],
                )
                .map_err(|e| match StoreError::from(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!("{} alias {alias}", kind.as_str())),
                    other => other,
                })?;
                tx.commit()?;
                Ok(true)
            })
            .await
    }
}
