//! The Kruispunt broker: HTTPS API, storage, matching, audit trail, and the `kruispunt` CLI.
//!
//! The binary in `main.rs` is thin; everything testable lives here. A map of the crate (the
//! request path and the invariants are in docs/ARCHITECTURE.md):
//!
//! **Who is asking**
//! - [`auth`]: the partner-signed JWT, the client certificate's partner, the verified-token
//!   cache, and the [`auth::Authenticated`] extractor every authenticated handler takes.
//! - [`rate_limit`]: the per-partner token bucket the extractor charges.
//!
//! **What they may do and what happens**
//! - [`ingest`]: uploads — validation, one policy decision per (purpose, kind), at-rest
//!   keying, re-upload recognition, rows and their audit entry in one transaction.
//! - [`matching`]: the in-memory match index and the match flow the route calls.
//! - [`follow`]: the index following the signal feed, so every broker on one database sees
//!   every broker's uploads, withdrawals and purges.
//! - [`beeld`]: the ondermijningsbeeld — the counts kept as signals arrive and leave, and
//!   the disclosure-controlled answers of `POST /v1/aggregates` (threshold, noise, budget).
//! - [`cases`]: cases (casussen) and the public prosecutor's consents that police matches
//!   under a case reference rest on.
//! - [`mls`]: the MLS delivery service for coalitions and case channels.
//! - [`retention`]: purging expired signals, key packages and superseded key versions (audited).
//! - [`org_lock`]: one writer per organisation's signals at a time.
//!
//! **What is remembered**
//! - [`store`]: the database, one trait per aggregate, a folder per backend.
//! - [`audit`]: the audit trail — entries and their builders, action names, the checkpoint
//!   signer, who may read what, the CSV export.
//! - [`keys`], [`secret_file`]: the broker's own keys, created owner-only.
//!
//! **The HTTP edge**
//! - [`app`]: the router; [`routes`]: one file per resource; [`problem`]: RFC 9457 problems,
//!   the one place domain errors become HTTP; [`edge`]: the limits on a request's head and
//!   the guarantee that every error (also axum's and the timeout's) leaves as a problem;
//!   [`request_log`]: one log line per request; [`metrics`]: the operator's `/metrics`.
//! - [`readiness`]: what a set-up still lacks (`/readyz` names it).
//! - [`server`], [`tls`], [`config`], [`devpki`], [`state`]: start-up, TLS, `kruispunt.toml`,
//!   the development PKI, the state handlers share; [`conn_limit`]: the connection cap and
//!   head timeout (broker and witness).
//!
//! **Witnesses**: [`witness`], the `kruispunt witness` server (C2SP tlog-witness) and the
//! broker's client that gets its checkpoints cosigned.
//!
//! **The command line**: [`cli`], one module per subcommand. [`civil`]: calendar arithmetic.
#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod auth;
pub mod beeld;
pub mod bulk_pool;
pub mod cases;
pub mod civil;
pub mod cli;
pub mod config;
pub mod conn_limit;
pub mod devpki;
pub mod edge;
pub mod follow;
pub mod ingest;
pub mod keys;
pub mod matching;
pub mod metrics;
pub mod mls;
pub mod org_lock;
pub mod problem;
pub mod rate_limit;
pub mod readiness;
pub mod registry_view;
pub mod request_log;
pub mod retention;
pub mod routes;
pub mod secret_file;
pub mod server;
pub mod state;
pub mod store;
pub mod tls;
pub mod witness;
