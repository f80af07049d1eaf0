//! JWT bearer authentication of partner requests.
//!
//! # The token
//! Partners sign their own tokens with a key registered for them (in the registry, or in a
//! development set-up in `keys/partners.toml`); the header's `kid` selects the key. Accepted
//! algorithms are `EdDSA` (Ed25519) and `ES256` (ECDSA P-256) — nothing else:
//!
//! - `alg: none` would let anyone write any claims;
//! - HS* with a *public* key as the HMAC secret is the classic key-confusion attack (whoever
//!   knows the public key can sign);
//! - RS*/PS* keep the `rsa` crate (RUSTSEC-2023-0071) off every path.
//!
//! The header is therefore parsed here, before the library sees the token, so that each of
//! these is refused with its own problem type, and the token is then verified only with the
//! algorithm the key was registered for.
//!
//! Claims (all times are Unix seconds; their JSON shape is the SDK's [`Claims`], which the
//! partners' signer uses too):
//!
//! | claim   | required | meaning |
//! |---------|----------|---------|
//! | `iss`   | yes | partner id; must be the partner that owns `kid` |
//! | `sub`   | yes | user within the partner organisation (for the audit trail) |
//! | `aud`   | yes | this broker's deployment name (`deployment` in `kruispunt.toml`), a single string |
//! | `exp`, `iat` | yes | expiry and issue time; `exp − iat` at most `[limits] max_token_lifetime_secs` (default 24 h) |
//! | `nbf`   | no  | not valid before |
//! | `roles` | yes | non-empty array of role names, matched by the policy |
//! | `jti`   | no  | token id, recorded in the `detail` of the audit entries the request writes (`"jti"`) |
//! | `scope` | police | a nested **object** (not the space-separated OAuth string) — see [`TokenScope`] |
//!
//! A `"scope"` claim in the OAuth string form is refused as malformed rather than ignored: a
//! token that carries bounds the broker cannot read must not be taken as an unbounded one.
//!
//! # Time
//! [`TokenVerifier::verify`] takes the current time as an argument and checks `exp`, `nbf` and `iat`
//! itself (with the configured leeway) instead of letting the library read the system clock:
//! the request handler, the policy input and the audit entry then all use the same instant,
//! and tests do not depend on the clock.

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use kruispunt_policy::registry::{KeyAlg, PartnerKey, Registry};
use kruispunt_sdk::token::{Claims, TokenScope};
use kruispunt_sdk::wire::MAX_SHORT_TEXT_BYTES;
use serde::Deserialize;

/// Longest `Authorization` token accepted; real tokens are well under 2 KiB.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Longest token lifetime (`exp − iat`) accepted unless `kruispunt.toml` sets
/// `[limits] max_token_lifetime_secs`: a stolen token is worth at most a day. The broker cannot
/// revoke a partner-signed token, so its lifetime is the only bound on its misuse.
pub const DEFAULT_MAX_TOKEN_LIFETIME_SECS: u64 = 24 * 3600;

/// `max_identifiers` given to the policy when a scope sets none: effectively unbounded (the
/// purpose's own limit applies) while still an exact integer in JSON (≤ 2^53).
pub const SCOPE_UNBOUNDED_IDENTIFIERS: u64 = 1 << 53;

/// Who is calling, established from a verified token and the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Partner id (`iss`).
    pub org: String,
    /// Partner sector, from the registry.
    pub sector: String,
    /// Public body or private party, from the registry.
    pub public: bool,
    /// User (`sub`).
    pub user: String,
    /// Roles from the token.
    pub roles: Vec<String>,
    /// Scope of a police token.
    pub scope: Option<TokenScope>,
    /// `jti`, if the token had one.
    pub token_id: Option<String>,
    /// `kid` of the key that signed the token.
    pub key_id: String,
    /// `exp` of the token.
    pub expires_at: i64,
}

impl Principal {
    /// The requester as the policy sees it (every action's policy input starts here).
    pub fn requester(&self) -> kruispunt_policy::Requester {
        kruispunt_policy::Requester {
            org: self.org.clone(),
            sector: self.sector.clone(),
            public: self.public,
            roles: self.roles.clone(),
            user: self.user.clone(),
        }
    }

