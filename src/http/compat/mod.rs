//! Provider dialects: each provider's paths and wire shapes, mounted beside
//! the native API on the same server, over the same service. A dialect
//! renders every failure (a service error or a fault in the request) in its
//! provider's shape with one exhaustive `match`, so a new error cannot slip
//! through unmapped; extractors are the native ones, their rejections
//! re-rendered through `In`.

pub mod instantpay;
pub mod pay_advantage;
pub mod payreq;
pub mod razorpay;

use crate::http::AppState;
use crate::http::auth::{basic_credentials, verified_key};
use crate::service::{AuthFailure, Principal, ServiceError};
use crate::wire::{ApiError, Fault, FaultKind};
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName};
use axum::response::{IntoResponse, Response};
use std::marker::PhantomData;

/// A provider's wire dialect.
pub trait Dialect: Send + Sync + 'static {
    /// The response a client of this provider expects for the failure.
    fn render(e: ApiError) -> Response;
}

/// A failure on a dialect's route, rendered in that dialect's shape.
pub struct Rejected<D>(pub ApiError, PhantomData<D>);

impl<D: Dialect> IntoResponse for Rejected<D> {
    fn into_response(self) -> Response {
        D::render(self.0)
    }
}

impl<D> From<ApiError> for Rejected<D> {
    fn from(e: ApiError) -> Self {
        Self(e, PhantomData)
    }
}

impl<D> From<ServiceError> for Rejected<D> {
    fn from(e: ServiceError) -> Self {
        Self(e.into(), PhantomData)
    }
}

impl<D> From<Fault> for Rejected<D> {
    fn from(f: Fault) -> Self {
        Self(f.into(), PhantomData)
    }
}

pub type DialectResult<D, T> = Result<T, Rejected<D>>;

/// A native extractor on a dialect's route: what it rejects is rendered in
/// the dialect's shape.
pub struct In<D, T>(pub T, PhantomData<D>);

impl<D: Dialect, T> FromRequestParts<AppState> for In<D, T>
where
    T: FromRequestParts<AppState, Rejection = ApiError> + Send,
{
    type Rejection = Rejected<D>;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(T::from_request_parts(parts, state).await?, PhantomData))
    }
}

impl<D: Dialect, T> FromRequest<AppState> for In<D, T>
where
    T: FromRequest<AppState, Rejection = ApiError> + Send,
{
    type Rejection = Rejected<D>;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(T::from_request(req, state).await?, PhantomData))
    }
}

/// HTTP Basic `key_id:secret` on every request (no token step), as
/// Razorpay's clients send it.
pub struct BasicAuth(pub Principal);

impl FromRequestParts<AppState> for BasicAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let (id, secret) =
            basic_credentials(&parts.headers)?.ok_or(ServiceError::Unauthenticated(AuthFailure::MissingCredentials))?;
        Ok(Self(verified_key(parts, state, &id, &secret).await?))
    }
}

/// Names the biller on routes whose paths carry none.
pub const BILLER_HEADER: HeaderName = HeaderName::from_static("x-contactd-biller");

/// The biller a request on a path without a biller code is about: the
/// key's only biller, or the one `X-Contactd-Biller` names (required when
/// the key has several; a biller it has no grant on is not found).
pub fn biller_of(who: &Principal, headers: &HeaderMap) -> Result<String, ApiError> {
    let mut named = headers.get_all(&BILLER_HEADER).iter();
    match (named.next(), named.next(), who.billers.as_slice()) {
        (Some(code), None, _) => code
            .to_str()
            .ok()
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Fault::new(FaultKind::InvalidHeader, "X-Contactd-Biller is one biller code").into()),
        (None, _, [only]) => Ok(only.clone()),
        (None, _, _) => Err(Fault::new(
            FaultKind::InvalidHeader,
            "this key has several billers: name one with the X-Contactd-Biller header",
        )
        .into()),
        (Some(_), Some(_), _) => Err(Fault::new(FaultKind::InvalidHeader, "send X-Contactd-Biller once").into()),
    }
}

/// A request body that must be one JSON object (a key given twice refused).
pub fn object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    match crate::wire::json::parse::<crate::wire::record::Unique>(body)? {
        crate::wire::record::Unique(serde_json::Value::Object(fields)) => Ok(fields),
        _ => Err(Fault::new(FaultKind::InvalidBody, "The request body must be a JSON object").into()),
    }
}

/// A path under a dialect's own that is no route: its 404.
pub async fn no_such_route<D: Dialect>() -> Rejected<D> {
    Fault::new(FaultKind::NoSuchRoute, "no such route").into()
}

/// A dialect's route asked with a method it does not take: its 405.
pub async fn method_not_allowed<D: Dialect>() -> Rejected<D> {
    Fault::new(FaultKind::MethodNotAllowed, "this route does not take that method").into()
}

/// The routes of every dialect in `enabled` (names as in `config::DIALECTS`).
pub fn routes(enabled: &[String]) -> Router<AppState> {
    let on = |name: &str| enabled.iter().any(|d| d == name);
    let mut router = Router::new();
    if on("payreq") {
        router = router.merge(payreq::routes());
    }
    if on("razorpay") {
        router = router.merge(razorpay::routes());
    }
    if on("pay_advantage") {
        router = router.merge(pay_advantage::routes());
    }
    if on("instantpay") {
        router = router.merge(instantpay::routes());
    }
    router
}
