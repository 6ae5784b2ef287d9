//! Replace snapshots on PostgreSQL: copied beside the replace's transaction,
//! stored up to a thousand contacts to a row (`snapshot_rows`, laid out as
//! `snapshot_lines` says and built here in SQL), read back page by page,
//! and turned into a restore job's records in one statement.

use crate::domain::sync::WriteMode;
use crate::domain::{JobId, SnapshotId};
use crate::store::codec::page_of;
use crate::store::postgres::PgStore;
use crate::store::record_rows;
use crate::store::snapshot_lines::fill_page;
use crate::store::{BillerId, ContactPage, NewSnapshot, Snapshot, SnapshotStore, StoreError, StoreResult};
use async_trait::async_trait;
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, oneshot};
use tokio::task::JoinHandle;
use tokio_postgres::{NoTls, Row, Transaction};

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

/// A replace's snapshot, copied on a connection of its own while the replace
/// works out and writes its changes, so PostgreSQL builds the copy (seconds
/// at a million contacts) on another core. Started once the replace holds its
/// biller's lock, the copy sees the contacts the replace starts from: every
/// writer of a biller's contacts takes that lock before it commits, so none
/// commits in between. The copy's transaction commits only when the replace
/// keeps it, and the replace's own transaction lists it (`snapshots`), so a
/// replace that never commits leaves no listed snapshot (an unlisted copy is
/// swept by `purge_finished_work`). Dropped, the copy is cancelled and rolls
/// back. Without a connection of its own (more copies running than
/// `SNAPSHOT_COPIES`), it is made inside the replace's transaction.
pub(super) struct SnapshotCopy(Option<Beside>);

struct Beside {
    seq: i64,
    keep: oneshot::Sender<()>,
    copied: JoinHandle<StoreResult<()>>,
}

/// How long a replace waits for a second connection to copy on.
const COPY_CONNECTION_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// A connection to copy on, and the permit to hold it.
pub(super) type CopyConnection = (deadpool_postgres::Object, OwnedSemaphorePermit);

/// How long a copy waits for its tables' locks: its replace waits on it where
/// PostgreSQL cannot see, so a lock request queued between them (a migration's)
/// must end the wait rather than leave all three waiting for ever.
const COPY_LOCK_TIMEOUT: &str = "10s";

impl PgStore {
    /// A connection to copy on, for a write that may take a snapshot (a
    /// replace that keeps them, not a dry run), if a copy may start: at most
    /// `SNAPSHOT_COPIES` writes hold two connections, so they cannot take the
    /// whole pool waiting for their second, and none waits for it long.
    /// Taken before the write locks its biller, so no lock is held meanwhile.
    pub(super) async fn copy_connection(
        &self,
        snapshot: Option<&NewSnapshot>,
        mode: WriteMode,
        dry_run: bool,
    ) -> StoreResult<Option<CopyConnection>> {
        if snapshot.is_none() || mode != WriteMode::Replace || dry_run {
            return Ok(None);
        }
        let Ok(permit) = self.snapshot_copies.clone().try_acquire_owned() else { return Ok(None) };
        // A busy pool is no reason to wait, or to fail: the replace then copies inside.
        match tokio::time::timeout(COPY_CONNECTION_WAIT, self.pool.get()).await {
            Ok(Ok(conn)) => Ok(Some((conn, permit))),
            Ok(Err(_)) | Err(_) => Ok(None),
        }
    }
}

