//! Replace snapshots on SQLite: taken inside the replace's transaction,
//! stored up to a thousand contacts to a row (`snapshot_rows`, laid out as
//! `snapshot_lines` says, lz4-compressed here since SQLite compresses
//! nothing), read back page by page, and turned into a restore job's records.

use crate::domain::{JobId, SnapshotId};
use crate::store::codec::page_of;
use crate::store::record_rows;
use crate::store::snapshot_lines::{LineColumns, Packer, fill_page};
use crate::store::sqlite::SqliteStore;
use crate::store::time_conv::from_micros;
use crate::store::{BillerId, ContactPage, JobRecord, NewSnapshot, Snapshot, SnapshotStore, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

/// A stored row's text is far below this (`record_rows::MAX_ROW_BYTES` and
/// one contact); a size past it is a corrupt row, not an allocation to make.
const MAX_ROW_TEXT: usize = 64 << 20;

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
    let mut insert = tx.prepare_cached(
        "INSERT INTO snapshot_rows (biller_id, snapshot_seq, last_number, contacts) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut store = |(last, text): (String, String)| {
        insert.execute(params![biller, seq, last, lz4_flex::compress_prepend_size(text.as_bytes())]).map(drop)
    };
    let mut read = tx.prepare_cached(
        "SELECT account_number, id, version, created_at, updated_at, doc, crn, job_id FROM contacts
         WHERE biller_id = ?1 ORDER BY account_number",
    )?;
    let mut rows = read.query([biller])?;
    let mut packer = Packer::default();
    while let Some(r) = rows.next()? {
        let text = |i| r.get_ref(i).and_then(|v| v.as_str().map_err(Into::into));
        let maybe = |i| r.get_ref(i).and_then(|v| v.as_str_or_null().map_err(Into::into));
        let line = LineColumns {
            number: text(0)?,
            id: text(1)?,
            version: r.get(2)?,
            created_us: r.get(3)?,
            updated_us: r.get(4)?,
            doc: text(5)?,
            crn: maybe(6)?,
            job_id: maybe(7)?,
        };
        if let Some(full) = packer.push(&line) {
            store(full)?;
        }
    }
    if let Some(last) = packer.take() {
        store(last)?;
    }
    let old: Vec<i64> = tx
        .prepare("SELECT seq FROM snapshots WHERE biller_id = ?1 ORDER BY seq DESC LIMIT -1 OFFSET ?2")?
        .query_map(params![biller, snap.keep as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for seq in old {
        tx.execute("DELETE FROM snapshot_rows WHERE biller_id = ?1 AND snapshot_seq = ?2", params![biller, seq])?;
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
        self.readers
            .run(move |c| {
                let after = after.unwrap_or_default();
                let mut contacts = Vec::new();
                // A row at a time, until the page and the one contact past it
                // (which says whether there is more) are read.
                let mut from = after.clone();
                while contacts.len() <= limit
                    && let Some((last, text)) = next_row(c, biller, seq, &from)?
                {
                    fill_page(&text, &after, limit, &mut contacts)?;
                    from = last;
                    if contacts.len() == limit {
                        // Full at a row's end (pages and rows are both a
                        // thousand): whether there is more, without decoding it.
                        let more: bool = c
                            .prepare_cached(
                                "SELECT EXISTS (SELECT 1 FROM snapshot_rows
                                 WHERE biller_id = ?1 AND snapshot_seq = ?2 AND last_number > ?3)",
                            )?
                            .query_row(params![biller, seq, from], |r| r.get(0))?;
                        return Ok(ContactPage { contacts, next_after: more.then_some(from) });
                    }
                }
                Ok(page_of(contacts, limit))
            })
            .await
    }

    async fn append_snapshot_records(&self, biller: BillerId, job_seq: i64, snapshot_seq: i64) -> StoreResult<u64> {
        self.writer
            .run(move |c| {
                // Record `i` is the row of the snapshot's CSV download at line
                // i + 2 (after its header); stored as uploads are (record_rows).
                // Immediate: it reads before it writes, and another process
                // (`import --database`) may write the file meanwhile.
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let mut insert = tx.prepare_cached(
                    "INSERT INTO job_record_rows (biller_id, job_seq, last_idx, first_idx, lines, ends, bodies)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                let (mut from, mut n) = (String::new(), 0u64);
                while let Some((last, text)) = next_row(&tx, biller, snapshot_seq, &from)? {
                    let mut records = Vec::new();
                    for line in text.split('\n') {
                        // The line as it is: a restore job reads its records as snapshot lines.
                        records.push(JobRecord { idx: n, line: n + 2, body: line.to_owned() });
                        n += 1;
                    }
                    for r in record_rows::pack(records) {
                        insert.execute(params![biller, job_seq, r.last_idx, r.first_idx, r.lines, r.ends, r.bodies])?;
                    }
                    from = last;
                }
                drop(insert);
                tx.commit()?;
                Ok(n)
            })
            .await
    }
}

/// The snapshot's next stored row after the one ending at `after`: its last
/// number and its text.
fn next_row(c: &Connection, biller: BillerId, seq: i64, after: &str) -> StoreResult<Option<(String, String)>> {
    let row = c
        .prepare_cached(
            "SELECT last_number, contacts FROM snapshot_rows
             WHERE biller_id = ?1 AND snapshot_seq = ?2 AND last_number > ?3 ORDER BY last_number LIMIT 1",
        )?
        .query_row(params![biller, seq, after], |r| Ok((r.get::<_, String>(0)?, row_text(r.get_ref(1)?))))
        .optional()?;
    row.map(|(last, text)| Ok((last, text?))).transpose()
}

/// A row's lines: moved from before as text, or written compressed.
fn row_text(v: ValueRef) -> StoreResult<String> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("snapshot row: {what}"));
    let bytes = match v {
        ValueRef::Text(t) => t.to_vec(),
        ValueRef::Blob(b) => {
            let (size, _) = lz4_flex::block::uncompressed_size(b).map_err(|e| corrupt(&e.to_string()))?;
            if size > MAX_ROW_TEXT {
                return Err(corrupt("size"));
            }
            lz4_flex::decompress_size_prepended(b).map_err(|e| corrupt(&e.to_string()))?
        }
        _ => return Err(corrupt("type")),
    };
    String::from_utf8(bytes).map_err(|_| corrupt("utf-8"))
}
