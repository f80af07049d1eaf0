//! Conversions between the typed model and regorus values, without a JSON detour.
//!
//! Why: the obvious route (`serde_json::to_value` and then `regorus::Value::from`, and back the
//! same way for the decision) allocates every string and map twice and went through serde's
//! visitor machinery; it cost more per decision (~6–8 µs) than many of the rules. These
//! functions build the same values directly. They are not a second definition of the wire
//! format: a test checks, for every example input and many generated ones, that
//! [`input_value`] equals the serde route exactly, and [`decision_from_value`] returns `None`
//! (the caller then takes the serde route, with its error messages) for any shape it does not
//! recognise.

use std::sync::OnceLock;

use regorus::Value;

use crate::decision::{Decision, Obligations};
use kruispunt_sdk::wire::Level;

use crate::input::{PolicyInput, TokenScope, Usage};

/// Field names as regorus strings, made once: a key is a reference-counted string, so cloning
/// one is a counter increment instead of an allocation per request.
struct Keys {
    action: Value,
    requester: Value,
    org: Value,
    sector: Value,
    public: Value,
    roles: Value,
    user: Value,
    purpose: Value,
    coalition: Value,
    legal_basis: Value,
    case_reference: Value,
    reference: Value,
    consent_id: Value,
    justification: Value,
    identifier_kinds: Value,
    identifier_count: Value,
    requested_level: Value,
    token_scope: Value,
    kinds: Value,
    sectors: Value,
    max_identifiers: Value,
    not_after: Value,
    usage: Value,
    identifiers_today: Value,
    requests_last_minute: Value,
    no_hits_today: Value,
    queries_today: Value,
    target_org: Value,
    signal_codes: Value,
    oldest_signal_at: Value,
    now: Value,
    request_facts: Value,
    allow: Value,
    reasons: Value,
    flags: Value,
    obligations: Value,
    disclosure_level: Value,
    revealable_sectors: Value,
    min_sources: Value,
    embargo_until: Value,
    retention_days: Value,
    signals_not_before: Value,
    justification_required: Value,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let k = |s: &str| Value::from(s);
        Keys {
            action: k("action"),
            requester: k("requester"),
            org: k("org"),
            sector: k("sector"),
            public: k("public"),
            roles: k("roles"),
            user: k("user"),
            purpose: k("purpose"),
            coalition: k("coalition"),
            legal_basis: k("legal_basis"),
            case_reference: k("case_reference"),
            reference: k("reference"),
            consent_id: k("consent_id"),
            justification: k("justification"),
            identifier_kinds: k("identifier_kinds"),
            identifier_count: k("identifier_count"),
            requested_level: k("requested_level"),
            token_scope: k("token_scope"),
            kinds: k("kinds"),
            sectors: k("sectors"),
            max_identifiers: k("max_identifiers"),
            not_after: k("not_after"),
            usage: k("usage"),
            identifiers_today: k("identifiers_today"),
            requests_last_minute: k("requests_last_minute"),
            no_hits_today: k("no_hits_today"),
            queries_today: k("queries_today"),
            target_org: k("target_org"),
            signal_codes: k("signal_codes"),
            oldest_signal_at: k("oldest_signal_at"),
            now: k("now"),
            request_facts: k("request_facts"),
            allow: k("allow"),
            reasons: k("reasons"),
            flags: k("flags"),
            obligations: k("obligations"),
            disclosure_level: k("disclosure_level"),
            revealable_sectors: k("revealable_sectors"),
            min_sources: k("min_sources"),
            embargo_until: k("embargo_until"),
            retention_days: k("retention_days"),
            signals_not_before: k("signals_not_before"),
            justification_required: k("justification_required"),
        }
    })
}

fn strings(items: &[String]) -> Value {
    Value::from(
        items
            .iter()
            .map(|s| Value::from(s.as_str()))
            .collect::<Vec<_>>(),
    )
}

/// Adds the optional string fields that are set, as serde does with
/// `skip_serializing_if = "Option::is_none"`.
fn push_present<const N: usize>(
    entries: &mut Vec<(Value, Value)>,
    optional: [(&Value, &Option<String>); N],
) {
    for (key, value) in optional {
        if let Some(v) = value {
            entries.push((key.clone(), Value::from(v.as_str())));
        }
    }
}

fn object(entries: Vec<(Value, Value)>) -> Value {
    Value::from(entries.into_iter().collect::<regorus::value::Object>())
}

/// `input` as the regorus value the policy sees: exactly what serde would produce (optional
/// fields that serde skips are absent here too).
pub(crate) fn input_value(input: &PolicyInput) -> Value {
    build_input(input, false)
}

