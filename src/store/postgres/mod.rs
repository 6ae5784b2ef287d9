//! The PostgreSQL backend: pooled connections, set-based bulk writes
//! (`unnest` arrays), migrations under an advisory lock so several servers
//! may start at once.

mod access;
mod aliases;
mod catalogue;
mod contact_rows;
mod contacts;
mod direct_load;
mod idempotency;
mod jobs;
mod named;
mod patch_group;
pub use jobs::VACUUM_AFTER;
mod single;
mod snapshots;
mod turns;

use crate::store::{Store, StoreError, StoreResult};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

/// A schema change: SQL, or code for what SQL cannot do.
enum Migration {
    Sql(&'static str),
    /// Contacts stored in the old form (CRN in the document, tags by text).
    ReencodeLegacy,
}

const MIGRATIONS: &[Migration] = &[
    Migration::Sql(include_str!("0001_init.sql")),
    Migration::Sql(include_str!("0002_jobs.sql")),
    Migration::Sql(include_str!("0003_idempotency.sql")),
    Migration::Sql(include_str!("0004_snapshots.sql")),
    Migration::Sql(include_str!("0005_staging_without_key_check.sql")),
    Migration::Sql(include_str!("0006_staging_keys.sql")),
    Migration::Sql(include_str!("0007_bulk_tables.sql")),
    Migration::Sql(include_str!("0008_record_rows.sql")),
    Migration::Sql(include_str!("0009_contacts_fillfactor.sql")),
    Migration::Sql(include_str!("0010_contacts_without_biller_check.sql")),
    Migration::Sql(include_str!("0011_snapshot_rows.sql")),
    Migration::Sql(include_str!("0012_record_numbers_lz4.sql")),
    Migration::Sql(include_str!("0013_single_contacts.sql")),
    Migration::ReencodeLegacy,
    Migration::Sql(include_str!("0015_dialects.sql")),
];

/// Writes every contact stored in the old form again in today's: its CRN
/// to its column, its tags as catalogue ids (a tag made for each text), its
/// phones with their E.164.
async fn reencode_legacy(tx: &tokio_postgres::Transaction<'_>) -> StoreResult<()> {
    use crate::store::legacy;
    let rows = tx
        .query(
            &format!("SELECT biller_id, id, account_number, doc, crn FROM contacts WHERE {}", legacy::LEGACY_FILTER),
            &[],
        )
        .await?;
    for r in &rows {
        let (biller, id, doc): (i64, String, String) = (r.get(0), r.get(1), r.get(3));
        let mut data = legacy::read(r.get(2), &doc, r.get(4))?;
        let mut ids = Vec::with_capacity(data.tags.len());
        for name in &data.tags {
            let fresh = crate::domain::TagId::generate(&mut rand::thread_rng()).as_str().to_owned();
            let row = tx
                .query_one(
                    "WITH new AS (INSERT INTO tags (biller_id, id, name, created_at) VALUES ($1, $2, $3, now())
                                  ON CONFLICT (biller_id, name) DO NOTHING RETURNING id)
                     SELECT id FROM new UNION ALL SELECT id FROM tags WHERE biller_id = $1 AND name = $3 LIMIT 1",
                    &[&biller, &fresh, name],
                )
                .await?;
            ids.push(row.get::<_, String>(0));
        }
        data.tags = ids;
        let row = legacy::write(&data)?;
        tx.execute(
            "UPDATE contacts SET doc = $3, fingerprint = $4, crn = $5, email_key = $6, reference_key = $7,
                 external_key = $8, phone_keys = $9, tag_keys = $10
             WHERE biller_id = $1 AND id = $2",
            &[
                &biller,
                &id,
                &row.doc,
                &row.fingerprint,
                &data.crn,
                &row.keys.email,
                &row.keys.reference_id,
                &row.keys.external_id,
                &row.keys.phones,
                &row.keys.tags,
            ],
        )
        .await?;
    }
    Ok(())
}
/// Arbitrary, fixed: serialises migrations across servers sharing a database.
const MIGRATION_LOCK: i64 = 0x636f_6e74_6163_7464;
const POOL_SIZE: usize = 16;
/// Reads of one contact served by one statement at most.
const MAX_READS: usize = 128;
/// `contacts.id`'s collation, for ids read from tables that keep them as
/// `"C"`: compared in another collation, its primary key is not used.
pub(super) const ID_COLLATION: &str = " COLLATE \"default\"";
/// First bulk loads at once (each holds a pooled connection for its whole
/// job); past them, jobs take the staged path.
const DIRECT_LOADS: usize = POOL_SIZE / 4;
/// Replaces at once whose snapshot is copied on a connection of its own
/// (see `SnapshotCopy`); past them, it is copied inside the replace.
const SNAPSHOT_COPIES: usize = POOL_SIZE / 4;
/// How long a request waits for a pooled connection before `503 busy`
/// (rather than forever, should writes waiting on a lock hold them all).
const POOL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

