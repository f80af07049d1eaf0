//! `kruispunt token`: mint a short-lived bearer token.
//!
//! Two ways to sign, one token:
//!
//! - `--key FILE` (with `--org` and the broker's `--audience`): the organisation's own key from
//!   `kruispunt partner keygen`, whose public half the registry's keeper added to the
//!   registry. This is how a partner signs in production; no broker data directory is needed.
//! - no `--key`: a demo partner's development key from the broker's data directory. Only for
//!   development set-ups (`development = true` in `kruispunt.toml`): in production the broker
//!   never holds a partner's private key, and a configuration not marked as development is
//!   refused outright, so the shortcut cannot be used by accident against a real deployment.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use kruispunt_policy::registry::{IDENTIFIER_KINDS, Registry, SECTORS};
use ring::rand::{SecureRandom, SystemRandom};

use crate::auth::{self, Claims, TokenScope};
use crate::config::Config;
use crate::keys::dev_partner_keys;

/// Longest lifetime `--ttl` accepts.
pub const MAX_TTL_SECS: u64 = 24 * 3600;

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// Directory holding kruispunt.toml and the development keys.
    #[arg(long, env = "KRUISPUNT_DATA_DIR", default_value_os_t = super::default_data_dir())]
    pub data_dir: PathBuf,
    /// Partner id from the registry (`--org` too): the token's issuer.
    #[arg(long, alias = "org", value_name = "ID")]
    pub partner: String,
    /// The organisation's own signing key (from `kruispunt partner keygen`); without it the
    /// development key of the data directory is used (development set-ups only).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The broker's deployment name (the token's `aud`); with --key, when there is no broker
    /// configuration in --data-dir to read it from.
    #[arg(long, env = "KRUISPUNT_AUDIENCE", value_name = "NAME")]
    pub audience: Option<String>,
    /// Role(s) of the user: repeat the option or give a comma-separated list.
    #[arg(
        long = "role",
        value_name = "ROLE",
        value_delimiter = ',',
        required = true
    )]
    pub roles: Vec<String>,
    /// User within the partner organisation (`sub`), recorded in the audit trail.
    #[arg(long, default_value = "dev-user")]
    pub user: String,
    /// Purpose the token is bound to; adds the police scope claims.
    #[arg(long, value_name = "P")]
    pub purpose: Option<String>,
    /// Case reference (needs --purpose).
    #[arg(long = "case", value_name = "REF")]
    pub case_reference: Option<String>,
    /// Legal basis, e.g. wpg-art-19 (needs --purpose).
    #[arg(long, value_name = "B")]
    pub legal_basis: Option<String>,
    /// Consent or partnership decision id (needs --purpose).
    #[arg(long = "consent", value_name = "ID")]
    pub consent_id: Option<String>,
    /// Identifier kinds the scope allows, comma-separated (needs --purpose).
    #[arg(long, value_name = "K,..", value_delimiter = ',')]
    pub kinds: Vec<String>,
    /// Source sectors the scope may reveal, comma-separated (needs --purpose).
    #[arg(long, value_name = "S,..", value_delimiter = ',')]
    pub sectors: Vec<String>,
    /// Maximum identifiers per request (needs --purpose).
    #[arg(long, value_name = "N")]
    pub max_identifiers: Option<u64>,
    /// Lifetime: seconds with a unit, e.g. 90s, 30m, 1h, 8h (at most 24h).
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    pub ttl: u64,
}

/// Parses `30m`, `1h`, `8h`, `90s`, `1d` into seconds, within 1 s ..= 24 h.
pub fn parse_ttl(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{s}` has no unit: write e.g. 30m, 1h or 8h"))?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` does not start with a number"))?;
    let factor = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("unknown unit `{unit}`: use s, m, h or d")),
    };
    let secs = n.saturating_mul(factor);
    if secs == 0 {
        return Err("the lifetime must be positive".into());
    }
    if secs > MAX_TTL_SECS {
        return Err(format!(
            "`{s}` is longer than the 24h maximum: mint a fresh token instead"
        ));
    }
    Ok(secs)
}