    /// The policy input of an action this principal takes: the requester, and the token's
    /// scope — on **every** action, not only matches, so that the policy's scope rules bound
    /// uploads, withdrawals, audit reads and coalition changes as they bound matches. Every
    /// policy input of a request starts here. The scope's case reference, legal basis and
    /// consent stand in for the request's own (a match that names them overrides them, and the
    /// policy then checks they agree); an action outside the scope's purpose is refused with
    /// `scope_purpose_mismatch`.
    pub fn policy_input(
        &self,
        action: kruispunt_policy::Action,
        purpose: impl Into<String>,
        now: i64,
    ) -> kruispunt_policy::PolicyInput {
        let mut input = kruispunt_policy::PolicyInput::new(action, self.requester(), purpose, now);
        input.token_scope = self.token_scope();
        if let Some(s) = &self.scope {
            input.case_reference = s.case_reference.clone();
            input.legal_basis = s.legal_basis.clone();
            input.consent_id = s.consent_id.clone();
        }
        input
    }

    /// The scope in the policy's input form. Missing bounds are filled so that they restrict
    /// nothing beyond the token itself: `not_after` becomes the earlier of the scope's and the
    /// token's expiry, `max_identifiers` becomes [`SCOPE_UNBOUNDED_IDENTIFIERS`].
    pub fn token_scope(&self) -> Option<TokenScope> {
        self.scope.as_ref().map(|s| TokenScope {
            max_identifiers: Some(s.max_identifiers.unwrap_or(SCOPE_UNBOUNDED_IDENTIFIERS)),
            not_after: Some(
                s.not_after
                    .map_or(self.expires_at, |n| n.min(self.expires_at)),
            ),
            ..s.clone()
        })
    }
}

/// Why a request was not authenticated. Every variant has a stable problem type
/// ([`AuthError::slug`]); `Display` gives the specific detail and never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer …` header.
    #[error("{0}")]
    Missing(&'static str),
    /// The token is not a well-formed JWT with the required claims.
    #[error("the token is malformed: {0}")]
    Malformed(String),
    /// `alg` is `none`, HMAC, RSA, or not the algorithm the key was registered for.
    #[error("{0}")]
    AlgorithmRefused(String),
    /// `kid` missing or not registered.
    #[error("{0}")]
    UnknownKid(String),
    /// The signature does not verify with the registered key.
    #[error("the token's signature does not verify with the key registered for its kid")]
    BadSignature,
    /// `exp` has passed.
    #[error("{0}")]
    Expired(String),
    /// `nbf` or `iat` lies in the future.
    #[error("{0}")]
    NotYetValid(String),
    /// `exp − iat` is longer than the broker accepts.
    #[error(
        "the token lives {lifetime} s (exp − iat), longer than the {max} s this broker accepts"
    )]
    LifetimeTooLong {
        /// `exp − iat` of the token.
        lifetime: i64,
        /// The configured maximum.
        max: i64,
    },
    /// `aud` names another broker.
    #[error("the token's audience is not this broker")]
    WrongAudience,
    /// `iss` is not the partner that owns `kid`.
    #[error("{0}")]
    IssuerMismatch(String),
    /// The scope's `not_after` has passed.
    #[error("the token's scope lapsed at {not_after} (now {now})")]
    ScopeExpired {
        /// `not_after` of the scope.
        not_after: i64,
        /// Verification time.
        now: i64,
    },
    /// The token claims a role the registry does not list for its partner's sector.
    #[error("{0}")]
    RoleNotAllowed(String),
    /// The partner must present a (matching) client certificate.
    #[error("{0}")]
    MtlsRequired(String),
    /// The broker's own key configuration is wrong ([`TokenVerifier::new`], [`mint`]); never the
    /// caller's fault, never returned by [`TokenVerifier::verify`].
    #[error("key configuration: {0}")]
    KeyConfig(String),
}

impl AuthError {
    /// The stable problem type slug (the last segment of the problem `type` URI) and the short
    /// human title of the problem document, in one table so that no variant has one without
    /// the other.
    fn names(&self) -> (&'static str, &'static str) {
        match self {
            AuthError::Missing(_) => ("token-missing", "No bearer token"),
            AuthError::Malformed(_) => ("token-malformed", "Malformed token"),
            AuthError::AlgorithmRefused(_) => {
                ("token-algorithm-refused", "Token algorithm refused")
            }
            AuthError::UnknownKid(_) => ("token-unknown-key", "Unknown signing key"),
            AuthError::BadSignature => ("token-bad-signature", "Bad token signature"),
            AuthError::Expired(_) => ("token-expired", "Token expired"),
            AuthError::NotYetValid(_) => ("token-not-yet-valid", "Token not yet valid"),
            AuthError::LifetimeTooLong { .. } => {
                ("token-lifetime-too-long", "Token lives too long")
            }
            AuthError::WrongAudience => ("token-wrong-audience", "Token meant for another broker"),
            AuthError::IssuerMismatch(_) => {
                ("token-issuer-mismatch", "Token issuer does not own the key")
            }
            AuthError::ScopeExpired { .. } => ("token-scope-expired", "Token scope expired"),
            AuthError::MtlsRequired(_) => ("mtls-required", "Client certificate required"),
            AuthError::RoleNotAllowed(_) => (
                "token-role-not-allowed",
                "Role not allowed for this partner",
            ),
            AuthError::KeyConfig(_) => ("key-configuration", "Broker key configuration error"),
        }
    }

