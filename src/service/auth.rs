//! API keys, tokens and the per-request identity. A request never costs an
//! argon2 verification: tokens are 256-bit random values looked up by their
//! SHA-256. Where a key secret is checked (token issue, HTTP Basic), argon2
//! runs on a blocking thread, a short-lived cache makes repeats cheap, and
//! repeated failures for a key are throttled.

use crate::domain::KeyId;
use crate::service::Service;
use crate::service::error::Resource;
use crate::service::error::{AuthFailure, ServiceError, ServiceResult};
use crate::store::{ApiKey, Scope};
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const TOKEN_PREFIX: &str = "tok_";
const SECRET_PREFIX: &str = "sk_";
/// 32 random bytes in unpadded base64url.
const RANDOM_CHARS: usize = 43;
/// A secret verified is taken again without argon2 (and without counting an
/// attempt) for this long: as long as a token lasts by default, so a client
/// sending Basic on every request is not locked out by others' guesses at
/// its key id. Revocation is still read from the store on each check.
const VERIFIED_TTL: Duration = Duration::from_secs(3600);
const FAILURE_WINDOW: Duration = Duration::from_secs(300);
const MAX_FAILURES: u32 = 5;
/// Keys whose failures are remembered at once.
const MAX_TRACKED: usize = 10_000;

/// Who is calling: the key behind the token and what it may do.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: KeyId,
    pub scopes: Vec<Scope>,
    pub billers: Vec<String>,
    /// Where the key may be used from, for dialects whose clients name it.
    pub allow_ips: Vec<ipnet::IpNet>,
}

impl Principal {
    fn of(key: ApiKey) -> Self {
        Self { key_id: key.key_id, scopes: key.scopes, billers: key.billers, allow_ips: key.allow_ips }
    }

    /// Whether the key may be used from `ip` (never, when it names no place);
    /// an IPv4-mapped IPv6 address is its IPv4 one.
    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.allow_ips.iter().any(|net| net.contains(&ip))
    }
}

#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_at: OffsetDateTime,
    pub expires_in: u64,
}

/// A key id and its secret, shown once at creation.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub key_id: KeyId,
    pub secret: String,
}

/// Recent argon2 results and failure counts, per key.
pub struct AuthCache {
    verified: Mutex<HashMap<KeyId, ([u8; 32], Instant)>>,
    failures: Mutex<HashMap<KeyId, (u32, Instant)>>,
    /// Bounds concurrent argon2 runs (each takes ~19 MiB and a core).
    hashing: tokio::sync::Semaphore,
    /// One check of a key's secret at a time: a burst of requests with the
    /// same Basic credentials waits for the first check, not for its own
    /// (and never counts as a burst of attempts).
    checking: Mutex<HashMap<KeyId, Arc<tokio::sync::Mutex<()>>>>,
}

impl Default for AuthCache {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            verified: Mutex::default(),
            failures: Mutex::default(),
            hashing: tokio::sync::Semaphore::new(cores),
            checking: Mutex::default(),
        }
    }
}

/// A hash to verify against when the key id is unknown, so that answering
/// "no such key" takes as long as "wrong secret".
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_secret("contactd-dummy-secret").unwrap_or_default())
}

