//! Storage: narrow traits united by `Store`, with an embedded SQLite backend
//! and a PostgreSQL backend, each with its own SQL and bulk path. The backend
//! is chosen once from the database URL's scheme.

mod codec;
pub use codec::SearchKeys;
mod direct_load;
pub use direct_load::{DirectLoad, LoadEnd, LoadRow};
mod history_rows;
mod legacy;
mod list_query;
pub mod postgres;
pub(crate) mod record_rows;
mod single;
mod snapshot_lines;
pub mod sqlite;
mod time_conv;
pub use single::{
    ALIAS_ROUNDS, AliasStore, CatalogueStore, CrnIssued, Decide, HistoryFrom, HistoryRow, HistoryStore, MakeCrn,
    Refused, SingleContactStore, Tag, TagDeleted, Updated, numbered_aliases,
};

use crate::domain::history::Origin;
use crate::domain::holds::Hold;
use crate::domain::job::{JobCounts, JobKind, JobStatus, OnError};
use crate::domain::query::{ContactFilter, PageRequest};
use crate::domain::sync::{self, Action, Counts, Existing, Plan, RemovalGuard, RemovalRefused, WriteMode};
use crate::domain::{BillerSettings, Contact, ContactData, ContactIdRun, JobId, KeyId, SnapshotId};
use async_trait::async_trait;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use time::OffsetDateTime;

pub type BillerId = i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Conflict(String),
    /// Something has as many of a thing as it may (what, in words).
    #[error("{0}")]
    LimitReached(String),
    #[error("the biller's field settings changed while this request was being validated")]
    SettingsChanged,
    #[error("the database is busy")]
    Busy,
    #[error(transparent)]
    RemovalRefused(#[from] RemovalRefused),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Backend(String),
    /// An upload was purged as abandoned before it was queued.
    #[error("the upload was given up as abandoned before it finished; send it again")]
    UploadAbandoned,
    /// A job's staged rows went while it ran (the database restarted).
    #[error("the job's validated rows were lost (was the database restarted?)")]
    StagingLost,
    /// A record staged as unchanged (`StageItem::unchanged`) no longer matches
    /// its contact at the merge: a write changed it meanwhile.
    #[error("contacts changed while the job was validated")]
    StaleHints,
    /// A bulk write would remove or deactivate contacts with holds.
    #[error("{}", describe_held(.0))]
    Held(HeldContacts),
    /// A bulk write names another CRN for contacts that have one (the first few).
    #[error(
        "a CRN is fixed once issued: account number(s) {} already have another; clear it first (PATCH \"crn\": null)",
        crate::domain::errors::short_list(.0, 10)
    )]
    CrnFixed(Vec<String>),
}

/// Contacts with holds a bulk write would remove (a replace without
/// `force_holds`) or deactivate: the first ones, and how many in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldContacts {
    pub contacts: Vec<(String, Vec<Hold>)>,
    pub total: u64,
    /// True for deactivations (a replace's removals otherwise).
    pub deactivating: bool,
}

/// How many held contacts a refusal names.
pub const HELD_LISTED: usize = 20;

pub fn describe_held(h: &HeldContacts) -> String {
    let listed: Vec<String> =
        h.contacts.iter().map(|(acct, holds)| format!("{acct} ({})", crate::domain::holds::describe(holds))).collect();
    let more = h.total.saturating_sub(h.contacts.len() as u64);
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    if h.deactivating {
        format!("contacts with holds cannot be deactivated: {}{more}; nothing was changed", listed.join(", "))
    } else {
        format!(
            "this replace would remove contacts with holds: {}{more}; release the holds or repeat it with force_holds=true; nothing was changed",
            listed.join(", ")
        )
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone)]
pub struct Biller {
    pub id: BillerId,
    pub code: String,
    pub name: String,
    pub settings: BillerSettings,
    /// Which settings `settings` is; writes validated against it carry it.
    pub settings_version: i64,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    ContactsRead,
    ContactsWrite,
    ContactsReplace,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Self::ContactsRead, Self::ContactsWrite, Self::ContactsReplace, Self::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ContactsRead => "contacts:read",
            Self::ContactsWrite => "contacts:write",
            Self::ContactsReplace => "contacts:replace",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub key_id: KeyId,
    /// argon2 PHC string; the secret itself is never stored.
    pub secret_hash: String,
    pub scopes: Vec<Scope>,
    /// Codes of the billers this key may act on.
    pub billers: Vec<String>,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    /// Where the key may be used from, for dialects whose clients say
    /// (Instantpay's endpoint IP); empty: nowhere named.
    pub allow_ips: Vec<ipnet::IpNet>,
}

#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub key: ApiKey,
    pub expires_at: OffsetDateTime,
}

