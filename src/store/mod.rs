//! Storage: narrow traits united by `Store`, with an embedded SQLite backend
//! and a PostgreSQL backend, each with its own SQL and bulk path. The backend
//! is chosen once from the database URL's scheme.

mod bulk_plan;
use bulk_plan::{encode_all, prepare};
mod codec;
pub use codec::SearchKeys;
mod direct_load;
pub use direct_load::{DirectLoad, LoadEnd, LoadRow};
mod history_rows;
mod jobs;
pub use jobs::{
    ApplyJob, Duplicate, Fence, Heartbeat, Job, JobError, JobLease, JobQueue, JobRecord, JobStaging, KnownFingerprints,
    MAX_KNOWN_FINGERPRINTS, NewJob, RecordFormat, StageItem, StagedRow,
};
mod legacy;
mod list_query;
mod merge_plan;
use merge_plan::{JoinPass, MergePlan, check_key_rows, judge};
pub mod postgres;
pub(crate) mod record_rows;
mod single;
mod snapshot_lines;
mod snapshots;
use snapshots::snapshot_due;
pub use snapshots::{NewSnapshot, Snapshot, SnapshotStore, snapshot_record_parser};
pub mod sqlite;
mod time_conv;
pub use single::{
    ALIAS_ROUNDS, AliasStore, CatalogueStore, CrnIssued, Decide, HistoryFrom, HistoryRow, HistoryStore, MakeCrn,
    Refused, SingleContactStore, Tag, TagDeleted, Updated, numbered_aliases,
};

use crate::domain::history::Origin;
use crate::domain::holds::Hold;
use crate::domain::query::{ContactFilter, PageRequest};
use crate::domain::sync::{Counts, RemovalGuard, RemovalRefused, WriteMode};
use crate::domain::{BillerSettings, Contact, ContactData, KeyId};
use async_trait::async_trait;
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
    /// How many of the biller's contacts match.
    async fn count_contacts(&self, biller: BillerId, filter: &ContactFilter) -> StoreResult<u64>;
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
    + JobQueue
    + JobLease
    + JobStaging
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
}
