//! Replace snapshots on PostgreSQL: taken inside the replace's transaction,
//! read back page by page, and turned into a restore job's records in one
//! statement.

use crate::domain::{JobId, SnapshotId};
use crate::store::codec::page_of;
use crate::store::postgres::PgStore;
use crate::store::postgres::contacts::to_contact;
use crate::store::record_rows;
use crate::store::{BillerId, ContactPage, NewSnapshot, Snapshot, SnapshotStore, StoreError, StoreResult};
use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::{Row, Transaction};

const SNAPSHOT_COLUMNS: &str = "seq, id, job_id, contacts, created_at";

fn to_snapshot(r: &Row) -> StoreResult<Snapshot> {
    let seq: i64 = r.get(0);
    let corrupt = |what: &str| StoreError::Corrupt(format!("snapshot {seq}: {what}"));
    let id: String = r.get(1);
    let job: Option<String> = r.get(2);
    Ok(Snapshot {
        seq,
        id: SnapshotId::parse(&id).ok_or_else(|| corrupt("id"))?,
        job: job.map(|j| JobId::parse(&j).ok_or_else(|| corrupt("job id"))).transpose()?,
        contacts: r.get::<_, i64>(3).max(0) as u64,
        created_at: r.get(4),
    })
}

/// Copies the biller's contacts into a new snapshot, then drops the ones past
/// what is kept. Runs in the replace's transaction, before it writes.
pub(super) async fn keep_snapshot(
    tx: &Transaction<'_>,
    biller: BillerId,
    snap: &NewSnapshot,
    contacts: u64,
    now: OffsetDateTime,
) -> StoreResult<()> {
    let seq: i64 = tx
        .query_one(
            "INSERT INTO snapshots (biller_id, id, job_id, contacts, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING seq",
            &[&biller, &snap.id.as_str(), &snap.job.as_ref().map(JobId::as_str), &(contacts as i64), &now],
        )
        .await?
        .get(0);
    tx.execute(
        "INSERT INTO snapshot_contacts (biller_id, snapshot_seq, account_number, id, doc, version, created_at, updated_at)
         SELECT biller_id, $2, account_number, id, doc, version, created_at, updated_at
         FROM contacts WHERE biller_id = $1",
        &[&biller, &seq],
    )
    .await?;
    let old: Vec<i64> = tx
        .query(
            "SELECT seq FROM snapshots WHERE biller_id = $1 ORDER BY seq DESC OFFSET $2",
            &[&biller, &(snap.keep as i64)],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !old.is_empty() {
        tx.execute("DELETE FROM snapshot_contacts WHERE biller_id = $1 AND snapshot_seq = ANY($2)", &[&biller, &old])
            .await?;
        tx.execute("DELETE FROM snapshots WHERE seq = ANY($1)", &[&old]).await?;
    }
    Ok(())
}

#[async_trait]
impl SnapshotStore for PgStore {
    async fn snapshots(&self, biller: BillerId, before: Option<i64>, limit: usize) -> StoreResult<Vec<Snapshot>> {
        let c = self.pool.get().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE biller_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
                ),
                &[&biller, &before.unwrap_or(i64::MAX), &(limit as i64)],
            )
            .await?;
        rows.iter().map(to_snapshot).collect()
    }

    async fn snapshot(&self, biller: BillerId, id: &SnapshotId) -> StoreResult<Option<Snapshot>> {
        let c = self.pool.get().await?;
        let row = c
            .query_opt(
                &format!("SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE biller_id = $1 AND id = $2"),
                &[&biller, &id.as_str()],
            )
            .await?;
        row.as_ref().map(to_snapshot).transpose()
    }

    async fn snapshot_contacts(
        &self,
        biller: BillerId,
        seq: i64,
        after: Option<String>,
        limit: usize,
    ) -> StoreResult<ContactPage> {
        let c = self.pool.get().await?;
        let rows = c
            .query(
                "SELECT id, account_number, doc, version, created_at, updated_at FROM snapshot_contacts
                 WHERE biller_id = $1 AND snapshot_seq = $2 AND account_number > $3
                 ORDER BY account_number LIMIT $4",
                &[&biller, &seq, &after.unwrap_or_default(), &(limit as i64 + 1)],
            )
            .await?;
        Ok(page_of(rows.iter().map(to_contact).collect::<StoreResult<Vec<_>>>()?, limit))
    }

    async fn append_snapshot_records(&self, biller: BillerId, job_seq: i64, snapshot_seq: i64) -> StoreResult<u64> {
        let c = self.pool.get().await?;
        // The stored document is the API's contact JSON without its account number;
        // line is the row of the snapshot's CSV download (after its header).
        // Packed as uploads are (see record_rows): a row ends at a thousand
        // records or once its text passes MAX_ROW_BYTES.
        let row = c
            .query_one(
                "WITH s AS (
                     SELECT row_number() OVER (ORDER BY account_number) - 1 AS i,
                            (doc::jsonb || jsonb_build_object('account_number', account_number))::text AS body
                     FROM snapshot_contacts WHERE biller_id = $1 AND snapshot_seq = $3),
                 b AS (SELECT i, body, octet_length(convert_to(body, 'UTF8')) AS len FROM s),
                 g AS (SELECT i, body, len, i / $4 AS by_count, (sum(len) OVER (ORDER BY i) - len) / $5 AS by_size
                       FROM b),
                 e AS (SELECT i, body, by_count, by_size,
                              sum(len) OVER (PARTITION BY by_count, by_size ORDER BY i) AS fin FROM g),
                 ins AS (
                     INSERT INTO job_record_rows (biller_id, job_seq, last_idx, first_idx, lines, ends, bodies)
                     SELECT $1, $2, max(i), min(i), string_agg((i + 2)::text, ',' ORDER BY i),
                            string_agg(fin::text, ',' ORDER BY i), string_agg(body, '' ORDER BY i)
                     FROM e GROUP BY by_count, by_size
                     RETURNING last_idx - first_idx + 1 AS n)
                 SELECT COALESCE(sum(n), 0)::int8 FROM ins",
                &[
                    &biller,
                    &job_seq,
                    &snapshot_seq,
                    &(record_rows::PER_ROW as i64),
                    &(record_rows::MAX_ROW_BYTES as i64),
                ],
            )
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    }
}
