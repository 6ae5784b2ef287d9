//! Query strings: parsed into a route's own struct (unknown and repeated
//! parameters refused), every error naming the parameter it is about.

use crate::domain::account_number::MAX_ACCOUNT_NUMBER_LENGTH;
use crate::domain::sync::MAX_COUNT;
use crate::http::problem::ApiResult;
use crate::wire::{Fault, FaultKind};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

pub fn invalid(detail: impl Into<String>) -> Fault {
    Fault::new(FaultKind::InvalidQuery, detail)
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

/// No control characters (PostgreSQL text cannot even hold NUL).
pub fn plain(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// A contact list's `cursor`: the account number the page continues after
/// (the previous page's `next_cursor`; any account number is a position).
pub fn account_position(cursor: Option<String>) -> ApiResult<Option<String>> {
    match cursor {
        Some(c) if c.is_empty() || c.chars().count() > MAX_ACCOUNT_NUMBER_LENGTH || !plain(&c) => Err(invalid(
            format!("cursor is an account number: 1 to {MAX_ACCOUNT_NUMBER_LENGTH} characters, no control characters"),
        )
        .into()),
        c => Ok(c),
    }
}

/// Longest numbered `cursor` (jobs, snapshots, errors): 18 digits always fit a stored position.
const MAX_POSITION_DIGITS: usize = 18;

/// A numbered list's `cursor`: the position the page continues after.
pub fn numbered_position(cursor: Option<&str>) -> ApiResult<Option<u64>> {
    match cursor {
        None => Ok(None),
        Some(c) if (1..=MAX_POSITION_DIGITS).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(c.parse().ok())
        }
        Some(_) => {
            Err(invalid(format!("cursor is the next_cursor of the previous page: 1 to {MAX_POSITION_DIGITS} digits"))
                .into())
        }
    }
}
