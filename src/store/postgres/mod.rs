//! The PostgreSQL backend: pooled connections, set-based bulk writes
//! (`unnest` arrays), migrations under an advisory lock so several servers
//! may start at once.

use crate::domain::query::{ContactFilter, PageRequest};
use crate::domain::sync::{Action, Existing, WriteMode};
use crate::domain::{BillerSettings, Contact, ContactId, ContactRef, KeyId};
use crate::store::list_query::{Arg, list_query};
use crate::store::sqlite::page_of;
use crate::store::{
    ApiKey, Biller, BillerId, BillerStore, ContactPage, ContactStore, KeyStore, Scope, Store, StoreError, StoreResult,
    TokenRecord, WriteBatch, WriteOutcome, codec, prepare,
};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::collections::HashMap;
use time::OffsetDateTime;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, NoTls, Row};

const MIGRATIONS: &[&str] = &[include_str!("0001_init.sql")];
/// Arbitrary, fixed: serialises migrations across servers sharing a database.
const MIGRATION_LOCK: i64 = 0x636f_6e74_6163_7464;
const POOL_SIZE: usize = 16;

pub struct PgStore {
    pool: Pool,
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(c) if *c == tokio_postgres::error::SqlState::UNIQUE_VIOLATION => StoreError::Conflict(e.to_string()),
            _ => StoreError::Backend(match e.as_db_error() {
                Some(db) => db.to_string(),
                None => e.to_string(),
            }),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Backend(format!("database pool: {e}"))
    }
}

impl PgStore {
    pub async fn open(url: &str) -> StoreResult<Self> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::UnsupportedUrl(format!("{}: {e}", super::redact_url(url))))?;
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool =
            Pool::builder(manager).max_size(POOL_SIZE).build().map_err(|e| StoreError::Backend(e.to_string()))?;
        // Fail at start, with the reason, rather than on the first request.
        drop(pool.get().await?);
        Ok(Self { pool })
    }
}

fn to_biller(r: &Row) -> StoreResult<Biller> {
    let code: String = r.get(1);
    let settings: String = r.get(3);
    let doc = serde_json::from_str(&settings).map_err(|e| StoreError::Corrupt(format!("settings of {code}: {e}")))?;
    let settings = BillerSettings::parse(doc).map_err(|e| StoreError::Corrupt(format!("settings of {code}: {e:?}")))?;
    Ok(Biller { id: r.get(0), code, name: r.get(2), settings, created_at: r.get(4) })
}

fn settings_json(settings: &BillerSettings) -> StoreResult<String> {
    serde_json::to_string(settings.doc()).map_err(|e| StoreError::Backend(e.to_string()))
}

fn scopes_text(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

async fn load_key(c: &impl GenericClient, key_id: &str) -> StoreResult<Option<ApiKey>> {
    let Some(r) = c
        .query_opt(
            "SELECT key_id, secret_hash, scopes, created_at, revoked_at FROM api_keys WHERE key_id = $1",
            &[&key_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let billers = c
        .query(
            "SELECT b.code FROM key_grants g JOIN billers b ON b.id = g.biller_id WHERE g.key_id = $1 ORDER BY b.code",
            &[&key_id],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let id: String = r.get(0);
    let scopes: String = r.get(2);
    Ok(Some(ApiKey {
        key_id: KeyId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("key id {id}")))?,
        secret_hash: r.get(1),
        scopes: scopes.split_whitespace().filter_map(Scope::parse).collect(),
        billers,
        created_at: r.get(3),
        revoked_at: r.get(4),
    }))
}

const CONTACT_COLUMNS: &str = "id, account_number, doc, version, created_at, updated_at";

fn to_contact(r: &Row) -> StoreResult<Contact> {
    let id: String = r.get(0);
    let doc: String = r.get(2);
    Ok(Contact {
        id: ContactId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("contact id {id}")))?,
        data: codec::decode(r.get(1), &doc)?,
        version: r.get(3),
        created_at: r.get(4),
        updated_at: r.get(5),
    })
}

