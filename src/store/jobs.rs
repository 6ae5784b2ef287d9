//! Jobs as the stores keep them: the job and its records, what a worker
//! stages, and the three traits of the queue (clients), the lease (a
//! worker's claim) and staging (a worker's writes and the merge).

use super::{BillerId, DirectLoad, NewSnapshot, StoreResult, codec};
use crate::domain::history::Origin;
use crate::domain::job::{JobCounts, JobKind, JobStatus, OnError};
use crate::domain::sync::{RemovalGuard, WriteMode};
use crate::domain::{ContactData, ContactIdRun, JobId};
use async_trait::async_trait;
use std::hash::BuildHasher;
use time::OffsetDateTime;

/// A stored job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Submission order, across billers; also the job's key in its tables.
    pub seq: i64,
    pub id: JobId,
    pub biller_id: BillerId,
    pub kind: JobKind,
    pub status: JobStatus,
    pub on_error: OnError,
    pub dry_run: bool,
    pub confirm_removals: Option<u64>,
    pub counts: JobCounts,
    pub error: Option<String>,
    pub created_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    /// Grows with every claim: the fencing token of the current worker.
    pub attempts: i64,
    pub force_holds: bool,
    /// Who submitted it and how (recorded in the history of what it changes).
    pub origin: Origin,
    pub format: RecordFormat,
}

/// How a job's stored records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    /// The native API's contact JSON (what every upload stores).
    Native,
    /// Snapshot lines (a restore): stored contacts, read back as they were.
    Snapshot,
    /// Payreq's kebab-case records (`biller-account-number`, the Contact Fields at the top level).
    Payreq,
}

impl RecordFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Snapshot => "snapshot",
            Self::Payreq => "payreq",
        }
    }

    /// What a job stored before formats were recorded is native.
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("snapshot") => Self::Snapshot,
            Some("payreq") => Self::Payreq,
            _ => Self::Native,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: JobId,
    pub kind: JobKind,
    pub on_error: OnError,
    pub dry_run: bool,
    pub confirm_removals: Option<u64>,
    pub force_holds: bool,
    pub origin: Origin,
    pub format: RecordFormat,
}

/// One uploaded record: its position, its line in the upload, its JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub idx: u64,
    pub line: u64,
    pub body: String,
}

/// A valid record ready for a job's staging table: encoded, hashed and given
/// the id it gets if it is new. Built by the worker off the store's writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedRow {
    pub new_id: String,
    pub name_folded: String,
    pub contact_type: Option<String>,
    pub active: bool,
    pub doc: String,
    pub fingerprint: i64,
    /// The CRN the record names (none: the contact keeps its own).
    pub crn: Option<String>,
    pub keys: codec::SearchKeys,
}

impl StagedRow {
    pub fn new(data: &ContactData, ids: &mut ContactIdRun) -> StoreResult<Self> {
        let encoded = codec::encode(data)?;
        Ok(Self {
            new_id: ids.next_id().into_string(),
            name_folded: codec::fold(&data.name),
            contact_type: data.contact_type.clone(),
            active: data.active,
            doc: encoded.doc,
            fingerprint: encoded.fingerprint,
            crn: data.crn.clone(),
            keys: encoded.keys,
        })
    }
}

/// One record's use of an account number, staged in job order. The staging
/// table keeps the first use of each number with its position, so a later
/// use is found a duplicate by a key lookup, in bounded memory at any job
/// size. A valid record carries its row; an invalid one only claims its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageItem {
    pub account_number: String,
    pub idx: u64,
    pub line: u64,
    pub row: Option<StagedRow>,
    /// False when no earlier item of the job used this number (certain: a
    /// Bloom filter says so), so the store may write it without a conflict check.
    pub maybe_repeated: bool,
    /// The row is believed equal to the biller's contact of this number
    /// (`KnownFingerprints`), so the store may stage its key and fingerprint
    /// alone; the merge checks it (`StoreError::StaleHints`).
    pub unchanged: bool,
}