/// `input` without the fields that change with every request — the clock (`now`), the usage
/// counters, the request size (`identifier_count`), the oldest signal — and without the
/// requester's `user`: what the bundle's `request_facts` is computed from (see
/// `crate::facts_cache`). A rule that read one of them would find it absent, never stale.
pub(crate) fn stable_input_value(input: &PolicyInput) -> Value {
    build_input(input, true)
}

/// `input_value(input)` with the request facts computed earlier added as
/// `input.request_facts`, for `data.kruispunt.decision_given_facts`.
#[cfg(test)]
pub(crate) fn input_with_facts(input: &PolicyInput, facts: Value) -> Value {
    let mut v = build_input(input, false);
    if let Ok(o) = v.as_object_mut() {
        o.insert(keys().request_facts.clone(), facts);
    }
    v
}

/// `stable` (a [`stable_input_value`]) with the request facts computed from it added: what the
/// facts cache keeps, so that a hit only adds the per-request fields
/// ([`with_request_fields`]) instead of building the whole input again.
pub(crate) fn stable_with_facts(mut stable: Value, facts: Value) -> Value {
    if let Ok(o) = stable.as_object_mut() {
        o.insert(keys().request_facts.clone(), facts);
    }
    stable
}

/// `base` (a [`stable_with_facts`] of an input with the same stable fields as `input`) with
/// `input`'s per-request fields added — exactly the fields [`build_input`] leaves out when
/// `stable_only`, so the result equals `input_with_facts(input, facts)`.
pub(crate) fn with_request_fields(mut base: Value, input: &PolicyInput) -> Value {
    let k = keys();
    let Ok(o) = base.as_object_mut() else {
        return base;
    };
    if let Some(requester) = o.get_mut(&k.requester)
        && let Ok(r) = requester.as_object_mut()
    {
        r.insert(k.user.clone(), Value::from(input.requester.user.as_str()));
    }
    o.insert(
        k.identifier_count.clone(),
        Value::from(input.identifier_count),
    );
    o.insert(k.usage.clone(), usage_value(&input.usage));
    if let Some(t) = input.oldest_signal_at {
        o.insert(k.oldest_signal_at.clone(), Value::from(t));
    }
    o.insert(k.now.clone(), Value::from(input.now));
    base
}

fn build_input(input: &PolicyInput, stable_only: bool) -> Value {
    let k = keys();
    let r = &input.requester;
    let mut requester = vec![
        (k.org.clone(), Value::from(r.org.as_str())),
        (k.sector.clone(), Value::from(r.sector.as_str())),
        (k.public.clone(), Value::from(r.public)),
        (k.roles.clone(), strings(&r.roles)),
    ];
    if !stable_only {
        requester.push((k.user.clone(), Value::from(r.user.as_str())));
    }
    let requester = object(requester);
    let mut e = Vec::with_capacity(19);
    e.push((k.action.clone(), Value::from(input.action.as_str())));
    e.push((k.requester.clone(), requester));
    e.push((k.purpose.clone(), Value::from(input.purpose.as_str())));
    push_present(
        &mut e,
        [
            (&k.coalition, &input.coalition),
            (&k.legal_basis, &input.legal_basis),
            (&k.case_reference, &input.case_reference),
            (&k.consent_id, &input.consent_id),
            (&k.justification, &input.justification),
            (&k.target_org, &input.target_org),
        ],
    );
    e.push((k.identifier_kinds.clone(), strings(&input.identifier_kinds)));
    if !stable_only {
        e.push((
            k.identifier_count.clone(),
            Value::from(input.identifier_count),
        ));
    }
    e.push((
        k.requested_level.clone(),
        Value::from(input.requested_level.as_str()),
    ));
    if let Some(scope) = &input.token_scope {
        e.push((k.token_scope.clone(), scope_value(scope)));
    }
    if !stable_only {
        e.push((k.usage.clone(), usage_value(&input.usage)));
    }
    if !input.signal_codes.is_empty() {
        e.push((k.signal_codes.clone(), strings(&input.signal_codes)));
    }
    if let Some(a) = &input.aggregate {
        // Rare (one per picture question), so the keys are not cached.
        e.push((
            Value::from("aggregate"),
            object(vec![
                (Value::from("area"), Value::from(a.area.as_str())),
                (Value::from("measure"), Value::from(a.measure.as_str())),
                (Value::from("period"), Value::from(a.period.as_str())),
                (Value::from("gemeenten"), strings(&a.gemeenten)),
            ]),
        ));
    }
    if let Some(c) = &input.case {
        // Rare (police matches under a case), so the keys are not cached.
        e.push((
            Value::from("case"),
            object(vec![
                (k.reference.clone(), Value::from(c.reference.as_str())),
                (Value::from("state"), Value::from(c.state.as_str())),
                (Value::from("participants"), strings(&c.participants)),
            ]),
        ));
    }
    if let Some(c) = &input.consent {
        e.push((
            Value::from("consent"),
            object(vec![
                (Value::from("id"), Value::from(c.id.as_str())),
                (
                    k.case_reference.clone(),
                    Value::from(c.case_reference.as_str()),
                ),
                (k.purpose.clone(), Value::from(c.purpose.as_str())),
                (k.kinds.clone(), strings(&c.kinds)),
                (k.max_identifiers.clone(), Value::from(c.max_identifiers)),
                (Value::from("ceiling"), Value::from(c.ceiling.as_str())),
                (Value::from("valid_until"), Value::from(c.valid_until)),
                (
                    Value::from("issuer_org"),
                    Value::from(c.issuer_org.as_str()),
                ),
                (Value::from("withdrawn"), Value::from(c.withdrawn)),
            ]),
        ));
    }
    if !stable_only {
        if let Some(t) = input.oldest_signal_at {
            e.push((k.oldest_signal_at.clone(), Value::from(t)));
        }
        e.push((k.now.clone(), Value::from(input.now)));
    }
    object(e)
}

