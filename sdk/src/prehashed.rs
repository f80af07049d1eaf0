//! A hasher for keys that carry their own hash.
//!
//! Why: the workspace keeps large maps whose keys are already uniformly distributed 64-bit
//! values — the broker's match index (prefixes of keyed pseudonyms, which no caller can choose
//! without the at-rest key) and the policy's request-facts cache (keys hashed once with a keyed
//! [`std::hash::RandomState`]). Hashing them again with SipHash costs time on every probe and
//! adds nothing, so their `Hash` impls write the one `u64` and this hasher passes it through.

use std::hash::{BuildHasherDefault, Hasher};

/// Passes a `u64` written with [`Hasher::write_u64`] through unchanged. Only for keys whose
/// `Hash` writes one value an attacker cannot aim (see the module doc); other writes are folded
/// in all the same, so a misuse degrades the distribution, never correctness.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The `BuildHasher` of maps keyed by pre-hashed keys.
pub type BuildPassThrough = BuildHasherDefault<PassThrough>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn a_written_u64_is_the_hash() {
        assert_eq!(
            BuildPassThrough::default().hash_one(0xdead_beef_u64),
            0xdead_beef
        );
        let mut h = PassThrough::default();
        h.write(&[1, 2]);
        assert_eq!(h.finish(), 0x0102);
    }
}
