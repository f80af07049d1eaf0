//! The noise of the ondermijningsbeeld: an exact discrete Laplace (two-sided geometric) sampler
//! driven by a keyed, deterministic random stream.
//!
//! # The distribution
//! `P(X = x) ∝ exp(−|x| / τ)` over the integers, with scale `τ = cap / ε` (the sensitivity of a
//! count when one subject can change at most `cap` cells of a question by one each). Its mean is
//! 0 and its variance `2·e^{−1/τ} / (1 − e^{−1/τ})²`. Releasing `true + X` is ε-differentially
//! private for one question over counts of sensitivity `cap`.
//!
//! # The sampler
//! Algorithm 2 of Canonne, Kamath and Steinke, *The Discrete Gaussian for Differential Privacy*
//! (NeurIPS 2020), with their Algorithm 1 for `Bernoulli(exp(−γ))`: every step is a uniform
//! integer draw or a Bernoulli of a rational probability, so no floating-point number is ever
//! sampled (floating-point Laplace samplers leak through the gaps of the doubles, Mironov 2012).
//! With `τ = t / s` (integers):
//!
//! ```text
//! loop {
//!   U ← uniform{0, …, t−1};  if not Bernoulli(exp(−U/t)) { continue }
//!   V ← 0;  while Bernoulli(exp(−1)) { V ← V + 1 }
//!   Y ← ⌊(U + t·V) / s⌋;  B ← Bernoulli(1/2)
//!   if B and Y = 0 { continue }
//!   return (1 − 2B)·Y
//! }
//! ```
//!
//! `Bernoulli(exp(−γ))` for a rational `γ = n/d`: for `γ ≤ 1`, draw `Bernoulli(γ/k)` for
//! `k = 1, 2, …` until one fails and answer whether that `k` is odd; for `γ > 1`, `⌊γ⌋` times
//! `Bernoulli(exp(−1))` (all must succeed) and then `Bernoulli(exp(−(γ − ⌊γ⌋)))`.
//!
//! # The random stream
//! [`KeyedRng`] is HMAC-SHA256 under the broker's secret over a context (snapshot id, purpose,
//! measure, cell key, period range) and a block counter. The noise of a cell is therefore a
//! function of that context: the same cell asked again within one snapshot — in another
//! question, or by another organisation — carries the same noise, so asking again cannot
//! average it away; without the secret the noise cannot be predicted or removed.

use ring::hmac;

