//! Runs `decide` N times on the police-match example input, for instruction counting:
//!
//! ```sh
//! valgrind --tool=callgrind --toggle-collect='kruispunt_policy::engine::Prepared::decide' \
//!     target/release/examples/decide_loop 2001
//! ```
//!
//! Callgrind's total divided by N is the cost of one decision (the first is a cache miss, the
//! others hits), independent of machine load (wall-clock percentiles come from `cargo bench -p
//! kruispunt-policy --bench decision`). With `generated` as second argument it cycles through
//! 500 generated inputs instead. With `DECIDE_LOOP_BUNDLE=<dir>` it loads the bundle from that
//! directory (its Rego tests must pass), so that a change to the Rego can be measured without
//! a rebuild.

use std::hint::black_box;

use kruispunt_policy::self_check::generated_inputs;
use kruispunt_policy::{Bundle, PolicyEngine, PolicyInput, Registry};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let inputs: Vec<PolicyInput> = match args.next().as_deref() {
        Some("generated") => generated_inputs(&Registry::embedded(), 500, 3),
        _ => vec![
            serde_json::from_str(include_str!("../schema/examples/input-police-match.json"))
                .expect("example input parses"),
        ],
    };
    let engine = match std::env::var_os("DECIDE_LOOP_BUNDLE") {
        Some(dir) => PolicyEngine::new(
            Bundle::load_dir(dir).expect("bundle loads"),
            Registry::embedded(),
        )
        .expect("bundle prepares and passes its tests"),
        None => PolicyEngine::default_embedded().expect("default engine"),
    };
    let mut allowed = 0usize;
    for k in 0..n {
        let d = engine.decide(black_box(&inputs[k % inputs.len()]));
        allowed += usize::from(d.is_ok_and(|d| d.allow));
    }
    println!(
        "{n} decisions, {allowed} allowed, vm = {}, request facts = {}",
        engine.uses_vm(),
        engine.uses_request_facts()
    );
}