fn to_existing(map: &mut HashMap<String, Existing>, r: &Row) -> StoreResult<()> {
    let id: String = r.get(1);
    let id = ContactId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("contact id {id}")))?;
    map.insert(r.get(0), Existing { id, fingerprint: r.get(2), version: r.get(3) });
    Ok(())
}

#[async_trait]
impl BillerStore for PgStore {
    async fn create_biller(&self, code: &str, name: &str, settings: &BillerSettings) -> StoreResult<Biller> {
        let c = self.pool.get().await?;
        let row = c
            .query_one(
                "INSERT INTO billers (code, name, settings, created_at) VALUES ($1, $2, $3, now())
                 RETURNING id, code, name, settings, created_at",
                &[&code, &name, &settings_json(settings)?],
            )
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("biller {code}")),
                other => other,
            })?;
        to_biller(&row)
    }

    async fn biller(&self, code: &str) -> StoreResult<Option<Biller>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached("SELECT id, code, name, settings, created_at FROM billers WHERE code = $1").await?;
        c.query_opt(&stmt, &[&code]).await?.as_ref().map(to_biller).transpose()
    }

    async fn billers(&self) -> StoreResult<Vec<Biller>> {
        let c = self.pool.get().await?;
        c.query("SELECT id, code, name, settings, created_at FROM billers ORDER BY code", &[])
            .await?
            .iter()
            .map(to_biller)
            .collect()
    }

    async fn set_biller_settings(&self, biller: BillerId, settings: &BillerSettings) -> StoreResult<()> {
        let c = self.pool.get().await?;
        c.execute("UPDATE billers SET settings = $1 WHERE id = $2", &[&settings_json(settings)?, &biller]).await?;
        Ok(())
    }
}

#[async_trait]
impl KeyStore for PgStore {
    async fn create_key(&self, key: &ApiKey) -> StoreResult<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        tx.execute(
            "INSERT INTO api_keys (key_id, secret_hash, scopes, created_at) VALUES ($1, $2, $3, $4)",
            &[&key.key_id.as_str(), &key.secret_hash, &scopes_text(&key.scopes), &key.created_at],
        )
        .await?;
        for code in &key.billers {
            let n = tx
                .execute(
                    "INSERT INTO key_grants (key_id, biller_id) SELECT $1, id FROM billers WHERE code = $2",
                    &[&key.key_id.as_str(), code],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::Backend(format!("no biller {code}")));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn key(&self, key_id: &KeyId) -> StoreResult<Option<ApiKey>> {
        let c = self.pool.get().await?;
        load_key(&**c, key_id.as_str()).await
    }

    async fn keys(&self) -> StoreResult<Vec<ApiKey>> {
        let c = self.pool.get().await?;
        let mut out = Vec::new();
        for r in c.query("SELECT key_id FROM api_keys ORDER BY created_at, key_id", &[]).await? {
            let id: String = r.get(0);
            out.extend(load_key(&**c, &id).await?);
        }
        Ok(out)
    }

    async fn revoke_key(&self, key_id: &KeyId, at: OffsetDateTime) -> StoreResult<bool> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE key_id = $1",
                &[&key_id.as_str(), &at],
            )
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn insert_token(&self, token_hash: &[u8], key_id: &KeyId, expires_at: OffsetDateTime) -> StoreResult<()> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached("INSERT INTO tokens (token_hash, key_id, expires_at) VALUES ($1, $2, $3)").await?;
        c.execute(&stmt, &[&token_hash, &key_id.as_str(), &expires_at]).await?;
        Ok(())
    }

    async fn token(&self, token_hash: &[u8]) -> StoreResult<Option<TokenRecord>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached("SELECT key_id, expires_at FROM tokens WHERE token_hash = $1").await?;
        let Some(r) = c.query_opt(&stmt, &[&token_hash]).await? else {
            return Ok(None);
        };
        let key_id: String = r.get(0);
        let Some(key) = load_key(&**c, &key_id).await? else {
            return Ok(None);
        };
        Ok(Some(TokenRecord { key, expires_at: r.get(1) }))
    }

    async fn purge_tokens(&self, expired_before: OffsetDateTime) -> StoreResult<u64> {
        let c = self.pool.get().await?;
        Ok(c.execute("DELETE FROM tokens WHERE expires_at < $1", &[&expired_before]).await?)
    }
}

