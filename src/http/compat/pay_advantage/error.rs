//! Pay Advantage's error JSON, `{"ErrorCode": "...", "Messages": [...]}`,
//! with every problem of the request listed. Its reference does not list
//! its codes: contactd sends the native status (400 for every validation
//! failure, as Pay Advantage does, where natively a 422) and the native
//! code, from the one exhaustive mapping every failure goes through.

use crate::http::compat::Dialect;
use crate::http::compat::pay_advantage::customer::field_name;
use crate::http::problem::Problem;
use crate::wire::ApiError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub struct PayAdvantage;

#[derive(Serialize)]
struct ErrorBody {
    #[serde(rename = "ErrorCode")]
    error_code: &'static str,
    #[serde(rename = "Messages")]
    messages: Vec<String>,
}

/// A native message about `field`, with the field as Pay Advantage names it.
fn message(field: &str, text: &str) -> String {
    let named = field_name(field);
    match field {
        "business_name" => "A business (IsConsumer false) needs a business Name".into(),
        _ if text.starts_with(field) => format!("{named}{}", &text[field.len()..]),
        _ if text.starts_with(&named) => text.to_owned(),
        _ => format!("{named}: {text}"),
    }
}

impl Dialect for PayAdvantage {
    fn render(e: ApiError) -> Response {
        let p = Problem::from(e.into_failure());
        let retry_after = p.retry_after();
        let status = match p.status {
            422 => StatusCode::BAD_REQUEST,
            s => StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        };
        let mut messages: Vec<String> = p.errors.iter().map(|e| message(&e.field, &e.message)).collect();
        if messages.is_empty() {
            // Its clients get tokens from its own route.
            messages.push(p.detail.replace("POST /v1/auth/token", "POST /v3/token"));
        }
        let body = ErrorBody { error_code: p.code, messages };
        let mut res = (status, axum::Json(body)).into_response();
        let headers = res.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}
