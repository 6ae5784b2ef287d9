//! Background jobs: accepting an upload, and the worker that validates a job
//! whole and applies it in one set-based merge.

use crate::domain::history::Origin;
use crate::domain::job::{JobCounts, JobKind, JobStatus, OnError};
use crate::domain::{ContactDraft, FieldError, JobId};
use crate::service::error::Resource;
use crate::service::{Principal, Service, ServiceError, ServiceResult};
use crate::store::{Job, JobError, JobRecord, NewJob, RecordFormat, Scope};
use std::sync::Arc;

mod worker;

pub use worker::Worker;

/// Turns one stored record (its JSON text) into a draft.
pub type RecordParser = Arc<dyn Fn(&str) -> Result<ContactDraft, Unreadable> + Send + Sync>;

/// The parser for a job's records, by the format they came in. Wire formats
/// live above the service (`wire`), which hands the worker these.
pub type RecordParsers = fn(RecordFormat) -> RecordParser;

/// A record that could not be read as a contact: every problem, and its
/// account number when that much could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable {
    pub account_number: Option<String>,
    pub errors: Vec<FieldError>,
}

impl From<FieldError> for Unreadable {
    fn from(e: FieldError) -> Self {
        Self { account_number: None, errors: vec![e] }
    }
}

/// Largest job accepted, in records.
pub const MAX_JOB_RECORDS: u64 = 5_000_000;

#[derive(Debug, Clone, Copy, Default)]
pub struct JobOptions {
    pub on_error: OnError,
    pub dry_run: bool,
    pub confirm_removals: Option<u64>,
    /// A replace may remove contacts with holds.
    pub force_holds: bool,
}

/// An upload in progress: records are stored as they arrive; the job is
/// queued only once all of them are.
pub struct JobUpload {
    service: Service,
    job: Job,
    received: u64,
}

impl JobUpload {
    pub async fn append(&mut self, records: Vec<JobRecord>) -> ServiceResult<()> {
        self.received += records.len() as u64;
        if self.received > MAX_JOB_RECORDS {
            return Err(ServiceError::TooManyRecords(format!("a job takes at most {MAX_JOB_RECORDS} records")));
        }
        Ok(self.service.store.append_job_records(self.job.biller_id, self.job.seq, records).await?)
    }

    /// Stores a snapshot's contacts as the upload's records (a restore).
    pub(super) async fn append_snapshot(&mut self, snapshot_seq: i64) -> ServiceResult<()> {
        let store = &self.service.store;
        self.received += store.append_snapshot_records(self.job.biller_id, self.job.seq, snapshot_seq).await?;
        Ok(())
    }

    /// Queues the job; from here a worker may take it.
    pub async fn finish(self) -> ServiceResult<Job> {
        if let Err(e) = self.service.store.queue_job(self.job.seq, self.received).await {
            self.service.store.discard_job(self.job.seq).await.ok();
            return Err(e.into());
        }
        self.service.job_queued.notify_one();
        Ok(Job { status: JobStatus::Queued, counts: JobCounts { total: self.received, ..self.job.counts }, ..self.job })
    }

    /// Drops a failed upload and everything stored of it.
    pub async fn abort(self) {
        if let Err(e) = self.service.store.discard_job(self.job.seq).await {
            tracing::warn!(error = %e, "discarding a failed upload");
        }
    }
}

impl Service {
    /// Starts a job upload after checking the caller may run it.
    pub async fn begin_job(
        &self,
        who: &Principal,
        code: &str,
        kind: JobKind,
        options: JobOptions,
        format: RecordFormat,
    ) -> ServiceResult<JobUpload> {
        let biller = self.authorize(who, code, job_scope(kind)).await?;
        self.create_upload(biller.id, kind, options, Some(who.key_id.clone()), format).await
    }

    /// Starts a job upload for an operator with database access (the CLI).
    pub async fn begin_operator_job(&self, code: &str, kind: JobKind, options: JobOptions) -> ServiceResult<JobUpload> {
        let biller = self.biller(code).await?;
        self.create_upload(biller.id, kind, options, None, RecordFormat::Native).await
    }

