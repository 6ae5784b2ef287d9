//! RFC 9457 problem details: the one place errors become HTTP responses.

use crate::domain::RecordError;
use crate::domain::sync::RemovalRefused;
use crate::service::{AuthFailure, Resource, ServiceError};
pub use crate::wire::{ApiError, ApiResult, Failure};
use crate::wire::{Fault, FaultKind};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct RecordErrorBody {
    pub index: usize,
    pub account_number: Option<String>,
    pub field: String,
    pub code: String,
    pub message: String,
}

/// An `application/problem+json` body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code.
    pub code: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<RecordErrorBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors_total: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_remove: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// A conditional write refused (412): the contact's version now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
    /// Contacts whose holds stopped the write, each with its holds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<HeldBody>,
    /// How many: contacts held in all, or carrying a tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// What refused settings would do to the stored contacts.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub impact: Option<crate::wire::dto::ImpactBody>,
    #[serde(skip)]
    retry_after: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HeldBody {
    /// The contact's id (`cont_…`).
    pub contact_id: String,
    /// Where a bulk write named it (a one-contact write names it by its path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_number: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub holds: Vec<serde_json::Value>,
}

fn held_body(account_number: Option<String>, holds: &[crate::domain::holds::Hold]) -> HeldBody {
    let contact_id = holds.first().map(|h| h.contact_id.to_string()).unwrap_or_default();
    let holds = holds
        .iter()
        .map(|h| serde_json::json!({"hold_id": h.id.as_str(), "kind": h.kind, "reference": h.reference}))
        .collect();
    HeldBody { contact_id, account_number, holds }
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            code,
            errors: Vec::new(),
            errors_total: None,
            would_remove: None,
            line: None,
            column: None,
            current_version: None,
            held: Vec::new(),
            count: None,
            impact: None,
            retry_after: None,
        }
    }

    /// The seconds the client is told to wait before retrying, if any.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// Tells the client to retry after this many seconds.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.retry_after;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut res = (status, body).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
        }
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

fn record_errors(errors: Vec<RecordError>) -> Vec<RecordErrorBody> {
    errors
        .into_iter()
        .map(|e| RecordErrorBody {
            index: e.index,
            account_number: e.account_number,
            field: e.error.field,
            code: e.error.code.as_str().to_owned(),
            message: e.error.message,
        })
        .collect()
}

impl From<ServiceError> for Problem {
    fn from(e: ServiceError) -> Self {
        use StatusCode as S;
        match e {
            ServiceError::Unauthenticated(why) => {
                let (code, detail) = match why {
                    AuthFailure::MissingCredentials => (
                        "missing_credentials",
                        "send Authorization: Token <token>; get a token from POST /v1/auth/token",
                    ),
                    AuthFailure::MalformedToken => (
                        "malformed_token",
                        "the Authorization header is not a well-formed token (Authorization: Token tok_...)",
                    ),
                    AuthFailure::UnknownToken => ("invalid_token", "this token is not known; request a new one"),
                    AuthFailure::ExpiredToken => {
                        ("token_expired", "this token has expired; request a new one from POST /v1/auth/token")
                    }
                    AuthFailure::RevokedKey => ("key_revoked", "the API key behind these credentials has been revoked"),
                    AuthFailure::BadCredentials => ("bad_credentials", "unknown key id or wrong secret"),
                };
                Problem::new(S::UNAUTHORIZED, code, detail)
            }
            ServiceError::Throttled(wait) => {
                let mut p = Problem::new(
                    S::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    format!("too many failed attempts for this key; retry in {} s", wait.as_secs() + 1),
                );
                p.retry_after = Some(wait.as_secs() + 1);
                p
            }
            ServiceError::Forbidden(scope) => Problem::new(
                S::FORBIDDEN,
                "insufficient_scope",
                format!("this API key lacks the {} scope", scope.as_str()),
            ),
            ServiceError::NotFound(what) => {
                let code = match what {
                    Resource::Biller => "biller_not_found",
                    Resource::Contact => "contact_not_found",
                    Resource::Key => "key_not_found",
                    Resource::Job => "job_not_found",
                    Resource::Snapshot => "snapshot_not_found",
                    Resource::Tag => "tag_not_found",
                    Resource::Hold => "hold_not_found",
                    Resource::SettingsVersion => "settings_version_not_found",
                };
                Problem::new(S::NOT_FOUND, code, format!("no such {}", what.as_str()))
            }
            ServiceError::Invalid { errors, records } => {
                let (total, bad) = (errors.total(), errors.records_with_errors());
                let mut p = Problem::new(
                    S::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    format!("{total} problem(s) in {bad} of {records} record(s); nothing was written"),
                );
                p.errors = record_errors(errors.into_listed());
                p.errors_total = Some(total);
                p
            }
            ServiceError::BadRequest(detail) => Problem::new(S::BAD_REQUEST, "bad_request", detail),
            ServiceError::TooManyRecords(detail) => Problem::new(S::PAYLOAD_TOO_LARGE, "too_many_records", detail),
            ServiceError::Conflict(what) => Problem::new(S::CONFLICT, "conflict", format!("{what} already exists")),
            ServiceError::LimitReached(what) => Problem::new(S::CONFLICT, "limit_reached", what),
            ServiceError::RemovalRefused(r) => {
                let code = match r {
                    RemovalRefused::OverLimit { .. } => "removal_limit_exceeded",
                    RemovalRefused::Mismatch { .. } => "removal_count_mismatch",
                };
                let mut p = Problem::new(S::CONFLICT, code, r.to_string());
                p.would_remove = Some(r.would_remove());
                p
            }
            ServiceError::InvalidSettings(errors) => Problem::new(
                S::UNPROCESSABLE_ENTITY,
                "invalid_settings",
                errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "),
            ),
            ServiceError::JobFinished(status) => Problem::new(
                S::CONFLICT,
                "job_finished",
                format!("the job has already ended ({status}); it can no longer be cancelled"),
            ),
            ServiceError::SettingsChanged => Problem::new(
                S::CONFLICT,
                "settings_changed",
                "the biller's field settings changed during this request; send it again",
            ),
            ServiceError::Unavailable => {
                let mut p = Problem::new(S::SERVICE_UNAVAILABLE, "busy", "the database is busy; retry shortly");
                p.retry_after = Some(1);
                p
            }
            ServiceError::PreconditionFailed { current } => {
                let mut p = Problem::new(
                    S::PRECONDITION_FAILED,
                    "version_mismatch",
                    format!(
                        "the contact is at version {current} (ETag \"{current}\"), not the one If-Match names; nothing was changed"
                    ),
                );
                p.current_version = Some(current);
                p
            }
            ServiceError::PreconditionRequired => Problem::new(
                S::PRECONDITION_REQUIRED,
                "if_match_required",
                "this biller requires If-Match on changes to one contact: send the contact's ETag",
            ),
            ServiceError::Held(crate::service::HeldError(h)) => {
                let detail = crate::store::describe_held(&h);
                let mut p = Problem::new(S::CONFLICT, "contacts_held", detail);
                p.count = Some(h.total);
                p.held = h.contacts.into_iter().map(|(acct, holds)| held_body(Some(acct), &holds)).collect();
                p
            }
            ServiceError::ContactHeld { write, holds } => {
                let detail = ServiceError::ContactHeld { write, holds: holds.clone() }.to_string();
                let mut p = Problem::new(S::CONFLICT, "contact_held", detail);
                p.held = vec![held_body(None, &holds)];
                p
            }
            ServiceError::SettingsWouldInvalidate(impact) => {
                let mut p = Problem::new(S::CONFLICT, "settings_would_invalidate", impact.to_string());
                p.impact = Some(impact.into());
                p
            }
            ServiceError::TagInUse(n) => {
                let mut p = Problem::new(
                    S::CONFLICT,
                    "tag_in_use",
                    format!("{n} contacts carry this tag; delete it with detach=true to take it off them"),
                );
                p.count = Some(n);
                p
            }
            ServiceError::CrnFixed(detail) => Problem::new(S::CONFLICT, "crn_fixed", detail),
            ServiceError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                Problem::new(
                    S::INTERNAL_SERVER_ERROR,
                    "internal",
                    "an internal error occurred; see the server log for this request id",
                )
            }
        }
    }
}

