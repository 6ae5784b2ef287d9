//! Razorpay's error shape, `{"error": {"code", "description", "source",
//! "step", "reason", "metadata", "field"}}`, for every failure on its
//! routes. Its client libraries read `error.code` and `error.description`:
//! `BAD_REQUEST_ERROR` raises their BadRequestError, anything else a
//! ServerError, whatever the status.

use crate::domain::{ErrorCode, FieldError};
use crate::http::compat::Dialect;
use crate::service::{AuthFailure, Resource, ServiceError};
use crate::wire::{ApiError, Failure, FaultKind};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub struct Razorpay;

/// The description a wrong or missing key gets.
pub const BAD_KEY: &str = "The api key/secret provided is invalid";
pub const NO_KEY: &str = "Please provide your api key for authentication purposes.";
pub const NO_SUCH_ID: &str = "The id provided does not exist";

struct Body {
    status: StatusCode,
    code: &'static str,
    description: String,
    field: Option<String>,
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Envelope {
    error: ErrorBody,
}

/// In the order Razorpay sends it.
#[derive(Serialize)]
struct ErrorBody {
    code: &'static str,
    description: String,
    source: &'static str,
    step: &'static str,
    reason: &'static str,
    metadata: Metadata,
    field: Option<String>,
}

#[derive(Serialize)]
struct Metadata {}

fn bad(status: StatusCode, description: impl Into<String>) -> Body {
    Body { status, code: "BAD_REQUEST_ERROR", description: description.into(), field: None, retry_after: None }
}

fn server(status: StatusCode, description: &str) -> Body {
    Body { status, code: "SERVER_ERROR", description: description.into(), field: None, retry_after: Some(1) }
}

fn retry(body: Body, secs: u64) -> Body {
    Body { retry_after: Some(secs), ..body }
}

/// A native field path as Razorpay names it.
fn field_name(path: &str) -> String {
    let head = path.split(['.', '[']).next().unwrap_or(path);
    match head {
        "phones" => "contact".into(),
        other => other.into(),
    }
}

/// The first problem, in Razorpay's words where its clients know them.
fn invalid(e: &FieldError) -> Body {
    let field = field_name(&e.field);
    let description = match (field.as_str(), e.code) {
        ("name", ErrorCode::MissingRequired) => "The name field is required.".into(),
        ("name", _) => "The name field is invalid.".into(),
        // "Invalid type: contact_typeA", without the native list of allowed types.
        ("type", _) => e.message.split(" (allowed").next().unwrap_or(&e.message).to_owned(),
        ("reference_id", ErrorCode::InvalidLength) => "The reference id may not be greater than 40 characters.".into(),
        ("email", _) => "The email must be a valid email address.".into(),
        ("contact", _) => "The contact format is invalid.".into(),
        // Razorpay's clients send none: the contact's id is its account number.
        ("account_number", _) => {
            return bad(
                StatusCode::BAD_REQUEST,
                format!("This biller's account-number rules refuse a Razorpay contact's id: {}", e.message),
            );
        }
        _ => e.message.clone(),
    };
    Body { field: Some(field), ..bad(StatusCode::BAD_REQUEST, description) }
}

fn of_service(e: ServiceError) -> Body {
    use StatusCode as S;
    match e {
        ServiceError::Unauthenticated(why) => match why {
            AuthFailure::MissingCredentials => bad(S::UNAUTHORIZED, NO_KEY),
            AuthFailure::MalformedToken
            | AuthFailure::UnknownToken
            | AuthFailure::ExpiredToken
            | AuthFailure::RevokedKey
            | AuthFailure::BadCredentials => bad(S::UNAUTHORIZED, BAD_KEY),
        },
        ServiceError::Throttled(wait) => {
            let secs = wait.as_secs() + 1;
            retry(bad(S::TOO_MANY_REQUESTS, format!("Too many requests; retry in {secs} s")), secs)
        }
        ServiceError::Forbidden(scope) => {
            bad(S::FORBIDDEN, format!("Access Denied: this key lacks the {} scope", scope.as_str()))
        }
        ServiceError::NotFound(what) => match what {
            Resource::Contact => Body { field: Some("id".into()), ..bad(S::BAD_REQUEST, NO_SUCH_ID) },
            Resource::Biller
            | Resource::Key
            | Resource::Job
            | Resource::Snapshot
            | Resource::Tag
            | Resource::Hold
            | Resource::SettingsVersion => {
                bad(S::BAD_REQUEST, format!("The {} provided does not exist", what.as_str()))
            }
        },
        ServiceError::Invalid { errors, .. } => match errors.into_listed().first() {
            Some(first) => invalid(&first.error),
            None => bad(S::BAD_REQUEST, "The request is invalid"),
        },
        ServiceError::BadRequest(detail)
        | ServiceError::TooManyRecords(detail)
        | ServiceError::LimitReached(detail)
        | ServiceError::CrnFixed(detail) => bad(S::BAD_REQUEST, detail),
        ServiceError::Conflict(what) => bad(S::BAD_REQUEST, format!("{what} already exists")),
        e @ (ServiceError::RemovalRefused(_)
        | ServiceError::JobFinished(_)
        | ServiceError::SettingsWouldInvalidate(_)
        | ServiceError::TagInUse(_)
        | ServiceError::Held(_)
        | ServiceError::ContactHeld { .. }
        | ServiceError::PreconditionFailed { .. }
        | ServiceError::PreconditionRequired) => bad(S::BAD_REQUEST, e.to_string()),
        ServiceError::InvalidSettings(errors) => {
            bad(S::BAD_REQUEST, errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))
        }
        ServiceError::SettingsChanged | ServiceError::Unavailable => {
            server(S::SERVICE_UNAVAILABLE, "The server is busy; please retry")
        }
        ServiceError::Internal(detail) => {
            tracing::error!(error = %detail, "internal error");
            server(S::INTERNAL_SERVER_ERROR, "We are facing some trouble completing your request at the moment.")
        }
    }
}

