//! The embedded SQLite backend: the default, one file, WAL mode, one writer.

mod pool;

use crate::domain::query::{ContactFilter, PageRequest};
use crate::domain::sync::{Action, Existing, WriteMode};
use crate::domain::{BillerSettings, Contact, ContactId, ContactRef, KeyId};
use crate::store::codec;
use crate::store::list_query::{Arg, list_query};
use crate::store::time_conv::{from_micros, to_micros};
use crate::store::{
    ApiKey, Biller, BillerId, BillerStore, ContactPage, ContactStore, KeyStore, Scope, Store, StoreError, StoreResult,
    TokenRecord, WriteBatch, WriteOutcome, prepare,
};
use async_trait::async_trait;
use pool::Conns;
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use time::OffsetDateTime;

const MIGRATIONS: &[&str] = &[include_str!("0001_init.sql")];
const READERS: usize = 4;

pub struct SqliteStore {
    writer: Arc<Conns>,
    readers: Arc<Conns>,
}

/// `sqlite://relative.db`, `sqlite:///absolute.db` or `sqlite:path.db`.
fn path_of(url: &str) -> StoreResult<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::UnsupportedUrl(format!("{url} (an SQLite URL needs a file path)")));
    }
    Ok(PathBuf::from(path))
}

impl SqliteStore {
    pub async fn open(url: &str) -> StoreResult<Self> {
        let path = path_of(url)?;
        let p = path.clone();
        tokio::task::spawn_blocking(move || pool::open_conn(&p))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))??;
        Ok(Self { writer: Conns::open(path.clone(), 1)?, readers: Conns::open(path, READERS)? })
    }
}

fn settings_json(settings: &BillerSettings) -> StoreResult<String> {
    serde_json::to_string(settings.doc()).map_err(|e| StoreError::Backend(e.to_string()))
}

fn biller_row(row: &Row) -> rusqlite::Result<(BillerId, String, String, String, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
}

fn to_biller((id, code, name, settings, created): (BillerId, String, String, String, i64)) -> StoreResult<Biller> {
    let doc = serde_json::from_str(&settings).map_err(|e| StoreError::Corrupt(format!("settings of {code}: {e}")))?;
    let settings = BillerSettings::parse(doc).map_err(|e| StoreError::Corrupt(format!("settings of {code}: {e:?}")))?;
    Ok(Biller { id, code, name, settings, created_at: from_micros(created)? })
}

fn scopes_text(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

fn parse_scopes(text: &str) -> Vec<Scope> {
    text.split_whitespace().filter_map(Scope::parse).collect()
}

fn load_key(conn: &rusqlite::Connection, key_id: &str) -> StoreResult<Option<ApiKey>> {
    let row = conn
        .prepare_cached("SELECT key_id, secret_hash, scopes, created_at, revoked_at FROM api_keys WHERE key_id = ?1")?
        .query_row([key_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<i64>>(4)?,
            ))
        })
        .optional()?;
    let Some((id, secret_hash, scopes, created, revoked)) = row else {
        return Ok(None);
    };
    let billers = conn
        .prepare_cached(
            "SELECT b.code FROM key_grants g JOIN billers b ON b.id = g.biller_id WHERE g.key_id = ?1 ORDER BY b.code",
        )?
        .query_map([key_id], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(Some(ApiKey {
        key_id: KeyId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("key id {id}")))?,
        secret_hash,
        scopes: parse_scopes(&scopes),
        billers,
        created_at: from_micros(created)?,
        revoked_at: revoked.map(from_micros).transpose()?,
    }))
}

const CONTACT_COLUMNS: &str = "id, account_number, doc, version, created_at, updated_at";

fn contact_row(row: &Row) -> rusqlite::Result<(String, String, String, i64, i64, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
}

fn to_contact(
    (id, acct, doc, version, created, updated): (String, String, String, i64, i64, i64),
) -> StoreResult<Contact> {
    Ok(Contact {
        id: ContactId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("contact id {id}")))?,
        data: codec::decode(acct, &doc)?,
        version,
        created_at: from_micros(created)?,
        updated_at: from_micros(updated)?,
    })
}

