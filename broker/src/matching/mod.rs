//! Matching: the scoped match question, from a parsed request to a recorded answer.
//!
//! - [`query`]: the flow of one match question — validation, one policy decision, its
//!   obligations enforced per identifier, details from the database, and the audit entry
//!   committed before the answer leaves. Callable without HTTP (the route
//!   `routes::matches` is its thin HTTP shape).
//! - [`index`]: the in-memory match index that answers "does this pseudonym appear
//!   elsewhere?" with a hash probe ([`MatchIndex`]).

pub mod index;
pub mod query;

pub use index::{MatchIndex, Sighting};
pub use query::{MatchError, run};
