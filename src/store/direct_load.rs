//! A first bulk load: an add job into a biller with no contacts yet writes
//! its rows straight into `contacts`, in one transaction that also
//! completes the job. There is nothing to match, so no staging table and no
//! join: on PostgreSQL each row is written once instead of three times
//! (staged, read back, inserted). Should a number turn out to be used
//! already (twice in the job, or by a write meanwhile), the load rolls back
//! and the job takes the staged path, which reports or updates it.
//!
//! The store runs the transaction on a task of its own; the worker sends
//! rows as it checks them and ends with `finish`. Dropping a load, or any
//! error, rolls it all back.

use crate::domain::job::JobCounts;
use crate::store::{Fence, StagedRow, StoreError, StoreResult};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A valid record's account number and row.
pub type LoadRow = (String, StagedRow);

pub enum LoadCommand {
    /// Rows to load, and numbers of invalid records that may repeat a
    /// loaded one (the load ends, to take the staged path, if one does).
    Rows { rows: Vec<LoadRow>, probe: Vec<String> },
    /// Completes the job with `counts`, if `fence` still holds it.
    Finish { fence: Fence, counts: JobCounts, now: OffsetDateTime },
}

/// How a load ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadEnd {
    /// Committed: the job is completed.
    Completed,
    /// Rolled back: the fence no longer holds or a cancel was asked for.
    Stopped,
    /// Rolled back: a number is used twice, or the biller changed; the
    /// staged path does the job.
    TakeStagedPath,
}

pub struct DirectLoad {
    commands: mpsc::Sender<LoadCommand>,
    task: JoinHandle<StoreResult<LoadEnd>>,
}

impl DirectLoad {
    pub fn new(commands: mpsc::Sender<LoadCommand>, task: JoinHandle<StoreResult<LoadEnd>>) -> Self {
        Self { commands, task }
    }

    /// Sends checked rows (see `LoadCommand::Rows`); `false` once the load
    /// has ended early (a repeated number or an error, which `finish` then returns).
    pub async fn rows(&self, rows: Vec<LoadRow>, probe: Vec<String>) -> bool {
        self.commands.send(LoadCommand::Rows { rows, probe }).await.is_ok()
    }

    pub async fn finish(self, fence: Fence, counts: JobCounts, now: OffsetDateTime) -> StoreResult<LoadEnd> {
        // A load that already ended has its outcome in the task.
        let _ = self.commands.send(LoadCommand::Finish { fence, counts, now }).await;
        drop(self.commands);
        self.task.await.map_err(|e| StoreError::Backend(format!("the load's task: {e}")))?
    }
}