/// A bulk write: validated records, how to apply them, and the replace guard.
#[derive(Debug, Clone)]
pub struct WriteBatch {
    /// The settings version the records were validated against.
    pub settings_version: i64,
    pub mode: WriteMode,
    pub records: Vec<ContactData>,
    pub dry_run: bool,
    pub guard: Option<RemovalGuard>,
    /// For a replace: keep the contacts as they were before it changes them.
    pub snapshot: Option<NewSnapshot>,
    /// A replace may remove contacts with holds.
    pub force_holds: bool,
    pub origin: Origin,
}

/// What a bulk write did (or, for a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    pub counts: Counts,
    /// The first `SAMPLE` account numbers of each kind, for dry runs.
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
    /// In a dry run: why the real replace would be refused by the guard.
    pub refused: Option<RemovalRefused>,
}

pub const SAMPLE: usize = 100;

#[derive(Debug, Clone)]
pub struct ContactPage {
    pub contacts: Vec<Contact>,
    /// The account number to continue after, when there is more.
    pub next_after: Option<String>,
}

#[async_trait]
pub trait BillerStore {
    async fn create_biller(&self, code: &str, name: &str, settings: &BillerSettings) -> StoreResult<Biller>;
    async fn biller(&self, code: &str) -> StoreResult<Option<Biller>>;
    async fn biller_by_id(&self, id: BillerId) -> StoreResult<Option<Biller>>;
    async fn billers(&self) -> StoreResult<Vec<Biller>>;
    /// Stores a new settings version (kept with the earlier ones); returns it.
    async fn set_biller_settings(
        &self,
        biller: BillerId,
        settings: &BillerSettings,
        key_id: Option<&KeyId>,
    ) -> StoreResult<i64>;
    /// Every settings version the biller had, newest first.
    async fn settings_versions(&self, biller: BillerId) -> StoreResult<Vec<SettingsVersion>>;
}

/// One version of a biller's settings, as it was stored.
#[derive(Debug, Clone)]
pub struct SettingsVersion {
    pub version: i64,
    pub settings: BillerSettings,
    pub created_at: OffsetDateTime,
    pub key_id: Option<KeyId>,
}

#[async_trait]
pub trait KeyStore {
    /// Stores a key with grants on the given billers (by code; all must exist).
    async fn create_key(&self, key: &ApiKey) -> StoreResult<()>;
    async fn key(&self, key_id: &KeyId) -> StoreResult<Option<ApiKey>>;
    async fn keys(&self) -> StoreResult<Vec<ApiKey>>;
    /// Returns false when no such key exists. Its tokens stay, to be refused as revoked.
    async fn revoke_key(&self, key_id: &KeyId, at: OffsetDateTime) -> StoreResult<bool>;
    async fn insert_token(&self, token_hash: &[u8], key_id: &KeyId, expires_at: OffsetDateTime) -> StoreResult<()>;
    async fn token(&self, token_hash: &[u8]) -> StoreResult<Option<TokenRecord>>;
    async fn purge_tokens(&self, expired_before: OffsetDateTime) -> StoreResult<u64>;
}

