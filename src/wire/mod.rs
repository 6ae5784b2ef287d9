//! Wire formats, below both the HTTP layer and the CLI: the native DTOs and
//! JSON records, upload streaming (JSON array, NDJSON, CSV), export cells,
//! and the neutral rejection every API renders in its own shape.

pub mod csv_cell;
pub mod csv_upload;
pub mod dto;
pub mod fault;
pub mod json;
pub mod record;
pub mod upload;

pub use fault::{ApiError, ApiResult, Failure, Fault, FaultKind};
