//! Decision latency with the default bundle and registry, for a realistic police match
//! (Wpg art. 19, scoped token, categories with justification).
//!
//! `cargo bench -p kruispunt-policy --bench decision` prints p50/p99 over 20 000 timed calls
//! (after warm-up), then runs the criterion measurement. Target: p50 ≤ 25 µs.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use kruispunt_policy::{PolicyEngine, PolicyInput};

fn police_input() -> PolicyInput {
    serde_json::from_str(include_str!("../schema/examples/input-police-match.json"))
        .expect("example input parses")
}

fn percentiles(engine: &PolicyEngine, input: &PolicyInput) {
    for _ in 0..2_000 {
        black_box(engine.decide(input).unwrap());
    }
    let n = 20_000;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let d = engine.decide(black_box(input)).unwrap();
        samples.push(t.elapsed().as_nanos() as u64);
        assert!(d.allow);
    }
    samples.sort_unstable();
    let pct = |p: f64| samples[((n as f64 * p) as usize).min(n - 1)] as f64 / 1000.0;
    println!(
        "policy decide (police match, default bundle+registry): p50 = {:.1} µs, p90 = {:.1} µs, p99 = {:.1} µs, max = {:.1} µs ({n} calls)",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        samples[n - 1] as f64 / 1000.0
    );
}

fn bench(c: &mut Criterion) {
    if std::env::var("KP_EXP").is_ok() { exp(); return; }
    let engine = PolicyEngine::default_embedded().expect("default engine");
    let input = police_input();
    percentiles(&engine, &input);
    c.bench_function("decide/police_match", |b| {
        b.iter(|| engine.decide(black_box(&input)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

#[allow(dead_code)]
pub fn exp() {
    use kruispunt_policy::{Bundle, Registry};
    use regorus::Value;
    let bundle = Bundle::embedded();
    let reg = Registry::embedded();
    let mut e = regorus::Engine::new();
    e.set_strict_builtin_errors(true);
    for f in bundle.files() {
        if f.is_test() { continue; }
        e.add_policy(f.name.clone(), f.text.clone()).unwrap();
    }
    e.add_data(Value::from(reg.to_data())).unwrap();
    e.set_input(Value::new_object());
    e.eval_rule("data.kruispunt.decision".into()).unwrap();
    let input = police_input();
    let json = serde_json::to_value(&input).unwrap();
    let vin = Value::from(json.clone());
    let time = |name: &str, f: &mut dyn FnMut()| {
        for _ in 0..200 { f(); }
        let n = 2000;
        let mut s: Vec<u128> = (0..n).map(|_| { let t = Instant::now(); f(); t.elapsed().as_nanos() }).collect();
        s.sort();
        println!("{name:50} p50 {:.1} µs", s[n / 2] as f64 / 1000.0);
    };
    time("to_value+Value::from", &mut || { black_box(Value::from(serde_json::to_value(black_box(&input)).unwrap())); });
    time("clone", &mut || { black_box(e.clone()); });
    for r in ["levels", "reg", "purpose", "requester", "is_party", "requester_public", "scope", "deny", "flags", "allow", "revealable_sectors", "granted_obligations", "obligations", "decision"] {
        let path = format!("data.kruispunt.{r}");
        time(&path, &mut || { let mut c = e.clone(); c.set_input(vin.clone()); black_box(c.eval_rule(path.clone()).unwrap()); });
    }
    let mut c = e.clone();
    time("reuse same engine decision", &mut || { c.set_input(vin.clone()); black_box(c.eval_rule("data.kruispunt.decision".into()).unwrap()); });
    // rvm
    let cp = e.compile_with_entrypoint(&"data.kruispunt.decision".into()).unwrap();
    time("compiled eval_with_input", &mut || { black_box(cp.eval_with_input(vin.clone()).unwrap()); });
    let prog = regorus::languages::rego::compiler::Compiler::compile_from_policy(&cp, &["data.kruispunt.decision"]).unwrap();
    let data = Value::from(reg.to_data());
    let mut vm = regorus::rvm::RegoVM::new();
    vm.load_program(prog.clone());
    vm.set_data(data.clone()).unwrap();
    time("rvm", &mut || { vm.set_input(vin.clone()); black_box(vm.execute().unwrap()); });
    vm.set_input(vin.clone());
    let a = vm.execute().unwrap();
    let mut c = e.clone(); c.set_input(vin.clone());
    let b = c.eval_rule("data.kruispunt.decision".into()).unwrap();
    println!("rvm: {a}\ninterp: {b}");
}
