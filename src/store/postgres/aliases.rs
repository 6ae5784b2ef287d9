//! Aliases on PostgreSQL: ids passed as arrays, so an issue for a page of
//! contacts is a handful of statements. Servers issuing for one contact at
//! once each spend numbers; the first alias in stays, the others are dropped.

use crate::domain::{AliasKind, ContactId};
use crate::store::postgres::PgStore;
use crate::store::{ALIAS_ROUNDS, AliasStore, BillerId, StoreError, StoreResult, numbered_aliases};
use async_trait::async_trait;
use std::collections::HashMap;
use time::OffsetDateTime;

#[async_trait]
impl AliasStore for PgStore {
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
        let ids: Vec<&str> = ids.iter().map(ContactId::as_str).collect();
        let dialect = kind.as_str();
        let c = self.pool.get().await?;
        for _ in 0..ALIAS_ROUNDS {
            let missing: Vec<String> = c
                .query(
                    "SELECT u.id FROM unnest($3::text[]) AS u(id)
                     WHERE EXISTS (SELECT 1 FROM contacts WHERE biller_id = $1 AND id = u.id)
                       AND NOT EXISTS (SELECT 1 FROM contact_aliases a
                           WHERE a.biller_id = $1 AND a.dialect = $2 AND a.contact_id = u.id)",
                    &[&biller, &dialect, &ids],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if missing.is_empty() {
                break;
            }
            let n = missing.len() as i64;
            let end: i64 = c
                .query_one(
                    "INSERT INTO alias_counters (biller_id, dialect, next) VALUES ($1, $2, 1 + $3::bigint)
                     ON CONFLICT (biller_id, dialect) DO UPDATE SET next = alias_counters.next + $3::bigint RETURNING next",
                    &[&biller, &dialect, &n],
                )
                .await?
                .get(0);
            let (aliases, contacts): (Vec<String>, Vec<String>) =
                numbered_aliases(kind, end - n, &missing, now).into_iter().unzip();
            c.execute(
                "INSERT INTO contact_aliases (biller_id, dialect, alias, contact_id, created_at)
                 SELECT $1, $2, u.alias, u.id, $5 FROM unnest($3::text[], $4::text[]) AS u(alias, id)
                 ON CONFLICT DO NOTHING",
                &[&biller, &dialect, &aliases, &contacts, &now],
            )
            .await?;
        }
        c.query(
            "SELECT contact_id, alias FROM contact_aliases WHERE biller_id = $1 AND dialect = $2 AND contact_id = ANY($3)",
            &[&biller, &dialect, &ids],
        )
        .await?
        .iter()
        .map(|r| {
            let id: String = r.get(0);
            let id = ContactId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("contact id {id}")))?;
            Ok((id, r.get(1)))
        })
        .collect()
    }

    async fn add_alias(
        &self,
        biller: BillerId,
        kind: AliasKind,
        id: &ContactId,
        alias: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let dialect = kind.as_str();
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let found = tx
            .query_opt("SELECT 1 FROM contacts WHERE biller_id = $1 AND id = $2 FOR SHARE", &[&biller, &id.as_str()])
            .await?;
        if found.is_none() {
            return Ok(false);
        }
        let has = tx
            .query_opt(
                "SELECT alias FROM contact_aliases WHERE biller_id = $1 AND dialect = $2 AND contact_id = $3",
                &[&biller, &dialect, &id.as_str()],
            )
            .await?;
        if let Some(has) = has {
            let has: String = has.get(0);
            return Err(StoreError::Conflict(format!("the contact's {dialect} alias {has}")));
        }
        tx.execute(
            "INSERT INTO contact_aliases (biller_id, dialect, alias, contact_id, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[&biller, &dialect, &alias, &id.as_str(), &now],
        )
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("{dialect} alias {alias}")),
            other => other,
        })?;
        tx.commit().await?;
        Ok(true)
    }
}
