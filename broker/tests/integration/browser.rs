//! A real browser for the page tests: Debian's chromium, headless, driven over the W3C WebDriver
//! protocol by `chromedriver` (plain HTTP+JSON, so reqwest is the whole client). The page tests
//! click and type as a visitor does — the sign-in asks before it uses a token from a link, which
//! `--dump-dom` cannot answer. `.ci/run` installs chromium and chromedriver; without them a test
//! says SKIPPED and checks nothing.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// W3C WebDriver's key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How often a condition is looked at before a test gives up (every 100 ms: a minute on a
/// loaded 2-core machine). A bound on waiting, not a timing the test asserts.
const POLLS: u32 = 600;

/// The executable `name` on the PATH, if any.
fn on_path(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// A headless chromium session. Dropping it — also when a test fails — ends the session (so
/// chromium quits) and then chromedriver: no browser outlives its test.
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    port: u16,
    /// The WebDriver session id, once there is one.
    session: Option<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and one headless chromium session; `None` (after saying SKIPPED)
    /// when either is not installed.
    pub async fn start(what: &str) -> Option<Browser> {
        let chromium = ["chromium", "chromium-browser"]
            .into_iter()
            .find_map(on_path);
        let (Some(chromium), Some(driver)) = (chromium, on_path("chromedriver")) else {
            eprintln!("SKIPPED: chromium or chromedriver is not installed — {what} was not tested");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Everything that can fail before chromedriver runs comes first; from its start on, the
        // `Browser` owns it.
        let profile = tempfile::tempdir().unwrap();
        kruispunt_broker::tls::install_ring_provider();
        let http = reqwest::Client::new();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut b = Browser {
            driver,
            http,
            port,
            session: None,
            _profile: profile,
        };
        // chromedriver answers /status once it listens.
        let mut ready = false;
        for _ in 0..POLLS {
            if let Ok(r) = b.http.get(format!("{}/status", b.base())).send().await {
                ready = r.status().is_success();
                if ready {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not start");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            // The development CA is not in chromium's store; the broker's TLS is tested elsewhere.
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-dev-shm-usage", "--window-size=1400,1000",
                    format!("--user-data-dir={}", b._profile.path().display()),
                ],
            },
        }}});
        let v = b.command(reqwest::Method::POST, "/session", &caps).await;
        b.session = Some(v["sessionId"].as_str().expect("a session id").to_string());
        Some(b)
    }

    /// chromedriver's base URL.
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: &Value) -> Value {
        // Relative to the session once there is one.
        let url = match &self.session {
            Some(id) => format!("{}/session/{id}{path}", self.base()),
            None => format!("{}{path}", self.base()),
        };
        let resp = self
            .http
            .request(method, url)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let v: Value = resp.json().await.unwrap();
        assert!(
            status.is_success(),
            "WebDriver {path}: {status}: {}",
            v["value"]
        );
        v["value"].clone()
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn open(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", &json!({ "url": url }))
            .await;
    }

    /// Opens `url`, a page address with `#token=…`, and answers the sign-in's question (which
    /// organisation the link's token names) with yes, as the visitor would.
    pub async fn sign_in_by_link(&self, url: &str) {
        self.open(url).await;
        self.wait_for(
            "!document.getElementById('signin-confirm').hidden",
            "the sign-in question",
        )
        .await;
        self.click("#signin-accept").await;
    }

    /// Runs `body` (a function body: `return …;`) in the page; its value.
    pub async fn eval(&self, body: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            &json!({ "script": body, "args": [] }),
        )
        .await
    }

    /// Waits until the expression `js` is truthy in the page and answers its value; fails the
    /// test, naming `what` and showing the page's text, when it never is.
    pub async fn wait_for(&self, js: &str, what: &str) -> Value {
        let script = format!("try {{ return ({js}) || null; }} catch (e) {{ return null; }}");
        for _ in 0..POLLS {
            let v = self.eval(&script).await;
            if !v.is_null() && v != Value::Bool(false) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let text = self.eval("return document.body.innerText;").await;
        panic!(
            "the page never showed {what}; it shows:\n{}",
            text.as_str().unwrap_or("")
        );
    }

    /// The element `css` selects (waiting until it exists).
    async fn element(&self, css: &str) -> String {
        let css_js = serde_json::to_string(css).unwrap();
        self.wait_for(&format!("document.querySelector({css_js})"), css)
            .await;
        let v = self
            .command(
                reqwest::Method::POST,
                "/element",
                &json!({ "using": "css selector", "value": css }),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element reference for {css}: {v}"))
            .to_string()
    }

    /// Clicks the element `css` selects, as a visitor would.
    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            &json!({}),
        )
        .await;
    }

    /// Types `text` into the field `css` selects, as a visitor would (after clearing it).
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            &json!({}),
        )
        .await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            &json!({ "text": text }),
        )
        .await;
    }

    /// The visible text of the element `css` selects.
    pub async fn text(&self, css: &str) -> String {
        let css_js = serde_json::to_string(css).unwrap();
        self.eval(&format!(
            "const e = document.querySelector({css_js}); return e ? e.innerText : null;"
        ))
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// From now on the page is laid out for `media` (`print`: its `@media print` rules, as
    /// when printed; `""`: the screen again).
    pub async fn emulate_media(&self, media: &str) {
        self.command(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            &json!({ "cmd": "Emulation.setEmulatedMedia", "params": { "media": media } }),
        )
        .await;
    }

    /// Saves a PNG of the window as `NAME.png` in the directory `KRUISPUNT_SCREENSHOTS` names,
    /// when it is set: for a person to look at the page as its users see it.
    pub async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("KRUISPUNT_SCREENSHOTS") else {
            return;
        };
        use base64::Engine as _;
        let v = self
            .command(reqwest::Method::GET, "/screenshot", &json!({}))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }

    /// Ends the session (chromium quits) and chromedriver.
    pub fn stop(self) {
        drop(self);
    }

    /// `DELETE /session/{id}`, blocking (it runs in `drop`, also while a failed test unwinds):
    /// chromedriver closes chromium before it answers.
    fn end_session(&mut self) {
        let Some(id) = self.session.take() else {
            return;
        };
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        if let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
            let _ = write!(
                s,
                "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n"
            );
            // Until the whole answer is in (chromedriver may keep the connection open).
            let mut got = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = s.read(&mut chunk) {
                got.extend_from_slice(&chunk[..n]);
                if answered(&got) {
                    break;
                }
            }
        }
    }
}

/// Whether `got` holds a whole HTTP response (headers and `Content-Length` bytes of body).
fn answered(got: &[u8]) -> bool {
    let text = String::from_utf8_lossy(got);
    let Some(end) = text.find("\r\n\r\n") else {
        return false;
    };
    let length = text[..end]
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    got.len() >= end + 4 + length
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.end_session();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