#[async_trait]
impl BillerStore for SqliteStore {
    async fn create_biller(&self, code: &str, name: &str, settings: &BillerSettings) -> StoreResult<Biller> {
        let (c_code, c_name, json) = (code.to_owned(), name.to_owned(), settings_json(settings)?);
        let now = to_micros(OffsetDateTime::now_utc());
        let id = self
            .writer
            .run(move |c| {
                c.execute(
                    "INSERT INTO billers (code, name, settings, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![c_code, c_name, json, now],
                )
                .map_err(|e| match StoreError::from(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!("biller {c_code}")),
                    other => other,
                })?;
                Ok(c.last_insert_rowid())
            })
            .await?;
        Ok(Biller {
            id,
            code: code.to_owned(),
            name: name.to_owned(),
            settings: settings.clone(),
            created_at: from_micros(now)?,
        })
    }

    async fn biller(&self, code: &str) -> StoreResult<Option<Biller>> {
        let code = code.to_owned();
        let row = self
            .readers
            .run(move |c| {
                Ok(c.prepare_cached("SELECT id, code, name, settings, created_at FROM billers WHERE code = ?1")?
                    .query_row([code], biller_row)
                    .optional()?)
            })
            .await?;
        row.map(to_biller).transpose()
    }

    async fn billers(&self) -> StoreResult<Vec<Biller>> {
        let rows = self
            .readers
            .run(|c| {
                Ok(c.prepare_cached("SELECT id, code, name, settings, created_at FROM billers ORDER BY code")?
                    .query_map([], biller_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await?;
        rows.into_iter().map(to_biller).collect()
    }

    async fn set_biller_settings(&self, biller: BillerId, settings: &BillerSettings) -> StoreResult<()> {
        let json = settings_json(settings)?;
        self.writer
            .run(move |c| {
                c.execute("UPDATE billers SET settings = ?1 WHERE id = ?2", params![json, biller])?;
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn create_key(&self, key: &ApiKey) -> StoreResult<()> {
        let key = key.clone();
        self.writer
            .run(move |c| {
                let tx = c.transaction()?;
                tx.execute(
                    "INSERT INTO api_keys (key_id, secret_hash, scopes, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![key.key_id.as_str(), key.secret_hash, scopes_text(&key.scopes), to_micros(key.created_at)],
                )?;
                for code in &key.billers {
                    let n = tx.execute(
                        "INSERT INTO key_grants (key_id, biller_id) SELECT ?1, id FROM billers WHERE code = ?2",
                        params![key.key_id.as_str(), code],
                    )?;
                    if n == 0 {
                        return Err(StoreError::Backend(format!("no biller {code}")));
                    }
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn key(&self, key_id: &KeyId) -> StoreResult<Option<ApiKey>> {
        let id = key_id.as_str().to_owned();
        self.readers.run(move |c| load_key(c, &id)).await
    }

    async fn keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.readers
            .run(|c| {
                let ids = c
                    .prepare_cached("SELECT key_id FROM api_keys ORDER BY created_at, key_id")?
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                ids.iter().filter_map(|id| load_key(c, id).transpose()).collect()
            })
            .await
    }

    async fn revoke_key(&self, key_id: &KeyId, at: OffsetDateTime) -> StoreResult<bool> {
        let id = key_id.as_str().to_owned();
        self.writer
            .run(move |c| {
                let tx = c.transaction()?;
                let n = tx.execute(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE key_id = ?1",
                    params![id, to_micros(at)],
                )?;
                tx.commit()?;
                Ok(n > 0)
            })
            .await
    }

    async fn insert_token(&self, token_hash: &[u8], key_id: &KeyId, expires_at: OffsetDateTime) -> StoreResult<()> {
        let (hash, id) = (token_hash.to_vec(), key_id.as_str().to_owned());
        self.writer
            .run(move |c| {
                c.prepare_cached("INSERT INTO tokens (token_hash, key_id, expires_at) VALUES (?1, ?2, ?3)")?
                    .execute(params![hash, id, to_micros(expires_at)])?;
                Ok(())
            })
            .await
    }

    async fn token(&self, token_hash: &[u8]) -> StoreResult<Option<TokenRecord>> {
        let hash = token_hash.to_vec();
        self.readers
            .run(move |c| {
                let row = c
                    .prepare_cached("SELECT key_id, expires_at FROM tokens WHERE token_hash = ?1")?
                    .query_row([hash], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                    .optional()?;
                let Some((key_id, expires)) = row else {
                    return Ok(None);
                };
                let Some(key) = load_key(c, &key_id)? else {
                    return Ok(None);
                };
                Ok(Some(TokenRecord { key, expires_at: from_micros(expires)? }))
            })
            .await
    }

    async fn purge_tokens(&self, expired_before: OffsetDateTime) -> StoreResult<u64> {
        self.writer
            .run(
                move |c| Ok(c.execute("DELETE FROM tokens WHERE expires_at < ?1", [to_micros(expired_before)])? as u64),
            )
            .await
    }
}

fn existing_row(r: &Row) -> rusqlite::Result<(String, String, i64, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_existing(
    map: &mut HashMap<String, Existing>,
    (acct, id, fingerprint, version): (String, String, i64, i64),
) -> StoreResult<()> {
    let id = ContactId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("contact id {id}")))?;
    map.insert(acct, Existing { id, fingerprint, version });
    Ok(())
}

fn write_batch(
    c: &mut rusqlite::Connection,
    biller: BillerId,
    batch: WriteBatch,
    now: i64,
) -> StoreResult<WriteOutcome> {
    // IMMEDIATE takes the write lock up front, so the plan sees what it changes.
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut existing = HashMap::new();
    let total = match batch.mode {
        WriteMode::Replace => {
            let mut stmt = tx
                .prepare_cached("SELECT account_number, id, fingerprint, version FROM contacts WHERE biller_id = ?1")?;
            for row in stmt.query_map([biller], existing_row)? {
                to_existing(&mut existing, row?)?;
            }
            existing.len() as u64
        }
        WriteMode::Add => {
            let mut stmt = tx.prepare_cached(
                "SELECT account_number, id, fingerprint, version FROM contacts WHERE biller_id = ?1 AND account_number = ?2",
            )?;
            for r in &batch.records {
                if let Some(row) =
                    stmt.query_row(params![biller, r.account_number.as_str()], existing_row).optional()?
                {
                    to_existing(&mut existing, row)?;
                }
            }
            0
        }
    };
    let prepared = prepare(&batch, &existing, total)?;
    if batch.dry_run {
        return Ok(prepared.outcome);
    }
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO contacts (biller_id, id, account_number, name_folded, contact_type, active, doc, fingerprint, version, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9)",
        )?;
        let mut update = tx.prepare_cached(
            "UPDATE contacts SET name_folded = ?3, contact_type = ?4, active = ?5, doc = ?6, fingerprint = ?7,
                 version = version + 1, updated_at = ?8
             WHERE biller_id = ?1 AND id = ?2",
        )?;
        let mut rng = rand::thread_rng();
        for ((record, row), action) in batch.records.iter().zip(&prepared.rows).zip(&prepared.plan.actions) {
            match action {
                Action::Create => {
                    let id = ContactId::generate(&mut rng);
                    insert.execute(params![
                        biller,
                        id.as_str(),
                        record.account_number.as_str(),
                        record.name.to_lowercase(),
                        record.contact_type,
                        record.active,
                        row.doc,
                        row.fingerprint,
                        now
                    ])?;
                }
                Action::Update { id, .. } => {
                    update.execute(params![
                        biller,
                        id.as_str(),
                        record.name.to_lowercase(),
                        record.contact_type,
                        record.active,
                        row.doc,
                        row.fingerprint,
                        now
                    ])?;
                }
                Action::Unchanged => {}
            }
        }
        let mut delete = tx.prepare_cached("DELETE FROM contacts WHERE biller_id = ?1 AND id = ?2")?;
        for (id, _) in &prepared.plan.removals {
            delete.execute(params![biller, id.as_str()])?;
        }
    }
    tx.commit()?;
    Ok(prepared.outcome)
}

#[async_trait]
impl ContactStore for SqliteStore {
    async fn write_contacts(
        &self,
        biller: BillerId,
        batch: WriteBatch,
        now: OffsetDateTime,
    ) -> StoreResult<WriteOutcome> {
        let now = to_micros(now);
        self.writer.run(move |c| write_batch(c, biller, batch, now)).await
    }

    async fn create_contact(&self, biller: BillerId, contact: &Contact) -> StoreResult<()> {
        let row = codec::encode(&contact.data)?;
        let contact = contact.clone();
        self.writer
            .run(move |c| {
                let d = &contact.data;
                c.prepare_cached(
                    "INSERT INTO contacts (biller_id, id, account_number, name_folded, contact_type, active, doc, fingerprint, version, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )?
                .execute(params![
                    biller,
                    contact.id.as_str(),
                    d.account_number.as_str(),
                    d.name.to_lowercase(),
                    d.contact_type,
                    d.active,
                    row.doc,
                    row.fingerprint,
                    contact.version,
                    to_micros(contact.created_at),
                    to_micros(contact.updated_at)
                ])
                .map_err(|e| match StoreError::from(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!("account number {}", d.account_number)),
                    other => other,
                })?;
                Ok(())
            })
            .await
    }

    async fn contact(&self, biller: BillerId, by: &ContactRef) -> StoreResult<Option<Contact>> {
        let (sql, key) = match by {
            ContactRef::Id(id) => (
                format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE biller_id = ?1 AND id = ?2"),
                id.as_str().to_owned(),
            ),
            ContactRef::AccountNumber(a) => (
                format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE biller_id = ?1 AND account_number = ?2"),
                a.clone(),
            ),
        };
        let row = self
            .readers
            .run(move |c| Ok(c.prepare_cached(&sql)?.query_row(params![biller, key], contact_row).optional()?))
            .await?;
        row.map(to_contact).transpose()
    }

    async fn contacts(&self, biller: BillerId, filter: &ContactFilter, page: &PageRequest) -> StoreResult<ContactPage> {
        let q = list_query(CONTACT_COLUMNS, biller, filter, page, |n| format!("?{n}"), "LIKE ? ESCAPE '\\'");
        let sql = q.sql;
        let args: Vec<rusqlite::types::Value> = q
            .args
            .into_iter()
            .map(|a| match a {
                Arg::Int(i) => rusqlite::types::Value::Integer(i),
                Arg::Bool(b) => rusqlite::types::Value::Integer(i64::from(b)),
                Arg::Text(t) => rusqlite::types::Value::Text(t),
                Arg::Time(t) => rusqlite::types::Value::Integer(to_micros(t)),
            })
            .collect();
        let rows = self
            .readers
            .run(move |c| {
                Ok(c.prepare_cached(&sql)?
                    .query_map(rusqlite::params_from_iter(args), contact_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await?;
        page_of(rows.into_iter().map(to_contact).collect::<StoreResult<Vec<_>>>()?, page.limit)
    }

    async fn delete_contact(&self, biller: BillerId, id: &ContactId) -> StoreResult<bool> {
        let id = id.as_str().to_owned();
        self.writer
            .run(move |c| {
                Ok(c.execute("DELETE FROM contacts WHERE biller_id = ?1 AND id = ?2", params![biller, id])? > 0)
            })
            .await
    }

    async fn count_contacts(&self, biller: BillerId) -> StoreResult<u64> {
        self.readers
            .run(move |c| {
                Ok(c.query_row("SELECT COUNT(*) FROM contacts WHERE biller_id = ?1", [biller], |r| r.get::<_, i64>(0))?
                    as u64)
            })
            .await
    }
}

/// Turns `limit + 1` fetched rows into a page and its continuation.
pub(crate) fn page_of(mut contacts: Vec<Contact>, limit: usize) -> StoreResult<ContactPage> {
    let next_after = if contacts.len() > limit {
        contacts.truncate(limit);
        contacts.last().map(|c| c.data.account_number.as_str().to_owned())
    } else {
        None
    };
    Ok(ContactPage { contacts, next_after })
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        self.writer
            .run(|c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Exclusive)?;
                let current: usize = tx.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
                if current > MIGRATIONS.len() {
                    return Err(StoreError::Backend(format!(
                        "database schema version {current} is newer than this contactd ({}); upgrade contactd",
                        MIGRATIONS.len()
                    )));
                }
                for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
                    tx.execute_batch(sql)?;
                    tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.readers.run(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map(|_| ())?)).await
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}
