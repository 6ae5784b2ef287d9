//! Replace snapshots on SQLite: taken inside the replace's transaction, read
//! back page by page, and turned into a restore job's records in one statement.

use crate::domain::{JobId, SnapshotId};
use crate::store::codec::page_of;
use crate::store::record_rows;
use crate::store::sqlite::SqliteStore;
use crate::store::sqlite::contacts::{contact_row, to_contact};
use crate::store::time_conv::from_micros;
use crate::store::{BillerId, ContactPage, NewSnapshot, Snapshot, SnapshotStore, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

const SNAPSHOT_COLUMNS: &str = "seq, id, job_id, contacts, created_at";

type SnapshotRow = (i64, String, Option<String>, i64, i64);

fn snapshot_row(r: &Row) -> rusqlite::Result<SnapshotRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn to_snapshot((seq, id, job, contacts, created): SnapshotRow) -> StoreResult<Snapshot> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("snapshot {seq}: {what}"));
    Ok(Snapshot {
        seq,
        id: SnapshotId::parse(&id).ok_or_else(|| corrupt("id"))?,
        job: job.map(|j| JobId::parse(&j).ok_or_else(|| corrupt("job id"))).transpose()?,
        contacts: contacts.max(0) as u64,
        created_at: from_micros(created)?,
    })
}

/// Copies the biller's contacts into a new snapshot, then drops the ones past
/// what is kept. Runs in the replace's transaction, before it writes.
pub(super) fn keep_snapshot(
    tx: &rusqlite::Transaction,
    biller: BillerId,
    snap: &NewSnapshot,
    contacts: u64,
    now: i64,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO snapshots (biller_id, id, job_id, contacts, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![biller, snap.id.as_str(), snap.job.as_ref().map(JobId::as_str), contacts as i64, now],
    )?;
    let seq = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO snapshot_contacts (biller_id, snapshot_seq, account_number, id, doc, version, created_at, updated_at)
         SELECT biller_id, ?2, account_number, id, doc, version, created_at, updated_at
         FROM contacts WHERE biller_id = ?1 ORDER BY account_number",
        params![biller, seq],
    )?;
    let old: Vec<i64> = tx
        .prepare("SELECT seq FROM snapshots WHERE biller_id = ?1 ORDER BY seq DESC LIMIT -1 OFFSET ?2")?
        .query_map(params![biller, snap.keep as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for seq in old {
        tx.execute("DELETE FROM snapshot_contacts WHERE biller_id = ?1 AND snapshot_seq = ?2", params![biller, seq])?;
        tx.execute("DELETE FROM snapshots WHERE seq = ?1", [seq])?;
    }
    Ok(())
}

#[async_trait]
impl SnapshotStore for SqliteStore {
    async fn snapshots(&self, biller: BillerId, before: Option<i64>, limit: usize) -> StoreResult<Vec<Snapshot>> {
        let rows = self
            .readers
            .run(move |c| {
                Ok(c.prepare_cached(&format!(
                    "SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE biller_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
                ))?
                .query_map(params![biller, before.unwrap_or(i64::MAX), limit as i64], snapshot_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await?;
        rows.into_iter().map(to_snapshot).collect()
    }

    async fn snapshot(&self, biller: BillerId, id: &SnapshotId) -> StoreResult<Option<Snapshot>> {
        let id = id.as_str().to_owned();
        let row = self
            .readers
            .run(move |c| {
                Ok(c.prepare_cached(&format!(
                    "SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE biller_id = ?1 AND id = ?2"
                ))?
                .query_row(params![biller, id], snapshot_row)
                .optional()?)
            })
            .await?;
        row.map(to_snapshot).transpose()
    }

    async fn snapshot_contacts(
        &self,
        biller: BillerId,
        seq: i64,
        after: Option<String>,
        limit: usize,
    ) -> StoreResult<ContactPage> {
        let rows = self
            .readers
            .run(move |c| {
                Ok(c.prepare_cached(
                    "SELECT id, account_number, doc, version, created_at, updated_at FROM snapshot_contacts
                     WHERE biller_id = ?1 AND snapshot_seq = ?2 AND account_number > ?3
                     ORDER BY account_number LIMIT ?4",
                )?
                .query_map(params![biller, seq, after.unwrap_or_default(), limit as i64 + 1], contact_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await?;
        Ok(page_of(rows.into_iter().map(to_contact).collect::<StoreResult<Vec<_>>>()?, limit))
    }

    async fn append_snapshot_records(&self, biller: BillerId, job_seq: i64, snapshot_seq: i64) -> StoreResult<u64> {
        self.writer
            .run(move |c| {
                // The stored document is the API's contact JSON without its account number;
                // line is the row of the snapshot's CSV download (after its header).
                // Packed as uploads are (see record_rows): a row ends at a thousand
                // records or once its text passes MAX_ROW_BYTES.
                let mut insert = c.prepare(
                    "WITH s AS (
                         SELECT row_number() OVER (ORDER BY account_number) - 1 AS i,
                                json_set(doc, '$.account_number', account_number) AS body
                         FROM snapshot_contacts WHERE biller_id = ?1 AND snapshot_seq = ?3),
                     b AS (SELECT i, body, length(CAST(body AS BLOB)) AS len FROM s),
                     g AS (SELECT i, body, len, i / ?4 AS by_count, (sum(len) OVER (ORDER BY i) - len) / ?5 AS by_size
                           FROM b),
                     e AS (SELECT i, body, by_count, by_size,
                                  sum(len) OVER (PARTITION BY by_count, by_size ORDER BY i) AS fin FROM g)
                     INSERT INTO job_record_rows (biller_id, job_seq, last_idx, first_idx, lines, ends, bodies)
                     SELECT ?1, ?2, max(i), min(i), group_concat(i + 2, ',' ORDER BY i),
                            group_concat(fin, ',' ORDER BY i), group_concat(body, '' ORDER BY i)
                     FROM e GROUP BY by_count, by_size
                     RETURNING last_idx - first_idx + 1",
                )?;
                let n: i64 = insert
                    .query_map(
                        params![
                            biller,
                            job_seq,
                            snapshot_seq,
                            record_rows::PER_ROW as i64,
                            record_rows::MAX_ROW_BYTES as i64
                        ],
                        |r| r.get::<_, i64>(0),
                    )?
                    .sum::<rusqlite::Result<i64>>()?;
                Ok(n as u64)
            })
            .await
    }
}
