//! The partner's commands as a partner runs them — `kruispunt partner keygen`, `kruispunt token
//! --key`, `kruispunt registry show`, `kruispunt signals upload`, `kruispunt match` — against a
//! real broker in production mode (`development = false`): the partners' public keys are in the
//! registry file only because the test pasted in what `partner keygen` printed, as the
//! registry's keeper would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kruispunt_test_kit::{Broker, Options, TestDatabase};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kruispunt");
/// The coalition key the partners' CLI pseudonymises with (given as KRUISPUNT_COALITION_KEY).
pub const COALITION_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// Partners whose keys `partner keygen` makes and the keeper registers.
const ORGS: &[&str] = &[
    "autobedrijf-de-vecht",
    "autohandel-amersfoort",
    "autoschade-almere",
    "horeca-gooi",
    "riec-midden-nederland",
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

/// Asserts the command succeeded, with its output in the message.
fn succeeded(out: &Output) {
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Asserts `said` holds `needle`, with all of it in the message.
fn says(said: &str, needle: &str) {
    assert!(said.contains(needle), "{needle:?} not in:\n{said}");
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
    says(&text(&out.stderr), "--key");
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

/// `GET /v1/registry` as `token`.
async fn registry_as(p: &Production, token: &str) -> Value {
    let (status, v) = p.broker.get_json("/v1/registry", token).await;
    assert_eq!(status, 200, "{v}");
    v
}

/// The ids of the purposes a registry view lists.
fn purpose_ids(v: &Value) -> Vec<&str> {
    let purposes = v["purposes"].as_array().unwrap_or_else(|| panic!("{v}"));
    purposes.iter().map(|p| p["id"].as_str().unwrap()).collect()
}

async fn registry_shows_only_what_the_organisation_may_use(p: &Production) {
    let dealer = p.token("autobedrijf-de-vecht", "compliance");
    let v = registry_as(p, &dealer).await;
    let purposes = purpose_ids(&v);
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
    let v = registry_as(p, &horeca).await;
    let ids = purpose_ids(&v);
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
    says(&shown, "autobranche-contante-aankopen");
    says(&shown, "cash-car-purchase");
    says(&shown, "GM0344  Utrecht");
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

/// `kruispunt ARGS… --url … --ca …` as `org`'s user with role `compliance`, with the coalition
/// key in the environment.
async fn as_dealer(p: &Production, org: &str, args: &[&str]) -> Output {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.extend(p.remote());
    let envs = vec![
        ("KRUISPUNT_TOKEN".to_string(), p.token(org, "compliance")),
        (
            "KRUISPUNT_COALITION_KEY".to_string(),
            COALITION_KEY.to_string(),
        ),
    ];
    kruispunt_async(all, envs).await
}

const PURPOSE: &str = "autobranche-contante-aankopen";

/// The mapping flags of the dealers' exports.
fn upload_args(file: &str) -> Vec<&str> {
    vec![
        "signals",
        "upload",
        file,
        "--column",
        "kenteken=Kenteken",
        "--column",
        "observed=Datum aankoop",
        "--column",
        "gemeente=Gemeente",
        "--code",
        "cash-car-purchase",
        "--purpose",
        PURPOSE,
    ]
}

async fn live_signals(p: &Production) -> u64 {
    p.broker
        .store()
        .await
        .signals()
        .count_live_signals(kruispunt_test_kit::now())
        .await
        .unwrap()
}

/// The data rows of an ids file: (row, status, id).
fn ids_of(path: &Path) -> Vec<(u64, String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("row,kind,status,id"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f[1], "kenteken");
            assert_eq!(f[3].len(), 32, "{l}");
            (f[0].parse().unwrap(), f[2].to_string(), f[3].to_string())
        })
        .collect()
}

async fn spreadsheets_upload_and_match(p: &Production) {
    let home = p.home.path();
    // A Dutch Excel "CSV UTF-8" export: byte-order mark, semicolons, quoted cells (one holding
    // the separator), CRLF, an empty row, and bad rows in the middle.
    let csv = home.join("verkopen.csv");
    std::fs::write(
        &csv,
        "\u{feff}Kenteken;Datum aankoop;Gemeente;Opmerking\r\n\
         GB-001-B;20-11-2026;GM0307;\"contant; EUR 12.500\"\r\n\
         \"GB-002-B\";2026-11-21;GM0344;gewoon\r\n\
         ;;;\r\n\
         GB-003-B;21/11/2026;GM0307;datum met schuine strepen\r\n\
         XX;22-11-2026;GM0307;geen kenteken\r\n\
         GB-004-B;23-11-2026;GM9999;onbekende gemeente\r\n\
         GB-005-B;24-11-2026;GM0034;\r\n\
         GB-006-B;01-01-2099;GM0307;in de toekomst\r\n",
    )
    .unwrap();
    let csv_s = csv.display().to_string();
    let before = live_signals(p).await;

    // A dry run checks and counts, and sends nothing.
    let mut dry = upload_args(&csv_s);
    dry.push("--dry-run");
    let out = as_dealer(p, "autobedrijf-de-vecht", &dry).await;
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{report}{}", text(&out.stderr));
    says(&report, "nothing was sent");
    assert_eq!(live_signals(p).await, before);

    let out = as_dealer(p, "autobedrijf-de-vecht", &upload_args(&csv_s)).await;
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{report}{}", text(&out.stderr));
    // Rejected rows by the file's own row numbers, with the field and the reason: local ones
    // (date form, plate, gemeente) and the broker's (a date in the future), mapped back.
    says(
        &report,
        "row 5: observed: \"21/11/2026\" is not a date in the form dd-mm-jjjj",
    );
    says(&report, "row 6: Kenteken: kenteken");
    says(&report, "row 7: gemeente: \"GM9999\"");
    says(&report, "row 9: observed: lies in the future");
    assert_eq!(
        report.matches("\nrow ").count() + usize::from(report.starts_with("row ")),
        4,
        "{report}"
    );
    says(
        &report,
        "7 rows read: 3 stored, 0 already there (duplicate), 4 rejected",
    );
    // Rows stored equal rows accepted, and their ids are beside the file.
    assert_eq!(live_signals(p).await, before + 3);
    let ids_path = home.join("verkopen.csv.kruispunt-ids.csv");
    let ids = ids_of(&ids_path);
    assert_eq!(ids.iter().map(|r| r.0).collect::<Vec<_>>(), [2, 3, 8]);
    assert!(ids.iter().all(|r| r.1 == "stored"));

    // Running it again stores nothing new: every accepted row is a duplicate with its first id.
    let out = as_dealer(p, "autobedrijf-de-vecht", &upload_args(&csv_s)).await;
    let report = text(&out.stdout);
    says(
        &report,
        "7 rows read: 0 stored, 3 already there (duplicate), 4 rejected",
    );
    assert_eq!(live_signals(p).await, before + 3);
    let again = ids_of(&ids_path);
    assert!(again.iter().all(|r| r.1 == "duplicate"));
    assert_eq!(
        again.iter().map(|r| &r.2).collect::<Vec<_>>(),
        ids.iter().map(|r| &r.2).collect::<Vec<_>>()
    );

    // An Excel workbook from the second dealer: a real date cell, a dd-mm-jjjj text date, an
    // empty row and a bad row in the middle.
    let xlsx = home.join("inkoop.xlsx");
    {
        use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        for (c, h) in ["Kenteken", "Datum aankoop", "Gemeente"].iter().enumerate() {
            ws.write_string(0, c as u16, *h).unwrap();
        }
        let date = Format::new().set_num_format("dd-mm-yyyy");
        ws.write_string(1, 0, "gb-001-b").unwrap();
        ws.write_datetime_with_format(1, 1, ExcelDateTime::from_ymd(2026, 11, 19).unwrap(), &date)
            .unwrap();
        ws.write_string(1, 2, "GM0307").unwrap();
        // row 3 (index 2) left empty
        ws.write_string(3, 0, "GB-007-B").unwrap();
        ws.write_string(3, 1, "31-02-2026").unwrap();
        ws.write_string(3, 2, "GM0307").unwrap();
        ws.write_string(4, 0, "GB-008-B").unwrap();
        ws.write_string(4, 1, "18-11-2026").unwrap();
        ws.write_string(4, 2, "GM0344").unwrap();
        wb.save(&xlsx).unwrap();
    }
    let xlsx_s = xlsx.display().to_string();
    // This dealer keeps its mapping in a file beside its exports.
    let mapping = home.join("mapping.toml");
    std::fs::write(
        &mapping,
        format!(
            "[columns]\nkenteken = \"kenteken\"\nobserved = \" Datum aankoop \"\n\
             gemeente = \"Gemeente\"\n[values]\ncode = \"cash-car-purchase\"\n\
             purposes = [\"{PURPOSE}\"]\n"
        ),
    )
    .unwrap();
    let mapping_s = mapping.display().to_string();
    let out = as_dealer(
        p,
        "autohandel-amersfoort",
        &["signals", "upload", &xlsx_s, "--mapping", &mapping_s],
    )
    .await;
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{report}{}", text(&out.stderr));
    says(
        &report,
        "row 4: observed: \"31-02-2026\" is not a calendar date",
    );
    says(
        &report,
        "3 rows read: 2 stored, 0 already there (duplicate), 1 rejected",
    );
    let xids = ids_of(&home.join("inkoop.xlsx.kruispunt-ids.csv"));
    assert_eq!(xids.iter().map(|r| r.0).collect::<Vec<_>>(), [2, 5]);
    assert_eq!(live_signals(p).await, before + 5);

    // The xlsx's signals are withdrawn from its ids file (what the ids are kept for).
    let out = as_dealer(
        p,
        "autohandel-amersfoort",
        &[
            "signals",
            "withdraw",
            &home
                .join("inkoop.xlsx.kruispunt-ids.csv")
                .display()
                .to_string(),
        ],
    )
    .await;
    succeeded(&out);
    says(&text(&out.stdout), "2 withdrawn, 0 not");
    assert_eq!(live_signals(p).await, before + 3);
    // Uploaded again: stored anew (a withdrawn signal is gone), for the match below.
    let out = as_dealer(
        p,
        "autohandel-amersfoort",
        &["signals", "upload", &xlsx_s, "--mapping", &mapping_s],
    )
    .await;
    says(&text(&out.stdout), "3 rows read: 2 stored");
    assert_eq!(live_signals(p).await, before + 5);

    // A batch in which every row is rejected is no quiet success.
    let bad = home.join("fout.csv");
    std::fs::write(
        &bad,
        "Kenteken;Datum aankoop;Gemeente\nGB-009-B;2026/11/20;GM0307\n",
    )
    .unwrap();
    let out = as_dealer(
        p,
        "autobedrijf-de-vecht",
        &upload_args(&bad.display().to_string()),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    says(&text(&out.stdout), "row 2: observed");
    says(&text(&out.stderr), "every row");

    // A third dealer matches its list: GB-001-B has two independent sources (a hit, twice
    // written differently, asked once), GB-002-B one (no hit), a bad plate is not asked.
    let list = home.join("klanten.csv");
    std::fs::write(
        &list,
        "Klant,Kenteken\nJansen,GB-001-B\nDe Vries,GB-002-B\nBakker,gb 001 b\nSmit,XX\n",
    )
    .unwrap();
    // The list's plates at `categories`, with what each call adds.
    let list_s = list.display().to_string();
    let refused_s = home.join("refused.csv").display().to_string();
    let match_args = |extra: &[&'static str]| {
        let mut args = vec![
            "match",
            &list_s,
            "--purpose",
            PURPOSE,
            "--column",
            "kenteken=Kenteken",
            "--level",
            "categories",
        ];
        args.extend(extra);
        args
    };
    let out = as_dealer(
        p,
        "autoschade-almere",
        &match_args(&[
            "--justification",
            "cash purchase offered by a customer above the Wwft threshold",
            "--case",
            "ALMERE-2026-17",
        ]),
    )
    .await;
    succeeded(&out);
    says(&text(&out.stdout), "2 distinct identifiers");
    // Without a justification the refusal says which field and how long it must be.
    let mut unjustified = match_args(&["--out"]);
    unjustified.push(&refused_s);
    let out = as_dealer(p, "autoschade-almere", &unjustified).await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    says(
        &err,
        "justification: above `hit` give at least 20 characters",
    );
    says(&err, "case_reference:");
    let answer = std::fs::read_to_string(home.join("klanten.csv.kruispunt-match.csv")).unwrap();
    let answer = answer
        .strip_prefix('\u{feff}')
        .expect("a byte-order mark for Excel");
    let lines: Vec<&str> = answer.lines().collect();
    assert_eq!(
        lines,
        [
            "Klant;Kenteken;kruispunt_hit;kruispunt_categories;kruispunt_sectors;kruispunt_note",
            "Jansen;GB-001-B;ja;cash-car-purchase;autobranche;",
            "De Vries;GB-002-B;nee;;;",
            "Bakker;gb 001 b;ja;cash-car-purchase;autobranche;",
            lines[4],
        ]
    );
    assert!(
        lines[4].starts_with("Smit;XX;;;;\"kenteken"),
        "{}",
        lines[4]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_spreadsheets_upload_and_match() {
    on_both(
        "partner_spreadsheets_upload_and_match",
        spreadsheets_upload_and_match,
    )
    .await;
}

async fn coalition_membership_gives_the_key(p: &Production) {
    use kruispunt_sdk::coalition::Member;
    use kruispunt_sdk::coalition::http::BrokerMls;
    use kruispunt_sdk::coalition::wire::GroupKind;
    const COALITION: &str = "autobranche-midden-nederland";
    let dealer = "autobedrijf-de-vecht";
    let state = p.home.path().join("de-vecht.mls");
    let state_s = state.display().to_string();
    let join_args = ["coalition", "join", "--org", dealer, "--state", &state_s];
    let join = || as_dealer(p, dealer, &join_args);

    // First run: the state file is made (owner-only) and key packages are published.
    let out = join().await;
    succeeded(&out);
    says(&text(&out.stdout), "no group has added");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&state).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // The coalition's administrator (the RIEC) creates the group and adds the dealer.
    let mut admin = Member::new("riec-midden-nederland", None).unwrap();
    let api = BrokerMls::new(
        p.broker.client.clone(),
        p.broker.base.clone(),
        p.token("riec-midden-nederland", "coalitiebeheerder"),
    );
    let info = admin.create_group(COALITION).unwrap();
    api.create_group(
        COALITION,
        GroupKind::Coalition,
        COALITION,
        None,
        None,
        &info,
    )
    .await
    .unwrap();
    let kp = api.claim_key_package(dealer).await.unwrap();
    let add = admin.invite(COALITION, &[kp]).unwrap();
    api.post(COALITION, &add).await.unwrap();
    for follow in admin.confirm(COALITION).unwrap() {
        api.post_raw(COALITION, &follow, None).await.unwrap();
    }

    // Second run: the welcome is accepted and the key read.
    let out = join().await;
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{shown}{}", text(&out.stderr));
    assert!(shown.contains(&format!("joined {COALITION}")), "{shown}");
    says(&shown, "key version 1");
    let out = kruispunt(&["coalition", "status", "--state", &state_s], &[]);
    says(&text(&out.stdout), "riec-midden-nederland");
    let first = admin.coalition_key(COALITION).unwrap();
    assert!(
        !text(&out.stdout).contains(&hex::encode(first.expose_secret())),
        "the key is never printed"
    );

    // The administrator rotates the key; `coalition sync` brings the new version.
    let rotation = admin.rotate_key(COALITION).unwrap();
    api.post_raw(COALITION, &rotation, None).await.unwrap();
    let sync = ["coalition", "sync", "--state", &state_s];
    let out = as_dealer(p, dealer, &sync).await;
    assert!(
        text(&out.stdout).contains("key version 2"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let key = admin.coalition_key(COALITION).unwrap();
    assert_eq!(key.version(), 2);

    // An upload with the membership's key pseudonymises as the coalition does: the same row
    // sent with the administrator's key (by hand) is the same signal.
    let csv = p.home.path().join("coalitie.csv");
    std::fs::write(
        &csv,
        "Kenteken;Datum;Gemeente\nHB-123-X;02-12-2026;GM0307\n",
    )
    .unwrap();
    let csv_s = csv.display().to_string();
    let mut args = vec![
        "signals",
        "upload",
        &csv_s,
        "--column",
        "kenteken=Kenteken",
        "--column",
        "observed=Datum",
        "--column",
        "gemeente=Gemeente",
        "--code",
        "cash-car-purchase",
        "--purpose",
        PURPOSE,
    ];
    let mut with_state = args.clone();
    with_state.extend(["--coalition", COALITION, "--coalition-state", &state_s]);
    let out = as_dealer(p, dealer, &with_state).await;
    assert!(
        text(&out.stdout).contains("1 rows read: 1 stored"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let hex_key = hex::encode(key.expose_secret());
    args.extend(["--key-hex", &hex_key, "--key-version", "2"]);
    let out = as_dealer(p, dealer, &args).await;
    says(
        &text(&out.stdout),
        "1 rows read: 0 stored, 1 already there (duplicate)",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_coalition_join_and_upload() {
    on_both(
        "partner_coalition_join_and_upload",
        coalition_membership_gives_the_key,
    )
    .await;
}
