//! Where the bearer token of each request comes from: a fixed token, or a signer that mints
//! short-lived EdDSA (Ed25519) JWTs with the partner's own key.
//!
//! The broker never holds a partner's private key: a partner registers the public half (with a
//! `kid`) and signs its own tokens. A short lifetime (5 minutes by default) limits what a
//! leaked token is worth; the signer re-mints before expiry, so callers never see `token-expired`.
//! The claims are those the broker requires (`docs/API.md`): `iss` (partner id), `sub` (user),
//! `aud` (deployment name), `exp`, `iat`, `roles`, a random `jti`, and for police the `scope`
//! object — the wire type [`crate::token::Claims`], which the broker's verifier reads.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::Ed25519KeyPair;
use serde::Serialize;

use super::ClientError;
use crate::token::{Claims, TokenScope};

/// Default lifetime of a minted token.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// A cached token is re-minted when less than this much of its life is left.
const REFRESH_MARGIN_SECS: i64 = 30;

/// Who a minted token speaks for: the claims that stay the same from token to token.
///
/// ```
/// use kruispunt_sdk::client::TokenClaims;
///
/// let claims = TokenClaims::new("autobedrijf-de-vecht", "j.jansen", "midden-nederland-dev")
///     .roles(["compliance"]);
/// assert_eq!(claims.roles, ["compliance"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// Partner id (`iss`).
    pub issuer: String,
    /// User within the partner (`sub`), recorded in the audit trail.
    pub subject: String,
    /// The broker's deployment name (`aud`).
    pub audience: String,
    /// Roles of the user (at least one).
    pub roles: Vec<String>,
    /// Scope of a police token.
    pub scope: Option<TokenScope>,
}

impl TokenClaims {
    /// Claims for `issuer`/`subject` at the broker `audience`, without roles yet.
    ///
    /// ```
    /// # use kruispunt_sdk::client::TokenClaims;
    /// let c = TokenClaims::new("gemeente-utrecht", "analist-1", "midden-nederland-dev");
    /// assert!(c.scope.is_none());
    /// ```
    pub fn new(
        issuer: impl Into<String>,
        subject: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        TokenClaims {
            issuer: issuer.into(),
            subject: subject.into(),
            audience: audience.into(),
            roles: Vec::new(),
            scope: None,
        }
    }

