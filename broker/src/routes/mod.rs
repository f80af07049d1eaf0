//! One file per resource of the HTTP API, and the extractors they share: [`json::StrictJson`]
//! for request bodies (authentication is [`crate::auth::Authenticated`]).

pub mod aggregates;
pub mod audit;
pub mod audit_page;
pub mod audit_review;
pub mod beeld_page;
pub mod cases;
pub mod consents;
pub mod health;
pub mod json;
pub mod matches;
pub mod mls;
pub mod openapi;
pub mod ready;
pub mod registry;
pub mod signals;
pub mod web;