pub struct PgStore {
    pool: Pool,
    direct_loads: std::sync::Arc<tokio::sync::Semaphore>,
    snapshot_copies: std::sync::Arc<tokio::sync::Semaphore>,
    /// PATCHes of a biller that arrive together, written in one transaction.
    patches: std::sync::Arc<turns::Turns<patch_group::Patch, patch_group::Answer>>,
    /// Reads of one contact that arrive together, made in one statement.
    reads: std::sync::Arc<turns::Turns<crate::domain::ContactRef, Option<crate::domain::Contact>>>,
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(c) if *c == tokio_postgres::error::SqlState::UNIQUE_VIOLATION => {
                let constraint = e.as_db_error().and_then(|d| d.constraint()).unwrap_or_default();
                StoreError::Conflict(super::taken_value(constraint).to_owned())
            }
            _ => StoreError::Backend(match e.as_db_error() {
                Some(db) => db.to_string(),
                None => e.to_string(),
            }),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Timeout(_) => StoreError::Busy,
            other => StoreError::Backend(format!("database pool: {other}")),
        }
    }
}

impl PgStore {
    pub async fn open(url: &str) -> StoreResult<Self> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::UnsupportedUrl(format!("{}: {e}", super::redact_url(url))))?;
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        // Fail at start, with the reason, rather than on the first request.
        drop(pool.get().await?);
        Ok(Self {
            pool,
            direct_loads: std::sync::Arc::new(tokio::sync::Semaphore::new(DIRECT_LOADS)),
            snapshot_copies: std::sync::Arc::new(tokio::sync::Semaphore::new(SNAPSHOT_COPIES)),
            patches: std::sync::Arc::new(turns::Turns::new(patch_group::MAX_GROUP)),
            reads: std::sync::Arc::new(turns::Turns::new(MAX_READS)),
        })
    }
}

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> StoreResult<()> {
        let mut c = self.pool.get().await?;
        c.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
        let result = async {
            let tx = c.transaction().await?;
            tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
                .await?;
            let current: i32 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await?.get(0);
            let current = current as usize;
            if current > MIGRATIONS.len() {
                return Err(StoreError::Backend(format!(
                    "database schema version {current} is newer than this contactd ({}); upgrade contactd",
                    MIGRATIONS.len()
                )));
            }
            for (i, migration) in MIGRATIONS.iter().enumerate().skip(current) {
                match migration {
                    Migration::Sql(sql) => tx.batch_execute(sql).await?,
                    Migration::ReencodeLegacy => reencode_legacy(&tx).await?,
                }
                tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[&((i + 1) as i32)]).await?;
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        c.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await?;
        result
    }

    async fn ping(&self) -> StoreResult<()> {
        let c = self.pool.get().await?;
        c.execute("SELECT 1", &[]).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}
