//! The request-facts cache: the part of a decision that does not change from one request to
//! the next, kept per bundle.
//!
//! Why: the broker asks the policy once per request, and most requests repeat who asks what,
//! under which purpose, case and token, with only the clock, the usage counters, the request
//! size and the age of the oldest signal changed. The bundle computes everything that does not
//! depend on those fields as one value, `data.kruispunt.request_facts`, and the decision from
//! it as `verdict(request_facts)`; `data.kruispunt.decision_given_facts` is the same
//! `verdict` of facts handed in by the engine. So a cached value gives exactly the decision of
//! a plain evaluation provided (1) the facts were computed from the same stable fields — the
//! cache key is those fields, and the facts are computed from an input that holds nothing
//! else, so a rule that read a volatile field would see it absent, not stale — and (2) the
//! facts do not depend on the volatile fields, which holds by the structure of the default
//! bundle (every rule that reads them feeds only `deny_clock` and `clock_grant`) and is checked
//! by the differential tests and, for every bundle, by the engine's self-check at load.
//!
//! The map is split into shards, each behind its own mutex held only to look up or insert, so
//! there is no global lock on the hot path; a full shard is emptied (bounded memory, no LRU
//! bookkeeping on the hot path). The cache belongs to one prepared bundle: a reload starts
//! with an empty one.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use regorus::Value;

use crate::input::{PolicyInput, Usage};

/// The fields of a request that the request facts may depend on: the input with the clock,
/// the usage counters, the request size, the oldest signal and the user (read by no rule)
/// cleared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FactsKey(PolicyInput);

impl FactsKey {
    pub(crate) fn of(input: &PolicyInput) -> FactsKey {
        let mut stable = input.clone();
        stable.now = 0;
        stable.usage = Usage::default();
        stable.identifier_count = 0;
        stable.oldest_signal_at = None;
        stable.requester.user = String::new();
        FactsKey(stable)
    }

    /// The input the facts are computed from (volatile fields removed by the caller).
    pub(crate) fn input(&self) -> &PolicyInput {
        &self.0
    }
}

const SHARDS: usize = 16;

/// Entries per shard before the shard is emptied.
const SHARD_MAX: usize = 1024;

pub(crate) struct FactsCache {
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<FactsKey, Value>>>,
}

impl FactsCache {
    pub(crate) fn new() -> FactsCache {
        FactsCache {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, key: &FactsKey) -> &Mutex<HashMap<FactsKey, Value>> {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    pub(crate) fn get(&self, key: &FactsKey) -> Option<Value> {
        let shard = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
        shard.get(key).cloned()
    }

    pub(crate) fn insert(&self, key: FactsKey, facts: Value) {
        let mut shard = self.shard(&key).lock().unwrap_or_else(|p| p.into_inner());
        if shard.len() >= SHARD_MAX {
            shard.clear();
        }
        shard.insert(key, facts);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}