    /// Stable problem type slug (the last segment of the problem `type` URI).
    pub fn slug(&self) -> &'static str {
        self.names().0
    }

    /// HTTP status: 401 for every token problem (the client may retry with another token),
    /// 403 when the partner's mTLS requirement is not met or the token claims a role its partner
    /// may not hold (another token of the same partner will not help), 500 for the broker's
    /// own keys.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::MtlsRequired(_) | AuthError::RoleNotAllowed(_) => 403,
            AuthError::KeyConfig(_) => 500,
            _ => 401,
        }
    }

    /// Short human title for the problem document.
    pub fn title(&self) -> &'static str {
        self.names().1
    }
}

/// A header value echoed in an error: printable ASCII only and at most 64 characters, so that
/// a hostile header cannot forge log lines or bloat the audit trail.
fn sanitize(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

struct KeyEntry {
    partner: String,
    sector: String,
    public: bool,
    /// The roles the registry lets this partner's tokens carry.
    roles: Vec<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// Verifies bearer tokens against the registered partner keys.
pub struct TokenVerifier {
    keys: HashMap<String, KeyEntry>,
    audience: String,
    leeway: i64,
    max_lifetime: i64,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        f.debug_struct("TokenVerifier")
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .field("max_lifetime", &self.max_lifetime)
            .field("kids", &kids)
            .finish()
    }
}

/// DER prefix of a P-256 SubjectPublicKeyInfo; the SEC1 point follows.
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32 key bytes follow.
const ED25519_SPKI_PREFIX: &[u8] = &[
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

fn decode_base64_any(s: &str) -> Option<Vec<u8>> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(&s).ok())
}

/// Turns a registered public key (base64 raw / SPKI DER, or PEM) into a decoding key, and
/// proves it usable now: a bad key is a start-up error, not a 401 for every request.
fn decoding_key(k: &PartnerKey) -> Result<(Algorithm, DecodingKey), String> {
    let text = k.public_key.trim();
    let is_pem = text.starts_with("-----BEGIN");
    let (alg, key) = match k.alg {
        KeyAlg::EdDsa => {
            let key = if is_pem {
                DecodingKey::from_ed_pem(text.as_bytes())
                    .map_err(|e| format!("not an Ed25519 public key PEM: {e}"))?
            } else {
                let raw = decode_base64_any(text).ok_or("public_key is neither PEM nor base64")?;
                let raw = raw.strip_prefix(ED25519_SPKI_PREFIX).unwrap_or(&raw);
                DecodingKey::from_ed_der(raw)
            };
            // The library slices the first 32 bytes without checking: check here.
            match key.try_get_as_bytes() {
                Ok(b) if b.len() == 32 => {}
                _ => return Err("an Ed25519 public key is exactly 32 bytes".into()),
            }
            (Algorithm::EdDSA, key)
        }
        KeyAlg::Es256 => {
            let key = if is_pem {
                DecodingKey::from_ec_pem(text.as_bytes())
                    .map_err(|e| format!("not an EC public key PEM: {e}"))?
            } else {
                let raw = decode_base64_any(text).ok_or("public_key is neither PEM nor base64")?;
                let raw = raw.strip_prefix(P256_SPKI_PREFIX).unwrap_or(&raw);
                DecodingKey::from_ec_der(raw)
            };
            (Algorithm::ES256, key)
        }
    };
    // A probe verification: Err means the key itself is unusable (not on the curve, wrong
    // length); Ok(false) is the expected outcome for the dummy signature.
    let dummy = URL_SAFE_NO_PAD.encode([1u8; 64]);
    jsonwebtoken::crypto::verify(&dummy, b"probe", &key, alg)
        .map_err(|e| format!("public key unusable for {alg:?}: {e}"))?;
    Ok((alg, key))
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<serde_json::Value>,
    kid: Option<serde_json::Value>,
    /// Whether the header has a `crit` member at all: `"crit": null` is a `crit` member too
    /// (an `Option` would read it as absent).
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

/// `true` for any value, `null` included (with `#[serde(default)]`: `false` when absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d)?;
    Ok(true)
}

