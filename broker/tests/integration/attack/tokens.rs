//! Tokens: every JWT trick against `kruispunt serve` is a 401 problem that discloses nothing,
//! and is in the audit trail under its own reason; a good token's `jti` is traced.

use super::*;
use serde_json::{Value, json};

/// 2100-01-01T00:00:00Z in Unix s.
const YEAR_2100: i64 = 4_102_444_800;

/// The claims of dealer C's compliance officer, hand-built, valid for ten minutes.
fn payload(b: &Broker) -> Value {
    let now = now();
    json!({ "iss": DEALER_C, "sub": format!("user@{DEALER_C}"), "aud": b.aud,
            "exp": now + 600, "iat": now, "roles": ["compliance"] })
}

/// Asks dealer C's question (a hit, after [`Traffic::traffic`]) with `token`.
async fn ask(b: &Broker, token: &str) -> (u16, Value, String) {
    b.post_typed("/v1/matches", Some(token), &match_query(PURPOSE))
        .await
}

async fn forged_tokens_get_nothing(b: &Broker) {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    b.traffic().await;
    let p = payload(b);
    // The control: the hand-built token is otherwise good, and gets the hit.
    let (good, kid) = hand_signed(b, DEALER_C, json!({ "alg": "EdDSA" }), &p);
    let (status, v, _) = ask(b, &good).await;
    assert_eq!(
        (status, &v["results"][0]["hit"]),
        (200, &json!(true)),
        "{v}"
    );
    let matches_before = b.audit_of("match").await.len();

    let unsigned = |alg: &str| {
        let header = json!({ "alg": alg, "kid": kid });
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(p.to_string())
        )
    };
    let (_, dealer_a_key) = partner_key(b, DEALER_A);
    let now = now();
    let attacks: Vec<(&str, String, &str)> = vec![
        ("alg none", unsigned("none"), "token-algorithm-refused"),
        ("alg NONE", unsigned("NONE"), "token-algorithm-refused"),
        (
            "dealer C's kid, signed with dealer A's key",
            sign_jwt(&dealer_a_key, &json!({ "alg": "EdDSA", "kid": kid }), &p),
            "token-bad-signature",
        ),
        (
            "crit",
            hand_signed(b, DEALER_C, json!({ "alg": "EdDSA", "crit": ["exp"] }), &p).0,
            "token-malformed",
        ),
        (
            "crit null",
            hand_signed(b, DEALER_C, json!({ "alg": "EdDSA", "crit": null }), &p).0,
            "token-malformed",
        ),
        (
            "valid until 2100",
            b.token_with(DEALER_C, &["compliance"], |c| c.exp = YEAR_2100),
            "token-lifetime-too-long",
        ),
        (
            "a day and a second",
            b.token_with(DEALER_C, &["compliance"], |c| c.exp = c.iat + 86_401),
            "token-lifetime-too-long",
        ),
        (
            "expired an hour ago",
            b.token_with(DEALER_C, &["compliance"], |c| {
                c.iat = now - 7_200;
                c.exp = now - 3_600;
            }),
            "token-expired",
        ),
        (
            "another broker's audience",
            b.token_with(DEALER_C, &["compliance"], |c| c.aud = "elsewhere".into()),
            "token-wrong-audience",
        ),
    ];
    for (what, token, slug) in &attacks {
        let v = problem(ask(b, token).await, 401, slug);
        assert!(v.get("results").is_none(), "{what}: {v}");
    }
    // Nothing was matched in their name; each kind of refusal is in the trail.
    assert_eq!(b.audit_of("match").await.len(), matches_before);
    let refused = b.audit_of("auth.refused").await;
    for (what, _, slug) in &attacks {
        assert!(
            refused
                .iter()
                .any(|e| e.reasons.first().map(String::as_str) == Some(slug)
                    && e.decision.as_deref() == Some("deny")),
            "{what}: no auth.refused entry for {slug}"
        );
    }

    // A good token's `jti` is recorded in the entry its request wrote.
    let traced = b.token_with(DEALER_C, &["compliance"], |c| {
        c.jti = Some("attack-jti-0007".into())
    });
    let (status, v, _) = ask(b, &traced).await;
    assert_eq!(status, 200, "{v}");
    let last = b.audit_of("match").await.pop().unwrap();
    assert_eq!(last.detail["jti"], "attack-jti-0007", "{last:?}");
}

attack_tests!(
    forged_tokens_get_nothing_on_sqlite,
    forged_tokens_get_nothing_on_postgres = forged_tokens_get_nothing
);
