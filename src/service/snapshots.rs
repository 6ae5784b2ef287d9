//! Replace snapshots: which replaces take one, listing them, and restoring
//! one as a replace job like any other (validated, guarded, in order).

use crate::domain::job::JobKind;
use crate::domain::sync::WriteMode;
use crate::domain::{JobId, SnapshotId};
use crate::service::error::Resource;
use crate::service::{JobOptions, Principal, Service, ServiceError, ServiceResult};
use crate::store::{Biller, Job, NewSnapshot, RecordFormat, Scope, Snapshot};

impl Service {
    /// The snapshot a write of `mode` should take before it changes anything.
    pub(super) fn snapshot_for(&self, mode: WriteMode, job: Option<JobId>) -> Option<NewSnapshot> {
        let keep = self.config.snapshot_retention;
        (mode == WriteMode::Replace && keep > 0).then(|| NewSnapshot {
            id: SnapshotId::generate(&mut rand::thread_rng()),
            job,
            keep,
        })
    }

    /// Newest first; `before` is a seq from the previous page.
    pub async fn snapshots(
        &self,
        who: &Principal,
        code: &str,
        before: Option<i64>,
        limit: usize,
    ) -> ServiceResult<Vec<Snapshot>> {
        let biller = self.authorize(who, code, Scope::ContactsRead).await?;
        Ok(self.store.snapshots(biller.id, before, limit).await?)
    }

    /// One snapshot and its biller (whose settings name the export's columns).
    pub async fn snapshot(&self, who: &Principal, code: &str, id: &str) -> ServiceResult<(Biller, Snapshot)> {
        let biller = self.authorize(who, code, Scope::ContactsRead).await?;
        let snapshot = self.find_snapshot(&biller, id).await?;
        Ok((biller, snapshot))
    }

    async fn find_snapshot(&self, biller: &Biller, id: &str) -> ServiceResult<Snapshot> {
        let id = SnapshotId::parse(id).ok_or(ServiceError::NotFound(Resource::Snapshot))?;
        self.store.snapshot(biller.id, &id).await?.ok_or(ServiceError::NotFound(Resource::Snapshot))
    }

    /// Queues a replace job whose records are the snapshot's contacts: it is
    /// validated against today's settings and guarded like any replace.
    #[tracing::instrument(skip_all, fields(biller = code, snapshot = id))]
    pub async fn restore_snapshot(
        &self,
        who: &Principal,
        code: &str,
        id: &str,
        options: JobOptions,
    ) -> ServiceResult<Job> {
        let biller = self.authorize(who, code, Scope::ContactsReplace).await?;
        let snapshot = self.find_snapshot(&biller, id).await?;
        let key = Some(who.key_id.clone());
        let mut upload = self.create_upload(biller.id, JobKind::Replace, options, key, RecordFormat::Snapshot).await?;
        if let Err(e) = upload.append_snapshot(snapshot.seq).await {
            upload.abort().await;
            return Err(e);
        }
        upload.finish().await
    }
}
