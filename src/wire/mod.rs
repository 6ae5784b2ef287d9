//! Wire formats shared by the HTTP layer, the CLI, the inbox and the worker.

pub mod csv_cell;