impl TokenVerifier {
    /// Builds the verifier from the registry's partner keys plus `extra_keys` (partner id,
    /// key) — in development the keys of `keys/partners.toml`. `audience` is this broker's
    /// deployment name; `leeway_secs` tolerates clock skew on `exp`, `nbf` and `iat`.
    ///
    /// Refused: a key of a partner the registry does not know, a duplicate `kid` (it would make
    /// the signer ambiguous), a key that cannot be parsed.
    pub fn new(
        registry: &Registry,
        extra_keys: &[(String, PartnerKey)],
        audience: &str,
        leeway_secs: u64,
    ) -> Result<TokenVerifier, AuthError> {
        if audience.trim().is_empty() {
            return Err(AuthError::KeyConfig(
                "the audience must not be empty".into(),
            ));
        }
        let registered = registry
            .partners
            .iter()
            .flat_map(|p| p.keys.iter().map(move |k| (p.id.as_str(), k)));
        let extra = extra_keys.iter().map(|(p, k)| (p.as_str(), k));
        let mut keys = HashMap::new();
        for (partner_id, k) in registered.chain(extra) {
            let partner = registry.partner(partner_id).ok_or_else(|| {
                AuthError::KeyConfig(format!(
                    "key `{}` belongs to partner `{partner_id}`, which the registry does not know",
                    k.kid
                ))
            })?;
            if k.kid.is_empty() {
                return Err(AuthError::KeyConfig(format!(
                    "a key of partner `{partner_id}` has an empty kid"
                )));
            }
            if keys.contains_key(&k.kid) {
                return Err(AuthError::KeyConfig(format!(
                    "kid `{}` is registered twice; every key needs its own kid",
                    k.kid
                )));
            }
            let (alg, key) = decoding_key(k).map_err(|e| {
                AuthError::KeyConfig(format!("key `{}` of partner `{partner_id}`: {e}", k.kid))
            })?;
            keys.insert(
                k.kid.clone(),
                KeyEntry {
                    partner: partner.id.clone(),
                    sector: partner.sector.clone(),
                    public: partner.public,
                    roles: registry.token_roles_of(partner).to_vec(),
                    alg,
                    key,
                },
            );
        }
        Ok(TokenVerifier {
            keys,
            audience: audience.to_string(),
            leeway: i64::try_from(leeway_secs).unwrap_or(i64::MAX),
            max_lifetime: DEFAULT_MAX_TOKEN_LIFETIME_SECS as i64,
        })
    }

    /// Accepts tokens living (`exp − iat`) at most `secs` instead of
    /// [`DEFAULT_MAX_TOKEN_LIFETIME_SECS`] (`[limits] max_token_lifetime_secs`).
    pub fn with_max_lifetime(mut self, secs: u64) -> TokenVerifier {
        self.max_lifetime = i64::try_from(secs).unwrap_or(i64::MAX);
        self
    }

    /// Number of keys the verifier trusts.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// The audience tokens must name.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Verifies the value of an `Authorization` header at time `now` (Unix seconds).
    pub fn verify(
        &self,
        authorization_header: Option<&str>,
        now: i64,
    ) -> Result<Principal, AuthError> {
        let token = bearer_token(authorization_header)?;
        let (alg, kid) = check_header(token)?;
        let entry = self.keys.get(&kid).ok_or_else(|| {
            AuthError::UnknownKid(format!(
                "no key is registered with kid `{}`",
                sanitize(&kid)
            ))
        })?;
        if alg != entry.alg {
            return Err(AuthError::AlgorithmRefused(format!(
                "key `{}` is registered for {:?}, the token says {alg:?}",
                sanitize(&kid),
                entry.alg
            )));
        }

        let mut validation = Validation::new(entry.alg);
        validation.set_audience(&[&self.audience]);
        // `iat` is not a claim the library checks; `Claims` requires it when deserialising.
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub", "iat"]);
        // Times are checked below against `now` (see the module documentation).
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &entry.key, &validation)
            .map_err(map_jwt_error)?
            .claims;