/// The fingerprints of a biller's contacts, each hashed with its account
/// number (10 to 21 bytes a contact in memory): with them a job's validation
/// marks the records that change nothing, and the store stages those by key
/// alone rather than writing their whole rows to read them back unused.
pub struct KnownFingerprints {
    hasher: std::hash::RandomState,
    contacts: std::collections::HashSet<u64>,
}

/// Billers with more contacts than this get no `KnownFingerprints` (it would
/// take about 38 MB of memory, 57 MB while its table last grows).
pub const MAX_KNOWN_FINGERPRINTS: usize = 2_000_000;

impl KnownFingerprints {
    pub fn new() -> Self {
        Self { hasher: std::hash::RandomState::new(), contacts: std::collections::HashSet::new() }
    }

    pub fn insert(&mut self, account_number: &str, fingerprint: i64) {
        self.contacts.insert(self.hasher.hash_one((account_number, fingerprint)));
    }

    pub fn len(&self) -> usize {
        self.contacts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.contacts.is_empty()
    }

    /// Whether the biller's contact of this number has this fingerprint (a
    /// hint: another pair may hash alike, and the contact may change after).
    pub fn unchanged(&self, account_number: &str, fingerprint: i64) -> bool {
        self.contacts.contains(&self.hasher.hash_one((account_number, fingerprint)))
    }
}

impl Default for KnownFingerprints {
    fn default() -> Self {
        Self::new()
    }
}

/// A staged item whose account number an earlier record already used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duplicate {
    /// Its position in the items staged.
    pub item: usize,
    pub first_idx: u64,
    pub first_line: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    pub idx: u64,
    pub line: u64,
    pub account_number: Option<String>,
    pub field: String,
    pub code: String,
    pub message: String,
}

/// Who holds a job: a worker's claim, checked by every write it makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub seq: i64,
    pub owner: String,
    pub attempt: i64,
}

/// How to apply a job's staged rows.
#[derive(Debug, Clone)]
pub struct ApplyJob {
    pub mode: WriteMode,
    pub guard: Option<RemovalGuard>,
    pub dry_run: bool,
    /// The settings the rows were validated against; a change since fails the job.
    pub settings_version: i64,
    /// Counts so far (total, processed, failed); the merge adds the rest.
    pub counts: JobCounts,
    /// Rows staging took (first uses of each number, valid or key-only).
    pub staged: u64,
    /// Of those, rows staged as unchanged, by key and fingerprint alone.
    pub unchanged_staged: u64,
    /// For a replace: keep the contacts as they were before it changes them.
    pub snapshot: Option<NewSnapshot>,
    /// A replace may remove contacts with holds.
    pub force_holds: bool,
    pub job_id: JobId,
    pub origin: Origin,
}

/// What a worker learns when it reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    Continue,
    /// A client asked to cancel: stop and record it.
    CancelRequested,
    /// Another worker holds the job now: stop, write nothing more.
    Lost,
}

