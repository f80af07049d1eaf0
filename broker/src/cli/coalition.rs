//! `kruispunt coalition join|sync|status`: the organisation's MLS membership of its
//! coalitions, kept in one owner-only state file, so that `signals upload` and `match` can
//! pseudonymise with the coalition's current key (`--coalition ID --coalition-state FILE`)
//! without anyone copying keys by hand (docs/COALITIONS.md has the protocol).
//!
//! `join` creates the state on first use and publishes key packages, so the coalition's
//! administrator can add the organisation; run again after that, it accepts the welcome and
//! reads the group's messages up to the current key. `sync` reads what is new in every group
//! held (key rotations, membership changes). `status` prints the groups, epochs, members and key
//! versions from the state file alone. The key itself is never printed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use kruispunt_sdk::coalition::http::BrokerMls;
use kruispunt_sdk::coalition::member::Member;

use super::remote::Remote;

/// Key packages published on the first `join` (one is used per group that adds the
/// organisation; the last-resort one keeps it addable when they are spent).
const KEY_PACKAGES: usize = 4;

#[derive(Debug, Subcommand)]
pub enum CoalitionCommand {
    /// Create the member state (first run: publish key packages) and join every group a
    /// welcome arrived for.
    Join(JoinArgs),
    /// Read what is new in every group held: key rotations, membership changes.
    Sync(StateArgs),
    /// Print the groups, epochs, members and key versions held (offline).
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The organisation's partner id (for a new state file; must be the token's).
    #[arg(long, value_name = "ORG")]
    pub org: String,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// The member state file (owner-only; created by `join`).
    #[arg(long = "state", value_name = "FILE")]
    pub path: PathBuf,
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The member state file.
    #[arg(long = "state", value_name = "FILE")]
    pub path: PathBuf,
}

pub fn run(cmd: CoalitionCommand) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cmd {
        CoalitionCommand::Join(a) => rt.block_on(join(a)),
        CoalitionCommand::Sync(a) => rt.block_on(sync(a)),
        CoalitionCommand::Status(a) => {
            let member = open(&a.path)?;
            print!("{}", status(&member));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The member state at `path`, naming the file in the error.
pub fn open(path: &Path) -> anyhow::Result<Member> {
    Member::open(path).map_err(|e| {
        anyhow!(
            "{}: {e} (make it with `kruispunt coalition join --org ORG --state {}`)",
            path.display(),
            path.display()
        )
    })
}

/// The current coalition key of `coalition` from the state at `path`.
pub fn coalition_key(
    path: &Path,
    coalition: &str,
) -> anyhow::Result<kruispunt_sdk::pseudonym::CoalitionKey> {
    let member = open(path)?;
    member.coalition_key(coalition).ok_or_else(|| {
        anyhow!(
            "--coalition {coalition}: {} holds no key of it (groups held: {}); run `kruispunt \
             coalition join` or `sync`",
            path.display(),
            member.groups().join(", ")
        )
    })
}

/// The delivery service at the broker `remote` names, as its token's organisation.
fn delivery(remote: &Remote) -> anyhow::Result<BrokerMls> {
    crate::tls::install_ring_provider();
    let url = remote.url.clone().context("--url: required")?;
    let token = remote
        .token
        .clone()
        .context("--token (or KRUISPUNT_TOKEN): a partner token is required")?;
    let mut builder = reqwest::Client::builder();
    if let Some(ca) = &remote.ca {
        let pem = std::fs::read(ca).with_context(|| format!("--ca: {}", ca.display()))?;
        builder = builder.tls_certs_only([reqwest::Certificate::from_pem(&pem)?]);
    }
    if let (Some(cert), Some(key)) = (&remote.cert, &remote.key) {
        let mut pem = std::fs::read(cert).with_context(|| format!("--cert: {}", cert.display()))?;
        pem.extend(std::fs::read(key).with_context(|| format!("--key: {}", key.display()))?);
        builder = builder.identity(reqwest::Identity::from_pem(&pem)?);
    }
    Ok(BrokerMls::new(builder.build()?, url, token))
}

async fn join(args: JoinArgs) -> anyhow::Result<ExitCode> {
    let api = delivery(&args.state.remote)?;
    let path = &args.state.path;
    let mut member = if path.exists() {
        open(path)?
    } else {
        super::partner::check_org(&args.org)?;
        let member = Member::new(&args.org, Some(path))
            .map_err(|e| anyhow!("cannot create {}: {e}", path.display()))?;
        let kps = member.key_packages(KEY_PACKAGES, true)?;
        api.publish_key_packages(&kps)
            .await
            .map_err(|e| anyhow!("publishing key packages: {e}"))?;
        println!(
            "created {} for {}; published {} key packages",
            path.display(),
            args.org,
            kps.len()
        );
        member
    };
    if member.org() != args.org {
        bail!(
            "{} belongs to {}, not to --org {}",
            path.display(),
            member.org(),
            args.org
        );
    }
    let list = api
        .welcomes(0)
        .await
        .map_err(|e| anyhow!("reading welcomes: {e}"))?;
    let mut joined = Vec::new();
    for w in list.welcomes {
        if member.is_member(&w.group_id) {
            continue;
        }
        let bytes = kruispunt_sdk::coalition::wire::unb64("welcome", &w.welcome)
            .map_err(|e| anyhow!("{e}"))?;
        let id = member.join(&w.group_id, &bytes, w.from_seq)?;
        read_new(&api, &mut member, &id).await?;
        joined.push(id);
    }
    if joined.is_empty() && member.groups().is_empty() {
        println!(
            "no group has added {} yet: ask the coalition's administrator to add it, then run \
             this command again",
            member.org()
        );
    }
    for id in &joined {
        println!("joined {id}");
    }
    print!("{}", status(&member));
    Ok(ExitCode::SUCCESS)
}

async fn sync(args: StateArgs) -> anyhow::Result<ExitCode> {
    let api = delivery(&args.remote)?;
    let mut member = open(&args.path)?;
    for id in member.groups() {
        if member.is_member(&id) {
            read_new(&api, &mut member, &id).await?;
        }
    }
    print!("{}", status(&member));
    Ok(ExitCode::SUCCESS)
}

/// Fetches and processes everything new in group `id` (the state file is saved by the SDK).
async fn read_new(api: &BrokerMls, member: &mut Member, id: &str) -> anyhow::Result<()> {
    let from = member.cursor(id).unwrap_or(0);
    let fetched = api
        .fetch(id, from)
        .await
        .map_err(|e| anyhow!("group {id}: {e}"))?;
    member.process(id, &fetched)?;
    Ok(())
}

/// The groups held, for people: epoch, members, current key version (never the key).
pub fn status(member: &Member) -> String {
    let mut out = format!(
        "{}: {}\n",
        member.org(),
        kruispunt_sdk::words::counted(member.groups().len(), "group", "groups")
    );
    for id in member.groups() {
        out.push_str(&format!(
            "  {id}: {}, epoch {}, key version {}, members {}\n",
            if member.is_member(&id) {
                "member"
            } else {
                "no longer a member"
            },
            member.epoch(&id).unwrap_or(0),
            member
                .coalition_key(&id)
                .map_or("none yet".to_string(), |k| k.version().to_string()),
            member.members(&id).join(", ")
        ));
    }
    out
}
