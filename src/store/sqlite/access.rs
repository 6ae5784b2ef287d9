//! Billers, API keys and tokens on SQLite.

use crate::domain::{BillerSettings, KeyId};
use crate::store::codec::{nets_text, parse_nets, parse_scopes, scopes_text, settings_from_json, settings_json};
use crate::store::sqlite::SqliteStore;
use crate::store::time_conv::{from_micros, to_micros};
use crate::store::{
    ApiKey, Biller, BillerId, BillerStore, KeyStore, SettingsVersion, StoreError, StoreResult, TokenRecord,
};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};
use time::OffsetDateTime;

fn biller_row(row: &Row) -> rusqlite::Result<BillerRow> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
}

type BillerRow = (BillerId, String, String, String, i64, i64);

fn to_biller((id, code, name, settings, settings_version, created): BillerRow) -> StoreResult<Biller> {
    let settings = settings_from_json(&code, &settings)?;
    Ok(Biller { id, code, name, settings, settings_version, created_at: from_micros(created)? })
}

fn load_key(conn: &rusqlite::Connection, key_id: &str) -> StoreResult<Option<ApiKey>> {
    let row = conn
        .prepare_cached(
            "SELECT key_id, secret_hash, scopes, created_at, revoked_at, allow_ips FROM api_keys WHERE key_id = ?1",
        )?
        .query_row([key_id], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?),
                (r.get::<_, i64>(3)?, r.get::<_, Option<i64>>(4)?, r.get::<_, Option<String>>(5)?),
            ))
        })
        .optional()?;
    let Some(((id, secret_hash, scopes), (created, revoked, allow_ips))) = row else {
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
        allow_ips: parse_nets(allow_ips.as_deref())?,
    }))
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
                let id = c.last_insert_rowid();
                c.execute(
                    "INSERT INTO settings_versions (biller_id, version, settings, created_at) VALUES (?1, 1, ?2, ?3)",
                    params![id, json, now],
                )?;
                Ok(id)
            })
            .await?;
        Ok(Biller {
            id,
            code: code.to_owned(),
            name: name.to_owned(),
            settings: settings.clone(),
            settings_version: 1,
            created_at: from_micros(now)?,
        })
    }

    async fn biller(&self, code: &str) -> StoreResult<Option<Biller>> {
        let code = code.to_owned();
        let row = self
            .readers
            .quick(move |c| {
                Ok(c.prepare_cached(
                    "SELECT id, code, name, settings, settings_version, created_at FROM billers WHERE code = ?1",
                )?
                .query_row([code], biller_row)
                .optional()?)
            })
            .await?;
        row.map(to_biller).transpose()
    }

    async fn biller_by_id(&self, id: BillerId) -> StoreResult<Option<Biller>> {
        let row = self
            .readers
            .run(move |c| {
                Ok(c.prepare_cached(
                    "SELECT id, code, name, settings, settings_version, created_at FROM billers WHERE id = ?1",
                )?
                .query_row([id], biller_row)
                .optional()?)
            })
            .await?;
        row.map(to_biller).transpose()
    }

    async fn billers(&self) -> StoreResult<Vec<Biller>> {
        let rows = self
            .readers
            .run(|c| {
                Ok(c.prepare_cached(
                    "SELECT id, code, name, settings, settings_version, created_at FROM billers ORDER BY code",
                )?
                .query_map([], biller_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await?;
        rows.into_iter().map(to_biller).collect()
    }

    async fn set_biller_settings(
        &self,
        biller: BillerId,
        settings: &BillerSettings,
        key_id: Option<&KeyId>,
    ) -> StoreResult<i64> {
        let json = settings_json(settings)?;
        let key = key_id.map(|k| k.as_str().to_owned());
        let now = to_micros(OffsetDateTime::now_utc());
        self.writer
            .run(move |c| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let version: i64 = tx.query_row(
                    "UPDATE billers SET settings = ?1, settings_version = settings_version + 1 WHERE id = ?2
                     RETURNING settings_version",
                    params![json, biller],
                    |r| r.get(0),
                )?;
                tx.execute(
                    "INSERT INTO settings_versions (biller_id, version, settings, created_at, key_id)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![biller, version, json, now, key],
                )?;
                tx.commit()?;
                Ok(version)
            })
            .await
    }

    async fn settings_versions(&self, biller: BillerId) -> StoreResult<Vec<SettingsVersion>> {
        let rows = self
            .readers
            .run(move |c| {
                Ok(c.prepare_cached(
                    "SELECT b.code, v.version, v.settings, v.created_at, v.key_id FROM settings_versions v
                     JOIN billers b ON b.id = v.biller_id WHERE v.biller_id = ?1 ORDER BY v.version DESC",
                )?
                .query_map([biller], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await?;
        rows.into_iter()
            .map(|(code, version, settings, at, key)| {
                Ok(SettingsVersion {
                    version,
                    settings: settings_from_json(&code, &settings)?,
                    created_at: from_micros(at)?,
                    key_id: key.as_deref().and_then(KeyId::parse),
                })
            })
            .collect()
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
                    "INSERT INTO api_keys (key_id, secret_hash, scopes, created_at, allow_ips) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        key.key_id.as_str(),
                        key.secret_hash,
                        scopes_text(&key.scopes),
                        to_micros(key.created_at),
                        nets_text(&key.allow_ips)
                    ],
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
            .quick(move |c| {
                // One snapshot for the token, its key and the key's grants.
                let c = c.transaction()?;
                let row = c
                    .prepare_cached("SELECT key_id, expires_at FROM tokens WHERE token_hash = ?1")?
                    .query_row([hash], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                    .optional()?;
                let Some((key_id, expires)) = row else {
                    return Ok(None);
                };
                let Some(key) = load_key(&c, &key_id)? else {
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
