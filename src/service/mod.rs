//! Use cases: what the HTTP API, the dialects and the CLI call. Authorization
//! and transactions' boundaries are decided here, never in handlers.

mod admin;
mod aliases;
mod auth;
mod catalogue;
mod contacts;
mod error;
mod jobs;
mod recent;
mod single;
mod snapshots;
mod upkeep;

/// What callers of the service see of the store's types.
pub use crate::store::{ContactPage, Job, JobError, JobRecord, RecordFormat, Scope, Snapshot, WriteOutcome};
pub use admin::{DEMO_BILLER, Demo};
pub use auth::{IssuedToken, NewKey, Principal};
pub use catalogue::{HistoryPage, MAX_CONTACT_TYPE, MAX_TAG_NAME, SettingsChange};
pub use contacts::{ContactBatch, ReplaceOptions};
pub use error::{AuthFailure, HeldError, HeldWrite, Resource, ServiceError, ServiceResult, SettingsImpact};
pub use jobs::{JobOptions, JobUpload, MAX_JOB_RECORDS, RecordParser, RecordParsers, Unreadable, Worker, job_scope};
pub use single::{PatchRequest, Precondition, SameContact};

use crate::store::{Biller, BillerId, Store};
use recent::Recent;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub(super) fn check_scope(who: &Principal, scope: Scope) -> ServiceResult<()> {
    if who.scopes.contains(&scope) { Ok(()) } else { Err(ServiceError::Forbidden(scope)) }
}

/// Service limits and policy, from the settings.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub token_ttl: Duration,
    /// Records per synchronous add or replace.
    pub max_sync_records: usize,
    /// How long a job worker's claim holds without a heartbeat.
    pub job_lease: Duration,
    /// Replace snapshots kept per biller (0: none are taken).
    pub snapshot_retention: usize,
    /// Job workers this server runs.
    pub workers: usize,
    /// Jobs of at least this many records are large (see `jobs::Lanes`).
    pub large_job_records: u64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(3600),
            max_sync_records: 10_000,
            job_lease: Duration::from_secs(60),
            snapshot_retention: 10,
            workers: 2,
            large_job_records: 100_000,
        }
    }
}

/// The current time at the precision both stores keep (microseconds), so what
/// a write returns equals what a later read returns.
pub fn now() -> time::OffsetDateTime {
    let t = time::OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000).unwrap_or(t)
}

#[derive(Clone)]
pub struct Service {
    store: Arc<dyn Store>,
    config: ServiceConfig,
    auth_cache: Arc<auth::AuthCache>,
    bulk_locks: Arc<std::sync::Mutex<HashMap<BillerId, Arc<tokio::sync::Mutex<()>>>>>,
    /// Wakes an idle worker of this server when a job is queued here (jobs
    /// queued by other servers are found by polling).
    job_queued: Arc<tokio::sync::Notify>,
    /// How many of this server's workers are on large jobs.
    lanes: Arc<jobs::Lanes>,
    /// Billers by code and tokens by hash, as read a moment ago.
    billers: Arc<Recent<String, Biller>>,
    tokens: Arc<Recent<[u8; 32], crate::store::TokenRecord>>,
    /// Keys checked by id and secret (HTTP Basic on every request), by the
    /// key id and the secret's SHA-256.
    keys: Arc<Recent<(crate::domain::KeyId, [u8; 32]), auth::Principal>>,
}

/// How long a biller or token read from the store is trusted: what a change
/// made through another server (or the CLI) takes to reach this one.
pub const RECENT_TTL: Duration = Duration::from_secs(2);

/// Entries of each recent-reads map, at most.
const RECENT_MAX: usize = 100_000;

impl Service {
    pub fn new(store: Arc<dyn Store>, config: ServiceConfig) -> Self {
        let lanes = Arc::new(jobs::Lanes::new(config.workers));
        Self {
            store,
            config,
            auth_cache: Arc::default(),
            bulk_locks: Arc::default(),
            job_queued: Arc::default(),
            lanes,
            billers: Arc::new(Recent::new(RECENT_TTL, RECENT_MAX)),
            tokens: Arc::new(Recent::new(RECENT_TTL, RECENT_MAX)),
            keys: Arc::new(Recent::new(RECENT_TTL, RECENT_MAX)),
        }
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// One bulk write per biller at a time in this process; the store's lock
    /// orders them across processes.
    fn bulk_lock(&self, biller: BillerId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.bulk_locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(biller).or_default().clone()
    }

    /// The biller a principal may act on with `scope`. A biller the key has no
    /// grant on is reported exactly like one that does not exist.
    pub async fn authorize(&self, who: &Principal, code: &str, scope: Scope) -> ServiceResult<Biller> {
        let biller = self.granted(who, code).await?;
        check_scope(who, scope)?;
        Ok(biller)
    }

    /// The biller, if the principal has a grant on it (any scope): what a
    /// dialect renders beside contacts a scoped call already returned.
    pub async fn granted(&self, who: &Principal, code: &str) -> ServiceResult<Biller> {
        if !who.billers.iter().any(|b| b == code) {
            return Err(ServiceError::NotFound(Resource::Biller));
        }
        if let Some(biller) = self.billers.get(&code.to_owned()) {
            return Ok(biller);
        }
        let biller = self.store.biller(code).await?.ok_or(ServiceError::NotFound(Resource::Biller))?;
        self.billers.put(code.to_owned(), biller.clone());
        Ok(biller)
    }

    /// Forgets what this server read of the biller: it changed.
    pub(super) fn biller_changed(&self, code: &str) {
        self.billers.forget(&code.to_owned());
    }

    /// Runs a write validated against the biller's settings; if they changed
    /// meanwhile (here or through another server), once more against the new.
    pub(super) async fn with_settings<T, F, Fut>(
        &self,
        who: &Principal,
        code: &str,
        scope: Scope,
        write: F,
    ) -> ServiceResult<T>
    where
        F: Fn(Biller) -> Fut,
        Fut: std::future::Future<Output = ServiceResult<T>>,
    {
        match write(self.authorize(who, code, scope).await?).await {
            Err(ServiceError::SettingsChanged) => {
                self.biller_changed(code);
                write(self.authorize(who, code, scope).await?).await
            }
            done => done,
        }
    }

    /// Claims an idempotency key for a request on `code` the principal may make.
    pub async fn claim_idempotency_key(
        &self,
        who: &Principal,
        code: &str,
        scope: Scope,
        key: &str,
        request_hash: &[u8],
    ) -> ServiceResult<(BillerId, crate::store::KeyClaim)> {
        let biller = self.authorize(who, code, scope).await?;
        Ok((biller.id, self.store.claim_key(biller.id, key, request_hash, now()).await?))
    }

    /// Keeps a claimed key's response for replays (a server error is not
    /// kept: the key is freed for a retry).
    pub async fn complete_idempotency_key(&self, biller: BillerId, key: &str, status: u16, body: &str) {
        let result = if status >= 500 {
            self.store.release_key(biller, key).await
        } else {
            self.store.complete_key(biller, key, status, body).await
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "recording an idempotency key");
        }
    }

    /// Frees a claimed key: the request it was claimed for gave no response.
    pub async fn release_idempotency_key(&self, biller: BillerId, key: &str) {
        if let Err(e) = self.store.release_key(biller, key).await {
            tracing::warn!(error = %e, "releasing an idempotency key");
        }
    }

    pub async fn ready(&self) -> ServiceResult<()> {
        Ok(self.store.ping().await?)
    }
}