/// A deterministic stream of random bits: `HMAC-SHA256(key, context ‖ block counter)`.
pub struct KeyedRng {
    key: hmac::Key,
    context: Vec<u8>,
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl KeyedRng {
    /// The stream of `context` under `key`.
    pub fn new(key: &hmac::Key, context: &[u8]) -> KeyedRng {
        KeyedRng {
            key: key.clone(),
            context: context.to_vec(),
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    fn next_u64(&mut self) -> u64 {
        if self.used + 8 > self.block.len() {
            let mut ctx = hmac::Context::with_key(&self.key);
            ctx.update(&self.context);
            ctx.update(&self.counter.to_be_bytes());
            self.block.copy_from_slice(ctx.sign().as_ref());
            self.counter += 1;
            self.used = 0;
        }
        let w = u64::from_le_bytes(self.block[self.used..self.used + 8].try_into().expect("8"));
        self.used += 8;
        w
    }

    /// Uniform in `0..n` (`n > 0`), by rejection (no modulo bias).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "uniform draw from an empty range");
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let w = self.next_u64();
            if w < zone {
                return w % n;
            }
        }
    }

    /// `Bernoulli(n/d)` for `0 ≤ n ≤ d`, `d > 0`.
    fn bernoulli(&mut self, n: u64, d: u64) -> bool {
        self.below(d) < n
    }

    /// `Bernoulli(exp(−n/d))` for `n ≥ 0`, `d > 0` (CKS20, Algorithm 1).
    fn bernoulli_exp(&mut self, n: u64, d: u64) -> bool {
        if n <= d {
            let mut k = 1u64;
            loop {
                // Bernoulli(γ/k) = Bernoulli(n / (d·k)).
                if !self.bernoulli(n, d.saturating_mul(k)) {
                    return k % 2 == 1;
                }
                k += 1;
            }
        } else {
            for _ in 0..n / d {
                if !self.bernoulli_exp(1, 1) {
                    return false;
                }
            }
            self.bernoulli_exp(n % d, d)
        }
    }

    /// A discrete Laplace draw of scale `t/s` (`s, t > 0`; CKS20, Algorithm 2).
    pub fn discrete_laplace(&mut self, s: u64, t: u64) -> i64 {
        assert!(s > 0 && t > 0, "discrete Laplace scale must be positive");
        let g = gcd(s, t);
        let (s, t) = (s / g, t / g);
        loop {
            let u = self.below(t);
            if !self.bernoulli_exp(u, t) {
                continue;
            }
            let mut v: u64 = 0;
            while self.bernoulli_exp(1, 1) {
                v += 1;
            }
            let y = (u + t.saturating_mul(v)) / s;
            let negative = self.bernoulli(1, 2);
            if negative && y == 0 {
                continue;
            }
            let y = i64::try_from(y).unwrap_or(i64::MAX);
            return if negative { -y } else { y };
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// One micro-ε: budgets and ε are kept as integers of this unit.
pub const MICRO: u64 = 1_000_000;

/// The scale of the noise for a question with contribution cap `cap` at `epsilon_micro` µε, as
/// the integers `(s, t)` of `τ = t/s`.
pub fn scale(cap: u32, epsilon_micro: u64) -> (u64, u64) {
    (epsilon_micro.max(1), u64::from(cap.max(1)) * MICRO)
}

/// Half-width of the central 95 % interval of the discrete Laplace of scale `τ = t/s`: the
/// smallest `m` with `P(|X| > m) = 2q^{m+1}/(1+q) ≤ 0.05`, `q = e^{−1/τ}`. (Descriptive only:
/// floating point here computes a figure to show, it never draws noise.)
pub fn margin_95(s: u64, t: u64) -> u32 {
    let q = (-(s as f64) / (t as f64)).exp();
    let mut m: u32 = 0;
    while 2.0 * q.powi(m as i32 + 1) / (1.0 + q) > 0.05 && m < 1_000_000 {
        m += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: &str) -> KeyedRng {
        KeyedRng::new(
            &hmac::Key::new(hmac::HMAC_SHA256, b"test secret"),
            seed.as_bytes(),
        )
    }

    #[test]
    fn the_same_context_gives_the_same_noise_and_another_context_other_noise() {
        let a: Vec<i64> = (0..5)
            .map(|_| rng("cell-a").discrete_laplace(1, 4))
            .collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]), "{a:?}");
        let mut many = std::collections::BTreeSet::new();
        for i in 0..50 {
            many.insert(rng(&format!("cell-{i}")).discrete_laplace(1, 4));
        }
        assert!(many.len() > 5, "{many:?}");
    }

    /// Mean ≈ 0, variance ≈ 2q/(1−q)², symmetric, with a fixed seed (200 000 draws; the
    /// tolerances are several standard errors wide).
    #[test]
    fn the_sampler_has_the_discrete_laplace_distribution() {
        for (s, t) in [(1u64, 2u64), (1, 4), (2, 5)] {
            let mut r = rng(&format!("distribution {s}/{t}"));
            let n = 200_000usize;
            let mut sum = 0i64;
            let mut sq = 0i128;
            let mut pos = 0usize;
            let mut neg = 0usize;
            let mut zero = 0usize;
            for _ in 0..n {
                let x = r.discrete_laplace(s, t);
                sum += x;
                sq += i128::from(x) * i128::from(x);
                match x.signum() {
                    1 => pos += 1,
                    -1 => neg += 1,
                    _ => zero += 1,
                }
            }
            let tau = t as f64 / s as f64;
            let q = (-1.0 / tau).exp();
            let var = 2.0 * q / (1.0 - q).powi(2);
            let mean = sum as f64 / n as f64;
            let sample_var = sq as f64 / n as f64 - mean * mean;
            assert!(
                mean.abs() < 5.0 * (var / n as f64).sqrt(),
                "{s}/{t}: mean {mean}"
            );
            assert!(
                (sample_var - var).abs() / var < 0.05,
                "{s}/{t}: {sample_var} vs {var}"
            );
            let diff = (pos as f64 - neg as f64).abs();
            assert!(
                diff < 5.0 * ((pos + neg) as f64).sqrt(),
                "{s}/{t}: {pos} vs {neg}"
            );
            // P(0) = (1−q)/(1+q).
            let p0 = (1.0 - q) / (1.0 + q);
            let f0 = zero as f64 / n as f64;
            assert!(
                (f0 - p0).abs() < 5.0 * (p0 * (1.0 - p0) / n as f64).sqrt(),
                "{f0} {p0}"
            );
        }
    }

    #[test]
    fn bernoulli_exp_has_its_probability() {
        let mut r = rng("bernoulli");
        for (num, den) in [(1u64, 1u64), (1, 3), (5, 2)] {
            let n = 100_000;
            let hits = (0..n).filter(|_| r.bernoulli_exp(num, den)).count() as f64;
            let p = (-(num as f64) / den as f64).exp();
            assert!((hits / n as f64 - p).abs() < 5.0 * (p * (1.0 - p) / n as f64).sqrt());
        }
    }

    #[test]
    fn the_margin_covers_95_percent() {
        let (s, t) = scale(4, 500_000); // τ = 8
        let m = margin_95(s, t);
        let mut r = rng("margin");
        let n = 50_000;
        let inside = (0..n)
            .filter(|_| r.discrete_laplace(s, t).unsigned_abs() <= u64::from(m))
            .count();
        let frac = inside as f64 / n as f64;
        assert!((0.94..=0.97).contains(&frac), "{m}: {frac}");
    }

    #[test]
    fn uniform_draws_stay_in_range() {
        let mut r = rng("below");
        for n in [1u64, 2, 3, 7, 1000] {
            for _ in 0..200 {
                assert!(r.below(n) < n);
            }
        }
    }
}
