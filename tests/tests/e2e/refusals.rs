//! Every refusal path a partner can meet, through the SDK: the problem type (and, for policy
//! refusals, the reason codes) must be the documented one, and nothing may change.

use crate::common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kruispunt_broker::config::Limits;
use kruispunt_examples::synthetic::date;
use kruispunt_sdk::IdentifierKind;
use kruispunt_sdk::client::{
    Client, ClientError, RetryPolicy, TokenClaims, TokenSigner, TokenSource,
};
use kruispunt_sdk::wire::{IdentifierRef, Level, MatchRequest, SignalIn};
use kruispunt_test_kit::now;
use ring::signature::Ed25519KeyPair;

fn slug(r: Result<impl std::fmt::Debug, ClientError>) -> String {
    match r {
        Ok(v) => panic!("expected a refusal, got {v:?}"),
        Err(e) => e
            .slug()
            .unwrap_or_else(|| panic!("expected a problem document, got {e}"))
            .to_string(),
    }
}

/// The example environment's client for `partner` (user `u`) with `roles`.
fn client(b: &common::Broker, partner: &str, roles: &[&str]) -> Client {
    b.env.client(partner, "u", roles, None).unwrap()
}

fn client_with(b: &common::Broker, token: TokenSource) -> Client {
    Client::builder(&b.env.base_url)
        .ca_pem(&b.env.ca_pem)
        .token(token)
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

fn partner_key(b: &common::Broker, partner: &str) -> Vec<u8> {
    std::fs::read(b.data_dir().join(format!("keys/partners/{partner}.pk8"))).unwrap()
}

/// A JWT with any header and claims, signed with `pkcs8` (for the cases the SDK's signer
/// rightly cannot produce).
fn forge(header: serde_json::Value, claims: serde_json::Value, pkcs8: &[u8]) -> String {
    let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).unwrap();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
    );
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

fn denied<T: std::fmt::Debug>(r: Result<T, ClientError>, reason: &str) {
    let e = match r {
        Ok(v) => panic!("expected policy-denied/{reason}, got {v:?}"),
        Err(e) => e,
    };
    assert_eq!(e.slug(), Some("policy-denied"), "{e}");
    assert!(
        e.reasons().iter().any(|x| x == reason),
        "{reason} not in {e}"
    );
}

/// The pseudonym of KvK number `raw` under the environment's coalition key.
fn kvk_pseudonym(b: &common::Broker, raw: &str) -> String {
    b.env
        .key
        .pseudonymiser(IdentifierKind::Kvk)
        .pseudonymise(raw)
        .unwrap()
        .to_hex()
}

fn kvk_query(b: &common::Broker, raw: &str) -> MatchRequest {
    MatchRequest {
        purpose: "kvo-buitengebied-signalering".into(),
        coalition: None,
        identifiers: vec![IdentifierRef {
            kind: "kvk".into(),
            pseudonym: kvk_pseudonym(b, raw),
            key_version: 1,
        }],
        level: Level::Hit,
        case_reference: None,
        legal_basis: None,
        consent_id: None,
        justification: None,
    }
}

