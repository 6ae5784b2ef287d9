//! Payreq's error JSON. Its interface specification is not public: contactd
//! answers with the native status and code (the native mapping is the one
//! exhaustive match over every failure), in Payreq's kebab-case, with each
//! record's problems named by index, `biller-account-number` and the field
//! as the client sent it.

use crate::http::compat::Dialect;
use crate::http::problem::Problem;
use crate::wire::ApiError;
use crate::wire::payreq::{field_name, message};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub struct Payreq;

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct RecordProblem {
    pub index: u64,
    pub biller_account_number: Option<String>,
    pub field: String,
    pub code: String,
    pub message: String,
}

impl RecordProblem {
    /// A record's problem, named as the client sent the field.
    pub fn new(index: u64, account_number: Option<String>, field: &str, code: String, text: &str) -> Self {
        Self {
            index,
            biller_account_number: account_number,
            field: field_name(field),
            code,
            message: message(field, text),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct ErrorBody {
    status: u16,
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<RecordProblem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors_total: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    would_remove: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
}

/// The status, JSON body and `Retry-After` of a failure.
fn rendered(e: ApiError) -> (StatusCode, String, Option<u64>) {
    let p = Problem::from(e.into_failure());
    let retry_after = p.retry_after();
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let errors = p
        .errors
        .into_iter()
        .map(|e| RecordProblem::new(e.index as u64, e.account_number, &e.field, e.code, &e.message))
        .collect();
    let body = ErrorBody {
        status: p.status,
        code: p.code,
        // The native routes a detail points to, as Payreq's.
        message: p.detail.replace("/v1/auth/token", "/auth/token").replace("/v1/billers/", "/biller/"),
        errors,
        errors_total: p.errors_total,
        would_remove: p.would_remove,
        line: p.line,
        column: p.column,
    };
    (status, serde_json::to_string(&body).unwrap_or_default(), retry_after)
}

/// The status and JSON body of a failure, kept for replays.
pub fn parts(e: ApiError) -> (StatusCode, String) {
    let (status, body, _) = rendered(e);
    (status, body)
}

impl Dialect for Payreq {
    fn render(e: ApiError) -> Response {
        let (status, body, retry_after) = rendered(e);
        let mut res = (status, body).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
        }
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}
