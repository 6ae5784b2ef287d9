//! Wire formats shared by the HTTP layer, the CLI, the inbox and the worker.

pub mod csv_cell;
pub mod fault;

pub use fault::{Fault, FaultKind};
