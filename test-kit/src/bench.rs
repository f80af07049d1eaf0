//! What the benchmarks share: reproducible pseudo-random numbers, knobs read from the
//! environment, percentiles of latencies, and the CPU time a process used and the load average
//! (to tell work from waiting on a machine shared with other jobs).

use std::str::FromStr;

/// The SplitMix64 increment (the golden ratio in 64 bits).
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 output for the counter `z`: uniformly spread, reproducible words.
pub fn mix(z: u64) -> u64 {
    let mut z = z.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The next SplitMix64 number of the generator whose state is `state`.
pub fn splitmix(state: &mut u64) -> u64 {
    let out = mix(*state);
    *state = state.wrapping_add(GOLDEN);
    out
}

/// A reproducible random pseudonym (64 hex characters) for item `i` of the stream `seed`.
///
/// The seed is mixed before the index is: `seed ^ (4i + j)` made seeds that differ in a bit
/// above the lowest two name the same pseudonyms (1000 and 1004: i and i ^ 1), so a "new"
/// stream was mostly duplicates of an earlier one.
pub fn pseudonym(seed: u64, i: u64) -> String {
    let seed = mix(seed);
    let mut out = String::with_capacity(64);
    for j in 0..4u64 {
        for b in mix(seed ^ i.wrapping_mul(4).wrapping_add(j)).to_le_bytes() {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

/// The number the load benchmarks raise every limit to: effectively none.
pub const RAISED: u64 = 1_000_000_000;

/// The embedded registry with the guard's per-minute cap and every daily budget raised to
/// [`RAISED`], so that a load benchmark measures the broker, not its limits.
pub fn raised_registry() -> String {
    include_str!("../../policy/registry/midden-nederland.toml")
        .lines()
        .map(|l| {
            if l.starts_with("max_requests_per_minute =") {
                format!("max_requests_per_minute = {RAISED}")
            } else if l.starts_with("daily_identifier_budget =") {
                format!("daily_identifier_budget = {RAISED}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The environment variable `name` parsed as a `T` (`_` separators allowed: `1_000_000`), or
/// `None` when it is unset or does not parse.
pub fn env<T: FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok()?.replace('_', "").parse().ok()
}

/// [`env`], or `default`.
pub fn env_or<T: FromStr>(name: &str, default: T) -> T {
    env(name).unwrap_or(default)
}

/// utime + stime of the process whose `stat` file is `path` (Linux), in seconds; NaN when it
/// cannot be read.
pub fn proc_cpu_seconds(path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return f64::NAN;
    };
    // Fields after the command name (which ends with ')'): utime and stime are 14th and 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(11) + ticks(12)) / 100.0 // USER_HZ is 100 on Linux
}

/// CPU seconds used by this process so far (all threads; Linux).
pub fn cpu_seconds() -> f64 {
    proc_cpu_seconds("/proc/self/stat")
}

/// The `p` quantile (0–1, nearest rank) of `sorted` latencies in microseconds, in milliseconds;
/// NaN when there are none.
pub fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

/// The load average over the last minute (`/proc/loadavg`), to print with each figure: the
/// machine is shared.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// The PostgreSQL server a multi-broker bench runs on: `KRUISPUNT_BENCH_POSTGRES_URL`, else
/// [`crate::POSTGRES_ENV`]; `None` after saying that `bench` is skipped without one.
pub fn postgres_url(bench: &str) -> Option<String> {
    let url = std::env::var("KRUISPUNT_BENCH_POSTGRES_URL")
        .ok()
        .or_else(|| std::env::var(crate::POSTGRES_ENV).ok());
    if url.is_none() {
        println!(
            "{bench}: skipped — set KRUISPUNT_BENCH_POSTGRES_URL or {} (several brokers need \
             PostgreSQL)",
            crate::POSTGRES_ENV
        );
    }
    url
}

/// Sends one request of a load loop and reads its answer through: its status, `0` when it
/// failed before one came.
pub async fn status_of(request: reqwest::RequestBuilder) -> u16 {
    match request.send().await {
        Ok(r) => {
            let st = r.status().as_u16();
            let _ = r.bytes().await;
            st
        }
        Err(_) => 0,
    }
}

/// Records one answer of a load loop: its latency since `start` (µs) and its status.
pub fn record(
    lat: &mut Vec<u32>,
    statuses: &mut std::collections::BTreeMap<u16, u64>,
    start: std::time::Instant,
    status: u16,
) {
    lat.push(start.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
    *statuses.entry(status).or_default() += 1;
}
