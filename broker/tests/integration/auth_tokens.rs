//! Bearer-token authentication, mTLS pinning and the broker's key files — with real keys and
//! hand-built hostile tokens, no HTTP needed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use clap::Parser;
use kruispunt_broker::auth::{self, AuthError, Claims, TokenScope, TokenVerifier, check_mtls};
use kruispunt_broker::cli::token::{TokenArgs, mint_token, parse_ttl};
use kruispunt_broker::keys::{BrokerKeys, dev_partner_keys};
use kruispunt_policy::registry::{KeyAlg, PartnerKey, Registry};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};

const AUD: &str = "kruispunt-test";
const NOW: i64 = 1_750_000_000;
const LEEWAY: u64 = 30;
const POLICE: &str = "politie-midden-nederland";
const DEALER: &str = "autobedrijf-de-vecht";
const HORECA: &str = "horeca-gooi";

struct EdKey {
    pkcs8: Vec<u8>,
    public: Vec<u8>,
}

fn ed_key() -> EdKey {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    EdKey {
        pkcs8: pkcs8.as_ref().to_vec(),
        public: pair.public_key().as_ref().to_vec(),
    }
}

fn partner_key(kid: &str, alg: KeyAlg, public_key: String) -> PartnerKey {
    PartnerKey {
        kid: kid.into(),
        alg,
        public_key,
    }
}

/// The embedded registry with an Ed25519 key for the police and one for a car dealer.
struct Fixture {
    police: EdKey,
    dealer: EdKey,
    verifier: TokenVerifier,
}

fn fixture() -> Fixture {
    let mut registry = Registry::embedded();
    let police = ed_key();
    let dealer = ed_key();
    for (id, kid, key) in [(POLICE, "police-1", &police), (DEALER, "dealer-1", &dealer)] {
        let p = registry.partners.iter_mut().find(|p| p.id == id).unwrap();
        p.keys.push(partner_key(
            kid,
            KeyAlg::EdDsa,
            STANDARD.encode(&key.public),
        ));
    }
    let verifier = TokenVerifier::new(&registry, &[], AUD, LEEWAY).unwrap();
    Fixture {
        police,
        dealer,
        verifier,
    }
}

fn claims(iss: &str) -> Claims {
    Claims {
        iss: iss.into(),
        sub: "agent-0042".into(),
        aud: AUD.into(),
        exp: NOW + 3600,
        iat: NOW - 10,
        nbf: None,
        roles: vec!["analist".into()],
        jti: Some("t-1".into()),
        scope: None,
    }
}

