//! The in-memory match index at scale: `cargo bench -p kruispunt-broker --bench match_index`.
//!
//! Fills a [`MatchIndex`] with `KRUISPUNT_BENCH_SIGNALS` signals (default 10 000 000: random
//! 32-byte at-rest pseudonyms, 40 partner organisations, 5 codes, 1–2 of 4 purposes, kenteken,
//! key version 1) the way the broker does at start-up (`insert_many` in chunks of 4096), then
//! prints the build time and the process's resident set (`VmRSS`, and the peak `VmHWM`, which
//! includes the hash table's last resize). Then it probes `KRUISPUNT_BENCH_QUERIES` pseudonyms
//! (default 1 000 000, half stored, half absent, randomly interleaved) with `probe` — the
//! match route's call, including the `Sighting` strings it allocates for hits — and with
//! `contains` (the bare hash lookup), on one thread and split across 2 threads.
//!
//! `KRUISPUNT_BENCH_MULTI_SOURCE_PCT` (default 0) makes that percentage of signals reuse the
//! previous signal's pseudonym under another organisation, so slots hold several records
//! (`Slot::Many`, a heap `Vec`), as a real coalition with overlapping sources would.
//!
//! The index is reserved for `n` signals first, as `server::build_state` does after counting
//! the live signals; `KRUISPUNT_BENCH_NO_RESERVE=1` grows it instead (the resize peak shows in
//! VmHWM).
//!
//! Targets (issue 4, "Figures"): 1 M query pseudonyms against 10 M stored in ≤ 1 s; resident
//! set ≤ 1 GiB with 10 M stored signals.

use std::hint::black_box;
use std::time::{Duration, Instant};

use kruispunt_broker::matching::MatchIndex;
use kruispunt_broker::store::{IndexRecord, SignalId};
use kruispunt_sdk::IdentifierKind;
use kruispunt_test_kit::bench::{env_or, mix};

const SEED_STORED: u64 = 0x6b72_7569_7370_756e; // "kruispun"
const SEED_ABSENT: u64 = 0x0bad_cafe_f00d_d00d;
const SEED_ID: u64 = 0x1d1d_1d1d_5157_5157;
const NOW: i64 = 1_780_000_000;
const CHUNK: usize = 4096;
const PURPOSES: [&str; 4] = [
    "autobranche-contante-aankopen",
    "ondermijningsbeeld",
    "vastgoed-signalering",
    "horeca-bibob-screening",
];
const CODES: [&str; 5] = [
    "cash-car-purchase",
    "cash-car-purchase-20k",
    "split-payments",
    "notes-500",
    "frequent-owner-change",
];

fn bytes32(seed: u64, i: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (j, chunk) in out.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&mix(seed ^ i.wrapping_mul(4).wrapping_add(j as u64)).to_le_bytes());
    }
    out
}

/// The pseudonym slot `i` uses: with `shared_pct`, some signals reuse the previous pseudonym.
fn pseudonym_index(i: u64, shared_pct: u64) -> u64 {
    if i > 0 && mix(i ^ 0x5eed) % 100 < shared_pct {
        pseudonym_index(i - 1, shared_pct)
    } else {
        i
    }
}

fn record(i: u64, shared_pct: u64, orgs: &[String]) -> IndexRecord {
    let r = mix(i ^ 0xabcd_ef01);
    let mut id = [0u8; 16];
    id.copy_from_slice(&bytes32(SEED_ID, i)[..16]);
    let p1 = (r % 4) as usize;
    let mut purposes = vec![PURPOSES[p1].to_string()];
    if (r >> 8).is_multiple_of(3) {
        purposes.push(PURPOSES[(p1 + 1) % 4].to_string());
    }
    IndexRecord {
        id: SignalId(id),
        kind: IdentifierKind::Kenteken,
        key_version: 1,
        stored: bytes32(SEED_STORED, pseudonym_index(i, shared_pct)),
        // Consecutive signals (which share a pseudonym when `shared_pct` > 0) differ in org.
        org: orgs[(i % orgs.len() as u64) as usize].clone(),
        code: CODES[((r >> 16) % CODES.len() as u64) as usize].to_string(),
        expires_at: NOW + 365 * 86_400,
        purposes,
        // The match index ignores these; the start-up scan streams them for the picture.
        observed_day: NOW / 86_400 - (r >> 24) as i64 % 730,
        district: "oost-utrecht".into(),
        gemeente: Some("GM0307".into()),
        wijk: None,
    }
}

/// A field of /proc/self/status in KiB (Linux).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn probe_all(ix: &MatchIndex, queries: &[[u8; 32]]) -> (usize, usize) {
    let mut hits = 0;
    let mut sightings = 0;
    for q in queries {
        let s = ix.probe(
            IdentifierKind::Kenteken,
            1,
            q,
            PURPOSES[0],
            "partner-00",
            NOW,
        );
        hits += usize::from(!s.is_empty());
        sightings += s.len();
        black_box(&s);
    }
    (hits, sightings)
}