        if claims.iss != entry.partner {
            return Err(AuthError::IssuerMismatch(format!(
                "the token's issuer `{}` is not `{}`, the partner that owns key `{}`",
                sanitize(&claims.iss),
                entry.partner,
                sanitize(&kid)
            )));
        }
        if claims.sub.trim().is_empty() {
            return Err(AuthError::Malformed("the `sub` claim is empty".into()));
        }
        if claims.roles.is_empty() || claims.roles.iter().any(|r| r.trim().is_empty()) {
            return Err(AuthError::Malformed(
                "the `roles` claim must list at least one non-empty role".into(),
            ));
        }
        check_claim_lengths(&claims)?;
        if let Some(role) = claims.roles.iter().find(|r| !entry.roles.contains(r)) {
            return Err(AuthError::RoleNotAllowed(format!(
                "the registry does not let tokens of `{}` (sector {}) carry the role `{}`",
                entry.partner,
                entry.sector,
                sanitize(role)
            )));
        }
        if now.saturating_sub(self.leeway) > claims.exp {
            return Err(AuthError::Expired(format!(
                "the token expired at {} (now {now})",
                claims.exp
            )));
        }
        if let Some(nbf) = claims.nbf
            && nbf > now.saturating_add(self.leeway)
        {
            return Err(AuthError::NotYetValid(format!(
                "the token is not valid before {nbf} (now {now})"
            )));
        }
        if claims.iat > now.saturating_add(self.leeway) {
            return Err(AuthError::NotYetValid(format!(
                "the token claims to be issued at {}, in the future (now {now})",
                claims.iat
            )));
        }
        let lifetime = claims.exp.saturating_sub(claims.iat);
        if lifetime > self.max_lifetime {
            return Err(AuthError::LifetimeTooLong {
                lifetime,
                max: self.max_lifetime,
            });
        }
        if let Some(scope) = &claims.scope {
            if scope.purpose.trim().is_empty() {
                return Err(AuthError::Malformed("the scope names no purpose".into()));
            }
            if let Some(not_after) = scope.not_after
                && now >= not_after
            {
                return Err(AuthError::ScopeExpired { not_after, now });
            }
        }
        Ok(Principal {
            org: entry.partner.clone(),
            sector: entry.sector.clone(),
            public: entry.public,
            user: claims.sub,
            roles: claims.roles,
            scope: claims.scope,
            token_id: claims.jti,
            key_id: kid,
            expires_at: claims.exp,
        })
    }
}

/// The claims that reach the audit trail (`sub` as the actor, `jti` in the detail, the roles
/// and the scope's texts through the policy's input) are bounded like a request's free text
/// ([`MAX_SHORT_TEXT_BYTES`]): a partner's signer cannot grow the permanent log at will.
fn check_claim_lengths(claims: &Claims) -> Result<(), AuthError> {
    let scope = claims.scope.as_ref();
    let texts = [
        ("sub", Some(claims.sub.as_str())),
        ("jti", claims.jti.as_deref()),
    ]
    .into_iter()
    .chain(claims.roles.iter().map(|r| ("roles", Some(r.as_str()))))
    .chain(scope.map(|s| ("scope.purpose", Some(s.purpose.as_str()))))
    .chain(scope.map(|s| ("scope.case_reference", s.case_reference.as_deref())))
    .chain(scope.map(|s| ("scope.legal_basis", s.legal_basis.as_deref())))
    .chain(scope.map(|s| ("scope.consent_id", s.consent_id.as_deref())));
    for (claim, text) in texts {
        if text.is_some_and(|t| t.len() > MAX_SHORT_TEXT_BYTES) {
            return Err(AuthError::Malformed(format!(
                "the `{claim}` claim is longer than {MAX_SHORT_TEXT_BYTES} bytes"
            )));
        }
    }
    Ok(())
}

/// Extracts the token from `Bearer <jwt>` (scheme case-insensitive, RFC 9110 §11.1).
fn bearer_token(header: Option<&str>) -> Result<&str, AuthError> {
    let header = header.ok_or(AuthError::Missing(
        "the request has no Authorization header; send `Authorization: Bearer <token>`",
    ))?;
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Missing(
            "the Authorization header does not carry a Bearer token",
        ));
    }
    let token = rest.trim();
    if token.is_empty() {
        return Err(AuthError::Missing(
            "the Authorization header's Bearer token is empty",
        ));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::Malformed(format!(
            "the token is longer than {MAX_TOKEN_LEN} bytes"
        )));
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(AuthError::Malformed(
            "a JWT consists of base64url characters and dots only".into(),
        ));
    }
    if token.split('.').count() != 3 {
        return Err(AuthError::Malformed(
            "a JWT has three dot-separated parts (header.payload.signature)".into(),
        ));
    }
    Ok(token)
}

