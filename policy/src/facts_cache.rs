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
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::Mutex;

use kruispunt_sdk::prehashed::BuildPassThrough;
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

/// A [`FactsKey`] with its hash, computed once per request.
///
/// Why: hashing the key (a whole input's strings, with SipHash) cost more than 5 % of a cache
/// hit, and it was done twice, once to pick the shard and once more inside the shard's map.
/// The map now uses the hash computed here (still keyed, [`RandomState`], so the broker's
/// callers cannot aim collisions at one shard) and compares whole keys only on a hash match.
#[derive(Debug, Clone)]
pub(crate) struct HashedKey {
    hash: u64,
    key: FactsKey,
}

impl HashedKey {
    pub(crate) fn key(&self) -> &FactsKey {
        &self.key
    }
}

impl PartialEq for HashedKey {
    fn eq(&self, other: &HashedKey) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl Eq for HashedKey {}

impl Hash for HashedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

type Shard = HashMap<HashedKey, Value, BuildPassThrough>;

pub(crate) struct FactsCache {
    hasher: RandomState,
    shards: Vec<Mutex<Shard>>,
}

impl FactsCache {
    pub(crate) fn new() -> FactsCache {
        FactsCache {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    /// The key of `input`, hashed for this cache.
    pub(crate) fn key(&self, input: &PolicyInput) -> HashedKey {
        let key = FactsKey::of(input);
        HashedKey {
            hash: self.hasher.hash_one(&key),
            key,
        }
    }

    fn shard(&self, key: &HashedKey) -> &Mutex<Shard> {
        // The high bits pick the shard; the map inside uses the low ones for its buckets.
        &self.shards[((key.hash >> 32) as usize) % SHARDS]
    }

    pub(crate) fn get(&self, key: &HashedKey) -> Option<Value> {
        let shard = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
        shard.get(key).cloned()
    }

    pub(crate) fn insert(&self, key: HashedKey, facts: Value) {
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::registry::Registry;
    use crate::self_check::{generated_inputs, volatile_variants};

    /// The hash is computed once per request and the map trusts it: inputs that differ only in
    /// the volatile fields must get equal keys with equal hashes (or a hit could never happen),
    /// and a stored entry must be found again under a fresh key of such an input.
    #[test]
    fn volatile_fields_do_not_change_the_hashed_key() {
        let cache = FactsCache::new();
        for (n, input) in generated_inputs(&Registry::embedded(), 200, 17)
            .iter()
            .enumerate()
        {
            let key = cache.key(input);
            cache.insert(key.clone(), Value::from(n as u64));
            for v in volatile_variants(input, n as u64) {
                let other = cache.key(&v);
                assert_eq!(other, key, "input #{n}");
                assert_eq!(other.hash, key.hash, "input #{n}");
                assert!(cache.get(&other).is_some(), "input #{n}");
            }
            let mut changed = input.clone();
            changed.purpose.push('x');
            assert_ne!(cache.key(&changed), key, "input #{n}");
        }
    }
}
