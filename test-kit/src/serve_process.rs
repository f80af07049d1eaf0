//! A `kruispunt serve` child process, started the one way every test that needs the real
//! binary starts it: on a free loopback port (`--listen 127.0.0.1:0`), the data directory given,
//! `KRUISPUNT_DATA_DIR` removed, standard output read up to the line saying where it listens
//! (the lines before it kept: the metrics address is printed there), and both pipes drained in
//! the background so the process never blocks on a full one. Standard error is kept line by line
//! for tests that read the broker's log. The process is killed when the value is dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// The line `kruispunt serve` prints once it listens, before the address.
pub const LISTENING: &str = "Kruispunt broker listening on https://";

pub struct ServeProcess {
    pub child: Child,
    /// The port it listens on.
    pub port: u16,
    /// What it printed on standard output before the listening line.
    pub printed: Vec<String>,
    stderr: Arc<Mutex<Vec<String>>>,
    drain: Option<std::thread::JoinHandle<()>>,
}

impl ServeProcess {
    /// Starts `bin serve` on `dir` with `args` after the listen and data-dir arguments and
    /// `KRUISPUNT_LOG=log`; when it ends before listening, answers what it wrote on standard
    /// error.
    pub fn spawn(bin: &Path, dir: &Path, args: &[&str], log: &str) -> Result<ServeProcess, String> {
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(args)
            .env("KRUISPUNT_LOG", log)
            .env_remove("KRUISPUNT_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        let pipe = child.stderr.take().expect("piped");
        let drain = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut printed = Vec::new();
        let mut port = None;
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix(LISTENING) {
                port = addr.trim().rsplit(':').next().and_then(|p| p.parse().ok());
                break;
            }
            printed.push(line);
        }
        std::thread::spawn(move || for _ in lines {});
        match port {
            Some(port) => Ok(ServeProcess {
                child,
                port,
                printed,
                stderr,
                drain: Some(drain),
            }),
            None => {
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                let _ = drain.join();
                let text = stderr.lock().unwrap().join("\n");
                Err(format!(
                    "kruispunt serve ended ({status}) before listening: {text}"
                ))
            }
        }
    }

    /// `https://localhost:PORT` (the development certificate's name).
    pub fn base(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// The lines it wrote on standard error so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = self.drain.take() {
            let _ = d.join();
        }
    }
}

/// Starts `bin witness serve` with the signer key `key` and state file `state`, witnessing
/// `logs` (each `ORIGIN=VKEY`), with further `args`, on a free loopback port (standard error
/// discarded); answers the child and the URL from the line saying where it listens.
pub fn spawn_witness(
    bin: &Path,
    key: &Path,
    state: &Path,
    logs: &[String],
    args: &[String],
) -> (Child, String) {
    let mut cmd = Command::new(bin);
    cmd.args(["witness", "serve", "--key"])
        .arg(key)
        .arg("--state")
        .arg(state)
        .args(["--listen", "127.0.0.1:0"]);
    for l in logs {
        cmd.arg("--log").arg(l);
    }
    let mut child = cmd
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .rsplit_once(" listening on ")
        .unwrap_or_else(|| panic!("the witness did not start: {line:?}"))
        .1
        .to_string();
    (child, url)
}
