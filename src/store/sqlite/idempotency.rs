//! Idempotency keys on SQLite.

use crate::store::sqlite::SqliteStore;
use crate::store::time_conv::to_micros;
use crate::store::{BillerId, IdempotencyStore, KeyClaim, StoreResult};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use time::OffsetDateTime;

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim_key(
        &self,
        biller: BillerId,
        key: &str,
        request_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<KeyClaim> {
        let (key, hash, now) = (key.to_owned(), request_hash.to_vec(), to_micros(now));
        self.writer
            .run(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let row = tx
                    .query_row(
                        "SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE biller_id = ?1 AND key = ?2",
                        params![biller, key],
                        |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, Option<String>>(2)?)),
                    )
                    .optional()?;
                let claim = match row {
                    None => {
                        tx.execute(
                            "INSERT INTO idempotency_keys (biller_id, key, request_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                            params![biller, key, hash, now],
                        )?;
                        KeyClaim::New
                    }
                    Some((h, _, _)) if h != hash => KeyClaim::Mismatch,
                    Some((_, Some(status), Some(body))) => KeyClaim::Replay { status: status as u16, body },
                    Some(_) => KeyClaim::InProgress,
                };
                tx.commit()?;
                Ok(claim)
            })
            .await
    }

    async fn complete_key(&self, biller: BillerId, key: &str, status: u16, body: &str) -> StoreResult<()> {
        let (key, body) = (key.to_owned(), body.to_owned());
        self.writer
            .run(move |c| {
                c.execute(
                    "UPDATE idempotency_keys SET response_status = ?3, response_body = ?4 WHERE biller_id = ?1 AND key = ?2",
                    params![biller, key, status as i64, body],
                )?;
                Ok(())
            })
            .await
    }

    async fn release_key(&self, biller: BillerId, key: &str) -> StoreResult<()> {
        let key = key.to_owned();
        self.writer
            .run(move |c| {
                c.execute(
                    "DELETE FROM idempotency_keys WHERE biller_id = ?1 AND key = ?2 AND response_status IS NULL",
                    params![biller, key],
                )?;
                Ok(())
            })
            .await
    }

    async fn purge_keys(&self, created_before: OffsetDateTime) -> StoreResult<u64> {
        let before = to_micros(created_before);
        self.writer
            .run(move |c| Ok(c.execute("DELETE FROM idempotency_keys WHERE created_at < ?1", [before])? as u64))
            .await
    }
}
