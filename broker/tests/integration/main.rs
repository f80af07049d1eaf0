//! The broker's integration tests: one binary (one link step instead of fifteen) with a module
//! per subject, as rustls (`rustls-test/tests/api.rs`) and Cedar do. The harness — a broker on
//! either backend, PostgreSQL databases that drop themselves, signed tokens — is the workspace's
//! test kit (`kruispunt-test-kit`); the fixtures several modules share are in `audit_common` and
//! `mls_common`.
//!
//! Nothing here needs a process of its own: no test sets environment variables or the working
//! directory, and those that run the `kruispunt` binary (the CLI tests, the crash test's and the
//! attack suite's `kruispunt serve`) do so as child processes.

mod audit_common;
mod browser;
mod mls_common;
mod mls_rogue;

mod api_broker;
mod attack;
mod attack_findings;
mod audit_anchor;
mod audit_api;
mod audit_cli;
mod audit_crash;
mod audit_erase;
mod audit_page;
mod audit_page_witnesses;
mod audit_subject;
mod audit_tree_upgrade;
mod auth_tokens;
mod beeld;
mod beeld_clients;
mod bulk_crash;
mod case_beeld;
mod case_channels;
mod case_history;
mod cases;
mod cli_id;
mod coalition_authorise;
mod coalition_gaps;
mod coalition_takeover;
mod connection_hygiene;
mod interop_go;
mod mls_coalition;
mod mls_key_version;
mod multibroker;
mod openapi_doc;
mod operations;
mod partner_cli;
mod pg_restart;
mod problem_edges;
mod production_setup;
mod refusal_flood;
mod serve_https;
mod signal_area;
mod store_backends;
mod token_scope;
mod transparency_known_answers;
mod web_signin;
mod witness;
mod writer_gate;