    /// A job's changes are recorded in each contact's history as `job job_…`.
    pub(super) async fn create_upload(
        &self,
        biller: crate::store::BillerId,
        kind: JobKind,
        options: JobOptions,
        key_id: Option<crate::domain::KeyId>,
        format: RecordFormat,
    ) -> ServiceResult<JobUpload> {
        let id = JobId::generate(&mut rand::thread_rng());
        let new = NewJob {
            origin: Origin::new(key_id, format!("job {id}")),
            id,
            kind,
            on_error: options.on_error,
            dry_run: options.dry_run,
            confirm_removals: options.confirm_removals,
            force_holds: options.force_holds,
            format,
        };
        let job = self.store.create_job(biller, &new, super::now()).await?;
        Ok(JobUpload { service: self.clone(), job, received: 0 })
    }

    /// A job as it stands, for an operator (the CLI).
    pub async fn operator_job(&self, code: &str, id: &JobId) -> ServiceResult<Job> {
        let biller = self.biller(code).await?;
        self.store.job(biller.id, id).await?.ok_or(ServiceError::NotFound(Resource::Job))
    }

    pub async fn job(&self, who: &Principal, code: &str, id: &str) -> ServiceResult<Job> {
        let biller = self.authorize(who, code, Scope::ContactsRead).await?;
        let id = JobId::parse(id).ok_or(ServiceError::NotFound(Resource::Job))?;
        self.store.job(biller.id, &id).await?.ok_or(ServiceError::NotFound(Resource::Job))
    }

    pub async fn jobs(
        &self,
        who: &Principal,
        code: &str,
        status: Option<JobStatus>,
        before: Option<i64>,
        limit: usize,
    ) -> ServiceResult<Vec<Job>> {
        let biller = self.authorize(who, code, Scope::ContactsRead).await?;
        Ok(self.store.jobs(biller.id, status, before, limit).await?)
    }

    pub async fn job_errors(
        &self,
        who: &Principal,
        code: &str,
        id: &str,
        after: Option<u64>,
        limit: usize,
    ) -> ServiceResult<Vec<(u64, JobError)>> {
        let job = self.job(who, code, id).await?;
        Ok(self.store.job_errors(job.biller_id, job.seq, after, limit).await?)
    }

    /// Cancels a queued job at once; a running one stops at its next step,
    /// before anything is applied. A finished job is left as it is (409).
    /// Stopping a job takes the scope that submitting it took (reading it is
    /// not needed): a key that may only read cannot stop another
    /// integration's import.
    pub async fn cancel_job(&self, who: &Principal, code: &str, id: &str) -> ServiceResult<Job> {
        let biller = self.granted(who, code).await?;
        let id = JobId::parse(id).ok_or(ServiceError::NotFound(Resource::Job))?;
        let job = self.store.job(biller.id, &id).await?.ok_or(ServiceError::NotFound(Resource::Job))?;
        super::check_scope(who, job_scope(job.kind))?;
        if job.status.is_finished() {
            return Err(ServiceError::JobFinished(job.status));
        }
        let job = self
            .store
            .cancel_job(job.biller_id, &job.id, super::now())
            .await?
            .ok_or(ServiceError::NotFound(Resource::Job))?;
        // The worker may have completed it in the meantime.
        match job.status {
            JobStatus::Completed | JobStatus::Failed => Err(ServiceError::JobFinished(job.status)),
            _ => Ok(job),
        }
    }
}

/// How a server's workers share its jobs: a large job (`large_job_records`
/// or more) can run for minutes, so at most `workers - 1` of them run at
/// once and one worker is always free for small ones. A biller's jobs still
/// run in the order they were accepted, so a small job queued behind its own
/// biller's large one waits for it; it never waits for another biller's.
pub(super) struct Lanes {
    large_running: std::sync::atomic::AtomicUsize,
    large_slots: usize,
}

/// A worker's hold on one of the large-job slots, given back when dropped.
pub(super) struct LargeLane<'a>(&'a Lanes);

impl Lanes {
    pub(super) fn new(workers: usize) -> Self {
        Self { large_running: Default::default(), large_slots: workers.saturating_sub(1).max(1) }
    }

    fn reserve(&self) -> Option<LargeLane<'_>> {
        use std::sync::atomic::Ordering;
        self.large_running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.large_slots).then_some(n + 1))
            .ok()
            .map(|_| LargeLane(self))
    }
}

impl Drop for LargeLane<'_> {
    fn drop(&mut self) {
        self.0.large_running.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// The scope that submitting (or cancelling) a job of `kind` takes.
pub fn job_scope(kind: JobKind) -> Scope {
    match kind {
        JobKind::Add => Scope::ContactsWrite,
        JobKind::Replace => Scope::ContactsReplace,
    }
}