#[async_trait]
pub trait ContactStore {
    /// Applies an add or replace atomically (with each change's history), or
    /// only plans it for a dry run.
    async fn write_contacts(
        &self,
        biller: BillerId,
        batch: WriteBatch,
        now: OffsetDateTime,
    ) -> StoreResult<WriteOutcome>;
    async fn contact(&self, biller: BillerId, by: &crate::domain::ContactRef) -> StoreResult<Option<Contact>>;
    async fn contacts(&self, biller: BillerId, filter: &ContactFilter, page: &PageRequest) -> StoreResult<ContactPage>;
    async fn count_contacts(&self, biller: BillerId) -> StoreResult<u64>;
}

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
fn snapshot_due(
    snapshot: Option<&NewSnapshot>,
    mode: WriteMode,
    created: u64,
    updated: u64,
    removed: u64,
) -> Option<&NewSnapshot> {
    snapshot.filter(|_| mode == WriteMode::Replace && created + updated + removed > 0)
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

#[async_trait]
pub trait JobStore {
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
    /// Records progress and extends the lease.
    async fn job_heartbeat(
        &self,
        fence: &Fence,
        status: JobStatus,
        counts: JobCounts,
        now: OffsetDateTime,
        lease: std::time::Duration,
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
    /// Ends a job as failed or cancelled (staged work is dropped).
    async fn finish_job(
        &self,
        fence: &Fence,
        status: JobStatus,
        error: Option<String>,
        counts: JobCounts,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
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

/// What an idempotency key says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// First use: serve the request, then record its response.
    New,
    /// Used before with the same request: here is the response it got.
    Replay { status: u16, body: String },
    /// Used before with a different request.
    Mismatch,
    /// The first request with this key is still being served.
    InProgress,
}

#[async_trait]
pub trait IdempotencyStore {
    /// Claims `key` for a request whose content hashes to `request_hash`.
    async fn claim_key(
        &self,
        biller: BillerId,
        key: &str,
        request_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<KeyClaim>;
    async fn complete_key(&self, biller: BillerId, key: &str, status: u16, body: &str) -> StoreResult<()>;
    /// Forgets a key whose request failed without a response worth keeping.
    async fn release_key(&self, biller: BillerId, key: &str) -> StoreResult<()>;
    async fn purge_keys(&self, created_before: OffsetDateTime) -> StoreResult<u64>;
}

#[async_trait]
pub trait Store:
    BillerStore
    + KeyStore
    + ContactStore
    + SingleContactStore
    + CatalogueStore
    + AliasStore
    + HistoryStore
    + JobStore
    + IdempotencyStore
    + SnapshotStore
    + Send
    + Sync
{
    /// Applies pending migrations; safe to call from several servers at once.
    async fn migrate(&self) -> StoreResult<()>;
    async fn ping(&self) -> StoreResult<()>;
    fn backend(&self) -> &'static str;
}

/// How a restore job's records (snapshot lines) read back as drafts.
pub fn snapshot_record_parser() -> fn(&str) -> Result<crate::domain::ContactDraft, crate::domain::FieldError> {
    snapshot_lines::draft_of
}

/// Opens the store a database URL names. An unknown scheme is an error, never
/// a silently created empty database.
pub async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(redact_url(url)))
    }
}

/// After the merge drops the keys invalid records claimed (`dropped` rows):
/// they too must all have been there, or a lost one let a later use of its
/// number pass as a first use.
fn check_key_rows(apply: &ApplyJob, dropped: u64) -> StoreResult<()> {
    let valid = apply.counts.total.saturating_sub(apply.counts.failed);
    if dropped != apply.staged.saturating_sub(valid) {
        return Err(StoreError::StagingLost);
    }
    Ok(())
}

/// One pass of a job merge's join: an add's goes over its staged numbers,
/// each looking up a contact; a replace's over the biller's contacts, each
/// looking up a staged number (it cannot see the new ones, so `staged` says
/// how many there are in all).
#[derive(Debug, Clone, Copy)]
struct JoinPass {
    rows: u64,
    /// Rows whose staged number and contact are the same.
    unchanged: u64,
    /// Rows with nothing on the other side: new numbers in an add, contacts
    /// to remove in a replace.
    unmatched: u64,
    staged: u64,
}

/// What a job's merge will do, from its join's pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MergePlan {
    created: u64,
    updated: u64,
    unchanged: u64,
    removed: u64,
    /// The biller's contacts before a replace (its guard weighs removals against them).
    existing: u64,
}

impl MergePlan {
    /// Numbers are unique in staging and in contacts, so a matched row is one
    /// staged number and one contact; counts that say otherwise are corruption.
    fn of(mode: WriteMode, pass: JoinPass) -> StoreResult<Self> {
        let corrupt = || StoreError::Corrupt(format!("a job merge's join found {pass:?}"));
        let matched = pass.rows.checked_sub(pass.unmatched).ok_or_else(corrupt)?;
        let updated = matched.checked_sub(pass.unchanged).ok_or_else(corrupt)?;
        Ok(match mode {
            WriteMode::Add => {
                Self { created: pass.unmatched, updated, unchanged: pass.unchanged, removed: 0, existing: 0 }
            }
            WriteMode::Replace => Self {
                created: pass.staged.checked_sub(matched).ok_or_else(corrupt)?,
                updated,
                unchanged: pass.unchanged,
                removed: pass.unmatched,
                existing: pass.rows,
            },
        })
    }

    fn counts(&self, of: JobCounts) -> JobCounts {
        JobCounts {
            created: self.created,
            updated: self.updated,
            unchanged: self.unchanged,
            removed: self.removed,
            ..of
        }
    }
}

/// The guard and dry-run decision of a job merge, once the counts are known:
/// `Some` ends the merge here (a dry run, with what the guard would say),
/// `None` lets it write; a guard refusal of a real run is an error.
fn judge(apply: &ApplyJob, counts: JobCounts, existing: u64) -> StoreResult<Option<(JobCounts, Option<String>)>> {
    // Staging need not be durable (any re-run redoes it), so check it is all
    // there: every valid record is staged exactly once.
    if counts.created + counts.updated + counts.unchanged != apply.counts.total.saturating_sub(apply.counts.failed) {
        return Err(StoreError::StagingLost);
    }
    let refusal = match &apply.guard {
        Some(guard) => guard.check(counts.removed, existing).err(),
        None => None,
    };
    match (refusal, apply.dry_run) {
        (Some(r), false) => Err(r.into()),
        (refusal, true) => Ok(Some((counts, refusal.map(|r| r.to_string())))),
        (None, false) => Ok(None),
    }
}

