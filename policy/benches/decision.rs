//! Decision latency with the default bundle and registry, for a realistic police match
//! (Wpg art. 19, scoped token, categories with justification).
//!
//! `cargo bench -p kruispunt-policy --bench decision` prints p50/p99 over 20 000 timed calls
//! (after warm-up) of `decide` (bytecode VM), and over 2 000 calls of the interpreter alone for
//! comparison, then runs the criterion measurement. Target: p50 ≤ 25 µs. A hit of the request-facts
//! cache (every call after the first here) costs ≈ 177 000 CPU instructions (callgrind, see
//! `examples/decide_loop.rs`; ≈ 210 000 before the last change); wall-clock figures per machine
//! load are in docs/POLICY.md, "Speed".

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use kruispunt_policy::{PolicyEngine, PolicyInput};

fn police_input() -> PolicyInput {
    serde_json::from_str(include_str!("../schema/examples/input-police-match.json"))
        .expect("example input parses")
}

fn percentiles(
    label: &str,
    n: usize,
    decide: impl Fn(&PolicyInput) -> kruispunt_policy::Decision,
    input: &PolicyInput,
) {
    for _ in 0..n / 10 {
        black_box(decide(input));
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let d = decide(black_box(input));
        samples.push(t.elapsed().as_nanos() as u64);
        assert!(d.allow);
    }
    samples.sort_unstable();
    let pct = |p: f64| samples[((n as f64 * p) as usize).min(n - 1)] as f64 / 1000.0;
    println!(
        "policy {label} (police match, default bundle+registry): p50 = {:.1} µs, p90 = {:.1} µs, p99 = {:.1} µs, max = {:.1} µs ({n} calls)",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        samples[n - 1] as f64 / 1000.0
    );
}

fn bench(c: &mut Criterion) {
    let engine = PolicyEngine::default_embedded().expect("default engine");
    assert!(
        engine.uses_vm(),
        "the default bundle must run on the bytecode VM"
    );
    assert!(
        engine.uses_request_facts(),
        "the default bundle must use the request-facts cache"
    );
    let input = police_input();
    percentiles("decide", 20_000, |i| engine.decide(i).unwrap(), &input);
    // The interpreter alone, for comparison (the fallback and the reference semantics).
    percentiles(
        "decide_interpreted",
        2_000,
        |i| engine.decide_interpreted(i).unwrap(),
        &input,
    );
    c.bench_function("decide/police_match", |b| {
        b.iter(|| engine.decide(black_box(&input)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
