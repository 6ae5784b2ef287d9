//! Housekeeping every server runs hourly, and the operator's reads (export,
//! the inbox's error reports) that need no principal: they run with
//! database access, not through the API.

use crate::domain::SnapshotId;
use crate::domain::query::{ContactFilter, PageRequest};
use crate::service::{Service, ServiceResult};
use crate::store::{BillerId, ContactPage, JobError};
use std::time::Duration;
use time::OffsetDateTime;

impl Service {
    /// Drops what has outlived its use: expired tokens (a day late, so a late
    /// caller still hears "expired"), uploads unfinished after 6 hours (their
    /// server is gone), ended jobs' records, idempotency keys older than 24
    /// hours, and contact history older than `history_kept`. Each failure is
    /// logged; the rest still run.
    pub async fn purge_expired(&self, history_kept: Duration) {
        let now = OffsetDateTime::now_utc();
        let day_ago = now - Duration::from_secs(86_400);
        let store = &self.store;
        let results = [
            ("expired tokens", store.purge_tokens(day_ago).await),
            ("abandoned uploads", store.purge_abandoned_uploads(now - Duration::from_secs(6 * 3600)).await),
            ("ended jobs' records", store.purge_finished_work().await),
            ("old idempotency keys", store.purge_keys(day_ago).await),
            ("old contact history", store.purge_history(now - history_kept).await),
        ];
        for (what, result) in results {
            if let Err(e) = result {
                tracing::warn!(error = %e, "purging {what} failed");
            }
        }
    }

    /// A page of a biller's contacts in account-number order (export).
    pub async fn operator_contacts(
        &self,
        biller: BillerId,
        after: Option<String>,
        limit: usize,
    ) -> ServiceResult<ContactPage> {
        Ok(self.store.contacts(biller, &ContactFilter::default(), &PageRequest { after, limit, skip: 0 }).await?)
    }

    /// A page of a snapshot's contacts (export).
    pub async fn operator_snapshot_contacts(
        &self,
        biller: BillerId,
        snapshot_seq: i64,
        after: Option<String>,
        limit: usize,
    ) -> ServiceResult<ContactPage> {
        Ok(self.store.snapshot_contacts(biller, snapshot_seq, after, limit).await?)
    }

    /// Whether the snapshot is still kept (retention may drop it mid-download).
    pub async fn snapshot_kept(&self, biller: BillerId, id: &SnapshotId) -> ServiceResult<bool> {
        Ok(self.store.snapshot(biller, id).await?.is_some())
    }

    /// A page of a job's record errors (the inbox's reports).
    pub async fn operator_job_errors(
        &self,
        biller: BillerId,
        job_seq: i64,
        after: Option<u64>,
        limit: usize,
    ) -> ServiceResult<Vec<(u64, JobError)>> {
        Ok(self.store.job_errors(biller, job_seq, after, limit).await?)
    }
}
