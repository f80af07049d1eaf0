//! The Kruispunt broker: HTTPS API, storage, matching, audit trail, and the `kruispunt` CLI.
//!
//! The binary in `main.rs` is thin; everything testable lives here.
#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod auth;
pub mod civil;
pub mod cli;
pub mod config;
pub mod devpki;
pub mod ingest;
pub mod keys;
pub mod matching;
pub mod mls;
pub mod org_lock;
pub mod problem;
pub mod rate_limit;
pub mod retention;
pub mod routes;
pub mod secret_file;
pub mod server;
pub mod state;
pub mod store;
pub mod tls;