    /// Sets the roles.
    ///
    /// ```
    /// # use kruispunt_sdk::client::TokenClaims;
    /// assert_eq!(TokenClaims::new("a", "b", "c").roles(["analist"]).roles.len(), 1);
    /// ```
    pub fn roles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, roles: I) -> Self {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the police scope.
    ///
    /// ```
    /// # use kruispunt_sdk::client::{TokenClaims, TokenScope};
    /// let c = TokenClaims::new("a", "b", "c").scope(TokenScope::new("politie-opsporing-wpg19"));
    /// assert!(c.scope.is_some());
    /// ```
    pub fn scope(mut self, scope: TokenScope) -> Self {
        self.scope = Some(scope);
        self
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

/// Mints short-lived EdDSA tokens with a partner's Ed25519 key, caching each until shortly
/// before it expires.
///
/// ```
/// use kruispunt_sdk::client::{TokenClaims, TokenSigner};
/// use ring::signature::Ed25519KeyPair;
///
/// let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
/// let claims = TokenClaims::new("autobedrijf-de-vecht", "j.jansen", "midden-nederland-dev")
///     .roles(["compliance"]);
/// let signer = TokenSigner::from_pkcs8("autobedrijf-de-vecht-dev-1", pkcs8.as_ref(), claims).unwrap();
/// let jwt = signer.token().unwrap();
/// assert_eq!(jwt.split('.').count(), 3);
/// ```
pub struct TokenSigner {
    kid: String,
    key: Ed25519KeyPair,
    claims: TokenClaims,
    ttl: Duration,
    rng: SystemRandom,
    cached: Mutex<Option<(String, i64)>>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .field("key", &"[redacted]")
            .field("claims", &self.claims)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl TokenSigner {
    /// A signer from the partner's Ed25519 key in PKCS#8 form — DER bytes, or PEM text
    /// (`-----BEGIN PRIVATE KEY-----`) — and the `kid` it is registered under.
    ///
    /// ```
    /// # use kruispunt_sdk::client::{TokenClaims, TokenSigner};
    /// let bad = TokenSigner::from_pkcs8("k", b"not a key", TokenClaims::new("a", "b", "c").roles(["r"]));
    /// assert!(bad.is_err());
    /// ```
    pub fn from_pkcs8(
        kid: impl Into<String>,
        pkcs8: &[u8],
        claims: TokenClaims,
    ) -> Result<Self, ClientError> {
        let kid = kid.into();
        if kid.is_empty() {
            return Err(ClientError::Token("the kid must not be empty".into()));
        }
        if claims.roles.is_empty() {
            return Err(ClientError::Token(
                "roles: at least one role is required".into(),
            ));
        }
        let der = pem_or_der(pkcs8, "PRIVATE KEY")?;
        let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
            .map_err(|e| ClientError::Token(format!("not an Ed25519 PKCS#8 private key: {e}")))?;
        Ok(TokenSigner {
            kid,
            key,
            claims,
            ttl: DEFAULT_TTL,
            rng: SystemRandom::new(),
            cached: Mutex::new(None),
        })
    }

    /// Sets the lifetime of minted tokens (at least 60 s; the broker caps it by policy).
    ///
    /// ```
    /// # use kruispunt_sdk::client::{TokenClaims, TokenSigner};
    /// # let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    /// let s = TokenSigner::from_pkcs8("k", pkcs8.as_ref(), TokenClaims::new("a", "b", "c").roles(["r"]))
    ///     .unwrap()
    ///     .with_ttl(std::time::Duration::from_secs(120));
    /// # let _ = s;
    /// ```
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_secs(60));
        self
    }

    /// The claims this signer puts in every token.
    ///
    /// ```
    /// # use kruispunt_sdk::client::{TokenClaims, TokenSigner};
    /// # let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    /// let s = TokenSigner::from_pkcs8("k", pkcs8.as_ref(), TokenClaims::new("a", "b", "c").roles(["r"])).unwrap();
    /// assert_eq!(s.claims().issuer, "a");
    /// ```
    pub fn claims(&self) -> &TokenClaims {
        &self.claims
    }

    /// A valid token: the cached one while it has more than 30 s to live, else a fresh one.
    ///
    /// ```
    /// # use kruispunt_sdk::client::{TokenClaims, TokenSigner};
    /// # let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    /// let s = TokenSigner::from_pkcs8("k", pkcs8.as_ref(), TokenClaims::new("a", "b", "c").roles(["r"])).unwrap();
    /// assert_eq!(s.token().unwrap(), s.token().unwrap()); // cached
    /// ```
    pub fn token(&self) -> Result<String, ClientError> {
        let now = unix_now();
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((t, exp)) = cached.as_ref()
            && exp - now > REFRESH_MARGIN_SECS
        {
            return Ok(t.clone());
        }
        let (t, exp) = self.mint_at(now)?;
        *cached = Some((t.clone(), exp));
        Ok(t)
    }

    /// Mints a new token as of `now` (Unix seconds); returns it with its expiry.
    fn mint_at(&self, now: i64) -> Result<(String, i64), ClientError> {
        let exp = now + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let mut jti = [0u8; 16];
        self.rng
            .fill(&mut jti)
            .map_err(|_| ClientError::Token("the system random generator failed".into()))?;
        let header = Header {
            alg: "EdDSA",
            typ: "JWT",
            kid: &self.kid,
        };
        let body = Claims {
            iss: self.claims.issuer.clone(),
            sub: self.claims.subject.clone(),
            aud: self.claims.audience.clone(),
            exp,
            iat: now,
            nbf: None,
            roles: self.claims.roles.clone(),
            jti: Some(hex::encode(jti)),
            scope: self.claims.scope.clone(),
        };
        let signing_input = format!("{}.{}", b64_json(&header)?, b64_json(&body)?);
        let sig = self.key.sign(signing_input.as_bytes());
        Ok((
            format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())),
            exp,
        ))
    }
}

fn b64_json<T: Serialize>(v: &T) -> Result<String, ClientError> {
    serde_json::to_vec(v)
        .map(|b| URL_SAFE_NO_PAD.encode(b))
        .map_err(|e| ClientError::Token(format!("cannot encode the token: {e}")))
}