impl SnapshotCopy {
    /// Starts copying the biller's contacts on `conn`, if there is one; call
    /// it holding the biller's lock.
    pub(super) async fn start(conn: Option<CopyConnection>, biller: BillerId) -> StoreResult<Self> {
        let Some((conn, permit)) = conn else { return Ok(Self(None)) };
        let seq: i64 = conn.query_one("SELECT nextval(pg_get_serial_sequence('snapshots', 'seq'))", &[]).await?.get(0);
        let (keep, mut kept) = oneshot::channel();
        let copied = tokio::spawn(async move {
            let _permit = permit;
            let mut conn = conn;
            let cancel = conn.cancel_token();
            let cancelled = async {
                let tx = conn.transaction().await?;
                tx.batch_execute(&format!("SET LOCAL lock_timeout = '{COPY_LOCK_TIMEOUT}'")).await?;
                // The replace's word may come before the copy ends: kept, the
                // copy goes on; dropped, it is cancelled.
                let keep = {
                    let copying = copy_contacts(&tx, biller, seq);
                    tokio::pin!(copying);
                    tokio::select! {
                        copy = &mut copying => {
                            copy?;
                            (&mut kept).await.is_ok()
                        }
                        keep = &mut kept => match keep {
                            Ok(()) => {
                                copying.await?;
                                true
                            }
                            Err(_) => {
                                let _ = cancel.cancel_query(NoTls).await;
                                let _ = copying.await;
                                return StoreResult::Ok(true);
                            }
                        },
                    }
                };
                if keep {
                    tx.commit().await?;
                }
                Ok(false)
            }
            .await?;
            // Cancelled while this task still owned the connection, so no
            // other query was hit; but a cancel arriving as the statement
            // ended could cut the rollback short: close, don't pool it.
            if cancelled {
                drop(deadpool_postgres::Object::take(conn));
            }
            Ok(())
        });
        Ok(Self(Some(Beside { seq, keep, copied })))
    }

    /// Keeps the copy: lists it in the replace's transaction `tx` and drops
    /// the snapshots past what is kept. Call it before the replace writes
    /// (a copy without a connection of its own is made here, in `tx`), and
    /// wait for the copy's commit (`KeptCopy::committed`) before `tx` commits.
    pub(super) async fn keep(
        self,
        tx: &Transaction<'_>,
        biller: BillerId,
        snap: &NewSnapshot,
        contacts: u64,
        now: OffsetDateTime,
    ) -> StoreResult<KeptCopy> {
        let (seq, copied) = match self.0 {
            Some(beside) => {
                // Fails only if the copy has already failed, which `copied` reports.
                let _ = beside.keep.send(());
                (beside.seq, Some(beside.copied))
            }
            None => {
                let seq: i64 =
                    tx.query_one("SELECT nextval(pg_get_serial_sequence('snapshots', 'seq'))", &[]).await?.get(0);
                copy_contacts(tx, biller, seq).await?;
                (seq, None)
            }
        };
        tx.execute(
            "INSERT INTO snapshots (seq, biller_id, id, job_id, contacts, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&seq, &biller, &snap.id.as_str(), &snap.job.as_ref().map(JobId::as_str), &(contacts as i64), &now],
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
            tx.execute("DELETE FROM snapshot_rows WHERE biller_id = $1 AND snapshot_seq = ANY($2)", &[&biller, &old])
                .await?;
            tx.execute("DELETE FROM snapshots WHERE seq = ANY($1)", &[&old]).await?;
        }
        Ok(KeptCopy(copied))
    }
}

/// A kept snapshot whose copy may still be running beside its replace.
#[must_use = "the replace may commit only once its snapshot's copy has"]
pub(super) struct KeptCopy(Option<JoinHandle<StoreResult<()>>>);

impl KeptCopy {
    /// Waits for the copy to commit; the replace may commit after it.
    pub(super) async fn committed(self) -> StoreResult<()> {
        match self.0 {
            Some(copied) => copied.await.map_err(|e| StoreError::Backend(format!("snapshot copy: {e}")))?,
            None => Ok(()),
        }
    }
}

/// Deletes copies no snapshot lists: their replace failed or died after
/// keeping them (the copy commits first). A locked biller is left for a
/// later sweep: a replace of it may be about to list its copy.
pub(super) async fn sweep_unlisted_copies(tx: &Transaction<'_>) -> StoreResult<u64> {
    let billers: Vec<BillerId> = tx
        .query(
            "SELECT id FROM billers WHERE id IN (SELECT DISTINCT biller_id FROM snapshot_rows r
                 WHERE NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.seq = r.snapshot_seq))
             FOR UPDATE SKIP LOCKED",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if billers.is_empty() {
        return Ok(0);
    }
    // A statement of its own, so it sees every replace that committed
    // before the locks were taken: the one above may predate one and take
    // its copy, listed since, for unlisted.
    Ok(tx
        .execute(
            "DELETE FROM snapshot_rows r WHERE r.biller_id = ANY($1)
                 AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.seq = r.snapshot_seq)",
            &[&billers],
        )
        .await?)
}

