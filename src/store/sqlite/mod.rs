//! The embedded SQLite backend: the default, one file, WAL mode, one writer.

mod access;
mod aliases;
mod catalogue;
mod contacts;
mod group;
mod history;
mod idempotency;
mod jobs;
mod pool;
mod single;
mod snapshots;

use crate::store::{Store, StoreError, StoreResult};
use async_trait::async_trait;
use pool::Conns;
use rusqlite::{OptionalExtension, TransactionBehavior};
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// A schema change: SQL, or code for what SQL cannot do.
enum Migration {
    Sql(&'static str),
    Code(fn(&rusqlite::Transaction) -> StoreResult<()>),
}

const MIGRATIONS: &[Migration] = &[
    Migration::Sql(include_str!("0001_init.sql")),
    Migration::Sql(include_str!("0002_jobs.sql")),
    Migration::Sql(include_str!("0003_idempotency.sql")),
    Migration::Sql(include_str!("0004_snapshots.sql")),
    Migration::Sql(include_str!("0005_staging_keys.sql")),
    Migration::Sql(include_str!("0006_record_rows.sql")),
    Migration::Sql(include_str!("0007_staging_temp.sql")),
    Migration::Sql(include_str!("0008_snapshot_rows.sql")),
    Migration::Sql(include_str!("0009_single_contacts.sql")),
    // 10: contacts stored in the old form (CRN in the document, tags by text).
    Migration::Code(reencode_legacy),
    Migration::Sql(include_str!("0011_dialects.sql")),
];

/// Writes every contact stored in the old form again in today's: its CRN
/// to its column, its tags as catalogue ids (a tag made for each text), its
/// phones with their E.164.
fn reencode_legacy(tx: &rusqlite::Transaction) -> StoreResult<()> {
    use crate::store::legacy;
    let rows = tx
        .prepare(&format!(
            "SELECT rowid, biller_id, account_number, doc, crn FROM contacts WHERE {}",
            legacy::LEGACY_FILTER
        ))?
        .query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<Vec<(i64, i64, String, String, Option<String>)>>>()?;
    let now = crate::store::time_conv::to_micros(time::OffsetDateTime::now_utc());
    for (rowid, biller, acct, doc, crn) in rows {
        let mut data = legacy::read(acct, &doc, crn)?;
        let mut ids = Vec::with_capacity(data.tags.len());
        for name in &data.tags {
            let id: Option<String> = tx
                .query_row(
                    "SELECT id FROM tags WHERE biller_id = ?1 AND name = ?2",
                    rusqlite::params![biller, name],
                    |r| r.get(0),
                )
                .optional()?;
            let id = match id {
                Some(id) => id,
                None => {
                    let id = crate::domain::TagId::generate(&mut rand::thread_rng()).as_str().to_owned();
                    tx.execute(
                        "INSERT INTO tags (biller_id, id, name, created_at) VALUES (?1, ?2, ?3, ?4)",
                        rusqlite::params![biller, id, name, now],
                    )?;
                    id
                }
            };
            ids.push(id);
        }
        data.tags = ids;
        let row = legacy::write(&data)?;
        tx.execute(
            "UPDATE contacts SET doc = ?2, fingerprint = ?3, crn = ?4, email_key = ?5, reference_key = ?6,
                 external_key = ?7, phone_keys = ?8, tag_keys = ?9
             WHERE rowid = ?1",
            rusqlite::params![
                rowid,
                row.doc,
                row.fingerprint,
                data.crn,
                row.keys.email,
                row.keys.reference_id,
                row.keys.external_id,
                row.keys.phones,
                row.keys.tags
            ],
        )?;
    }
    Ok(())
}
const READERS: usize = 4;

pub struct SqliteStore {
    writer: Arc<Conns>,
    readers: Arc<Conns>,
    /// One-contact writes, committed together (see `group`).
    group: Arc<group::Group>,
}

/// `sqlite://relative.db`, `sqlite:///absolute.db` or `sqlite:path.db`.
fn path_of(url: &str) -> StoreResult<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::UnsupportedUrl(format!("{url} (an SQLite URL needs a file path)")));
    }
    Ok(PathBuf::from(path))
}

impl SqliteStore {
    pub async fn open(url: &str) -> StoreResult<Self> {
        let path = path_of(url)?;
        // Opening may wait for other servers opening the same new file.
        let (writer, checkpointer, readers) = tokio::task::spawn_blocking(move || {
            pool::open_conn(&path, &[])?;
            let writer =
                Conns::open(path.clone(), 1, &["PRAGMA wal_autocheckpoint = 0", jobs::STAGING, jobs::MERGE_PLAN])?;
            StoreResult::Ok((writer, Conns::open(path.clone(), 1, &[])?, Conns::open(path, READERS, &[])?))
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))??;
        spawn_checkpointer(checkpointer, Arc::downgrade(&writer));
        Ok(Self { writer, readers, group: Arc::default() })
    }
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// The writer never checkpoints (its `wal_autocheckpoint` is off): after a
/// million-row commit that took it seconds, during which every other write
/// waited. A connection of its own checkpoints in the background instead,
/// PASSIVE, so it never blocks the writer or the readers. It stops once the
/// store (its writer) is gone.
fn spawn_checkpointer(conns: Arc<Conns>, writer: Weak<Conns>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(CHECKPOINT_EVERY).await;
            if writer.upgrade().is_none() {
                return;
            }
            let done = conns.run(|c| Ok(c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?)).await;
            if let Err(e) = done {
                tracing::warn!(error = %e, "checkpointing the WAL");
            }
        }
    });
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        self.writer
            .run(|c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Exclusive)?;
                let current: usize = tx.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
                if current > MIGRATIONS.len() {
                    return Err(StoreError::Backend(format!(
                        "database schema version {current} is newer than this contactd ({}); upgrade contactd",
                        MIGRATIONS.len()
                    )));
                }
                for (i, migration) in MIGRATIONS.iter().enumerate().skip(current) {
                    match migration {
                        Migration::Sql(sql) => tx.execute_batch(sql)?,
                        Migration::Code(run) => run(&tx)?,
                    }
                    tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.readers.run(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map(|_| ())?)).await
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer never checkpoints; the background checkpointer must, or the
    /// WAL would only grow. The main file alone (copied without its WAL)
    /// shows what was checkpointed: here, the migrations' schema version.
    #[tokio::test]
    async fn the_wal_is_checkpointed_in_the_background() {
        let dir = std::env::temp_dir().join(format!("contactd-checkpoint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("db.db");
        let store = SqliteStore::open(&format!("sqlite://{}", db.display())).await.unwrap();
        store.migrate().await.unwrap();
        tokio::time::sleep(CHECKPOINT_EVERY * 4).await;
        let copy = dir.join("copy.db");
        std::fs::copy(&db, &copy).unwrap();
        let version: i64 =
            rusqlite::Connection::open(&copy).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
        drop(store);
        std::fs::remove_dir_all(&dir).ok();
    }
}
