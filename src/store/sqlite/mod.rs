//! The embedded SQLite backend: the default, one file, WAL mode, one writer.

mod access;
mod contacts;
mod idempotency;
mod jobs;
mod pool;
mod snapshots;

use crate::store::{Store, StoreError, StoreResult};
use async_trait::async_trait;
use pool::Conns;
use rusqlite::TransactionBehavior;
use std::path::PathBuf;
use std::sync::Arc;

const MIGRATIONS: &[&str] = &[
    include_str!("0001_init.sql"),
    include_str!("0002_jobs.sql"),
    include_str!("0003_idempotency.sql"),
    include_str!("0004_snapshots.sql"),
    include_str!("0005_staging_keys.sql"),
    include_str!("0006_record_rows.sql"),
    include_str!("0007_staging_temp.sql"),
];
const READERS: usize = 4;

pub struct SqliteStore {
    writer: Arc<Conns>,
    readers: Arc<Conns>,
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
        let p = path.clone();
        tokio::task::spawn_blocking(move || pool::open_conn(&p, ""))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))??;
        Ok(Self { writer: Conns::open(path.clone(), 1, jobs::STAGING)?, readers: Conns::open(path, READERS, "")? })
    }
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
                for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
                    tx.execute_batch(sql)?;
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
