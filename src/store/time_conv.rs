//! Timestamps are stored as microseconds since the Unix epoch where the
//! backend has no native type (SQLite).

use crate::store::{StoreError, StoreResult};
use time::OffsetDateTime;

pub fn to_micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

pub fn from_micros(us: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(us as i128 * 1_000).map_err(|e| StoreError::Corrupt(e.to_string()))
}