fn usage_value(u: &Usage) -> Value {
    let k = keys();
    object(vec![
        (
            k.identifiers_today.clone(),
            Value::from(u.identifiers_today),
        ),
        (
            k.requests_last_minute.clone(),
            Value::from(u.requests_last_minute),
        ),
        (k.no_hits_today.clone(), Value::from(u.no_hits_today)),
        (k.queries_today.clone(), Value::from(u.queries_today)),
    ])
}

fn scope_value(s: &TokenScope) -> Value {
    let k = keys();
    let mut e = Vec::with_capacity(8);
    e.push((k.purpose.clone(), Value::from(s.purpose.as_str())));
    push_present(
        &mut e,
        [
            (&k.case_reference, &s.case_reference),
            (&k.legal_basis, &s.legal_basis),
            (&k.consent_id, &s.consent_id),
        ],
    );
    if !s.kinds.is_empty() {
        e.push((k.kinds.clone(), strings(&s.kinds)));
    }
    if !s.sectors.is_empty() {
        e.push((k.sectors.clone(), strings(&s.sectors)));
    }
    if let Some(max) = s.max_identifiers {
        e.push((k.max_identifiers.clone(), Value::from(max)));
    }
    if let Some(not_after) = s.not_after {
        e.push((k.not_after.clone(), Value::from(not_after)));
    }
    object(e)
}

/// The decision in `value`, if it has exactly the shape of [`Decision`] (the hashes are left
/// empty for the engine to fill in). `None` for anything else, including numbers serde would
/// refuse, so that the caller's serde route reports the problem.
pub(crate) fn decision_from_value(value: &Value) -> Option<Decision> {
    let k = keys();
    let o = value.as_object().ok()?;
    if o.len() != 4 {
        return None;
    }
    let obligations = o.get(&k.obligations)?.as_object().ok()?;
    if obligations.len() != 8 {
        return None;
    }
    let ob = |key: &Value| obligations.get(key);
    Some(Decision {
        allow: as_bool(o.get(&k.allow)?)?,
        reasons: as_strings(o.get(&k.reasons)?)?,
        flags: as_strings(o.get(&k.flags)?)?,
        obligations: Obligations {
            disclosure_level: as_level(ob(&k.disclosure_level)?)?,
            revealable_sectors: as_strings(ob(&k.revealable_sectors)?)?,
            max_identifiers: as_u64(ob(&k.max_identifiers)?)?,
            min_sources: u32::try_from(as_u64(ob(&k.min_sources)?)?).ok()?,
            embargo_until: as_opt_i64(ob(&k.embargo_until)?)?,
            retention_days: u32::try_from(as_u64(ob(&k.retention_days)?)?).ok()?,
            signals_not_before: as_opt_i64(ob(&k.signals_not_before)?)?,
            justification_required: as_bool(ob(&k.justification_required)?)?,
            // Only `aggregate` decisions carry more (nine members): they take the serde route.
            aggregate: None,
        },
        bundle_hash: String::new(),
        registry_hash: String::new(),
    })
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

fn as_strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()
        .ok()?
        .iter()
        .map(|s| match s {
            Value::String(s) => Some(s.to_string()),
            _ => None,
        })
        .collect()
}

fn as_level(v: &Value) -> Option<Level> {
    match v {
        Value::String(s) => [Level::None, Level::Hit, Level::Categories, Level::Details]
            .into_iter()
            .find(|l| l.as_str() == &**s),
        _ => None,
    }
}

