//! Instantpay's response envelope, for successes and failures alike: key
//! order as the seed prints it, a timestamp in the configured zone, and a
//! fresh `ipay_uuid` per response (logged beside the request id).

use crate::http::compat::Dialect;
use crate::http::problem::Problem;
use crate::wire::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::Serialize;
use std::sync::OnceLock;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// How this server's Instantpay responses read (`--instantpay-*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `environment`: `LIVE` by default.
    pub environment: String,
    /// The zone of `timestamp`: India's (+05:30, no daylight saving) by default.
    pub offset: UtcOffset,
}

impl Default for Settings {
    fn default() -> Self {
        Self { environment: "LIVE".into(), offset: UtcOffset::from_hms(5, 30, 0).unwrap_or(UtcOffset::UTC) }
    }
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Sets how responses read, once per process (the first server's settings
/// hold: error responses are rendered where no request state reaches).
pub fn configure(settings: Settings) {
    let _ = SETTINGS.set(settings);
}

fn settings() -> &'static Settings {
    SETTINGS.get_or_init(Settings::default)
}

pub struct Instantpay;

#[derive(Serialize)]
pub struct Envelope<T: Serialize> {
    statuscode: &'static str,
    actcode: Option<&'static str>,
    status: String,
    data: Option<T>,
    timestamp: String,
    ipay_uuid: String,
    orderid: Option<String>,
    environment: String,
    #[serde(rename = "internalCode")]
    internal_code: Option<String>,
}

/// `h` and 11 hex digits, then four groups as a UUID's: the example's shape.
fn ipay_uuid() -> String {
    let mut r = rand::thread_rng();
    format!(
        "h{:011x}-{:04x}-{:04x}-{:04x}-{:012x}",
        r.gen_range(0..1u64 << 44),
        r.r#gen::<u16>(),
        r.r#gen::<u16>(),
        r.r#gen::<u16>(),
        r.gen_range(0..1u64 << 48)
    )
}

/// The envelope around `data`, as a response with `status`.
pub fn respond<T: Serialize>(http: StatusCode, code: &'static str, status: String, data: Option<T>) -> Response {
    let s = settings();
    let now = OffsetDateTime::now_utc().to_offset(s.offset);
    let timestamp =
        now.format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).unwrap_or_default();
    let uuid = ipay_uuid();
    tracing::info!(ipay_uuid = %uuid, statuscode = code, "instantpay response");
    let body = Envelope {
        statuscode: code,
        actcode: None,
        status,
        data,
        timestamp,
        ipay_uuid: uuid,
        orderid: None,
        environment: s.environment.clone(),
        internal_code: None,
    };
    (http, axum::Json(body)).into_response()
}

/// A native field path as Instantpay names it.
fn field_name(path: &str) -> &str {
    match path.split(['.', '[']).next().unwrap_or(path) {
        "phones" => "mobile",
        "business_name" => "companyName",
        "tags" => "tagDetails",
        "account_number" => "contactId",
        other => other,
    }
}

impl Dialect for Instantpay {
    /// `RPI` (400) for invalid or incomplete parameters, naming each;
    /// `IAT` (401) for credentials; `UAD` (403) for access denied; `ISE`
    /// (500, 503) inside; `ERR` (the native status) for anything else.
    fn render(e: ApiError) -> Response {
        let p = Problem::from(e.into_failure());
        let retry_after = p.retry_after();
        let (http, code) = match p.status {
            400 | 422 => (StatusCode::BAD_REQUEST, "RPI"),
            401 => (StatusCode::UNAUTHORIZED, "IAT"),
            403 => (StatusCode::FORBIDDEN, "UAD"),
            s if s >= 500 => (StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), "ISE"),
            s => (StatusCode::from_u16(s).unwrap_or(StatusCode::BAD_REQUEST), "ERR"),
        };
        let status = if p.errors.is_empty() {
            p.detail
        } else {
            let named: Vec<String> =
                p.errors.iter().map(|e| format!("{} ({})", field_name(&e.field), e.message)).collect();
            format!("Invalid or incomplete parameters: {}", named.join("; "))
        };
        let mut res = respond::<()>(http, code, status, None);
        if let Some(secs) = retry_after {
            res.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        res
    }
}
