#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
//! Black-box tests: one binary, so the suite links once.

mod helpers;

mod auth;
mod catalogue;
mod cli;
mod contacts;
mod crash;
mod four_views;
mod hardening;
mod history;
mod hostile;
mod idempotency;
mod inbox;
mod instantpay;
mod jobs;
mod list_append;
mod migrations;
mod ops;
mod pagination;
mod pay_advantage;
mod payreq;
mod razorpay;
mod single;
mod snapshots;
mod store_conformance;
mod validation;
