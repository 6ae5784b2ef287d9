#![forbid(unsafe_code)]
//! contactd: a multi-tenant contact directory and sync service for billers.
//!
//! Layers point one way: `http` -> `service` -> `domain` + `store`.

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod export;
pub mod http;
pub mod import;
pub mod inbox;
pub mod service;
pub mod store;
pub mod wire;
