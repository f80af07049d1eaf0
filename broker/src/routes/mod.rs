//! One file per resource of the HTTP API.

pub mod health;
