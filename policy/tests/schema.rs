//! The JSON Schemas in `policy/schema/` and the example files agree with each other and with
//! the Rust types; each example input, decided with the default bundle and registry, gives
//! exactly the stored example decision (`decision-<name>.json`). Regenerate the decisions
//! after a deliberate policy change with `KRUISPUNT_UPDATE_EXAMPLES=1 cargo test -p
//! kruispunt-policy --test schema`.

use std::path::{Path, PathBuf};

use kruispunt_policy::{Decision, PolicyEngine, PolicyInput};
use serde_json::Value;

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schema")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn validator(name: &str) -> jsonschema::Validator {
    jsonschema::validator_for(&read_json(&schema_dir().join(name))).expect("schema compiles")
}

fn examples(prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(schema_dir().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json"))
        })
        .collect();
    v.sort();
    v
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value, path: &Path) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
}

#[test]
fn examples_validate_round_trip_and_decide_as_recorded() {
    let input_schema = validator("policy-input.schema.json");
    let decision_schema = validator("decision.schema.json");
    let engine = PolicyEngine::default_embedded().unwrap();
    let update = std::env::var_os("KRUISPUNT_UPDATE_EXAMPLES").is_some();
    let inputs = examples("input-");
    assert!(inputs.len() >= 4);
    for path in inputs {
        let doc = read_json(&path);
        assert_valid(&input_schema, &doc, &path);
        let input: PolicyInput = serde_json::from_value(doc.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let again = serde_json::to_value(&input).unwrap();
        assert_valid(&input_schema, &again, &path);
        let back: PolicyInput = serde_json::from_value(again).unwrap();
        assert_eq!(back, input, "{}: round trip", path.display());

        let decision = engine.decide(&input).unwrap();
        let decision_json = serde_json::to_value(&decision).unwrap();
        assert_valid(&decision_schema, &decision_json, &path);
        let name = path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .replacen("input-", "decision-", 1);
        let expected_path = path.with_file_name(name);
        if update {
            let mut text = serde_json::to_string_pretty(&decision_json).unwrap();
            text.push('\n');
            std::fs::write(&expected_path, text).unwrap();
        }
        let expected = read_json(&expected_path);
        assert_valid(&decision_schema, &expected, &expected_path);
        let mut expected: Decision = serde_json::from_value(expected).unwrap();
        // Hashes change with every edit of the bundle or registry; compare the rest.
        expected.bundle_hash.clone_from(&decision.bundle_hash);
        expected.registry_hash.clone_from(&decision.registry_hash);
        assert_eq!(decision, expected, "{}", expected_path.display());
    }
}

#[test]
fn schema_rejects_what_the_types_reject() {
    let input_schema = validator("policy-input.schema.json");
    let mut doc = read_json(&schema_dir().join("examples/input-police-match.json"));
    doc["smuggled"] = Value::Bool(true);
    assert!(!input_schema.is_valid(&doc));
    assert!(serde_json::from_value::<PolicyInput>(doc).is_err());

    let mut doc = read_json(&schema_dir().join("examples/input-police-match.json"));
    doc["requested_level"] = Value::String("everything".into());
    assert!(!input_schema.is_valid(&doc));
    assert!(serde_json::from_value::<PolicyInput>(doc).is_err());
}