#[async_trait]
impl ContactStore for PgStore {
    async fn write_contacts(
        &self,
        biller: BillerId,
        batch: WriteBatch,
        now: OffsetDateTime,
    ) -> StoreResult<WriteOutcome> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // One bulk writer per biller at a time, so the plan sees what it changes.
        tx.execute("SELECT 1 FROM billers WHERE id = $1 FOR UPDATE", &[&biller]).await?;
        let mut existing = HashMap::new();
        let total = match batch.mode {
            WriteMode::Replace => {
                for r in tx
                    .query(
                        "SELECT account_number, id, fingerprint, version FROM contacts WHERE biller_id = $1",
                        &[&biller],
                    )
                    .await?
                {
                    to_existing(&mut existing, &r)?;
                }
                existing.len() as u64
            }
            WriteMode::Add => {
                let accts: Vec<&str> = batch.records.iter().map(|r| r.account_number.as_str()).collect();
                let rows = tx
                    .query(
                        "SELECT account_number, id, fingerprint, version FROM contacts WHERE biller_id = $1 AND account_number = ANY($2)",
                        &[&biller, &accts],
                    )
                    .await?;
                for r in &rows {
                    to_existing(&mut existing, r)?;
                }
                0
            }
        };
        let prepared = prepare(&batch, &existing, total)?;
        if batch.dry_run {
            return Ok(prepared.outcome);
        }
        let mut new = Columns::default();
        let mut changed = Columns::default();
        for ((record, row), action) in batch.records.iter().zip(&prepared.rows).zip(&prepared.plan.actions) {
            let (cols, id) = match action {
                Action::Create => (&mut new, ContactId::generate(&mut rand::thread_rng()).as_str().to_owned()),
                Action::Update { id, .. } => (&mut changed, id.as_str().to_owned()),
                Action::Unchanged => continue,
            };
            cols.id.push(id);
            cols.account_number.push(record.account_number.as_str().to_owned());
            cols.name.push(record.name.to_lowercase());
            cols.contact_type.push(record.contact_type.clone());
            cols.active.push(record.active);
            cols.doc.push(row.doc.clone());
            cols.fingerprint.push(row.fingerprint);
        }
        if !new.id.is_empty() {
            tx.execute(
                "INSERT INTO contacts (biller_id, id, account_number, name_folded, contact_type, active, doc, fingerprint, version, created_at, updated_at)
                 SELECT $1, u.id, u.acct, u.name, u.ctype, u.active, u.doc, u.fp, 1, $9, $9
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[], $8::int8[])
                      AS u(id, acct, name, ctype, active, doc, fp)",
                &new.params(&biller, &now),
            )
            .await?;
        }
        if !changed.id.is_empty() {
            tx.execute(
                "UPDATE contacts c SET name_folded = u.name, contact_type = u.ctype, active = u.active, doc = u.doc,
                     fingerprint = u.fp, version = c.version + 1, updated_at = $9
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[], $8::int8[])
                      AS u(id, acct, name, ctype, active, doc, fp)
                 WHERE c.biller_id = $1 AND c.id = u.id",
                &changed.params(&biller, &now),
            )
            .await?;
        }
        if !prepared.plan.removals.is_empty() {
            let ids: Vec<&str> = prepared.plan.removals.iter().map(|(id, _)| id.as_str()).collect();
            tx.execute("DELETE FROM contacts WHERE biller_id = $1 AND id = ANY($2)", &[&biller, &ids]).await?;
        }
        tx.commit().await?;
        Ok(prepared.outcome)
    }

    async fn create_contact(&self, biller: BillerId, contact: &Contact) -> StoreResult<()> {
        let row = codec::encode(&contact.data)?;
        let d = &contact.data;
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // Shares the biller lock with other single writes; waits for bulk writes.
        tx.execute("SELECT 1 FROM billers WHERE id = $1 FOR SHARE", &[&biller]).await?;
        tx.execute(
            "INSERT INTO contacts (biller_id, id, account_number, name_folded, contact_type, active, doc, fingerprint, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &biller,
                &contact.id.as_str(),
                &d.account_number.as_str(),
                &d.name.to_lowercase(),
                &d.contact_type,
                &d.active,
                &row.doc,
                &row.fingerprint,
                &contact.version,
                &contact.created_at,
                &contact.updated_at,
            ],
        )
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("account number {}", d.account_number)),
            other => other,
        })?;
        tx.commit().await?;
        Ok(())
    }

    async fn contact(&self, biller: BillerId, by: &ContactRef) -> StoreResult<Option<Contact>> {
        let c = self.pool.get().await?;
        let (sql, key) = match by {
            ContactRef::Id(id) => ("id", id.as_str()),
            ContactRef::AccountNumber(a) => ("account_number", a.as_str()),
        };
        let stmt = c
            .prepare_cached(&format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE biller_id = $1 AND {sql} = $2"))
            .await?;
        c.query_opt(&stmt, &[&biller, &key]).await?.as_ref().map(to_contact).transpose()
    }

    async fn contacts(&self, biller: BillerId, filter: &ContactFilter, page: &PageRequest) -> StoreResult<ContactPage> {
        let c = self.pool.get().await?;
        let q = list_query(CONTACT_COLUMNS, biller, filter, page, |n| format!("${n}"), "LIKE ?");
        let args: Vec<&(dyn ToSql + Sync)> = q
            .args
            .iter()
            .map(|a| -> &(dyn ToSql + Sync) {
                match a {
                    Arg::Int(i) => i,
                    Arg::Bool(b) => b,
                    Arg::Text(t) => t,
                    Arg::Time(t) => t,
                }
            })
            .collect();
        let sql = q.sql;
        let rows = c.query(&sql, &args).await?;
        page_of(rows.iter().map(to_contact).collect::<StoreResult<Vec<_>>>()?, page.limit)
    }

    async fn delete_contact(&self, biller: BillerId, id: &ContactId) -> StoreResult<bool> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        tx.execute("SELECT 1 FROM billers WHERE id = $1 FOR SHARE", &[&biller]).await?;
        let n = tx.execute("DELETE FROM contacts WHERE biller_id = $1 AND id = $2", &[&biller, &id.as_str()]).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn count_contacts(&self, biller: BillerId) -> StoreResult<u64> {
        let c = self.pool.get().await?;
        let n: i64 = c.query_one("SELECT COUNT(*) FROM contacts WHERE biller_id = $1", &[&biller]).await?.get(0);
        Ok(n as u64)
    }
}

/// Column arrays for one set-based statement.
#[derive(Default)]
struct Columns {
    id: Vec<String>,
    account_number: Vec<String>,
    name: Vec<String>,
    contact_type: Vec<Option<String>>,
    active: Vec<bool>,
    doc: Vec<String>,
    fingerprint: Vec<i64>,
}

impl Columns {
    fn params<'a>(&'a self, biller: &'a BillerId, now: &'a OffsetDateTime) -> [&'a (dyn ToSql + Sync); 9] {
        [
            biller,
            &self.id,
            &self.account_number,
            &self.name,
            &self.contact_type,
            &self.active,
            &self.doc,
            &self.fingerprint,
            now,
        ]
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
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
                tx.batch_execute(sql).await?;
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
