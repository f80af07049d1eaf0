//! The partner's commands as a partner runs them — `kruispunt partner keygen`, `kruispunt token
//! --key`, `kruispunt registry show`, `kruispunt signals upload`, `kruispunt match` — against a
//! real broker in production mode (`development = false`): the partners' public keys are in the
//! registry file only because the test pasted in what `partner keygen` printed, as the
//! registry's keeper would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kruispunt_test_kit::{Broker, Options, TestDatabase};

const BIN: &str = env!("CARGO_BIN_EXE_kruispunt");
/// The coalition key the partners' CLI pseudonymises with (given as KRUISPUNT_COALITION_KEY).
#[allow(dead_code)] // used by the upload tests
pub const COALITION_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// Partners whose keys `partner keygen` makes and the keeper registers.
const ORGS: &[&str] = &[
    "autobedrijf-de-vecht",
    "autohandel-amersfoort",
    "horeca-gooi",
];

/// A broker in production mode and the partners' key files.
pub struct Production {
    pub broker: Broker,
    /// The partners' own folder (key files, spreadsheets); not the broker's.
    pub home: tempfile::TempDir,
}

/// Runs `kruispunt ARGS…` with `envs`, no stdin.
pub fn kruispunt(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("KRUISPUNT_TOKEN");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `kruispunt ARGS…` in a blocking task (the broker runs on this test's runtime).
pub async fn kruispunt_async(args: Vec<String>, envs: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        kruispunt(&args, &envs)
    })
    .await
    .unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Inserts `entry` (a `[[partners.keys]]` table) into the registry text under the
/// `[[partners]]` table of `org`, as the registry's keeper does.
fn paste_key(registry: &str, org: &str, entry: &str) -> String {
    let at = registry
        .find(&format!("id = \"{org}\""))
        .unwrap_or_else(|| panic!("{org} is in the registry"));
    let next = registry[at..].find("[[partners]]").map(|i| at + i).unwrap();
    format!("{}{entry}\n{}", &registry[..next], &registry[next..])
}

impl Production {
    /// A broker (SQLite, or PostgreSQL `db`) whose configuration says `development = false`
    /// and whose registry holds the keys `partner keygen` made for [`ORGS`].
    pub async fn start(db: Option<TestDatabase>) -> Production {
        let opts = Options {
            unlimited: true,
            ..Options::default()
        };
        let mut broker = match db {
            Some(db) => Broker::start_on(db, opts).await,
            None => Broker::start_with(opts).await,
        };
        broker.pause().await;
        let home = tempfile::tempdir().unwrap();
        let mut registry = kruispunt_policy::DEFAULT_REGISTRY_TOML.to_string();
        for org in ORGS {
            let key = home.path().join(format!("{org}.pem"));
            let out = kruispunt(
                &[
                    "partner",
                    "keygen",
                    "--org",
                    org,
                    "--out",
                    &key.display().to_string(),
                ],
                &[],
            );
            assert!(out.status.success(), "{}", text(&out.stderr));
            registry = paste_key(&registry, org, &text(&out.stdout));
        }
        let dir = broker.dir.path();
        std::fs::write(dir.join("registry.toml"), &registry).unwrap();
        let path = dir.join("kruispunt.toml");
        let mut cfg: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
        cfg.insert("development".into(), false.into());
        cfg.insert("registry".into(), "registry.toml".into());
        std::fs::write(&path, toml::to_string(&cfg).unwrap()).unwrap();
        let broker = broker.restart().await;
        Production { broker, home }
    }

    pub fn key(&self, org: &str) -> PathBuf {
        self.home.path().join(format!("{org}.pem"))
    }

    /// `kruispunt token --key KEY --org ORG --audience AUD --role ROLE` — the token, or the
    /// command's stderr.
    pub fn token_with_key(&self, key: &Path, org: &str, role: &str) -> Result<String, String> {
        let out = kruispunt(
            &[
                "token",
                "--key",
                &key.display().to_string(),
                "--org",
                org,
                "--audience",
                &self.broker.aud,
                "--role",
                role,
                "--ttl",
                "15m",
            ],
            &[],
        );
        match out.status.success() {
            true => Ok(text(&out.stdout).trim().to_string()),
            false => Err(text(&out.stderr)),
        }
    }

    /// A token of `org`'s user with `role`, signed with the key `partner keygen` made.
    pub fn token(&self, org: &str, role: &str) -> String {
        self.token_with_key(&self.key(org), org, role).unwrap()
    }

    /// The arguments that point a CLI command at this broker.
    pub fn remote(&self) -> Vec<String> {
        vec![
            "--url".into(),
            self.broker.base.clone(),
            "--ca".into(),
            self.broker.ca_path.display().to_string(),
        ]
    }

    pub async fn stop(self) {
        self.broker.stop().await;
    }
}

/// Runs `body` on a production broker on SQLite and, when the PostgreSQL URL is set, on one
/// on PostgreSQL.
pub async fn on_both(name: &str, body: impl AsyncFn(&Production)) {
    let p = Production::start(None).await;
    body(&p).await;
    p.stop().await;
    if let Some(db) = TestDatabase::create(name).await {
        let p = Production::start(Some(db)).await;
        body(&p).await;
        p.stop().await;
    }
}

/// An authenticated read the broker answers for any partner with a valid token.
async fn authenticated(p: &Production, token: &str) -> u16 {
    p.broker
        .get("/v1/audit/entries?start=0&end=1", token)
        .await
        .status()
        .as_u16()
}

async fn keygen_token_is_accepted_and_a_wrong_key_refused(p: &Production) {
    let org = "autobedrijf-de-vecht";
    let token = p.token(org, "compliance");
    assert_eq!(authenticated(p, &token).await, 200);

    // A key the keeper never registered: its kid is unknown.
    let stray = p.home.path().join("stray.pem");
    let out = kruispunt(
        &[
            "partner",
            "keygen",
            "--org",
            org,
            "--out",
            &stray.display().to_string(),
        ],
        &[],
    );
    assert!(out.status.success());
    let token = p.token_with_key(&stray, org, "compliance").unwrap();
    assert_eq!(authenticated(p, &token).await, 401);

    // Another organisation's registered key, claimed for this one: the kid is not its own.
    let other = p.key("autohandel-amersfoort");
    let token = p.token_with_key(&other, org, "compliance").unwrap();
    assert_eq!(authenticated(p, &token).await, 401);

    // The development shortcut refuses a production configuration, and the broker refuses a
    // token signed with a development key it would trust only in development.
    let out = kruispunt(
        &[
            "token",
            "--data-dir",
            &p.broker.dir.path().display().to_string(),
            "--partner",
            org,
            "--role",
            "compliance",
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--key"), "{}", text(&out.stderr));
    assert_eq!(
        authenticated(p, &p.broker.token(org, &["compliance"])).await,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_keygen_token_in_production() {
    on_both(
        "partner_keygen_token_in_production",
        keygen_token_is_accepted_and_a_wrong_key_refused,
    )
    .await;
}

#[test]
fn partner_keygen_refuses_to_overwrite_and_writes_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let key = home.path().join("k.pem");
    let k = key.display().to_string();
    let first = kruispunt(
        &["partner", "keygen", "--org", "horeca-gooi", "--out", &k],
        &[],
    );
    assert!(first.status.success());
    let entry: toml::Table = text(&first.stdout).parse().unwrap();
    // `[[partners.keys]]` alone: a table `partners` holding the array `keys`.
    let keys = &entry["partners"]["keys"];
    assert_eq!(keys[0]["alg"].as_str(), Some("EdDSA"));
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let before = std::fs::read(&key).unwrap();
    let again = kruispunt(
        &["partner", "keygen", "--org", "horeca-gooi", "--out", &k],
        &[],
    );
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("exists"));
    assert_eq!(std::fs::read(&key).unwrap(), before);
}

async fn registry_shows_only_what_the_organisation_may_use(p: &Production) {
    let dealer = p.token("autobedrijf-de-vecht", "compliance");
    let (status, v) = p.broker.get_json("/v1/registry", &dealer).await;
    assert_eq!(status, 200, "{v}");
    let purposes: Vec<&str> = v["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert!(
        purposes.contains(&"autobranche-contante-aankopen"),
        "{purposes:?}"
    );
    // Another sector's purposes are not shown: the dealer is no party to them.
    for other in [
        "horeca-bibob-screening",
        "kvo-buitengebied-signalering",
        "vastgoed-signalering",
    ] {
        assert!(!purposes.contains(&other), "{other} in {purposes:?}");
    }
    let code = v["codes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "cash-car-purchase")
        .expect("the dealer's code");
    assert!(
        code["title"]
            .as_str()
            .unwrap()
            .starts_with("Contante aankoop")
    );
    // A KVO code reaches the dealer only through the purposes it supplies to across all
    // themes (the police's, the picture's), never through its own sector's purpose.
    let barn = v["codes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "barn-rental-unsolicited")
        .unwrap();
    assert_eq!(
        barn["purposes"],
        serde_json::json!(["ondermijningsbeeld", "politie-opsporing-wpg19"])
    );
    assert!(
        v["gemeenten"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["code"] == "GM0344" && g["name"] == "Utrecht")
    );

    // Horeca sees its own screening purpose, and not the car dealers'.
    let horeca = p.token("horeca-gooi", "signaleerder");
    let (status, v) = p.broker.get_json("/v1/registry", &horeca).await;
    assert_eq!(status, 200, "{v}");
    let ids: Vec<&str> = v["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"horeca-bibob-screening"), "{ids:?}");
    assert!(!ids.contains(&"autobranche-contante-aankopen"), "{ids:?}");

    // Without a token: 401.
    assert_eq!(
        p.broker
            .get("/v1/registry", None::<&str>)
            .await
            .status()
            .as_u16(),
        401
    );

    // `kruispunt registry show` prints it for people.
    let mut args: Vec<String> = vec!["registry".into(), "show".into()];
    args.extend(p.remote());
    let out = kruispunt_async(args, vec![("KRUISPUNT_TOKEN".into(), dealer)]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("autobranche-contante-aankopen"), "{shown}");
    assert!(shown.contains("cash-car-purchase"), "{shown}");
    assert!(shown.contains("GM0344  Utrecht"), "{shown}");
    assert!(!shown.contains("horeca-bibob-screening"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_registry_view() {
    on_both(
        "partner_registry_view",
        registry_shows_only_what_the_organisation_may_use,
    )
    .await;
}
