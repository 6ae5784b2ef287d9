//! Wire formats, below both the HTTP layer and the CLI: the native DTOs and
//! JSON records, upload streaming (JSON array, NDJSON, CSV), export cells,
//! and the neutral rejection every API renders in its own shape.

pub mod csv_cell;
pub mod csv_upload;
pub mod dto;
pub mod fault;
pub mod job_errors;
pub mod json;
pub mod payreq;
pub mod record;
pub mod upload;

pub use fault::{ApiError, ApiResult, Failure, Fault, FaultKind};

use crate::service::{RecordFormat, RecordParser, Unreadable};
use std::sync::Arc;

/// How the worker reads a job's stored records, by the format they came in.
pub fn record_parser(format: RecordFormat) -> RecordParser {
    match format {
        RecordFormat::Native => Arc::new(json::read_record),
        RecordFormat::Payreq => Arc::new(payreq::read_record),
        RecordFormat::Snapshot => {
            let read = crate::store::snapshot_record_parser();
            Arc::new(move |text: &str| read(text).map_err(Unreadable::from))
        }
    }
}
