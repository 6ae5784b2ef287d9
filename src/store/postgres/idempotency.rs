//! Idempotency keys on PostgreSQL.

use crate::store::postgres::PgStore;
use crate::store::{BillerId, IdempotencyStore, KeyClaim, StoreResult};
use async_trait::async_trait;
use time::OffsetDateTime;

#[async_trait]
impl IdempotencyStore for PgStore {
    async fn claim_key(
        &self,
        biller: BillerId,
        key: &str,
        request_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<KeyClaim> {
        let c = self.pool.get().await?;
        // Insert-or-nothing first, so two servers racing on one key see one winner.
        let inserted = c
            .execute(
                "INSERT INTO idempotency_keys (biller_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (biller_id, key) DO NOTHING",
                &[&biller, &key, &request_hash, &now],
            )
            .await?;
        if inserted == 1 {
            return Ok(KeyClaim::New);
        }
        let row = c
            .query_one(
                "SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE biller_id = $1 AND key = $2",
                &[&biller, &key],
            )
            .await?;
        let hash: Vec<u8> = row.get(0);
        Ok(match (hash == request_hash, row.get::<_, Option<i32>>(1), row.get::<_, Option<String>>(2)) {
            (false, _, _) => KeyClaim::Mismatch,
            (true, Some(status), Some(body)) => KeyClaim::Replay { status: status as u16, body },
            (true, _, _) => KeyClaim::InProgress,
        })
    }

    async fn complete_key(&self, biller: BillerId, key: &str, status: u16, body: &str) -> StoreResult<()> {
        let c = self.pool.get().await?;
        c.execute(
            "UPDATE idempotency_keys SET response_status = $3, response_body = $4 WHERE biller_id = $1 AND key = $2",
            &[&biller, &key, &(status as i32), &body],
        )
        .await?;
        Ok(())
    }

    async fn release_key(&self, biller: BillerId, key: &str) -> StoreResult<()> {
        let c = self.pool.get().await?;
        c.execute(
            "DELETE FROM idempotency_keys WHERE biller_id = $1 AND key = $2 AND response_status IS NULL",
            &[&biller, &key],
        )
        .await?;
        Ok(())
    }

    async fn purge_keys(&self, created_before: OffsetDateTime) -> StoreResult<u64> {
        let c = self.pool.get().await?;
        Ok(c.execute("DELETE FROM idempotency_keys WHERE created_at < $1", &[&created_before]).await?)
    }
}
