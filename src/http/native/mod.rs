//! The native `/v1` API: its routes' handlers, and the OpenAPI document
//! that describes them.

pub mod billers;
pub mod catalogue;
pub mod contact;
pub mod contacts;
pub mod job_submit;
pub mod jobs;
pub mod openapi;
pub mod ops;
pub mod snapshots;
pub mod tokens;
