//! One file per resource of the HTTP API.

pub mod audit;
pub mod audit_page;
pub mod audit_review;
pub mod health;
pub mod matches;
pub mod mls;
pub mod openapi;
pub mod ready;
pub mod signals;