/// Copies the biller's contacts into the rows of snapshot `seq`.
async fn copy_contacts(tx: &Transaction<'_>, biller: BillerId, seq: i64) -> StoreResult<()> {
    // A page at a time by key, so no sort of the whole set: each page is
    // the next thousand contacts, cut short where its text passes
    // MAX_ROW_BYTES (a contact's settings let it reach a few hundred KB).
    tx.execute(
        r#"WITH RECURSIVE pages (last_number, contacts) AS (
             SELECT NULL::text COLLATE "C", NULL::text COLLATE "C"
             UNION ALL
             SELECT n.last_number, n.contacts
             FROM pages p, LATERAL (
                 SELECT max(account_number) AS last_number, string_agg(line, E'\n' ORDER BY account_number) AS contacts
                 FROM (SELECT account_number, line,
                              sum(octet_length(line)) OVER (ORDER BY account_number ROWS UNBOUNDED PRECEDING)
                                  - octet_length(line) AS before
                       FROM (SELECT account_number,
                                    account_number || E'\t' || id || E'\t' || version
                                        || E'\t' || (extract(epoch FROM created_at) * 1000000)::int8
                                        || E'\t' || (extract(epoch FROM updated_at) * 1000000)::int8
                                        || E'\t' || doc || E'\t' || COALESCE(crn, '') || E'\t' || COALESCE(job_id, '')
                                        AS line
                             FROM contacts WHERE biller_id = $1 AND account_number > COALESCE(p.last_number, '')
                             ORDER BY account_number LIMIT $3) page) sized
                 WHERE before < $4) n
             WHERE n.last_number IS NOT NULL)
         INSERT INTO snapshot_rows (biller_id, snapshot_seq, last_number, contacts)
         SELECT $1, $2, last_number, contacts FROM pages WHERE last_number IS NOT NULL"#,
        &[&biller, &seq, &(record_rows::PER_ROW as i64), &(record_rows::MAX_ROW_BYTES as i64)],
    )
    .await?;
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
        let after = after.unwrap_or_default();
        let mut contacts = Vec::new();
        // A row at a time, until the page and the one contact past it (which
        // says whether there is more) are read.
        let mut from = after.clone();
        while contacts.len() <= limit
            && let Some(row) = c
                .query_opt(
                    "SELECT last_number, contacts FROM snapshot_rows
                 WHERE biller_id = $1 AND snapshot_seq = $2 AND last_number > $3
                 ORDER BY last_number LIMIT 1",
                    &[&biller, &seq, &from],
                )
                .await?
        {
            fill_page(row.get(1), &after, limit, &mut contacts)?;
            from = row.get(0);
            if contacts.len() == limit {
                // Full at a row's end (pages and rows are both a thousand):
                // whether there is more, without decoding it.
                let more: bool = c
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM snapshot_rows
                         WHERE biller_id = $1 AND snapshot_seq = $2 AND last_number > $3)",
                        &[&biller, &seq, &from],
                    )
                    .await?
                    .get(0);
                return Ok(ContactPage { contacts, next_after: more.then_some(from) });
            }
        }
        Ok(page_of(contacts, limit))
    }

    async fn append_snapshot_records(&self, biller: BillerId, job_seq: i64, snapshot_seq: i64) -> StoreResult<u64> {
        let c = self.pool.get().await?;
        // A record is a snapshot line, as stored (the restore job reads them
        // so); line is the row of the snapshot's CSV download (after its header). Packed
        // as uploads are (see record_rows): a row ends at a thousand records
        // or once its text passes MAX_ROW_BYTES.
        let row = c
            .query_one(
                r#"WITH s AS (
                     SELECT row_number() OVER (ORDER BY r.last_number, l.n) - 1 AS i,
                            -- The line as it is: a restore job reads its records as snapshot lines.
                            l.line AS body
                     FROM snapshot_rows r, unnest(string_to_array(r.contacts, E'\n')) WITH ORDINALITY AS l (line, n)
                     WHERE r.biller_id = $1 AND r.snapshot_seq = $3),
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
                 SELECT COALESCE(sum(n), 0)::int8 FROM ins"#,
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
