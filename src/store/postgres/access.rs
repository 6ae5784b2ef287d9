//! Billers, API keys and tokens on PostgreSQL.

use crate::domain::{BillerSettings, KeyId};
use crate::store::codec::{nets_text, parse_nets, parse_scopes, scopes_text, settings_from_json, settings_json};
use crate::store::postgres::PgStore;
use crate::store::postgres::contacts::{BillerLock, lock_biller};
use crate::store::{
    ApiKey, Biller, BillerId, BillerStore, KeyStore, SettingsVersion, StoreError, StoreResult, TokenRecord,
};
use async_trait::async_trait;
use time::OffsetDateTime;
use tokio_postgres::{GenericClient, Row};

fn to_biller(r: &Row) -> StoreResult<Biller> {
    let code: String = r.get(1);
    let settings: String = r.get(3);
    let settings = settings_from_json(&code, &settings)?;
    Ok(Biller { id: r.get(0), code, name: r.get(2), settings, settings_version: r.get(4), created_at: r.get(5) })
}

async fn load_key(c: &impl GenericClient, key_id: &str) -> StoreResult<Option<ApiKey>> {
    let Some(r) = c
        .query_opt(
            "SELECT key_id, secret_hash, scopes, created_at, revoked_at, allow_ips FROM api_keys WHERE key_id = $1",
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
        scopes: parse_scopes(&scopes),
        billers,
        created_at: r.get(3),
        revoked_at: r.get(4),
        allow_ips: parse_nets(r.get(5))?,
    }))
}

#[async_trait]
impl BillerStore for PgStore {
    async fn create_biller(&self, code: &str, name: &str, settings: &BillerSettings) -> StoreResult<Biller> {
        let c = self.pool.get().await?;
        let row = c
            .query_one(
                "WITH b AS (INSERT INTO billers (code, name, settings, created_at) VALUES ($1, $2, $3, now())
                            RETURNING id, code, name, settings, settings_version, created_at),
                      v AS (INSERT INTO settings_versions (biller_id, version, settings, created_at)
                            SELECT id, settings_version, settings, created_at FROM b)
                 SELECT id, code, name, settings, settings_version, created_at FROM b",
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
        let stmt = c
            .prepare_cached(
                "SELECT id, code, name, settings, settings_version, created_at FROM billers WHERE code = $1",
            )
            .await?;
        c.query_opt(&stmt, &[&code]).await?.as_ref().map(to_biller).transpose()
    }

    async fn biller_by_id(&self, id: BillerId) -> StoreResult<Option<Biller>> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached("SELECT id, code, name, settings, settings_version, created_at FROM billers WHERE id = $1")
            .await?;
        c.query_opt(&stmt, &[&id]).await?.as_ref().map(to_biller).transpose()
    }

    async fn billers(&self) -> StoreResult<Vec<Biller>> {
        let c = self.pool.get().await?;
        c.query("SELECT id, code, name, settings, settings_version, created_at FROM billers ORDER BY code", &[])
            .await?
            .iter()
            .map(to_biller)
            .collect()
    }

    async fn set_biller_settings(
        &self,
        biller: BillerId,
        settings: &BillerSettings,
        key_id: Option<&KeyId>,
    ) -> StoreResult<i64> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // No write of the biller may be under way: each was validated against the old settings.
        lock_biller(&tx, biller, BillerLock::Exclusive).await?;
        let row = tx
            .query_one(
                "WITH b AS (UPDATE billers SET settings = $1, settings_version = settings_version + 1 WHERE id = $2
                            RETURNING id, settings_version, settings)
                 INSERT INTO settings_versions (biller_id, version, settings, created_at, key_id)
                 SELECT id, settings_version, settings, now(), $3 FROM b RETURNING version",
                &[&settings_json(settings)?, &biller, &key_id.map(|k| k.as_str())],
            )
            .await?;
        tx.commit().await?;
        Ok(row.get(0))
    }

    async fn settings_versions(&self, biller: BillerId) -> StoreResult<Vec<SettingsVersion>> {
        let c = self.pool.get().await?;
        c.query(
            "SELECT b.code, v.version, v.settings, v.created_at, v.key_id FROM settings_versions v
             JOIN billers b ON b.id = v.biller_id WHERE v.biller_id = $1 ORDER BY v.version DESC",
            &[&biller],
        )
        .await?
        .iter()
        .map(|r| {
            let (code, settings): (String, String) = (r.get(0), r.get(2));
            Ok(SettingsVersion {
                version: r.get(1),
                settings: settings_from_json(&code, &settings)?,
                created_at: r.get(3),
                key_id: r.get::<_, Option<&str>>(4).and_then(KeyId::parse),
            })
        })
        .collect()
    }
}

#[async_trait]
impl KeyStore for PgStore {
    async fn create_key(&self, key: &ApiKey) -> StoreResult<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        tx.execute(
            "INSERT INTO api_keys (key_id, secret_hash, scopes, created_at, allow_ips) VALUES ($1, $2, $3, $4, $5)",
            &[
                &key.key_id.as_str(),
                &key.secret_hash,
                &scopes_text(&key.scopes),
                &key.created_at,
                &nets_text(&key.allow_ips),
            ],
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