fn random_string(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn well_formed(value: &str, prefix: &str) -> bool {
    value.strip_prefix(prefix).is_some_and(|r| {
        r.len() == RANDOM_CHARS && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn sha256(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

pub fn hash_secret(secret: &str) -> ServiceResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Internal(format!("hashing a secret: {e}")))
}

impl Service {
    /// Creates a key; the secret is returned once and only its argon2 hash is kept.
    #[tracing::instrument(skip_all)]
    pub async fn create_key(
        &self,
        billers: &[String],
        scopes: &[Scope],
        allow_ips: &[ipnet::IpNet],
    ) -> ServiceResult<NewKey> {
        if billers.is_empty() {
            return Err(ServiceError::BadRequest("a key needs at least one biller".into()));
        }
        if scopes.is_empty() {
            return Err(ServiceError::BadRequest("a key needs at least one scope".into()));
        }
        for code in billers {
            if self.store.biller(code).await?.is_none() {
                return Err(ServiceError::BadRequest(format!("no biller with code {code}")));
            }
        }
        let mut billers = billers.to_vec();
        billers.sort();
        billers.dedup();
        let key_id = KeyId::generate(&mut rand::thread_rng());
        let secret = random_string(SECRET_PREFIX);
        let s = secret.clone();
        let secret_hash = tokio::task::spawn_blocking(move || hash_secret(&s))
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))??;
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        let key = ApiKey {
            key_id: key_id.clone(),
            secret_hash,
            scopes,
            billers,
            created_at: OffsetDateTime::now_utc(),
            revoked_at: None,
            allow_ips: {
                let mut nets: Vec<ipnet::IpNet> = allow_ips.iter().map(ipnet::IpNet::trunc).collect();
                nets.sort();
                nets.dedup();
                nets
            },
        };
        self.store.create_key(&key).await?;
        Ok(NewKey { key_id, secret })
    }

    #[tracing::instrument(skip_all)]
    pub async fn revoke_key(&self, key_id: &str) -> ServiceResult<()> {
        let id = KeyId::parse(key_id).ok_or(ServiceError::NotFound(Resource::Key))?;
        if !self.store.revoke_key(&id, OffsetDateTime::now_utc()).await? {
            return Err(ServiceError::NotFound(Resource::Key));
        }
        if let Ok(mut v) = self.auth_cache.verified.lock() {
            v.remove(&id);
        }
        self.tokens.clear();
        self.keys.clear();
        Ok(())
    }

    pub async fn keys(&self) -> ServiceResult<Vec<ApiKey>> {
        Ok(self.store.keys().await?)
    }

    /// Checks a key id and secret. A secret verified in the last hour is
    /// accepted from the cache; otherwise each attempt is counted before argon2
    /// runs (so parallel guesses cannot slip past the limit), argon2 runs on a
    /// blocking thread under a global limit, and unknown keys cost the same as
    /// known ones. A revoked key is reported only to a caller with its secret.
    #[tracing::instrument(skip_all, fields(key_id))]
    pub async fn verify_key(&self, key_id: &str, secret: &str) -> ServiceResult<Principal> {
        let bad = || ServiceError::Unauthenticated(AuthFailure::BadCredentials);
        let id = KeyId::parse(key_id).ok_or_else(bad)?;
        tracing::Span::current().record("key_id", id.as_str());
        let key = self.store.key(&id).await?;
        let digest = sha256(secret);
        let cached = self
            .auth_cache
            .verified
            .lock()
            .ok()
            .and_then(|v| v.get(&id).copied())
            .is_some_and(|(d, at)| d == digest && at.elapsed() < VERIFIED_TTL);
        let ok = match &key {
            Some(_) if cached => true,
            _ => {
                self.reserve_attempt(&id)?;
                let hash = key.as_ref().map_or_else(|| dummy_hash().to_owned(), |k| k.secret_hash.clone());
                let s = secret.to_owned();
                let _permit =
                    self.auth_cache.hashing.acquire().await.map_err(|e| ServiceError::Internal(e.to_string()))?;
                let matches = tokio::task::spawn_blocking(move || {
                    PasswordHash::new(&hash).is_ok_and(|h| Argon2::default().verify_password(s.as_bytes(), &h).is_ok())
                })
                .await
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
                matches && key.is_some()
            }
        };
        let key = key.filter(|_| ok).ok_or_else(bad)?;
        // A success refunds its own attempt but clears no others: guesses
        // interleaved with real logins still run out. The window expires on its own.
        if !cached
            && let Ok(mut failures) = self.auth_cache.failures.lock()
            && let Some(entry) = failures.get_mut(&id)
        {
            entry.0 = entry.0.saturating_sub(1);
        }
        if key.revoked_at.is_some() {
            return Err(ServiceError::Unauthenticated(AuthFailure::RevokedKey));
        }
        if let Ok(mut v) = self.auth_cache.verified.lock() {
            v.insert(id.clone(), (digest, Instant::now()));
        }
        Ok(Principal::of(key))
    }

    /// Checks credentials sent with every request (HTTP Basic): a key id and
    /// secret that passed a moment ago pass again without a store read (see
    /// `RECENT_TTL`); otherwise as `verify_key` (argon2 only once an hour
    /// per key and secret, failures throttled).
    pub async fn authenticate_key(&self, key_id: &str, secret: &str) -> ServiceResult<Principal> {
        let bad = || ServiceError::Unauthenticated(AuthFailure::BadCredentials);
        let id = KeyId::parse(key_id).ok_or_else(bad)?;
        let seen = (id, sha256(secret));
        if let Some(principal) = self.keys.get(&seen) {
            return Ok(principal);
        }
        let lock = {
            let mut checking =
                self.auth_cache.checking.lock().map_err(|_| ServiceError::Internal("auth cache".into()))?;
            if checking.len() >= MAX_TRACKED {
                checking.retain(|_, l| Arc::strong_count(l) > 1);
            }
            checking.entry(seen.0.clone()).or_default().clone()
        };
        let _turn = lock.lock().await;
        if let Some(principal) = self.keys.get(&seen) {
            return Ok(principal);
        }
        let principal = self.verify_key(key_id, secret).await?;
        self.keys.put(seen, principal.clone());
        Ok(principal)
    }

    /// Counts an attempt against the key, or refuses it when the key has used
    /// up its attempts for the window.
    fn reserve_attempt(&self, id: &KeyId) -> ServiceResult<()> {
        let mut failures = self.auth_cache.failures.lock().map_err(|_| ServiceError::Internal("auth cache".into()))?;
        if failures.len() >= MAX_TRACKED && !failures.contains_key(id) {
            // Random key ids must not grow the table without bound; throttled keys stay.
            failures.retain(|_, (n, since)| since.elapsed() < FAILURE_WINDOW && *n >= MAX_FAILURES);
        }
        let entry = failures.entry(id.clone()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= FAILURE_WINDOW {
            *entry = (0, Instant::now());
        }
        if entry.0 >= MAX_FAILURES {
            return Err(ServiceError::Throttled(FAILURE_WINDOW.saturating_sub(entry.1.elapsed())));
        }
        entry.0 += 1;
        Ok(())
    }

    /// A token for a caller whose key was checked (`authenticate_key`).
    pub async fn issue_token(&self, who: &Principal) -> ServiceResult<IssuedToken> {
        self.issue_token_lasting(who, self.config.token_ttl).await
    }

    /// A token that lasts `ttl` (a dialect whose clients expect their
    /// provider's lifetime).
    #[tracing::instrument(skip_all)]
    pub async fn issue_token_lasting(&self, who: &Principal, ttl: Duration) -> ServiceResult<IssuedToken> {
        let token = random_string(TOKEN_PREFIX);
        let expires_at = OffsetDateTime::now_utc() + ttl;
        self.store.insert_token(&sha256(&token), &who.key_id, expires_at).await?;
        Ok(IssuedToken { token, expires_at, expires_in: ttl.as_secs() })
    }

    /// Resolves a bearer token to its principal: one indexed lookup, no argon2.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(&self, token: &str) -> ServiceResult<Principal> {
        if !well_formed(token, TOKEN_PREFIX) {
            return Err(ServiceError::Unauthenticated(AuthFailure::MalformedToken));
        }
        let hash = sha256(token);
        let record = match self.tokens.get(&hash) {
            Some(record) => record,
            None => {
                let record =
                    self.store.token(&hash).await?.ok_or(ServiceError::Unauthenticated(AuthFailure::UnknownToken))?;
                self.tokens.put(hash, record.clone());
                record
            }
        };
        if record.key.revoked_at.is_some() {
            return Err(ServiceError::Unauthenticated(AuthFailure::RevokedKey));
        }
        if record.expires_at <= OffsetDateTime::now_utc() {
            return Err(ServiceError::Unauthenticated(AuthFailure::ExpiredToken));
        }
        Ok(Principal::of(record.key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed() {
        let t = random_string(TOKEN_PREFIX);
        assert!(well_formed(&t, TOKEN_PREFIX));
        assert!(!well_formed(&t[..t.len() - 1], TOKEN_PREFIX));
        assert!(!well_formed(&t.replace("tok_", "sk_"), TOKEN_PREFIX));
        assert!(!well_formed("tok_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", TOKEN_PREFIX));
    }
}
