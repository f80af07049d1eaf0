//! A PostgreSQL database of a test's own, so that runs never share budgets, signals or audit
//! entries; and a PostgreSQL server of a test's own, for the tests that stop and start it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// A fresh database on a PostgreSQL server, dropped (`WITH (FORCE)`, so open pools do not stand
/// in the way) when this value goes out of scope — also when the test panics.
pub struct TestDatabase {
    /// The fresh database's URL.
    pub url: String,
    name: String,
    /// The server's maintenance database, which always exists: databases are created and
    /// dropped from there.
    admin: PgConnectOptions,
    options: PgConnectOptions,
}

impl TestDatabase {
    /// A fresh database on the server [`crate::POSTGRES_ENV`] names; `None` (after saying
    /// clearly that the PostgreSQL part of `test` did not run) when the variable is not set.
    pub async fn create(test: &str) -> Option<TestDatabase> {
        let url = crate::postgres_url(test)?;
        Some(TestDatabase::create_on(&url).await)
    }

    /// A fresh database on the server of `server_url` (whichever database that URL names).
    pub async fn create_on(server_url: &str) -> TestDatabase {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "kp_test_{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let server = PgConnectOptions::from_str(server_url).expect("parse the PostgreSQL URL");
        let admin = server.clone().database("postgres");
        let mut c = admin
            .connect()
            .await
            .expect("the PostgreSQL URL must point at a reachable PostgreSQL server");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .expect("CREATE DATABASE");
        let _ = c.close().await;
        let base = server_url.split('?').next().unwrap();
        let prefix = &base[..base.rfind('/').expect("a database path in the URL")];
        TestDatabase {
            url: format!("{prefix}/{name}"),
            options: server.database(&name),
            name,
            admin,
        }
    }

    /// Connection options for the fresh database (for a pool of a chosen size).
    pub fn options(&self) -> PgConnectOptions {
        self.options.clone()
    }

    /// Drops the database now (what going out of scope does anyway).
    pub async fn drop_database(self) {
        drop(self);
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own
        // with a runtime of its own does the dropping.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut c = admin.connect().await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut c)
                    .await?;
                c.close().await
            })
        })
        .join();
        if !std::thread::panicking() {
            dropped
                .expect("dropping the test database")
                .expect("DROP DATABASE");
        }
    }
}

/// How [`TestCluster::stop`] stops the server (`pg_ctl stop -m …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Disconnects every client, rolls back their transactions, checkpoints, stops: an operator's
    /// restart.
    Fast,
    /// Kills every server process at once, with no checkpoint: on the next start PostgreSQL
    /// recovers from its WAL, as after a crash.
    Immediate,
}

/// A PostgreSQL server of the test's own (`initdb` into a temporary directory, `pg_ctl` on a
/// free loopback port), so that a test can stop and start it under load without touching the
/// server [`crate::POSTGRES_ENV`] names, which other tests share. Stopped (`-m immediate`) and
/// removed when this value goes out of scope — also when the test panics. Databases on it
/// ([`TestDatabase::create_on`] with [`TestCluster::url`]) must go first: they drop themselves
/// through it.
pub struct TestCluster {
    /// Holds `data/` (the cluster, owned by the server's user), the socket and the server log.
    dir: tempfile::TempDir,
    /// PostgreSQL's `bin` directory.
    bin: PathBuf,
    port: u16,
    running: bool,
}

impl TestCluster {
    /// A fresh cluster, started; `None` (after a loud note) when [`crate::POSTGRES_ENV`] is not
    /// set (a machine without PostgreSQL) or no `initdb` is installed under
    /// `/usr/lib/postgresql/*/bin`.
    pub fn start(test: &str) -> Option<TestCluster> {
        crate::postgres_url(test)?;
        let Some(bin) = postgres_bin() else {
            eprintln!(
                "SKIPPED {test}: no initdb under /usr/lib/postgresql/*/bin, so no PostgreSQL \
                 server of the test's own to restart"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("a temporary directory for the cluster");
        // initdb refuses to run as root: the server runs as `postgres` then, in a directory it
        // owns.
        if as_root() {
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path()));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut cluster = TestCluster {
            dir,
            bin,
            port,
            running: false,
        };
        let data = cluster.data();
        run(cluster.command("initdb").arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "--locale=C",
            "--encoding=UTF8",
        ]));
        cluster.start_again();
        Some(cluster)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`: the server, for
    /// [`TestDatabase::create_on`].
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server; its clients' connections break and new ones are refused until
    /// [`TestCluster::start_again`].
    pub fn stop(&mut self, mode: StopMode) {
        let mode = match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        };
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", mode, "-w", "stop"]));
        self.running = false;
    }

    /// Starts the server again on the same port and data (recovering from its WAL after an
    /// immediate stop); returns once it accepts connections.
    pub fn start_again(&mut self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300",
            self.port,
            self.dir.path().display()
        );
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-o", &options, "-w", "start"]));
        self.running = true;
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// One of PostgreSQL's programs, run as `postgres` when the test runs as root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if self.running {
            let _ = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The `bin` directory of the newest PostgreSQL under `/usr/lib/postgresql` that has `initdb`.
fn postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// Whether this process runs as root (the owner of `/proc/self`).
fn as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs `command`; panics with what it printed when it fails.
fn run(command: &mut Command) {
    let out = command.output().expect("run a PostgreSQL program");
    assert!(
        out.status.success(),
        "{command:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
