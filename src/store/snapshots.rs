//! Snapshots as the stores keep them: what a replace takes before it
//! changes anything, and how a restore reads one back.

use super::{BillerId, ContactPage, StoreResult, snapshot_lines};
use crate::domain::sync::WriteMode;
use crate::domain::{JobId, SnapshotId};
use async_trait::async_trait;
use time::OffsetDateTime;

/// A snapshot a replace keeps of the contacts as they were before it, committed with it.
/// A replace that would change nothing takes none.
#[derive(Debug, Clone)]
pub struct NewSnapshot {
    pub id: SnapshotId,
    /// The job whose replace takes it; `None` for a synchronous replace.
    pub job: Option<JobId>,
    /// How many of the biller's snapshots to keep, this one included; older ones go.
    pub keep: usize,
}

/// A biller's contact set as it was before a replace.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub seq: i64,
    pub id: SnapshotId,
    pub job: Option<JobId>,
    pub contacts: u64,
    pub created_at: OffsetDateTime,
}

#[async_trait]
pub trait SnapshotStore {
    /// Newest first; `before` is a seq from the previous page.
    async fn snapshots(&self, biller: BillerId, before: Option<i64>, limit: usize) -> StoreResult<Vec<Snapshot>>;
    async fn snapshot(&self, biller: BillerId, id: &SnapshotId) -> StoreResult<Option<Snapshot>>;
    /// A snapshot's contacts in account-number order, as they were.
    async fn snapshot_contacts(
        &self,
        biller: BillerId,
        seq: i64,
        after: Option<String>,
        limit: usize,
    ) -> StoreResult<ContactPage>;
    /// Copies a snapshot's contacts into a job upload as records (the same
    /// JSON a client sends), in account-number order; returns how many.
    async fn append_snapshot_records(&self, biller: BillerId, job_seq: i64, snapshot_seq: i64) -> StoreResult<u64>;
}

/// The snapshot a write takes: one was asked for, and the write is a replace
/// that changes something (an unchanged set needs no undo).
pub(super) fn snapshot_due(
    snapshot: Option<&NewSnapshot>,
    mode: WriteMode,
    created: u64,
    updated: u64,
    removed: u64,
) -> Option<&NewSnapshot> {
    snapshot.filter(|_| mode == WriteMode::Replace && created + updated + removed > 0)
}

/// How a restore job's records (snapshot lines) read back as drafts.
pub fn snapshot_record_parser() -> fn(&str) -> Result<crate::domain::ContactDraft, crate::domain::FieldError> {
    snapshot_lines::draft_of
}
