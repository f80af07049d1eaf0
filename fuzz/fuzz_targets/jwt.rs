//! JWT header and claims decoding as the broker's `TokenVerifier` does it on every request.
//!
//! Mode 0 (first byte even): the rest is the `Authorization` header value, as an attacker
//! sends it. Mode 1: the rest is a JOSE header and a claims set (JSON, split at the first 0xFF
//! byte), which the target encodes and signs with a key the verifier trusts — so the fuzzer
//! reaches the claims decoding and every check after the signature, which a forged signature
//! never would. Asserts: a token is accepted only with its header's `alg` and `kid` right, and
//! an accepted token's principal is the key's partner with exactly the signed claims, within
//! the lifetime and role rules.
#![no_main]

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kruispunt_broker::auth::jwt::{DEFAULT_MAX_TOKEN_LIFETIME_SECS, TokenVerifier};
use kruispunt_policy::Registry;
use kruispunt_policy::registry::{KeyAlg, PartnerKey};
use kruispunt_sdk::token::Claims;
use libfuzzer_sys::fuzz_target;
use ring::signature::{Ed25519KeyPair, KeyPair as _};

const PARTNER: &str = "politie-midden-nederland";
const KID: &str = "fuzz-key";
const AUDIENCE: &str = "fuzz-broker";
const LEEWAY: i64 = 60;
/// A fixed "now" so that a finding replays.
const NOW: i64 = 1_800_000_000;

struct Fixture {
    verifier: TokenVerifier,
    key: Ed25519KeyPair,
    roles: Vec<String>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let key = Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).expect("a 32-byte seed");
    let registry = Registry::embedded();
    let partner = registry
        .partner(PARTNER)
        .expect("the embedded registry has the partner");
    let roles = registry.token_roles_of(partner).to_vec();
    let extra = vec![(
        PARTNER.to_string(),
        PartnerKey {
            kid: KID.into(),
            alg: KeyAlg::EdDsa,
            public_key: STANDARD.encode(key.public_key().as_ref()),
        },
    )];
    let verifier =
        TokenVerifier::new(&registry, &extra, AUDIENCE, LEEWAY as u64).expect("a verifier");
    Fixture {
        verifier,
        key,
        roles,
    }
});

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(header) = std::str::from_utf8(rest) {
            // Nothing unsigned gets through: the fuzzer does not hold the key.
            assert!(f.verifier.verify(Some(header), NOW).is_err());
        }
        return;
    }
    let (jose, claims) = match rest.iter().position(|&b| b == 0xFF) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(jose),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let sig = f.key.sign(signing_input.as_bytes());
    let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()));
    let Ok(p) = f.verifier.verify(Some(&format!("Bearer {token}")), NOW) else {
        return;
    };
    // Accepted: the header named this key and EdDSA, and the claims are what the principal says.
    let header: serde_json::Value =
        serde_json::from_slice(jose).expect("an accepted header is JSON");
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], KID);
    assert!(
        header.get("crit").is_none(),
        "a header with `crit` was accepted"
    );
    let c: Claims = serde_json::from_slice(claims).expect("accepted claims are Claims");
    assert_eq!(p.org, PARTNER);
    assert_eq!(c.iss, PARTNER);
    assert_eq!(c.aud, AUDIENCE);
    assert_eq!(p.user, c.sub);
    assert!(!p.user.trim().is_empty());
    assert_eq!(p.roles, c.roles);
    assert!(!p.roles.is_empty() && p.roles.iter().all(|r| f.roles.contains(r)));
    assert_eq!(p.expires_at, c.exp);
    assert!(c.exp >= NOW - LEEWAY, "an expired token was accepted");
    assert!(
        c.iat <= NOW + LEEWAY,
        "a token issued in the future was accepted"
    );
    assert!(c.nbf.is_none_or(|nbf| nbf <= NOW + LEEWAY));
    assert!(
        c.exp.saturating_sub(c.iat) <= DEFAULT_MAX_TOKEN_LIFETIME_SECS as i64,
        "a token living longer than the maximum was accepted"
    );
    assert_eq!(p.token_id, c.jti);
    assert_eq!(p.scope, c.scope);
});