/// Reads the JOSE header ourselves so that refused algorithms and unknown keys get their own
/// problem types (the library would report `none` as a JSON error and HS256 as a key error).
fn check_header(token: &str) -> Result<(Algorithm, String), AuthError> {
    let encoded = token.split('.').next().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| AuthError::Malformed("the header is not base64url".into()))?;
    let header: RawHeader = serde_json::from_slice(&bytes)
        .map_err(|_| AuthError::Malformed("the header is not a JSON object".into()))?;
    let alg = match header.alg {
        Some(serde_json::Value::String(a)) => a,
        Some(_) => {
            return Err(AuthError::Malformed(
                "the header's `alg` is not a string".into(),
            ));
        }
        None => return Err(AuthError::Malformed("the header has no `alg`".into())),
    };
    let refused = |why: &str| {
        AuthError::AlgorithmRefused(format!(
            "algorithm `{}` is refused ({why}); sign with EdDSA or ES256",
            sanitize(&alg)
        ))
    };
    let alg = match alg.as_str() {
        "EdDSA" => Algorithm::EdDSA,
        "ES256" => Algorithm::ES256,
        a if a.eq_ignore_ascii_case("none") => return Err(refused("unsigned tokens")),
        a if a.starts_with("HS") => return Err(refused("shared-secret HMAC")),
        a if a.starts_with("RS") || a.starts_with("PS") => return Err(refused("RSA")),
        _ => return Err(refused("not supported")),
    };
    if header.crit {
        return Err(AuthError::Malformed(
            "the header lists `crit` extensions, which this broker does not understand".into(),
        ));
    }
    let kid = match header.kid {
        Some(serde_json::Value::String(k)) if !k.is_empty() => k,
        Some(serde_json::Value::String(_)) | None => {
            return Err(AuthError::UnknownKid(
                "the token header names no key (`kid`)".into(),
            ));
        }
        Some(_) => {
            return Err(AuthError::Malformed(
                "the header's `kid` is not a string".into(),
            ));
        }
    };
    Ok((alg, kid))
}

fn map_jwt_error(e: jsonwebtoken::errors::Error) -> AuthError {
    match e.kind() {
        JwtErrorKind::InvalidSignature => AuthError::BadSignature,
        JwtErrorKind::ExpiredSignature => AuthError::Expired("the token has expired".into()),
        JwtErrorKind::ImmatureSignature => {
            AuthError::NotYetValid("the token is not valid yet".into())
        }
        JwtErrorKind::InvalidAudience => AuthError::WrongAudience,
        JwtErrorKind::InvalidIssuer => AuthError::IssuerMismatch("unexpected issuer".into()),
        JwtErrorKind::InvalidAlgorithm => {
            AuthError::AlgorithmRefused("the token's algorithm does not match its key".into())
        }
        JwtErrorKind::MissingRequiredClaim(c) => {
            AuthError::Malformed(format!("the required claim `{}` is missing", sanitize(c)))
        }
        JwtErrorKind::InvalidClaimFormat(c) => {
            AuthError::Malformed(format!("the claim `{}` has the wrong type", sanitize(c)))
        }
        JwtErrorKind::Json(err) => AuthError::Malformed(format!(
            "the claims do not fit: {}",
            sanitize_long(&err.to_string())
        )),
        JwtErrorKind::Base64(_) => AuthError::Malformed("a part is not base64url".into()),
        JwtErrorKind::Utf8(_) => AuthError::Malformed("a part is not UTF-8".into()),
        _ => AuthError::Malformed("the token could not be decoded".into()),
    }
}

/// Like [`sanitize`], with room for a serde message (which may quote a claim value — claims
/// are not secret, the signature is what makes a token a credential).
fn sanitize_long(s: &str) -> String {
    let cut: String = s.chars().take(200).collect();
    cut.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// Signs `claims` with an Ed25519 key (PKCS#8, as in `keys/partners/<id>.pk8`) under `kid`.
/// Used by `kruispunt token` and by tests; partners sign with their own tooling.
pub fn mint(kid: &str, pkcs8_ed25519: &[u8], claims: &Claims) -> Result<String, AuthError> {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_string());
    let key = EncodingKey::from_ed_der(pkcs8_ed25519);
    jsonwebtoken::encode(&header, claims, &key)
        .map_err(|e| AuthError::KeyConfig(format!("cannot sign with key `{kid}`: {e}")))
}