impl Dialect for Razorpay {
    fn render(e: ApiError) -> Response {
        use StatusCode as S;
        let body = match e.into_failure() {
            Failure::Service(e) => of_service(e),
            Failure::Request(f) => match f.kind {
                FaultKind::NoSuchRoute => bad(S::NOT_FOUND, "The requested URL was not found on the server."),
                FaultKind::MethodNotAllowed => bad(S::METHOD_NOT_ALLOWED, "The requested method is not allowed."),
                FaultKind::MissingCredentials => bad(S::UNAUTHORIZED, NO_KEY),
                FaultKind::MalformedCredentials => bad(S::UNAUTHORIZED, BAD_KEY),
                FaultKind::AddressNotAllowed => bad(S::FORBIDDEN, f.detail),
                FaultKind::InvalidContactId => Body { field: Some("id".into()), ..bad(S::BAD_REQUEST, f.detail) },
                FaultKind::BodyTooLarge => bad(S::PAYLOAD_TOO_LARGE, f.detail),
                FaultKind::UnsupportedMediaType => bad(S::UNSUPPORTED_MEDIA_TYPE, f.detail),
                FaultKind::RequestTimeout => bad(S::REQUEST_TIMEOUT, f.detail),
                FaultKind::TooManyConnections => retry(bad(S::TOO_MANY_REQUESTS, f.detail), 1),
                FaultKind::IdempotencyKeyInUse => retry(bad(S::CONFLICT, f.detail), 1),
                FaultKind::InvalidJson
                | FaultKind::InvalidBody
                | FaultKind::InvalidUpload
                | FaultKind::InvalidQuery
                | FaultKind::InvalidPath
                | FaultKind::InvalidHeader
                | FaultKind::InvalidIdempotencyKey
                | FaultKind::IdempotencyKeyReused => bad(S::BAD_REQUEST, f.detail),
            },
        };
        let error = ErrorBody {
            code: body.code,
            description: body.description,
            source: if body.code == "SERVER_ERROR" { "internal" } else { "business" },
            step: "payment_initiation",
            reason: if body.status == S::BAD_REQUEST { "input_validation_failed" } else { "NA" },
            metadata: Metadata {},
            field: body.field,
        };
        let mut res = (body.status, axum::Json(Envelope { error })).into_response();
        if let Some(secs) = body.retry_after {
            res.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        res
    }
}