impl ApiError {
    /// The status and JSON body the native API sends it as.
    pub fn into_parts(self) -> (StatusCode, String) {
        let p = Problem::from(self.into_failure());
        let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, serde_json::to_string(&p).unwrap_or_default())
    }
}

impl From<Failure> for Problem {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Service(e) => e.into(),
            Failure::Request(fault) => fault.into(),
        }
    }
}

impl From<Fault> for Problem {
    fn from(f: Fault) -> Self {
        use StatusCode as S;
        let (status, code) = match f.kind {
            FaultKind::InvalidJson => (S::BAD_REQUEST, "invalid_json"),
            FaultKind::InvalidBody => (S::BAD_REQUEST, "invalid_body"),
            FaultKind::InvalidUpload => (S::BAD_REQUEST, "invalid_upload"),
            FaultKind::BodyTooLarge => (S::PAYLOAD_TOO_LARGE, "body_too_large"),
            FaultKind::UnsupportedMediaType => (S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            FaultKind::RequestTimeout => (S::REQUEST_TIMEOUT, "request_timeout"),
            FaultKind::InvalidQuery => (S::BAD_REQUEST, "invalid_query"),
            FaultKind::InvalidPath => (S::BAD_REQUEST, "invalid_path"),
            FaultKind::InvalidContactId => (S::BAD_REQUEST, "invalid_contact_id"),
            FaultKind::InvalidHeader => (S::BAD_REQUEST, "invalid_header"),
            FaultKind::MalformedCredentials => (S::UNAUTHORIZED, "malformed_credentials"),
            FaultKind::AddressNotAllowed => (S::FORBIDDEN, "address_not_allowed"),
            FaultKind::MissingCredentials => (S::UNAUTHORIZED, "missing_credentials"),
            FaultKind::InvalidIdempotencyKey => (S::BAD_REQUEST, "invalid_idempotency_key"),
            FaultKind::IdempotencyKeyReused => (S::UNPROCESSABLE_ENTITY, "idempotency_key_reused"),
            FaultKind::IdempotencyKeyInUse => (S::CONFLICT, "idempotency_key_in_use"),
            FaultKind::NoSuchRoute => (S::NOT_FOUND, "not_found"),
            FaultKind::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "method_not_allowed"),
            FaultKind::TooManyConnections => (S::TOO_MANY_REQUESTS, "too_many_connections"),
        };
        let mut p = Problem::new(status, code, f.detail);
        if let Some((line, column)) = f.at {
            p = p.at(line, column);
        }
        if matches!(f.kind, FaultKind::IdempotencyKeyInUse | FaultKind::TooManyConnections) {
            p = p.with_retry_after(1);
        }
        p
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        Problem::from(self.into_failure()).into_response()
    }
}