/// Builds and signs the token (everything `run` does except printing it). `now` is Unix seconds.
pub fn mint_token(args: &TokenArgs, now: i64) -> anyhow::Result<String> {
    // With the organisation's own key the broker's configuration is optional: a partner has
    // none, and names the audience itself.
    let config = match (&args.key, Config::load(&args.data_dir)) {
        (Some(_), Err(_)) => None,
        (_, Ok(c)) => Some(c),
        (None, Err(e)) => return Err(e),
    };
    if args.key.is_none() && !config.as_ref().is_some_and(|c| c.development) {
        bail!(
            "{} is not a development configuration (`development = true`): without --key, \
             `kruispunt token` only signs with demo partner keys. Sign with the organisation's \
             own key: `kruispunt token --key FILE --org ORG --audience DEPLOYMENT …` (the key \
             from `kruispunt partner keygen`)",
            args.data_dir.join(crate::config::CONFIG_FILE).display()
        );
    }
    let audience = match (&args.audience, &config) {
        (Some(a), _) => a.trim().to_string(),
        (None, Some(c)) => c.deployment.clone(),
        (None, None) => bail!(
            "--audience: give the broker's deployment name (the token's `aud`), e.g. \
             midden-nederland; its operator tells it"
        ),
    };
    if audience.is_empty() {
        bail!("--audience must not be empty");
    }
    let registry = match config.as_ref().and_then(|c| c.registry.as_ref()) {
        Some(path) => Registry::load(path)?,
        None => Registry::embedded(),
    };
    if args.key.is_some() {
        // The deployment's registry may be newer than the one compiled in: only the form of
        // the id is checked here, the broker checks the rest.
        crate::cli::partner::check_org(&args.partner)?;
    } else if registry.partner(&args.partner).is_none() {
        let ids: Vec<&str> = registry.partners.iter().map(|p| p.id.as_str()).collect();
        bail!(
            "unknown partner `{}`; the registry has: {}",
            args.partner,
            ids.join(", ")
        );
    }
    let roles: Vec<String> = args
        .roles
        .iter()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect();
    if roles.is_empty() {
        bail!("give at least one --role");
    }
    if args.user.trim().is_empty() {
        bail!("--user must not be empty");
    }
    for k in &args.kinds {
        if !IDENTIFIER_KINDS.contains(&k.as_str()) {
            bail!(
                "unknown identifier kind `{k}`; known kinds: {}",
                IDENTIFIER_KINDS.join(", ")
            );
        }
    }
    for s in &args.sectors {
        if !SECTORS.contains(&s.as_str()) {
            bail!(
                "unknown sector `{s}`; known sectors: {}",
                SECTORS.join(", ")
            );
        }
    }

    let scope = match &args.purpose {
        Some(purpose) => {
            if registry.purpose(purpose).is_none() {
                // Not refused: minting a token for an unregistered purpose is how one sees the
                // broker refuse it.
                eprintln!("warning: purpose `{purpose}` is not in the registry");
            }
            Some(TokenScope {
                purpose: purpose.clone(),
                case_reference: args.case_reference.clone(),
                legal_basis: args.legal_basis.clone(),
                consent_id: args.consent_id.clone(),
                kinds: args.kinds.clone(),
                sectors: args.sectors.clone(),
                max_identifiers: args.max_identifiers,
                not_after: None,
            })
        }
        None => {
            let scoped = [
                ("--case", args.case_reference.is_some()),
                ("--legal-basis", args.legal_basis.is_some()),
                ("--consent", args.consent_id.is_some()),
                ("--kinds", !args.kinds.is_empty()),
                ("--sectors", !args.sectors.is_empty()),
                ("--max-identifiers", args.max_identifiers.is_some()),
            ];
            let given: Vec<&str> = scoped.iter().filter(|(_, g)| *g).map(|(n, _)| *n).collect();
            if !given.is_empty() {
                bail!(
                    "{} {} to a scoped token: add --purpose",
                    given.join(", "),
                    if given.len() == 1 {
                        "belongs"
                    } else {
                        "belong"
                    }
                );
            }
            None
        }
    };

    let (kid, pkcs8) = match &args.key {
        Some(path) => {
            let key = crate::cli::partner::load_signing_key(path)?;
            (
                crate::cli::partner::kid_for(&args.partner, &key.public_key),
                key.pkcs8,
            )
        }
        None => dev_partner_keys::load_partner_signing_key(&args.data_dir, &args.partner)?,
    };
    let mut jti = [0u8; 16];
    SystemRandom::new()
        .fill(&mut jti)
        .map_err(|_| anyhow!("the system random generator failed"))?;
    let ttl = i64::try_from(args.ttl).context("ttl out of range")?;
    let claims = Claims {
        iss: args.partner.clone(),
        sub: args.user.trim().to_string(),
        aud: audience,
        exp: now + ttl,
        iat: now,
        nbf: Some(now),
        roles,
        jti: Some(hex::encode(jti)),
        scope,
    };
    Ok(auth::mint(&kid, &pkcs8, &claims)?)
}

/// Prints a token on stdout (alone, so `TOKEN=$(kruispunt token …)` works).
pub fn run(args: TokenArgs) -> anyhow::Result<ExitCode> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    let token = mint_token(&args, i64::try_from(now)?)?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}
