//! The aggregate question of `POST /v1/aggregates`: the body as the strict JSON extractor
//! parses it into `AggregateRequest` (SDK), then the broker's validation against the registry
//! and the question's hash (`beeld::query::question_key`). Asserts the JSON round trip, and that
//! the order of `group_by` and of the filter values never changes the verdict nor the hash
//! (which decides the noise: two orders of one question must get the same noisy answer).
#![no_main]

use std::sync::LazyLock;

use kruispunt_broker::beeld::query::question_key;
use kruispunt_policy::Registry;
use kruispunt_sdk::beeld::AggregateRequest;
use libfuzzer_sys::fuzz_target;

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::embedded);

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<AggregateRequest>(data) else {
        return;
    };
    let json = serde_json::to_vec(&req).expect("a request serialises");
    let again: AggregateRequest = serde_json::from_slice(&json).expect("and parses back");
    assert_eq!(again, req);
    let key = question_key(&req, &REGISTRY);
    let mut reordered = req.clone();
    reordered.group_by.reverse();
    if let Some(f) = reordered.filter.as_mut() {
        f.district.reverse();
        f.gemeente.reverse();
        f.theme.reverse();
    }
    let key2 = question_key(&reordered, &REGISTRY);
    match (&key, &key2) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "the order changed the question's hash"),
        (Err(a), Err(b)) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(b),
            "the order changed the refusal: {a} / {b}"
        ),
        _ => panic!("the order changed the verdict: {key:?} / {key2:?}"),
    }
});
