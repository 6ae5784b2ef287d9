//! `Idempotency-Key` on the bulk writes and job submissions: the same key
//! with the same request returns the original response; with a different
//! request it is refused (422). Keys are per biller and kept 24 hours.

use crate::http::AppState;
use crate::http::problem::{ApiError, ApiResult};
use crate::service::{Principal, Scope};
use crate::store::{BillerId, KeyClaim};
use crate::wire::{Fault, FaultKind};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The header's value: 1 to 255 printable ASCII characters.
pub fn key_of(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let mut values = headers.get_all(&IDEMPOTENCY_KEY).iter();
    let Some(v) = values.next() else { return Ok(None) };
    let ok = values.next().is_none()
        && (1..=255).contains(&v.len())
        && v.as_bytes().iter().all(|b| (0x21..=0x7e).contains(b));
    match v.to_str() {
        Ok(s) if ok => Ok(Some(s.to_owned())),
        _ => Err(Fault::new(
            FaultKind::InvalidIdempotencyKey,
            "Idempotency-Key is one header of 1 to 255 printable ASCII characters",
        )
        .into()),
    }
}

/// What a request is, for comparing a key's uses: method, path, query and body digest.
pub fn request_hash(method: &str, path: &str, query: Option<&str>, body_digest: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes(), query.unwrap_or("").as_bytes(), body_digest] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// How a route's failures are rendered (natively, or in a dialect's shape),
/// for the responses a key keeps and the refusals it answers.
#[derive(Clone, Copy)]
pub struct Errors {
    pub respond: fn(ApiError) -> Response,
    /// The status and body, to keep for replays.
    pub parts: fn(ApiError) -> (StatusCode, String),
    pub content_type: &'static str,
}

pub const NATIVE: Errors = Errors {
    respond: IntoResponse::into_response,
    parts: ApiError::into_parts,
    content_type: "application/problem+json",
};

/// A claimed key, to be completed with the response it got.
pub struct Claimed {
    biller: BillerId,
    key: String,
}

/// Claims `key` for this request. `Err` carries the response to send instead:
/// the original one (replay), or why the key cannot be used.
pub async fn claim(
    s: &AppState,
    who: &Principal,
    code: &str,
    scope: Scope,
    key: String,
    hash: &[u8],
    errors: Errors,
) -> Result<Claimed, Response> {
    let (biller, claim) =
        s.service.claim_idempotency_key(who, code, scope, &key, hash).await.map_err(|e| (errors.respond)(e.into()))?;
    match claim {
        KeyClaim::New => Ok(Claimed { biller, key }),
        KeyClaim::Replay { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let kind = if status.is_success() { "application/json" } else { errors.content_type };
            let mut res = (status, body).into_response();
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            res.headers_mut().insert(REPLAYED, HeaderValue::from_static("true"));
            Err(res)
        }
        KeyClaim::Mismatch => Err((errors.respond)(
            Fault::new(FaultKind::IdempotencyKeyReused, "this Idempotency-Key was used with a different request")
                .into(),
        )),
        KeyClaim::InProgress => Err((errors.respond)(
            Fault::new(
                FaultKind::IdempotencyKeyInUse,
                "a request with this Idempotency-Key is still being served; retry shortly",
            )
            .into(),
        )),
    }
}

impl Claimed {
    /// Records the response (a server error is not kept: the key is freed for a retry).
    pub async fn complete(self, s: &AppState, status: StatusCode, body: &str) {
        s.service.complete_idempotency_key(self.biller, &self.key, status.as_u16(), body).await;
    }

    pub async fn release(self, s: &AppState) {
        s.service.release_idempotency_key(self.biller, &self.key).await;
    }
}

/// A write an Idempotency-Key may guard: on which biller, under which
/// scope, with which headers, and how its failures are rendered.
pub struct Keyed<'a> {
    pub code: &'a str,
    pub scope: Scope,
    pub headers: &'a HeaderMap,
    pub errors: Errors,
}

/// Runs `serve` under the request's key, if it has one (`hash` is computed
/// only then).
pub async fn run<F>(
    s: &AppState,
    who: &Principal,
    request: Keyed<'_>,
    hash: impl FnOnce() -> [u8; 32],
    serve: F,
) -> Response
where
    F: Future<Output = Result<(StatusCode, serde_json::Value), ApiError>>,
{
    let Keyed { code, scope, headers, errors } = request;
    let key = match key_of(headers) {
        Ok(k) => k,
        Err(e) => return (errors.respond)(e),
    };
    let claimed = match key {
        None => None,
        Some(key) => match claim(s, who, code, scope, key, &hash(), errors).await {
            Ok(c) => Some(c),
            Err(response) => return response,
        },
    };
    let (status, body, kind) = match serve.await {
        Ok((status, value)) => (status, value.to_string(), "application/json"),
        Err(e) => {
            let (status, body) = (errors.parts)(e);
            (status, body, errors.content_type)
        }
    };
    if let Some(c) = claimed {
        c.complete(s, status, &body).await;
    }
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    res
}
