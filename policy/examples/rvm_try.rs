use std::time::Instant;
use kruispunt_policy::*;
use regorus::Value;
fn time(label: &str, policy: &str, data: serde_json::Value, iv: &Value) {
    let mut engine = regorus::Engine::new();
    engine.add_policy("p.rego".into(), policy.into()).unwrap();
    engine.add_data(Value::from(data)).unwrap();
    engine.set_input(iv.clone());
    engine.eval_rule("data.kruispunt.decision".into()).unwrap();
    let t = Instant::now();
    for _ in 0..200 { let mut e = engine.clone(); e.set_input(iv.clone()); e.eval_rule("data.kruispunt.decision".into()).unwrap(); }
    println!("{label}: {:?}/call", t.elapsed()/200);
}
fn main() {
    let reg = Registry::embedded();
    let policy = include_str!("../policies/kruispunt.rego");
    let input: PolicyInput = serde_json::from_str(include_str!("../schema/examples/input-police-match.json")).unwrap();
    let iv = Value::from(serde_json::to_value(&input).unwrap());
    let data = reg.to_data();
    time("full", policy, data.clone(), &iv);
}