fn contains_all(ix: &MatchIndex, queries: &[[u8; 32]]) -> (usize, usize) {
    let found = queries
        .iter()
        .filter(|q| ix.contains(IdentifierKind::Kenteken, 1, q))
        .count();
    (found, found)
}

type ProbeFn = fn(&MatchIndex, &[[u8; 32]]) -> (usize, usize);

fn timed(label: &str, ix: &MatchIndex, queries: &[[u8; 32]], threads: usize, f: ProbeFn) {
    let mut times: Vec<Duration> = Vec::new();
    let mut result = (0, 0);
    for _ in 0..3 {
        let start = Instant::now();
        result = if threads == 1 {
            f(ix, queries)
        } else {
            let per = queries.len().div_ceil(threads);
            std::thread::scope(|s| {
                let handles: Vec<_> = queries
                    .chunks(per)
                    .map(|part| s.spawn(move || f(ix, part)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("probe thread"))
                    .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
            })
        };
        times.push(start.elapsed());
    }
    times.sort();
    let best = times[0].as_secs_f64();
    let median = times[1].as_secs_f64();
    println!(
        "{label:<34} {threads} thread(s): {} queries in {:>7.1} ms median ({:>7.1} ms best) \
         = {:>5.1} M/s; matched {} (sightings {})",
        queries.len(),
        median * 1e3,
        best * 1e3,
        queries.len() as f64 / median / 1e6,
        result.0,
        result.1,
    );
}

fn main() {
    let n = env_or::<usize>("KRUISPUNT_BENCH_SIGNALS", 10_000_000) as u64;
    let q = env_or::<usize>("KRUISPUNT_BENCH_QUERIES", 1_000_000);
    let shared_pct = env_or::<usize>("KRUISPUNT_BENCH_MULTI_SOURCE_PCT", 0).min(99) as u64;
    let orgs: Vec<String> = (0..40).map(|i| format!("partner-{i:02}")).collect();

    let rss0 = status_kib("VmRSS:");
    println!(
        "match index: {n} signals ({shared_pct}% sharing the previous signal's pseudonym), \
         {q} queries; baseline VmRSS {:.1} MiB",
        mib(rss0)
    );

    // As the broker does at start-up: reserve for the live signals it counted, then fill.
    let ix = if std::env::var_os("KRUISPUNT_BENCH_NO_RESERVE").is_some() {
        MatchIndex::new()
    } else {
        MatchIndex::with_capacity(n as usize + 1024)
    };
    let start = Instant::now();
    let mut insert_time = Duration::ZERO;
    let mut chunk: Vec<IndexRecord> = Vec::with_capacity(CHUNK);
    let mut i = 0u64;
    while i < n {
        chunk.clear();
        let end = (i + CHUNK as u64).min(n);
        chunk.extend((i..end).map(|k| record(k, shared_pct, &orgs)));
        let t = Instant::now();
        ix.insert_many(chunk.iter());
        insert_time += t.elapsed();
        i = end;
    }
    drop(chunk);
    let build = start.elapsed().as_secs_f64();
    let rss = status_kib("VmRSS:");
    let hwm = status_kib("VmHWM:");
    println!(
        "build: {} signals indexed in {build:.2} s ({:.2} M/s incl. generating the records; \
         insert_many alone {:.2} s = {:.2} M/s)",
        ix.len(),
        n as f64 / build / 1e6,
        insert_time.as_secs_f64(),
        n as f64 / insert_time.as_secs_f64() / 1e6
    );
    println!(
        "memory after fill: VmRSS {:.1} MiB (index ≈ {:.1} MiB over baseline, {:.1} bytes/signal); \
         peak VmHWM {:.1} MiB; target ≤ 1024 MiB",
        mib(rss),
        mib(rss.saturating_sub(rss0)),
        (rss.saturating_sub(rss0) * 1024) as f64 / n.max(1) as f64,
        mib(hwm)
    );

    // Half stored (random signal indices), half never stored, randomly interleaved.
    let queries: Vec<[u8; 32]> = (0..q as u64)
        .map(|k| {
            let r = mix(k ^ 0x9999_1111);
            if r & 1 == 0 {
                bytes32(
                    SEED_STORED,
                    pseudonym_index((r >> 1) % n.max(1), shared_pct),
                )
            } else {
                bytes32(SEED_ABSENT, k)
            }
        })
        .collect();
    println!(
        "queries generated; VmRSS now {:.1} MiB (queries add {:.1} MiB)",
        mib(status_kib("VmRSS:")),
        (q * 32) as f64 / 1048576.0
    );

    timed("probe (match route's call)", &ix, &queries, 1, probe_all);
    timed("probe (match route's call)", &ix, &queries, 2, probe_all);
    timed("contains (bare lookup)", &ix, &queries, 1, contains_all);
    timed("contains (bare lookup)", &ix, &queries, 2, contains_all);
    println!("target: 1 M queries against 10 M stored in ≤ 1000 ms");
}
