//! Tokens of a partner's user, signed with the partner's development key (kept in the data
//! directory by `Config::init_development`) through the SDK's [`TokenSigner`] — the way a
//! partner mints them.

use std::path::Path;
use std::time::Duration;

use kruispunt_broker::auth::{Claims, mint};
use kruispunt_broker::keys::dev_partner_keys::load_partner_signing_key;
use kruispunt_sdk::client::{TokenClaims, TokenSigner};
use kruispunt_sdk::token::TokenScope;

/// How long a test token lives.
pub const TTL: Duration = Duration::from_secs(600);

/// A token with `claims`, signed with the development key of their issuer in `dir`, living
/// [`TTL`].
pub fn signed(dir: &Path, claims: TokenClaims) -> String {
    signed_for(dir, claims, TTL)
}

/// A token with `claims`, signed with the development key of their issuer in `dir`, living `ttl`.
pub fn signed_for(dir: &Path, claims: TokenClaims, ttl: Duration) -> String {
    let (kid, pkcs8) = load_partner_signing_key(dir, &claims.issuer).unwrap();
    TokenSigner::from_pkcs8(kid, &pkcs8, claims)
        .unwrap()
        .with_ttl(ttl)
        .token()
        .unwrap()
}

/// A token of `partner`'s user `user@partner` with `roles` for the deployment `aud`.
pub fn token_in(dir: &Path, aud: &str, partner: &str, roles: &[&str]) -> String {
    signed(
        dir,
        TokenClaims::new(partner, format!("user@{partner}"), aud).roles(roles.iter().copied()),
    )
}

/// Like [`token_in`], with the claims edited by `edit` first: for the odd tokens the SDK's
/// signer rightly cannot produce (expired, not yet valid, another audience, no roles, …).
pub fn token_in_with(
    dir: &Path,
    aud: &str,
    partner: &str,
    roles: &[&str],
    edit: impl FnOnce(&mut Claims),
) -> String {
    let (kid, pkcs8) = load_partner_signing_key(dir, partner).unwrap();
    let now = crate::now();
    let mut claims = Claims {
        iss: partner.into(),
        sub: format!("user@{partner}"),
        aud: aud.into(),
        exp: now + TTL.as_secs() as i64,
        iat: now,
        nbf: None,
        roles: roles.iter().map(|r| r.to_string()).collect(),
        jti: None,
        scope: None,
    };
    edit(&mut claims);
    mint(&kid, &pkcs8, &claims).unwrap()
}

/// A police detective's scope: the Wpg art. 19 investigation purpose, license plates of the car
/// trade only, in `case` with the prosecutor's consent `consent`, at most `max_identifiers` per
/// request, lapsing at `not_after` (if ever).
pub fn police_scope(
    case: &str,
    consent: &str,
    max_identifiers: u64,
    not_after: Option<i64>,
) -> TokenScope {
    TokenScope {
        purpose: "politie-opsporing-wpg19".into(),
        case_reference: Some(case.into()),
        legal_basis: Some("wpg-art-19".into()),
        consent_id: Some(consent.into()),
        kinds: vec!["kenteken".into()],
        sectors: vec!["autobranche".into()],
        max_identifiers: Some(max_identifiers),
        not_after,
    }
}
