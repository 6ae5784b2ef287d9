//! A fixed set of SQLite connections used from tokio's blocking threads.
//! SQLite allows one writer at a time, so the store keeps a set of one for
//! writes and a few for reads; waiting for a connection is async (a
//! semaphore), so no thread blocks while it queues.

use crate::store::{StoreError, StoreResult};
use rusqlite::{Connection, ErrorCode};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

pub struct Conns {
    path: PathBuf,
    /// Run on each new connection of the set, after the settings.
    init: &'static [&'static str],
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

/// How long a statement waits for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Switches the file to WAL. A new file's switch needs it to itself, and
/// SQLite refuses at once rather than wait (waiting there could deadlock),
/// so when several servers open a new file together the others try again.
fn use_wal(conn: &Connection) -> rusqlite::Result<()> {
    let started = Instant::now();
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) && started.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(mode) if !mode.eq_ignore_ascii_case("wal") => {
                // Some file systems cannot share the WAL index; readers then wait for writes.
                tracing::warn!(journal_mode = %mode, "SQLite could not switch the database to WAL");
                return Ok(());
            }
            result => return result.map(drop),
        }
    }
}

pub fn open_conn(path: &PathBuf, init: &[&str]) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    use_wal(&conn)?;
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA journal_size_limit = 67108864;",
    )?;
    for sql in init {
        conn.execute_batch(sql)?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl Conns {
    pub fn open(path: PathBuf, size: usize, init: &'static [&'static str]) -> StoreResult<Arc<Self>> {
        let conns = (0..size).map(|_| open_conn(&path, init)).collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Arc::new(Self { path, init, idle: Mutex::new(conns), permits: Arc::new(Semaphore::new(size)) }))
    }

    /// Runs `f` on a connection on a blocking thread.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let permit = self.permits.clone().acquire_owned().await.map_err(|e| StoreError::Backend(e.to_string()))?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            this.on_a_connection(f)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("database task failed: {e}")))?
    }

    /// Runs a read of a few rows by key on the calling thread, where a
    /// connection is free: handing it to a blocking thread (two thread
    /// switches) costs more than the read itself. Else as `run`.
    pub async fn quick<T, F>(self: &Arc<Self>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        match self.permits.try_acquire() {
            Ok(_permit) => self.on_a_connection(f),
            Err(_) => self.run(f).await,
        }
    }

    /// `f` on an idle connection (or a new one), for the holder of a permit.
    fn on_a_connection<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        let taken = self.idle.lock().map_err(|_| StoreError::Backend("connection set poisoned".into()))?.pop();
        let mut conn = match taken {
            Some(c) => c,
            None => open_conn(&self.path, self.init)?,
        };
        // A panic in `f` (a bug) fails its call only: the connection is
        // rolled back and kept, and with it the writer's temporary
        // staging, which other jobs are still using.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut conn))).unwrap_or_else(|p| {
            let why = p.downcast_ref::<&str>().copied().or(p.downcast_ref::<String>().map(String::as_str));
            Err(StoreError::Backend(format!("a database task panicked: {}", why.unwrap_or("?"))))
        });
        if !conn.is_autocommit() {
            conn.execute_batch("ROLLBACK").ok();
        }
        // One still inside a transaction is dropped (the next use opens a fresh one).
        if conn.is_autocommit()
            && let Ok(mut idle) = self.idle.lock()
        {
            idle.push(conn);
        }
        result
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, Some(message)) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                // "UNIQUE constraint failed: contacts.biller_id, contacts.crn"
                let constraint = if message.contains("contacts.crn") {
                    "contacts_crn"
                } else if message.contains("contacts.account_number") {
                    "contacts_account"
                } else if message.contains("tags.name") {
                    "tags_name"
                } else {
                    message.as_str()
                };
                StoreError::Conflict(crate::store::taken_value(constraint).to_owned())
            }
            rusqlite::Error::SqliteFailure(f, None) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                StoreError::Conflict("a value that must be unique".into())
            }
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_keeps_the_connection_and_its_temporary_tables() {
        let path = std::env::temp_dir().join(format!("contactd-pool-{}.db", std::process::id()));
        let conns = Conns::open(path.clone(), 1, &["CREATE TEMP TABLE IF NOT EXISTS t (x INTEGER)"]).unwrap();
        conns.run(|c| Ok(c.execute("INSERT INTO t VALUES (1)", []).map(|_| ())?)).await.unwrap();
        // A transaction left open by the panic (no guard to roll it back).
        let failed = conns
            .run(|c| -> StoreResult<()> {
                c.execute_batch("BEGIN; INSERT INTO t VALUES (2)")?;
                panic!("a bug");
            })
            .await;
        assert!(matches!(&failed, Err(StoreError::Backend(m)) if m.contains("panicked: a bug")), "{failed:?}");
        let (open, rows): (bool, Vec<i64>) = conns
            .run(|c| {
                let rows = c.prepare("SELECT x FROM t")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
                Ok((!c.is_autocommit(), rows))
            })
            .await
            .unwrap();
        assert!(!open, "the next task starts outside any transaction");
        assert_eq!(rows, [1], "the row before the panic is kept, the panicking task's is rolled back");
        for suffix in ["", "-wal", "-shm"] {
            std::fs::remove_file(format!("{}{suffix}", path.display())).ok();
        }
    }
}