fn police_scope() -> TokenScope {
    kruispunt_test_kit::token::police_scope("MN-2025-0042", "OvJ-2025-17", 10, Some(NOW + 600))
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// header.payload.signature from JSON values and a signing function over `header.payload`.
fn hand_built(
    header: serde_json::Value,
    payload: &serde_json::Value,
    sign: impl FnOnce(&[u8]) -> Vec<u8>,
) -> String {
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let sig = sign(message.as_bytes());
    format!("{message}.{}", b64(&sig))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn verify(f: &Fixture, token: &str) -> Result<auth::Principal, AuthError> {
    f.verifier.verify(Some(&bearer(token)), NOW)
}

/// A token built by hand from `header` and `payload`, signed by `sign`, must be refused as
/// `token-algorithm-refused` (see [`assert_refused`]); the error it was refused with.
fn algorithm_refused(
    f: &Fixture,
    header: serde_json::Value,
    payload: &serde_json::Value,
    sign: impl FnOnce(&[u8]) -> Vec<u8>,
) -> AuthError {
    let token = hand_built(header, payload, sign);
    assert_refused(verify(f, &token), "token-algorithm-refused", &token)
}

/// The refusal must name its own problem type, be a 401 and never echo the token.
fn assert_refused(
    result: Result<auth::Principal, AuthError>,
    slug: &str,
    token: &str,
) -> AuthError {
    let err = result.expect_err("token must be refused");
    assert_eq!(err.slug(), slug, "{err}");
    assert_eq!(err.status(), 401);
    assert!(!err.title().is_empty());
    let detail = err.to_string();
    let signature = token.rsplit('.').next().unwrap();
    assert!(!detail.contains(token), "detail echoes the token: {detail}");
    if signature.len() > 8 {
        assert!(
            !detail.contains(signature),
            "detail echoes the signature: {detail}"
        );
    }
    err
}

#[test]
fn good_token_is_accepted_with_roles_and_registry_facts() {
    let f = fixture();
    let mut c = claims(DEALER);
    c.roles = vec!["analist".into(), "compliance".into()];
    c.nbf = Some(NOW - 5);
    let token = auth::mint("dealer-1", &f.dealer.pkcs8, &c).unwrap();
    let p = verify(&f, &token).unwrap();
    assert_eq!(p.org, DEALER);
    assert_eq!(p.sector, "autobranche");
    assert!(!p.public);
    assert_eq!(p.user, "agent-0042");
    assert_eq!(p.roles, vec!["analist", "compliance"]);
    assert_eq!(p.token_id.as_deref(), Some("t-1"));
    assert_eq!(p.key_id, "dealer-1");
    assert_eq!(p.expires_at, NOW + 3600);
    assert!(p.scope.is_none() && p.token_scope().is_none());
}

#[test]
fn role_outside_the_registrys_token_roles_is_refused() {
    // Partners sign their own tokens: a car dealer claiming the coalition administrator's or a
    // detective's role is refused, whatever else the token says.
    let f = fixture();
    for role in ["coalitiebeheerder", "rechercheur", "verkoper"] {
        let mut c = claims(DEALER);
        c.roles = vec!["compliance".into(), role.into()];
        let token = auth::mint("dealer-1", &f.dealer.pkcs8, &c).unwrap();
        let err = verify(&f, &token).unwrap_err();
        assert!(
            matches!(err, AuthError::RoleNotAllowed(_)),
            "{role}: {err:?}"
        );
        assert_eq!((err.status(), err.slug()), (403, "token-role-not-allowed"));
        assert!(err.to_string().contains(role), "{err}");
    }
}

#[test]
fn police_scope_travels_as_a_nested_object() {
    let f = fixture();
    let mut c = claims(POLICE);
    c.scope = Some(police_scope());
    let token = auth::mint("police-1", &f.police.pkcs8, &c).unwrap();
    // The wire form is a nested "scope" object.
    let payload = token.split('.').nth(1).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(json["scope"]["case_reference"], "MN-2025-0042");
    assert_eq!(json["scope"]["max_identifiers"], 10);

    let p = verify(&f, &token).unwrap();
    assert_eq!(p.sector, "politie");
    assert!(p.public);
    assert_eq!(p.scope, Some(police_scope()));
    let ts = p.token_scope().unwrap();
    assert_eq!(ts.max_identifiers, Some(10));
    assert_eq!(ts.not_after, Some(NOW + 600));
    assert_eq!(ts.consent_id.as_deref(), Some("OvJ-2025-17"));
}

#[test]
fn scope_bounds_missing_from_the_token_fall_back_to_the_token_itself() {
    let f = fixture();
    let mut c = claims(POLICE);
    c.scope = Some(TokenScope {
        max_identifiers: None,
        not_after: None,
        ..police_scope()
    });
    let token = auth::mint("police-1", &f.police.pkcs8, &c).unwrap();
    let ts = verify(&f, &token).unwrap().token_scope().unwrap();
    assert_eq!(ts.not_after, Some(NOW + 3600));
    assert_eq!(ts.max_identifiers, Some(auth::SCOPE_UNBOUNDED_IDENTIFIERS));
}

#[test]
fn missing_or_non_bearer_authorization_is_token_missing() {
    let f = fixture();
    for header in [
        None,
        Some(""),
        Some("Basic dXNlcjpwdw=="),
        Some("Bearer "),
        Some("Bearer"),
    ] {
        let err = f.verifier.verify(header, NOW).unwrap_err();
        assert_eq!(err.slug(), "token-missing", "{header:?}: {err}");
        assert_eq!(err.status(), 401);
    }
    // The scheme is case-insensitive.
    let token = auth::mint("dealer-1", &f.dealer.pkcs8, &claims(DEALER)).unwrap();
    assert!(
        f.verifier
            .verify(Some(&format!("bearer {token}")), NOW)
            .is_ok()
    );
}

#[test]
fn garbage_is_malformed() {
    let f = fixture();
    for token in [
        "abc",
        "a.b",
        "a.b.c.d",
        "not base64!.x.y",
        "eyJhbGciOiJFZERTQSJ9.x.y", // header without kid is caught as unknown-kid, see below
    ] {
        let err = verify(&f, token).unwrap_err();
        assert!(
            matches!(err.slug(), "token-malformed" | "token-unknown-key"),
            "{token}: {err}"
        );
    }
    let long = "a".repeat(auth::MAX_TOKEN_LEN + 1);
    assert_refused(verify(&f, &long), "token-malformed", &long);
    let not_json = format!("{}.{}.{}", b64(b"hello"), b64(b"{}"), b64(b"sig"));
    assert_refused(verify(&f, &not_json), "token-malformed", &not_json);
}

#[test]
fn alg_none_is_refused() {
    let f = fixture();
    let payload = serde_json::to_value(claims(DEALER)).unwrap();
    for alg in ["none", "None", "NONE"] {
        let err = algorithm_refused(
            &f,
            serde_json::json!({"alg": alg, "typ": "JWT", "kid": "dealer-1"}),
            &payload,
            |_| Vec::new(),
        );
        assert!(err.to_string().contains("unsigned"), "{err}");
    }
}

#[test]
fn hmac_signed_with_the_public_key_is_refused() {
    let f = fixture();
    let payload = serde_json::to_value(claims(DEALER)).unwrap();
    // The key-confusion attack: the public key (raw, and as registered text) as HMAC secret.
    let secrets = [
        f.dealer.public.clone(),
        STANDARD.encode(&f.dealer.public).into_bytes(),
    ];
    for secret in secrets {
        for (alg, algo) in [
            ("HS256", ring::hmac::HMAC_SHA256),
            ("HS384", ring::hmac::HMAC_SHA384),
            ("HS512", ring::hmac::HMAC_SHA512),
        ] {
            let key = ring::hmac::Key::new(algo, &secret);
            let err = algorithm_refused(
                &f,
                serde_json::json!({"alg": alg, "typ": "JWT", "kid": "dealer-1"}),
                &payload,
                |m| ring::hmac::sign(&key, m).as_ref().to_vec(),
            );
            assert!(err.to_string().contains("HMAC"), "{err}");
        }
    }
}

#[test]
fn rsa_and_other_algorithms_are_refused() {
    let f = fixture();
    let payload = serde_json::to_value(claims(DEALER)).unwrap();
    for alg in ["RS256", "PS256", "ES384", "ES512", "Ed25519", "foo"] {
        algorithm_refused(
            &f,
            serde_json::json!({"alg": alg, "kid": "dealer-1"}),
            &payload,
            |_| vec![0u8; 64],
        );
    }
}

#[test]
fn header_alg_must_be_the_keys_registered_alg() {
    let f = fixture();
    // An ES256 header on an Ed25519 key, signed with the Ed25519 key.
    let pair = Ed25519KeyPair::from_pkcs8(&f.dealer.pkcs8).unwrap();
    let err = algorithm_refused(
        &f,
        serde_json::json!({"alg": "ES256", "kid": "dealer-1"}),
        &serde_json::to_value(claims(DEALER)).unwrap(),
        |m| pair.sign(m).as_ref().to_vec(),
    );
    assert!(err.to_string().contains("registered for"), "{err}");
}

#[test]
fn unknown_or_missing_kid_is_refused() {
    let f = fixture();
    let token = auth::mint("no-such-key", &f.dealer.pkcs8, &claims(DEALER)).unwrap();
    let err = assert_refused(verify(&f, &token), "token-unknown-key", &token);
    assert!(err.to_string().contains("no-such-key"), "{err}");

    let pair = Ed25519KeyPair::from_pkcs8(&f.dealer.pkcs8).unwrap();
    let token = hand_built(
        serde_json::json!({"alg": "EdDSA", "typ": "JWT"}),
        &serde_json::to_value(claims(DEALER)).unwrap(),
        |m| pair.sign(m).as_ref().to_vec(),
    );
    assert_refused(verify(&f, &token), "token-unknown-key", &token);

    // A hostile kid is not echoed raw into logs.
    let token = auth::mint("evil\nkid", &f.dealer.pkcs8, &claims(DEALER)).unwrap();
    let err = assert_refused(verify(&f, &token), "token-unknown-key", &token);
    assert!(!err.to_string().contains('\n'));
}

#[test]
fn tampered_payload_or_foreign_key_is_a_bad_signature() {
    let f = fixture();
    let token = auth::mint("dealer-1", &f.dealer.pkcs8, &claims(DEALER)).unwrap();
    let mut parts: Vec<&str> = token.split('.').collect();
    let mut c = claims(DEALER);
    c.roles = vec!["beheerder".into()];
    let forged = b64(serde_json::to_string(&c).unwrap().as_bytes());
    parts[1] = &forged;
    let tampered = parts.join(".");
    assert_refused(verify(&f, &tampered), "token-bad-signature", &tampered);

    // Signed by the police key, but claiming the dealer's kid.
    let token = auth::mint("dealer-1", &f.police.pkcs8, &claims(DEALER)).unwrap();
    assert_refused(verify(&f, &token), "token-bad-signature", &token);

    // A signature one byte short.
    let good = auth::mint("dealer-1", &f.dealer.pkcs8, &claims(DEALER)).unwrap();
    let (message, sig) = good.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let cut = format!("{message}.{}", b64(&sig[..63]));
    assert_refused(verify(&f, &cut), "token-bad-signature", &cut);
    // A signature that is not base64url at all is malformed.
    let garbled = format!("{message}.{}", "A".repeat(85));
    assert_refused(verify(&f, &garbled), "token-malformed", &garbled);
}

#[test]
fn wrong_audience_is_refused() {
    let f = fixture();
    let mut c = claims(DEALER);
    c.aud = "another-broker".into();
    let token = auth::mint("dealer-1", &f.dealer.pkcs8, &c).unwrap();
    assert_refused(verify(&f, &token), "token-wrong-audience", &token);
}

#[test]
fn expiry_honours_the_leeway() {
    let f = fixture();
    let mut c = claims(DEALER);
    c.exp = NOW - 31;
    c.iat = NOW - 100;
    let token = auth::mint("dealer-1", &f.dealer.pkcs8, &c).unwrap();
    assert_refused(verify(&f, &token), "token-expired", &token);
    c.exp = NOW - 29;
    let token = auth::mint("dealer-1", &f.dealer.pkcs8, &c).unwrap();
    assert!(verify(&f, &token).is_ok(), "within the leeway");
}

#[test]
fn not_before_and_issued_at_in_the_future_are_refused() {
    let f = fixture();
    let mut c = claims(DEALER);
    c.nbf = Some(NOW + 300);
    let token = auth::mint("dealer-1", &f.dealer.pkcs8, &c).unwrap();
    assert_refused(verify(&f, &token), "token-not-yet-valid", &token);

    let mut c = claims(DEALER);
    c.iat = NOW + 300;
    let token = auth::mint("dealer-1", &f.dealer.pkcs8, &c).unwrap();
    let err = assert_refused(verify(&f, &token), "token-not-yet-valid", &token);
    assert!(err.to_string().contains("issued"), "{err}");

    let mut c = claims(DEALER);
    c.nbf = Some(NOW + 20); // within the leeway
    let token = auth::mint("dealer-1", &f.dealer.pkcs8, &c).unwrap();
    assert!(verify(&f, &token).is_ok());
}

#[test]
fn issuer_must_own_the_key() {
    let f = fixture();
    // The dealer signs with its own key but claims to be the police.
    let token = auth::mint("dealer-1", &f.dealer.pkcs8, &claims(POLICE)).unwrap();
    let err = assert_refused(verify(&f, &token), "token-issuer-mismatch", &token);
    assert!(err.to_string().contains(DEALER), "{err}");
}

#[test]
fn lapsed_scope_is_refused() {
    let f = fixture();
    let mut c = claims(POLICE);
    c.scope = Some(TokenScope {
        not_after: Some(NOW),
        ..police_scope()
    });
    let token = auth::mint("police-1", &f.police.pkcs8, &c).unwrap();
    assert_refused(verify(&f, &token), "token-scope-expired", &token);
}

#[test]
fn missing_claims_empty_roles_and_unreadable_scope_are_malformed() {
    let f = fixture();
    let pair = Ed25519KeyPair::from_pkcs8(&f.dealer.pkcs8).unwrap();
    let sign = |payload: serde_json::Value| {
        hand_built(
            serde_json::json!({"alg": "EdDSA", "kid": "dealer-1"}),
            &payload,
            |m| pair.sign(m).as_ref().to_vec(),
        )
    };
    let full = serde_json::to_value(claims(DEALER)).unwrap();
    for claim in ["exp", "aud", "iss", "sub", "iat"] {
        let mut p = full.clone();
        p.as_object_mut().unwrap().remove(claim);
        let token = sign(p);
        let err = assert_refused(verify(&f, &token), "token-malformed", &token);
        assert!(err.to_string().contains(claim), "{claim}: {err}");
    }
    for (field, value) in [
        ("roles", serde_json::json!([])),
        ("roles", serde_json::json!([""])),
        ("exp", serde_json::json!("tomorrow")),
        // OAuth's string scope is not silently read as "no bounds".
        ("scope", serde_json::json!("match:read")),
        // A misspelt bound is refused rather than ignored.
        (
            "scope",
            serde_json::json!({"purpose": "p", "max_identifier": 1}),
        ),
    ] {
        let mut p = full.clone();
        p[field] = value.clone();
        let token = sign(p);
        assert_refused(verify(&f, &token), "token-malformed", &token);
    }
    let mut p = full.clone();
    p.as_object_mut().unwrap().remove("roles");
    let token = sign(p);
    assert_refused(verify(&f, &token), "token-malformed", &token);

    let token = hand_built(
        serde_json::json!({"alg": "EdDSA", "kid": "dealer-1", "crit": ["b64"]}),
        &full,
        |m| pair.sign(m).as_ref().to_vec(),
    );
    assert_refused(verify(&f, &token), "token-malformed", &token);
}

fn es256_key() -> (EcdsaKeyPair, Vec<u8>) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let public = pair.public_key().as_ref().to_vec();
    (pair, public)
}

fn es256_token(pair: &EcdsaKeyPair, kid: &str, c: &Claims) -> String {
    let rng = SystemRandom::new();
    hand_built(
        serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": kid}),
        &serde_json::to_value(c).unwrap(),
        |m| pair.sign(&rng, m).unwrap().as_ref().to_vec(),
    )
}

fn pem(label: &str, der: &[u8]) -> String {
    let b = STANDARD.encode(der);
    let lines: Vec<&str> = b
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[test]
fn es256_keys_raw_or_pem_are_accepted() {
    let (raw_pair, raw_public) = es256_key();
    let (pem_pair, pem_public) = es256_key();
    let mut spki = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    spki.extend_from_slice(&pem_public);
    let mut registry = Registry::embedded();
    registry
        .partners
        .iter_mut()
        .find(|p| p.id == HORECA)
        .unwrap()
        .keys
        .push(partner_key(
            "horeca-es",
            KeyAlg::Es256,
            STANDARD.encode(&raw_public),
        ));
    registry
        .partners
        .iter_mut()
        .find(|p| p.id == POLICE)
        .unwrap()
        .keys
        .push(partner_key(
            "police-es",
            KeyAlg::Es256,
            pem("PUBLIC KEY", &spki),
        ));
    let verifier = TokenVerifier::new(&registry, &[], AUD, LEEWAY).unwrap();

    let token = es256_token(&raw_pair, "horeca-es", &claims(HORECA));
    let p = verifier.verify(Some(&bearer(&token)), NOW).unwrap();
    assert_eq!((p.org.as_str(), p.sector.as_str()), (HORECA, "horeca"));

    let token = es256_token(&pem_pair, "police-es", &claims(POLICE));
    assert_eq!(
        verifier.verify(Some(&bearer(&token)), NOW).unwrap().org,
        POLICE
    );

    // A signature by the other ES256 key fails.
    let token = es256_token(&pem_pair, "horeca-es", &claims(HORECA));
    let err = verifier.verify(Some(&bearer(&token)), NOW).unwrap_err();
    assert_eq!(err.slug(), "token-bad-signature");

    // EdDSA header on the ES256 key: refused before any crypto.
    let ed = ed_key();
    let token = auth::mint("horeca-es", &ed.pkcs8, &claims(HORECA)).unwrap();
    let err = verifier.verify(Some(&bearer(&token)), NOW).unwrap_err();
    assert_eq!(err.slug(), "token-algorithm-refused");
}

#[test]
fn bad_key_configuration_is_refused_at_start() {
    let key = ed_key();
    let good = STANDARD.encode(&key.public);
    let mut registry = Registry::embedded();
    registry.partners[0]
        .keys
        .push(partner_key("dup", KeyAlg::EdDsa, good.clone()));
    // Same kid again (from the extra keys): ambiguous signer.
    let err = TokenVerifier::new(
        &registry,
        &[(
            DEALER.into(),
            partner_key("dup", KeyAlg::EdDsa, good.clone()),
        )],
        AUD,
        LEEWAY,
    )
    .unwrap_err();
    assert_eq!(err.slug(), "key-configuration");
    assert!(err.to_string().contains("twice"), "{err}");

    let registry = Registry::embedded();
    for (partner, k, needle) in [
        (
            "nobody",
            partner_key("x", KeyAlg::EdDsa, good.clone()),
            "does not know",
        ),
        (
            DEALER,
            partner_key("x", KeyAlg::EdDsa, STANDARD.encode([1u8; 16])),
            "32 bytes",
        ),
        (
            DEALER,
            partner_key("x", KeyAlg::EdDsa, "%%%".into()),
            "base64",
        ),
        (
            DEALER,
            partner_key("x", KeyAlg::Es256, STANDARD.encode([7u8; 65])),
            "unusable",
        ),
        (
            DEALER,
            partner_key("", KeyAlg::EdDsa, good.clone()),
            "empty kid",
        ),
    ] {
        let err = TokenVerifier::new(&registry, &[(partner.into(), k)], AUD, LEEWAY).unwrap_err();
        assert_eq!(err.status(), 500);
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    }
    assert!(TokenVerifier::new(&registry, &[], " ", LEEWAY).is_err());
}

#[test]
fn mtls_requirement_and_pin() {
    let registry = Registry::embedded();
    let mut partner = registry.partner(DEALER).unwrap().clone();
    let cert = b"not really DER, but hashed all the same".to_vec();
    let pin = hex::encode(ring::digest::digest(&ring::digest::SHA256, &cert));
    let named = |name: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    };
    let own = named(&format!("{DEALER}.partner.kruispunt.invalid"));
    let others = named("autohandel-amersfoort.partner.kruispunt.invalid");
    let wildcard = named("*.partner.kruispunt.invalid");

    partner.require_mtls = false;
    assert!(check_mtls(&partner, None).is_ok());
    assert!(check_mtls(&partner, Some(&own)).is_ok());
    assert!(
        check_mtls(&partner, Some(&others)).is_err(),
        "another partner's certificate is refused even where mTLS is optional"
    );
    partner.require_mtls = true;
    let err = check_mtls(&partner, None).unwrap_err();
    assert_eq!((err.slug(), err.status()), ("mtls-required", 403));
    assert!(
        check_mtls(&partner, Some(&own)).is_ok(),
        "no pin: a certificate naming the partner"
    );
    for (cert, what) in [(&others, "another partner's"), (&wildcard, "a wildcard")] {
        let err = check_mtls(&partner, Some(cert)).unwrap_err();
        assert_eq!(err.slug(), "mtls-required", "{what}");
        assert!(
            err.to_string().contains("partner.kruispunt.invalid"),
            "{err}"
        );
    }

    partner.client_cert_sha256 = Some(pin.to_uppercase());
    assert!(
        check_mtls(&partner, Some(&cert)).is_ok(),
        "pin compared case-insensitively"
    );
    let err = check_mtls(&partner, Some(b"another certificate")).unwrap_err();
    assert_eq!(err.slug(), "mtls-required");
    assert!(err.to_string().contains("pinned"), "{err}");

    // A pinned certificate is enforced even when mTLS is optional.
    partner.require_mtls = false;
    assert!(check_mtls(&partner, Some(b"another certificate")).is_err());
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn dev_partner_keys_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::embedded();
    assert!(
        dev_partner_keys::load_registered_keys(dir.path())
            .unwrap()
            .is_empty()
    );

    dev_partner_keys::create_if_missing(dir.path(), &registry).unwrap();
    let keys = dev_partner_keys::load_registered_keys(dir.path()).unwrap();
    assert_eq!(keys.len(), registry.partners.len());
    for (partner, key) in &keys {
        assert_eq!(key.kid, format!("{partner}-dev-1"));
        assert_eq!(key.alg, KeyAlg::EdDsa);
        assert_eq!(STANDARD.decode(&key.public_key).unwrap().len(), 32);
        let pk8 = dir.path().join(format!("keys/partners/{partner}.pk8"));
        assert_eq!(mode(&pk8), 0o600, "{}", pk8.display());
    }
    assert_eq!(mode(&dir.path().join("keys/partners")), 0o700);

    // Idempotent: a second run keeps the keys.
    dev_partner_keys::create_if_missing(dir.path(), &registry).unwrap();
    let again = dev_partner_keys::load_registered_keys(dir.path()).unwrap();
    assert_eq!(
        keys.iter().map(|(_, k)| &k.public_key).collect::<Vec<_>>(),
        again.iter().map(|(_, k)| &k.public_key).collect::<Vec<_>>()
    );

    let verifier = TokenVerifier::new(&registry, &keys, AUD, LEEWAY).unwrap();
    let (kid, pkcs8) = dev_partner_keys::load_partner_signing_key(dir.path(), POLICE).unwrap();
    let mut c = claims(POLICE);
    c.scope = Some(police_scope());
    let token = auth::mint(&kid, &pkcs8, &c).unwrap();
    let p = verifier.verify(Some(&bearer(&token)), NOW).unwrap();
    assert_eq!((p.org.as_str(), p.key_id.as_str()), (POLICE, kid.as_str()));

    // One partner's key cannot speak for another.
    let token = auth::mint(&kid, &pkcs8, &claims(DEALER)).unwrap();
    assert_eq!(
        verifier
            .verify(Some(&bearer(&token)), NOW)
            .unwrap_err()
            .slug(),
        "token-issuer-mismatch"
    );

    let err = dev_partner_keys::load_partner_signing_key(dir.path(), "nobody").unwrap_err();
    assert!(err.to_string().contains("kruispunt init"), "{err}");
    assert!(dev_partner_keys::load_partner_signing_key(dir.path(), "../x").is_err());
}

#[test]
fn at_rest_is_deterministic_persistent_and_per_broker() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let ka = BrokerKeys::load_or_create(a.path()).unwrap();
    let kb = BrokerKeys::load_or_create(b.path()).unwrap();
    let pseudonym = [0x42u8; 32];
    assert_eq!(ka.at_rest(&pseudonym), ka.at_rest(&pseudonym));
    assert_ne!(ka.at_rest(&pseudonym), kb.at_rest(&pseudonym));
    assert_ne!(ka.at_rest(&pseudonym), ka.at_rest(&[0x43u8; 32]));
    assert_ne!(ka.at_rest(&pseudonym), pseudonym);

    // Loaded, not regenerated, on the next start.
    let ka2 = BrokerKeys::load_or_create(a.path()).unwrap();
    assert_eq!(ka.at_rest(&pseudonym), ka2.at_rest(&pseudonym));
    assert_eq!(ka.audit_public_key(), ka2.audit_public_key());
    assert_ne!(ka.audit_public_key(), kb.audit_public_key());

    let at_rest_file = a.path().join("keys/at-rest.key");
    let audit_file = a.path().join("keys/audit-signing.pk8");
    assert_eq!(mode(&at_rest_file), 0o600);
    assert_eq!(mode(&audit_file), 0o600);
    assert_eq!(mode(&a.path().join("keys")), 0o700);

    // HMAC-SHA256 under the key in the file, and Debug does not show that key.
    let key_hex = std::fs::read_to_string(&at_rest_file).unwrap();
    let key = hex::decode(key_hex.trim()).unwrap();
    let expected = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        &pseudonym,
    );
    assert_eq!(ka.at_rest(&pseudonym).as_slice(), expected.as_ref());
    let debug = format!("{ka:?}");
    assert!(!debug.contains(key_hex.trim()), "{debug}");
    assert!(debug.contains("redacted"));

    // The audit key signs, and the signature verifies with the published public key.
    let sig = ka.audit_signing_key().sign(b"checkpoint");
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, ka.audit_public_key())
        .verify(b"checkpoint", sig.as_ref())
        .unwrap();

    // A damaged key file is an error naming the file, never a silent new key.
    let c = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(c.path().join("keys")).unwrap();
    std::fs::write(c.path().join("keys/at-rest.key"), "abcd\n").unwrap();
    let err = BrokerKeys::load_or_create(c.path()).unwrap_err();
    assert!(format!("{err:#}").contains("at-rest.key"), "{err:#}");
}

