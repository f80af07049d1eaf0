//! The case store's statements that are this backend's own: none, every statement is shared
//! ([`crate::store::sql::cases`]).

use super::SqliteStore;
use crate::store::sql::CaseDialect;

impl CaseDialect for SqliteStore {}