/// The queue as clients see it: uploads, their jobs, cancelling, and the
/// sweeps of what uploads and ended jobs leave behind.
#[async_trait]
pub trait JobQueue {
    /// Creates a job in `receiving`: no worker takes it until it is queued.
    async fn create_job(&self, biller: BillerId, job: &NewJob, now: OffsetDateTime) -> StoreResult<Job>;
    async fn append_job_records(&self, biller: BillerId, seq: i64, records: Vec<JobRecord>) -> StoreResult<()>;
    /// The upload is stored whole: the job may run.
    async fn queue_job(&self, seq: i64, total: u64) -> StoreResult<()>;
    /// Removes a job whose upload failed, with its records.
    async fn discard_job(&self, seq: i64) -> StoreResult<()>;
    /// Removes uploads that never finished (their server died mid-upload).
    async fn purge_abandoned_uploads(&self, started_before: OffsetDateTime) -> StoreResult<u64>;
    /// Removes records and staging left behind by ended jobs (a crash right
    /// after a job ended), and on PostgreSQL snapshot copies no replace
    /// listed; returns the rows removed.
    async fn purge_finished_work(&self) -> StoreResult<u64>;
    async fn job(&self, biller: BillerId, id: &JobId) -> StoreResult<Option<Job>>;
    /// Newest first; `before` is a seq from the previous page.
    async fn jobs(
        &self,
        biller: BillerId,
        status: Option<JobStatus>,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Job>>;
    async fn job_errors(
        &self,
        biller: BillerId,
        seq: i64,
        after: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<(u64, JobError)>>;
    /// Cancels a queued job at once, or asks the worker of a running one to
    /// stop. Returns the job as it stands afterwards.
    async fn cancel_job(&self, biller: BillerId, id: &JobId, now: OffsetDateTime) -> StoreResult<Option<Job>>;
}

/// A worker's hold on a job: the claim, its lease, the records it reads and
/// how it ends a job it does not complete.
#[async_trait]
pub trait JobLease {
    /// Takes the oldest runnable job (queued, or abandoned with an expired
    /// lease) whose biller has no older unfinished job; sets it validating.
    /// With `max_records`, only a job of at most that many records is taken
    /// (a biller whose next job is larger waits: its jobs stay in order).
    async fn claim_job(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease: std::time::Duration,
        max_records: Option<u64>,
    ) -> StoreResult<Option<Job>>;
    /// Records progress and extends the lease.
    async fn job_heartbeat(
        &self,
        fence: &Fence,
        status: JobStatus,
        counts: JobCounts,
        now: OffsetDateTime,
        lease: std::time::Duration,
    ) -> StoreResult<Heartbeat>;
    /// The records from `after` on, in order: those with `idx` in
    /// `(after, after + limit]` and the rest of the last stored row they are
    /// in (fewer than `record_rows::PER_ROW` more), or fewer, whole rows,
    /// once `record_rows::READ_BYTES` of text are read; at least one row
    /// while any is left. A key range, read the same way at any depth of a
    /// million-record job. Uploads number records densely from 0.
    async fn job_records(
        &self,
        biller: BillerId,
        seq: i64,
        after: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<JobRecord>>;
    /// Forgets what an earlier attempt staged, so a re-run starts clean.
    async fn reset_job_work(&self, fence: &Fence, biller: BillerId) -> StoreResult<Heartbeat>;
    /// Ends a job as failed or cancelled (staged work is dropped).
    async fn finish_job(
        &self,
        fence: &Fence,
        status: JobStatus,
        error: Option<String>,
        counts: JobCounts,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
}

/// What a worker writes under its lease: staged rows and errors, then the
/// one merge that applies them and completes the job.
#[async_trait]
pub trait JobStaging {
    /// The fingerprints of the biller's contacts, where staging takes
    /// unchanged rows by key alone (PostgreSQL); `None` elsewhere, for a
    /// biller without contacts, or past `MAX_KNOWN_FINGERPRINTS`.
    async fn known_fingerprints(&self, _biller: BillerId) -> StoreResult<Option<KnownFingerprints>> {
        Ok(None)
    }
    /// Stages items in order (see `StageItem`); returns the duplicates found.
    async fn stage_job_rows(
        &self,
        fence: &Fence,
        biller: BillerId,
        items: Vec<StageItem>,
    ) -> StoreResult<(Heartbeat, Vec<Duplicate>)>;
    async fn add_job_errors(
        &self,
        fence: &Fence,
        biller: BillerId,
        first_ord: u64,
        errors: Vec<JobError>,
    ) -> StoreResult<Heartbeat>;
    /// Applies the staged rows in one transaction (one set-based merge, and for
    /// a replace the removal of everything not staged), and completes the job
    /// in that same transaction: exactly once, or not at all.
    /// `None` when the fence no longer holds or a cancel was asked for: nothing
    /// applied. A dry run completes with what the guard would say as its error.
    async fn apply_job(
        &self,
        fence: &Fence,
        biller: BillerId,
        apply: &ApplyJob,
        now: OffsetDateTime,
    ) -> StoreResult<Option<JobCounts>>;
    /// Starts a first bulk load (see `DirectLoad`) when the store has one and
    /// the biller has no contacts under settings version `settings_version`;
    /// `None` otherwise, and the job takes the staged path.
    async fn begin_direct_load(
        &self,
        _biller: BillerId,
        _settings_version: i64,
        _job: &JobId,
        _now: OffsetDateTime,
    ) -> StoreResult<Option<DirectLoad>> {
        Ok(None)
    }
}
