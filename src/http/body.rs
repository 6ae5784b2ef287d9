//! Reading request bodies: size limit, content type, and JSON errors that say
//! where (line and column) and which record.

use crate::domain::{ErrorCode, FieldError, RecordError};
use crate::http::AppState;
use crate::http::problem::{ApiError, Problem};
use crate::service::ContactBatch;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A JSON request body, read whole up to the configured limit.
pub struct JsonBytes(pub Bytes);

impl FromRequest<AppState> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &AppState) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime != "application/json" && !mime.ends_with("+json") {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as Content-Type: application/json",
            )
            .into());
        }
        let limit = state.max_body_bytes;
        let bytes = axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", format!("the request body is larger than the {limit} byte limit; send large sets to the job endpoints"))
        })?;
        Ok(Self(bytes))
    }
}

fn invalid_json(e: &serde_json::Error) -> ApiError {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid_json",
        format!(
            "invalid JSON at line {} column {}: {e}",
            e.line(),
            e.column()
        ),
    )
    .at(e.line(), e.column())
    .into()
}

/// Parses a JSON document (syntax errors carry line and column) into `T`,
/// reporting the path of a field of the wrong type.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| invalid_json(&e))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("{path}: {}", e.inner()),
        )
        .into()
    })
}

/// Parses a JSON array of contacts. Every record that cannot be read becomes
/// a record error (with its index), so the caller reports them all at once.
pub fn parse_contacts<T, F>(bytes: &[u8], into_draft: F) -> Result<ContactBatch, ApiError>
where
    T: DeserializeOwned,
    F: Fn(T) -> crate::domain::ContactDraft,
{
    let value: Value = serde_json::from_slice(bytes).map_err(|e| invalid_json(&e))?;
    let Value::Array(items) = value else {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the body must be a JSON array of contacts",
        )
        .into());
    };
    let mut batch = ContactBatch {
        records: items.len(),
        ..ContactBatch::default()
    };
    for (index, item) in items.into_iter().enumerate() {
        let account_number = item
            .get("account_number")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if !item.is_object() {
            batch.errors.push(RecordError {
                index,
                account_number,
                error: FieldError::new(
                    "",
                    ErrorCode::WrongType,
                    "each contact must be a JSON object",
                ),
            });
            continue;
        }
        match serde_path_to_error::deserialize::<_, T>(item) {
            Ok(input) => batch.drafts.push((index, into_draft(input))),
            Err(e) => batch.errors.push(RecordError {
                index,
                account_number,
                error: wire_error(&e),
            }),
        }
    }
    Ok(batch)
}

/// Maps a serde error on one record to a field error with a stable code.
pub fn wire_error(e: &serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    let message = e.inner().to_string();
    let path = e.path().to_string();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or("");
        return FieldError::new(
            path,
            ErrorCode::UnknownField,
            format!("{name} is not a contact field; configured fields go under \"fields\""),
        );
    }
    if path == "account_number" && message.starts_with("invalid type") {
        return FieldError::new(
            path,
            ErrorCode::WrongType,
            "account_number must be a JSON string (a number would lose leading zeroes)",
        );
    }
    let code = if message.starts_with("invalid type") {
        ErrorCode::WrongType
    } else {
        ErrorCode::InvalidValue
    };
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    FieldError::new(path, code, message)
}