/// Accepts DER as is, or PEM with the given label, returning DER.
pub(crate) fn pem_or_der(bytes: &[u8], label: &str) -> Result<Vec<u8>, ClientError> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(bytes.to_vec());
    };
    let begin = format!("-----BEGIN {label}-----");
    let Some(start) = text.find(&begin) else {
        return Ok(bytes.to_vec());
    };
    let end = format!("-----END {label}-----");
    let rest = &text[start + begin.len()..];
    let stop = rest
        .find(&end)
        .ok_or_else(|| ClientError::Token(format!("PEM without `{end}`")))?;
    let b64: String = rest[..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD
        .decode(b64)
        .map_err(|e| ClientError::Token(format!("bad base64 in PEM: {e}")))
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Where each request's bearer token comes from.
///
/// ```
/// use kruispunt_sdk::client::TokenSource;
///
/// let fixed = TokenSource::fixed("eyJ...");
/// assert_eq!(fixed.token().unwrap(), "eyJ...");
/// ```
pub enum TokenSource {
    /// A token minted elsewhere (e.g. by `kruispunt token`); used until it expires.
    Static(String),
    /// Short-lived tokens minted on demand with the partner's key (boxed: the key pair is large).
    Signer(Box<TokenSigner>),
}

impl TokenSource {
    /// A fixed token.
    ///
    /// ```
    /// # use kruispunt_sdk::client::TokenSource;
    /// assert!(matches!(TokenSource::fixed("t"), TokenSource::Static(_)));
    /// ```
    pub fn fixed(token: impl Into<String>) -> Self {
        TokenSource::Static(token.into().trim().to_string())
    }

    /// The token for the next request.
    ///
    /// ```
    /// # use kruispunt_sdk::client::TokenSource;
    /// assert_eq!(TokenSource::fixed(" t \n").token().unwrap(), "t");
    /// ```
    pub fn token(&self) -> Result<String, ClientError> {
        match self {
            TokenSource::Static(t) => Ok(t.clone()),
            TokenSource::Signer(s) => s.token(),
        }
    }
}

/// Never prints a token: a `Debug` dump of a client must not leak a credential.
impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Static(_) => f.write_str("TokenSource::Static([redacted])"),
            TokenSource::Signer(s) => f.debug_tuple("TokenSource::Signer").field(s).finish(),
        }
    }
}

impl From<TokenSigner> for TokenSource {
    fn from(s: TokenSigner) -> Self {
        TokenSource::Signer(Box::new(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ED25519, KeyPair, UnparsedPublicKey};

    #[test]
    fn minted_token_verifies_and_carries_the_claims() {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let public = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .unwrap()
            .public_key()
            .as_ref()
            .to_vec();
        let claims = TokenClaims::new("politie-midden-nederland", "r1", "aud")
            .roles(["rechercheur"])
            .scope(TokenScope::new("politie-opsporing-wpg19").max_identifiers(3));
        let s = TokenSigner::from_pkcs8("kid-1", pkcs8.as_ref(), claims).unwrap();
        let (t, exp) = s.mint_at(1_000).unwrap();
        assert_eq!(exp, 1_300);
        let parts: Vec<&str> = t.split('.').collect();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["kid"], "kid-1");
        let body: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(body["iss"], "politie-midden-nederland");
        assert_eq!(body["scope"]["max_identifiers"], 3);
        assert!(body["scope"].get("kinds").is_none());
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        UnparsedPublicKey::new(&ED25519, &public)
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .unwrap();
        // A tampered body does not verify.
        assert!(
            UnparsedPublicKey::new(&ED25519, &public)
                .verify(format!("{}.{}x", parts[0], parts[1]).as_bytes(), &sig)
                .is_err()
        );
    }

    #[test]
    fn debug_never_shows_a_token() {
        let t = format!("{:?}", TokenSource::fixed("eyJsecret.payload.sig"));
        assert!(!t.contains("secret"), "{t}");
    }

    #[test]
    fn pem_keys_are_accepted_and_rolesless_claims_refused() {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(pkcs8.as_ref())
        );
        let c = TokenClaims::new("a", "b", "c").roles(["r"]);
        assert!(TokenSigner::from_pkcs8("k", pem.as_bytes(), c).is_ok());
        let e = TokenSigner::from_pkcs8("k", pkcs8.as_ref(), TokenClaims::new("a", "b", "c"))
            .unwrap_err();
        assert!(e.to_string().contains("roles"));
    }
}