/// Whole, non-negative numbers that fit.
fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// `Some(None)` for null, `Some(Some(n))` for an integer, `None` for anything else.
fn as_opt_i64(v: &Value) -> Option<Option<i64>> {
    match v {
        Value::Null => Some(None),
        Value::Number(n) => n.as_i64().map(Some),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::registry::Registry;
    use crate::self_check::{example_inputs_on_disk, generated_inputs};

    fn via_serde(input: &PolicyInput) -> Value {
        Value::from(serde_json::to_value(input).unwrap())
    }

    #[test]
    fn input_value_equals_the_serde_route() {
        let mut inputs = example_inputs_on_disk();
        let mut generated = generated_inputs(&Registry::embedded(), 400, 11);
        // Extremes of every number, and the optional fields the generator leaves out.
        if let Some(i) = generated.first_mut() {
            i.now = i64::MIN;
            i.identifier_count = u64::MAX;
            i.usage.queries_today = u64::MAX;
            i.oldest_signal_at = Some(-1);
            i.target_org = Some("t".into());
            i.signal_codes = vec!["a".into(), "b".into()];
        }
        inputs.extend(generated);
        for (n, input) in inputs.iter().enumerate() {
            let direct = input_value(input);
            assert_eq!(direct, via_serde(input), "input #{n}");
            // Same serialisation too (key order, number forms).
            assert_eq!(
                direct.to_json_str().unwrap(),
                via_serde(input).to_json_str().unwrap(),
                "input #{n}"
            );
        }
    }

    /// What the facts cache hands the VM on a hit — the cached stable part of *another* input
    /// with the same key, plus this input's per-request fields — is exactly the whole input.
    #[test]
    fn a_cache_hit_builds_exactly_the_whole_input() {
        let facts = Value::from_json_str(r#"{"deny": ["x"], "level": "hit"}"#).unwrap();
        let mut inputs = generated_inputs(&Registry::embedded(), 300, 5);
        if let Some(i) = inputs.first_mut() {
            i.oldest_signal_at = Some(-1);
            i.requester.user = "someone".into();
        }
        for (n, input) in inputs.iter().enumerate() {
            let mut other = input.clone();
            other.now = input.now.wrapping_add(86_400);
            other.usage.identifiers_today = input.usage.identifiers_today.wrapping_add(7);
            other.identifier_count = input.identifier_count.wrapping_add(1);
            other.oldest_signal_at = None;
            other.requester.user = "another".into();
            let key = crate::facts_cache::FactsKey::of(&other);
            assert_eq!(key, crate::facts_cache::FactsKey::of(input), "input #{n}");
            let base = stable_with_facts(stable_input_value(key.input()), facts.clone());
            assert_eq!(
                with_request_fields(base, input),
                input_with_facts(input, facts.clone()),
                "input #{n}"
            );
        }
    }

    fn decision_via_serde(v: &Value) -> Result<Decision, serde_json::Error> {
        serde_json::from_value(serde_json::to_value(v).unwrap())
    }

    #[test]
    fn decision_from_value_agrees_with_serde_or_declines() {
        let good = Value::from_json_str(
            r#"{"allow": true, "reasons": [], "flags": ["x"], "obligations": {
                "disclosure_level": "categories", "revealable_sectors": ["kvo"],
                "max_identifiers": 10, "min_sources": 2, "embargo_until": 1750000000,
                "retention_days": 365, "signals_not_before": -5,
                "justification_required": true}}"#,
        )
        .unwrap();
        assert_eq!(
            decision_from_value(&good).unwrap(),
            decision_via_serde(&good).unwrap()
        );
        let variants = [
            // extra field
            r#"{"allow": true, "reasons": [], "flags": [], "extra": 1, "obligations": {}}"#,
            // fraction where serde wants an integer
            r#"{"allow": true, "reasons": [], "flags": [], "obligations": {
                "disclosure_level": "none", "revealable_sectors": [], "max_identifiers": 1.5,
                "min_sources": 0, "embargo_until": null, "retention_days": 0,
                "signals_not_before": null, "justification_required": false}}"#,
            // negative count
            r#"{"allow": true, "reasons": [], "flags": [], "obligations": {
                "disclosure_level": "none", "revealable_sectors": [], "max_identifiers": -1,
                "min_sources": 0, "embargo_until": null, "retention_days": 0,
                "signals_not_before": null, "justification_required": false}}"#,
            // unknown level
            r#"{"allow": true, "reasons": [], "flags": [], "obligations": {
                "disclosure_level": "all", "revealable_sectors": [], "max_identifiers": 1,
                "min_sources": 0, "embargo_until": null, "retention_days": 0,
                "signals_not_before": null, "justification_required": false}}"#,
            // missing obligation
            r#"{"allow": true, "reasons": [], "flags": [], "obligations": {
                "disclosure_level": "none", "revealable_sectors": [], "max_identifiers": 1,
                "embargo_until": null, "retention_days": 0, "signals_not_before": null,
                "justification_required": false}}"#,
        ];
        for v in variants {
            let v = Value::from_json_str(v).unwrap();
            assert!(decision_from_value(&v).is_none(), "{v:?}");
            assert!(decision_via_serde(&v).is_err(), "{v:?}");
        }
    }
}
