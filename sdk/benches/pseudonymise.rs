//! Throughput of the partner-side hot path: normalise + pseudonymise kentekens.
//!
//! Target (docs/ARCHITECTURE.md, "Speed targets"): ≥ 3 M identifiers/s per core; the HMAC alone is the floor, so it is
//! measured too. Criterion reports elements/s for a batch of realistic plates written the ways
//! partners' systems hold them (dashes, spaces, lowercase, all sidecodes).
//!
//! `column_1m` is the Rust side of python/bench/pseudonymise_column.py: the same 1 M plates
//! (that script generates them value for value) to a column of hex pseudonyms on one thread —
//! what `Pseudonymiser.pseudonymise_column` does from Python, without Python's conversions.
//! Figures side by side: docs/PYTHON.md, "Speed".

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kruispunt_sdk::identifiers::{IdentifierKind, SIDECODES, normalise_into};
use kruispunt_sdk::{CoalitionKey, Pseudonym};

const BATCH: usize = 1024;

/// Deterministic plates over all sidecodes, formatted in several styles (python/bench/
/// pseudonymise_column.py makes the same ones).
fn plates(n: usize) -> Vec<String> {
    // Letters the RDW actually issues (no vowels, no C/Q/W/Y).
    const LETTERS: &[u8] = b"BDFGHJKLMNPRSTVXZ";
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|i| {
            let pattern = SIDECODES[i % SIDECODES.len()];
            let plate: String = pattern
                .bytes()
                .map(|p| match p {
                    b'-' => '-',
                    b'X' => LETTERS[(next() % LETTERS.len() as u64) as usize] as char,
                    _ => char::from(b'0' + (next() % 10) as u8),
                })
                .collect();
            match i % 4 {
                0 => plate,
                1 => plate.replace('-', ""),
                2 => plate.to_lowercase(),
                _ => plate.replace('-', " "),
            }
        })
        .collect()
}

/// Normalises each plate into the reused `buf` (as a bulk upload does) and folds `f` over the
/// canonical forms.
fn fold_normalised<A>(
    plates: &[String],
    buf: &mut String,
    init: A,
    mut f: impl FnMut(A, &str) -> A,
) -> A {
    let mut acc = init;
    for raw in plates {
        normalise_into(IdentifierKind::Kenteken, black_box(raw), buf).unwrap();
        acc = f(acc, buf);
    }
    acc
}

fn bench(c: &mut Criterion) {
    let plates = plates(BATCH);
    let key = CoalitionKey::new(core::array::from_fn(|i| i as u8), 1);
    let p = key.pseudonymiser(IdentifierKind::Kenteken);
    let canonical: Vec<String> = plates
        .iter()
        .map(|raw| {
            let mut s = String::new();
            normalise_into(IdentifierKind::Kenteken, raw, &mut s).unwrap();
            s
        })
        .collect();

    let mut group = c.benchmark_group("kenteken");
    group.throughput(Throughput::Elements(BATCH as u64));

    group.bench_function("normalise_only", |b| {
        let mut buf = String::with_capacity(16);
        b.iter(|| fold_normalised(&plates, &mut buf, 0usize, |n, c| n + c.len()))
    });

    group.bench_function("hmac_only", |b| {
        b.iter(|| {
            let mut acc = 0u8;
            for c in &canonical {
                acc ^= p.pseudonymise_canonical(black_box(c)).0[0];
            }
            acc
        })
    });

    // What a partner's bulk upload does: one reused buffer.
    group.bench_function("normalise_and_pseudonymise", |b| {
        let mut buf = String::with_capacity(16);
        b.iter(|| {
            fold_normalised(&plates, &mut buf, 0u8, |acc, c| {
                acc ^ p.pseudonymise_canonical(c).0[0]
            })
        })
    });

    // The convenience API (`Pseudonymiser::pseudonymise`), which allocates a buffer per call.
    group.bench_function("pseudonymise_convenience", |b| {
        b.iter(|| {
            let mut last: Option<Pseudonym> = None;
            for raw in &plates {
                last = Some(p.pseudonymise(black_box(raw)).unwrap());
            }
            last
        })
    });
    group.finish();

    let column = crate::plates(1_000_000);
    let mut group = c.benchmark_group("column_1m");
    group.sample_size(10);
    group.throughput(Throughput::Elements(column.len() as u64));
    // A column in, a column of hex pseudonyms out, one reused buffer: the work of
    // `pseudonymise_column(values, threads=1)` in the Python package.
    group.bench_function("kenteken_to_hex", |b| {
        let mut buf = String::with_capacity(16);
        b.iter(|| {
            column
                .iter()
                .map(|raw| {
                    normalise_into(IdentifierKind::Kenteken, black_box(raw), &mut buf).unwrap();
                    p.pseudonymise_canonical(&buf).to_hex()
                })
                .collect::<Vec<String>>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
