#![forbid(unsafe_code)]
//! contactd: a multi-tenant contact directory and sync service for billers.
//!
//! Layers point one way: `cli` (with `cli::app`, which wires a server) ->
//! `http` -> `wire` -> `service` -> `domain` + `store`. The CLI's import,
//! export and inbox stand on `wire` and `service`, never on `http`.

pub mod cli;
/// How a server is put together (store, service, workers, HTTP): `contactd serve` and the tests.
pub use cli::app;
pub mod config;
pub mod domain;
pub mod export;
pub mod http;
pub mod import;
pub mod inbox;
pub mod service;
pub mod store;
pub mod wire;