/// A count as the stores keep it (signed 64-bit); callers check the range
/// first, so a count past it is refused here rather than wrapped.
fn stored_count(n: u64) -> StoreResult<i64> {
    i64::try_from(n).map_err(|_| StoreError::Backend(format!("{n} is past the largest count a store keeps")))
}

/// A database URL fit for an error message: any user and password are hidden.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

/// What a unique index that refused a write keeps unique, in words (the
/// server's own SQL never reaches a client): "… already exists".
pub fn taken_value(constraint: &str) -> &'static str {
    match constraint {
        "contacts_crn" => "the CRN (another contact's)",
        "contacts_account" => "the account number (another contact's)",
        "tags_name" => "a tag of that name",
        _ => "a value that must be unique",
    }
}

/// A bulk write ready to apply: the shared part of both backends' write path.
struct Prepared {
    plan: Plan,
    rows: Vec<codec::Encoded>,
    outcome: WriteOutcome,
}

/// Encodes every record: CPU work, done before any lock is taken.
fn encode_all(batch: &WriteBatch) -> StoreResult<Vec<codec::Encoded>> {
    batch.records.iter().map(codec::encode).collect()
}

/// Plans the encoded batch against `existing` (all of the biller's
/// contacts for a replace, the incoming account numbers for an add), and
/// applies the replace guard.
fn prepare(
    batch: &WriteBatch,
    rows: Vec<codec::Encoded>,
    existing: &HashMap<String, Existing>,
    existing_total: u64,
) -> StoreResult<Prepared> {
    let keys: Vec<sync::Incoming> = batch
        .records
        .iter()
        .zip(&rows)
        .map(|(r, e)| (r.account_number.as_str(), e.fingerprint, r.crn.as_deref()))
        .collect();
    let plan = sync::plan(&keys, existing, batch.mode);
    let counts = plan.counts();
    // A dry run reports what the guard would say instead of stopping at it.
    let refused = match batch.guard.map(|g| g.check(counts.removed, existing_total)) {
        Some(Err(refusal)) if !batch.dry_run => return Err(refusal.into()),
        Some(Err(refusal)) => Some(refusal),
        _ => None,
    };
    let mut outcome = WriteOutcome { counts, refused, ..WriteOutcome::default() };
    for (record, action) in batch.records.iter().zip(&plan.actions) {
        let list = match action {
            Action::Create => &mut outcome.created,
            Action::Update { .. } => &mut outcome.updated,
            Action::Unchanged => &mut outcome.unchanged,
        };
        if list.len() < SAMPLE {
            list.push(record.account_number.as_str().to_owned());
        }
    }
    outcome.removed = plan.removals.iter().take(SAMPLE).map(|(_, a)| a.clone()).collect();
    Ok(Prepared { plan, rows, outcome })
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            super::redact_url("postgres://u:hunter2@db:5432/x?sslmode=disable"),
            "postgres://***@db:5432/x?sslmode=disable"
        );
        assert_eq!(super::redact_url("mysql://user:pw@h/db"), "mysql://***@h/db");
        assert_eq!(super::redact_url("sqlite://a@b.db"), "sqlite://***@b.db");
        assert_eq!(super::redact_url("postgres://db/x?user=a@b"), "postgres://db/x?user=a@b");
    }

    #[test]
    fn a_merge_plan_counts_each_side_of_the_join() {
        use super::{JoinPass, MergePlan, StoreError};
        use crate::domain::sync::WriteMode;
        // Replace 1,000 contacts with 950 numbers: 100 changed, 850 the same, 50 gone, 0 new.
        let pass = JoinPass { rows: 1_000, unchanged: 850, unmatched: 50, staged: 950 };
        let plan = MergePlan { created: 0, updated: 100, unchanged: 850, removed: 50, existing: 1_000 };
        assert_eq!(MergePlan::of(WriteMode::Replace, pass).unwrap(), plan);
        // Add 10 numbers, 3 of them new and 5 the same.
        let pass = JoinPass { rows: 10, unchanged: 5, unmatched: 3, staged: 10 };
        let plan = MergePlan { created: 3, updated: 2, unchanged: 5, removed: 0, existing: 0 };
        assert_eq!(MergePlan::of(WriteMode::Add, pass).unwrap(), plan);
        // More matches than staged numbers cannot happen with unique numbers: refused, not wrapped.
        for (mode, pass) in [
            (WriteMode::Replace, JoinPass { rows: 10, unchanged: 2, unmatched: 1, staged: 5 }),
            (WriteMode::Add, JoinPass { rows: 10, unchanged: 8, unmatched: 3, staged: 10 }),
        ] {
            assert!(matches!(MergePlan::of(mode, pass), Err(StoreError::Corrupt(_))));
        }
    }
}
