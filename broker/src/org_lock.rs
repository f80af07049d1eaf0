//! One async mutex per organisation, held by a write that must not interleave with another
//! write of the same organisation's signals.
//!
//! An upload recognises re-uploads in memory (`crate::ingest`): it looks in the match index,
//! confirms in the database, inserts what is new and adds it to the index after the commit.
//! Two uploads of the same observation by the same organisation running those steps at once
//! would both find nothing and both insert (their ids differ when their seconds differ). Holding
//! the organisation's lock from the check through the index update serialises them; signal
//! ids and digests include the organisation, so different organisations never collide and do
//! not wait for each other. Withdrawals take it too, so an index update cannot overtake
//! another one of the same organisation. The lock is per process; with several brokers on one
//! database an upload also takes the organisation's lock in PostgreSQL
//! (`Store::lock_org`) and then applies the signal feed (`crate::follow::catch_up`), so what
//! another broker committed before is in the index it asks (docs/OPERATIONS.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// The per-organisation locks (one small entry per organisation that ever wrote).
#[derive(Default)]
pub struct OrgLocks {
    locks: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

impl OrgLocks {
    /// Waits for `org`'s lock; released when the guard drops.
    pub async fn lock(&self, org: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(org.to_string()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_per_organisation() {
        let locks = OrgLocks::default();
        let a = locks.lock("a").await;
        // Another organisation does not wait.
        let _b = locks.lock("b").await;
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), locks.lock("a"));
        assert!(waiting.await.is_err(), "a second holder of a's lock");
        drop(a);
        let _again = locks.lock("a").await;
    }
}