#[derive(Parser)]
struct TokenCli {
    #[command(flatten)]
    args: TokenArgs,
}

fn token_args(dir: &Path, extra: &[&str]) -> TokenArgs {
    let mut argv = vec!["token", "--data-dir", dir.to_str().unwrap()];
    argv.extend_from_slice(extra);
    TokenCli::try_parse_from(argv).unwrap().args
}

fn write_config(dir: &Path, development: bool) {
    std::fs::write(
        dir.join("kruispunt.toml"),
        format!(
            "development = {development}\ndeployment = \"{AUD}\"\nlisten = \"127.0.0.1:8443\"\n\
             [tls]\ncert = \"tls/server.pem\"\nkey = \"tls/server.key\"\n"
        ),
    )
    .unwrap();
}

#[test]
fn token_command_mints_verifiable_tokens_in_development_only() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::embedded();
    dev_partner_keys::create_if_missing(dir.path(), &registry).unwrap();
    let keys = dev_partner_keys::load_registered_keys(dir.path()).unwrap();
    let verifier = TokenVerifier::new(&registry, &keys, AUD, LEEWAY).unwrap();

    write_config(dir.path(), false);
    let args = token_args(dir.path(), &["--partner", DEALER, "--role", "analist"]);
    let err = mint_token(&args, NOW).unwrap_err();
    assert!(err.to_string().contains("development"), "{err}");

    write_config(dir.path(), true);
    let token = mint_token(&args, NOW).unwrap();
    let p = verifier.verify(Some(&bearer(&token)), NOW).unwrap();
    assert_eq!((p.org.as_str(), p.user.as_str()), (DEALER, "dev-user"));
    assert_eq!(p.roles, vec!["analist"]);
    assert!(p.scope.is_none() && p.token_id.is_some());
    assert_eq!(p.expires_at, NOW + 3600);

    let args = token_args(
        dir.path(),
        &[
            "--partner",
            POLICE,
            "--role",
            "rechercheur,analist",
            "--role",
            "signaleerder",
            "--user",
            "agent-7",
            "--purpose",
            "politie-opsporing-wpg19",
            "--case",
            "MN-1",
            "--legal-basis",
            "wpg-art-19",
            "--consent",
            "OvJ-1",
            "--kinds",
            "kenteken,kvk",
            "--sectors",
            "autobranche",
            "--max-identifiers",
            "5",
            "--ttl",
            "30m",
        ],
    );
    let p = verifier
        .verify(Some(&bearer(&mint_token(&args, NOW).unwrap())), NOW)
        .unwrap();
    assert_eq!(p.roles, vec!["rechercheur", "analist", "signaleerder"]);
    assert_eq!(p.expires_at, NOW + 1800);
    let s = p.scope.unwrap();
    assert_eq!(s.purpose, "politie-opsporing-wpg19");
    assert_eq!(s.case_reference.as_deref(), Some("MN-1"));
    assert_eq!(s.kinds, vec!["kenteken", "kvk"]);
    assert_eq!(s.max_identifiers, Some(5));

    // A police token for purpose `p` with one more `flag value`.
    let police_with = |flag: &'static str, value: &'static str| {
        vec![
            "--partner",
            POLICE,
            "--role",
            "x",
            "--purpose",
            "p",
            flag,
            value,
        ]
    };
    for (extra, needle) in [
        (vec!["--partner", "nobody", "--role", "x"], DEALER),
        (police_with("--kinds", "paspoort"), "kenteken"),
        (police_with("--sectors", "bank"), "horeca"),
        (
            vec!["--partner", POLICE, "--role", "x", "--case", "MN-1"],
            "--purpose",
        ),
    ] {
        let err = mint_token(&token_args(dir.path(), &extra), NOW).unwrap_err();
        assert!(err.to_string().contains(needle), "{extra:?}: {err}");
    }
    assert!(
        TokenCli::try_parse_from(["token", "--partner", DEALER]).is_err(),
        "--role is required"
    );
}

#[test]
fn ttl_parsing() {
    assert_eq!(parse_ttl("30m"), Ok(1800));
    assert_eq!(parse_ttl("1h"), Ok(3600));
    assert_eq!(parse_ttl("8h"), Ok(8 * 3600));
    assert_eq!(parse_ttl("90s"), Ok(90));
    assert_eq!(parse_ttl("24h"), Ok(86400));
    assert_eq!(parse_ttl("1d"), Ok(86400));
    for bad in ["25h", "2d", "0m", "1", "h", "1w", "-1h", ""] {
        assert!(parse_ttl(bad).is_err(), "{bad}");
    }
}
