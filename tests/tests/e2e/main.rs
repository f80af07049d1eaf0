//! The end-to-end tests across broker, policy and SDK: one binary with a module per subject
//! (one link step), on the harness of the workspace's test kit.

mod common;

mod full_scenario;
mod refusals;