fn signal(b: &common::Broker, raw: &str) -> SignalIn {
    SignalIn {
        kind: "kvk".into(),
        pseudonym: kvk_pseudonym(b, raw),
        key_version: 1,
        code: "cash-rent".into(),
        observed: date(now() / 86_400 - 3),
        district: "oost-utrecht".into(),
        gemeente: None,
        wijk: None,
        purposes: vec!["kvo-buitengebied-signalering".into()],
        expires: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_refusals_carry_their_problem_types() {
    let b = common::start(common::Options::default()).await;
    let aud = b.env.audience.clone();
    let kvo = "kvo-buitengebied-oost-utrecht";
    let key = partner_key(&b, kvo);
    let q = kvk_query(&b, "12345678");
    let claims = |iss: &str, aud: &str, exp: i64| {
        serde_json::json!({"iss": iss, "sub": "u", "aud": aud, "exp": exp, "iat": now() - 10,
                           "roles": ["analist"]})
    };
    let eddsa = |kid: &str| serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": kid});
    let kid = format!("{kvo}-dev-1");

    let cases: Vec<(&str, String)> = vec![
        ("token-missing", String::new()),
        ("token-malformed", "not-a-jwt".into()),
        (
            "token-algorithm-refused",
            forge(
                serde_json::json!({"alg": "HS256", "kid": kid}),
                claims(kvo, &aud, now() + 60),
                &key,
            ),
        ),
        (
            "token-unknown-key",
            forge(eddsa("nobody-1"), claims(kvo, &aud, now() + 60), &key),
        ),
        (
            "token-bad-signature",
            forge(
                eddsa(&kid),
                claims(kvo, &aud, now() + 60),
                Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                    .unwrap()
                    .as_ref(),
            ),
        ),
        (
            "token-expired",
            forge(eddsa(&kid), claims(kvo, &aud, now() - 3600), &key),
        ),
        (
            "token-wrong-audience",
            forge(eddsa(&kid), claims(kvo, "another-broker", now() + 60), &key),
        ),
        (
            "token-issuer-mismatch",
            forge(
                eddsa(&kid),
                claims("gemeente-utrecht", &aud, now() + 60),
                &key,
            ),
        ),
    ];
    for (expected, token) in cases {
        let c = client_with(&b, TokenSource::fixed(token));
        assert_eq!(slug(c.match_identifiers(&q).await), expected);
    }

    // The police must use mTLS (embedded registry): a valid police token is refused without a
    // client certificate and with another partner's (the OM's, from the same development CA),
    // and passes authentication with its own (then the policy speaks: no scope, no case).
    const POLICE: &str = "politie-midden-nederland";
    let police_token = || {
        TokenSigner::from_pkcs8(
            format!("{POLICE}-dev-1"),
            &partner_key(&b, POLICE),
            TokenClaims::new(POLICE, "r", &aud).roles(["rechercheur"]),
        )
        .unwrap()
    };
    let no_cert = client_with(&b, police_token().into());
    assert_eq!(slug(no_cert.match_identifiers(&q).await), "mtls-required");
    let clients = b.data_dir().join("tls/clients");
    let om_cert = Client::builder(&b.env.base_url)
        .ca_pem(&b.env.ca_pem)
        .client_identity_pem(
            &std::fs::read(clients.join("om-midden-nederland.pem")).unwrap(),
            &std::fs::read(clients.join("om-midden-nederland.key")).unwrap(),
        )
        .token(police_token())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    assert_eq!(slug(om_cert.match_identifiers(&q).await), "mtls-required");
    let police = b.env.client(POLICE, "r", &["rechercheur"], None).unwrap();
    let own = slug(police.match_identifiers(&q).await);
    assert_ne!(own, "mtls-required", "its own certificate is accepted");
    assert!(
        own.starts_with("policy") || own.starts_with("scope"),
        "{own}"
    );

    // A good token works, and the SDK's signer mints what the broker accepts.
    let signer = TokenSigner::from_pkcs8(
        kid.clone(),
        &key,
        TokenClaims::new(kvo, "u", &aud).roles(["signaleerder"]),
    )
    .unwrap();
    let ok = client_with(&b, signer.into());
    ok.match_identifiers(&q)
        .await
        .expect("a valid token is accepted");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_and_policy_refusals() {
    let b = common::start(common::Options::default()).await;
    let kvo = client(&b, "kvo-buitengebied-oost-utrecht", &["signaleerder"]);

    // Bad input: refused with a named field, nothing stored.
    assert_eq!(slug(kvo.upload(&[]).await), "empty-batch");
    let many = vec![signal(&b, "12345678"); kruispunt_sdk::wire::MAX_SIGNAL_BATCH + 1];
    assert_eq!(slug(kvo.upload(&many).await), "batch-too-large");
    let mut q = kvk_query(&b, "12345678");
    q.identifiers.clear();
    assert_eq!(slug(kvo.match_identifiers(&q).await), "empty-query");
    let mut q = kvk_query(&b, "12345678");
    q.identifiers[0].pseudonym = "zz".into();
    assert_eq!(slug(kvo.match_identifiers(&q).await), "invalid-identifier");
    let mut q = kvk_query(&b, "12345678");
    q.identifiers = vec![q.identifiers[0].clone(); kruispunt_sdk::wire::MAX_MATCH_IDENTIFIERS + 1];
    assert_eq!(slug(kvo.match_identifiers(&q).await), "query-too-large");
    assert_eq!(slug(kvo.withdraw("abcd").await), "invalid-signal-id");

    // Per-item rejections keep the good items.
    let mut bad = signal(&b, "23456789");
    bad.code = "no-such-code".into();
    let r = kvo.upload(&[signal(&b, "23456789"), bad]).await.unwrap();
    assert_eq!((r.stored, r.rejected), (1, 1));
    assert_eq!(r.results[1].field.as_deref(), Some("code"));
    let id = r.results[0].id.clone().unwrap();

    // Idempotent: the same content again is a duplicate with the same id.
    let again = kvo.upload(&[signal(&b, "23456789")]).await.unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 1));
    assert_eq!(again.results[0].id.as_deref(), Some(id.as_str()));

    // Only the supplier may withdraw.
    let other = client(&b, "gemeente-amersfoort", &["analist"]);
    assert_eq!(slug(other.withdraw(&id).await), "not-found");
    assert!(kvo.withdraw(&id).await.unwrap().withdrawn);

    // Policy refusals carry the reason codes.
    let mut q = kvk_query(&b, "12345678");
    q.purpose = "no-such-purpose".into();
    denied(other.match_identifiers(&q).await, "purpose_unknown");
    let dealer = client(&b, "autobedrijf-de-vecht", &["compliance"]);
    denied(
        dealer.match_identifiers(&kvk_query(&b, "12345678")).await,
        "sector_not_allowed",
    );
    let mut q = kvk_query(&b, "12345678");
    q.level = Level::Categories;
    denied(other.match_identifiers(&q).await, "justification_required");
    let wrong_role = client(&b, "gemeente-amersfoort", &["bibob-adviseur"]);
    denied(
        wrong_role
            .match_identifiers(&kvk_query(&b, "12345678"))
            .await,
        "role_not_allowed",
    );
    let mut q = kvk_query(&b, "12345678");
    q.coalition = Some("bibob-gooi-en-vechtstreek".into());
    denied(other.match_identifiers(&q).await, "not_a_coalition_member");
    // BSN from a private partner.
    let mut q = kvk_query(&b, "12345678");
    q.purpose = "autobranche-contante-aankopen".into();
    q.identifiers[0].kind = "bsn".into();
    denied(dealer.match_identifiers(&q).await, "bsn_private_partner");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_is_reported_and_retried() {
    let b = common::start(common::Options {
        limits: Some(Limits {
            requests_per_second: 1.0,
            burst: 1.0,
            purge_interval_secs: 60,
            ..Limits::default()
        }),
        ..Default::default()
    })
    .await;
    let pkcs8 = partner_key(&b, "gemeente-amersfoort");
    let signer = |retry| {
        let s = TokenSigner::from_pkcs8(
            "gemeente-amersfoort-dev-1",
            &pkcs8,
            TokenClaims::new("gemeente-amersfoort", "u", &b.env.audience).roles(["analist"]),
        )
        .unwrap();
        Client::builder(&b.env.base_url)
            .ca_pem(&b.env.ca_pem)
            .token(s)
            .retry(retry)
            .build()
            .unwrap()
    };
    let q = kvk_query(&b, "12345678");
    let impatient = signer(RetryPolicy::none());
    let mut limited = None;
    for _ in 0..6 {
        if let Err(e) = impatient.match_identifiers(&q).await {
            limited = Some(e);
            break;
        }
    }
    let e = limited.expect("quick requests exceed a burst of one");
    let p = e.problem().expect("a problem document");
    assert_eq!(p.slug(), "rate-limited");
    assert!(p.retry_after.is_some(), "429 carries Retry-After");
    // The default policy waits as told and gets through.
    let patient = signer(RetryPolicy::default());
    for _ in 0..3 {
        patient
            .match_identifiers(&q)
            .await
            .expect("retried after 429");
    }
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_upload_streams_and_is_idempotent() {
    let b = common::start(common::Options::default()).await;
    let c = client(&b, "autohandel-amersfoort", &["compliance"]);
    let signals = b.env.data.background_signals(
        &b.env.key,
        "autohandel-amersfoort",
        "autobranche-contante-aankopen",
        2_500,
        now() / 86_400,
    );
    let distinct: std::collections::HashSet<(String, String, String)> = signals
        .iter()
        .map(|s| (s.pseudonym.clone(), s.code.clone(), s.observed.clone()))
        .collect();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let first = c
        .upload_bulk(signals.clone(), move |p| sink.lock().unwrap().push(p))
        .await
        .unwrap();
    assert_eq!(first.stored, distinct.len() as u64);
    assert_eq!(first.stored + first.duplicates, 2_500);
    let progress = seen.lock().unwrap().clone();
    assert_eq!(progress.len(), 3, "1000-line chunks");
    assert_eq!(progress.last().unwrap().lines, 2_500);
    let second = c.upload_bulk(signals, |_| {}).await.unwrap();
    assert_eq!((second.stored, second.duplicates), (0, 2_500));
    b.stop().await;
}
