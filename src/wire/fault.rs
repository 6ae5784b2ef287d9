//! What was wrong with a request as it was sent, found before any use case
//! ran: a bad body, query, path or header. Neutral: each API (the native one,
//! each provider's dialect) renders it in its own shape.

use crate::service::ServiceError;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    /// What is wrong, for a person: names the parameter, field or header.
    pub detail: String,
    /// Where in the body (line, column), for JSON that cannot be read.
    pub at: Option<(usize, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Not JSON (or JSON with text after it).
    InvalidJson,
    /// JSON, but not what the route reads (an array for an object, a wrong type).
    InvalidBody,
    /// A job's upload (JSON array, NDJSON or CSV) that cannot be read.
    InvalidUpload,
    BodyTooLarge,
    UnsupportedMediaType,
    /// The body stopped arriving for longer than the request timeout.
    RequestTimeout,
    InvalidQuery,
    InvalidPath,
    /// A contact reference that is neither an id nor `acct:NUMBER`.
    InvalidContactId,
    InvalidHeader,
    /// Credentials sent in a form the route cannot read.
    MalformedCredentials,
    /// Credentials the route needs were not sent.
    MissingCredentials,
    /// Good credentials, from an address the key may not be used from.
    AddressNotAllowed,
    InvalidIdempotencyKey,
    /// The Idempotency-Key came before with another request.
    IdempotencyKeyReused,
    /// A request with the Idempotency-Key is still being served.
    IdempotencyKeyInUse,
    /// No route at this path.
    NoSuchRoute,
    MethodNotAllowed,
    /// The client holds too many connections still sending a request.
    TooManyConnections,
}

impl Fault {
    pub fn new(kind: FaultKind, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into(), at: None }
    }

    /// At a line and column of the body.
    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.at = Some((line, column));
        self
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Why a request failed, before it is rendered: a service error, or a fault
/// in the request as sent. Neutral: the native API renders it as a problem
/// document, each dialect in its own shape (each with one exhaustive
/// `match`). Boxed: error paths stay cheap to return.
#[derive(Debug)]
pub struct ApiError(Box<Failure>);

#[derive(Debug)]
pub enum Failure {
    Service(ServiceError),
    Request(Fault),
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        Self(Box::new(Failure::Service(e)))
    }
}

impl From<Fault> for ApiError {
    fn from(f: Fault) -> Self {
        Self(Box::new(Failure::Request(f)))
    }
}

impl ApiError {
    pub fn failure(&self) -> &Failure {
        &self.0
    }

    pub fn into_failure(self) -> Failure {
        *self.0
    }

    /// The human-readable explanation, for the CLI.
    pub fn detail(&self) -> String {
        match &*self.0 {
            Failure::Service(e) => e.to_string(),
            Failure::Request(f) => f.detail.clone(),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A body that sent nothing for too long.
#[derive(Debug, thiserror::Error)]
#[error("the request body sent nothing for {} s", .0.as_secs())]
pub struct BodyStalled(pub Duration);

/// Whether an error, or one it wraps, is an `E`.
pub fn caused_by<E: std::error::Error + 'static>(mut e: &(dyn std::error::Error + 'static)) -> bool {
    loop {
        if e.is::<E>() {
            return true;
        }
        match e.source() {
            Some(inner) => e = inner,
            None => return false,
        }
    }
}

/// A body that stalled (see `http::server::TimedBody`): 408, and the connection closes.
pub fn stalled(e: &(dyn std::error::Error + 'static)) -> Option<ApiError> {
    caused_by::<BodyStalled>(e)
        .then(|| Fault::new(FaultKind::RequestTimeout, format!("{e}; the request was dropped")).into())
}
