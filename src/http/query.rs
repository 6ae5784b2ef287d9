//! Query strings: parsed into a route's own struct (unknown and repeated
//! parameters refused), every error naming the parameter it is about.

use crate::domain::sync::MAX_COUNT;
use crate::http::problem::{ApiResult, Problem};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

pub fn invalid(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "invalid_query", detail)
}

/// Parses a query string into `T`; no query string is `T::default()`.
pub fn query<T: DeserializeOwned + Default>(raw: Option<String>) -> ApiResult<T> {
    let Some(q) = raw else { return Ok(T::default()) };
    let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(q.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let detail = match inner.strip_prefix("unknown field ") {
            Some(rest) => format!("unknown query parameter {rest}"),
            None if path == "." || path.is_empty() => format!("bad query string: {inner}"),
            None => format!("query parameter {path}: {inner}"),
        };
        invalid(detail).into()
    })
}

/// `confirm_removals`: a count of contacts, 0 to `MAX_COUNT`, on every route
/// that takes it.
pub fn removal_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let text = String::deserialize(d)?;
    match text.parse::<u64>() {
        Ok(n) if n <= MAX_COUNT && !text.starts_with('+') => Ok(Some(n)),
        _ => Err(serde::de::Error::custom(format!(
            "must be a whole number of contacts from 0 to {MAX_COUNT}, got {text:?}"
        ))),
    }
}

/// Cursors are opaque to clients: base64url of where the page ended.
pub fn decode_cursor(c: &str) -> Option<String> {
    URL_SAFE_NO_PAD.decode(c.as_bytes()).ok().and_then(|b| String::from_utf8(b).ok())
}

pub fn encode_cursor(position: &str) -> String {
    URL_SAFE_NO_PAD.encode(position.as_bytes())
}
