//! The broker's side: after the log signs a checkpoint, ask every configured witness to cosign
//! it (C2SP `tlog-witness`), concurrently and each with a timeout, and publish the checkpoint
//! with the cosignatures appended at `GET /v1/audit/checkpoint`.
//!
//! * Each witness is first asked with the old size it last cosigned for this broker (after a
//!   start: the size of the kept cosigned checkpoint if it carries that witness's cosignature,
//!   else 0); on a 409 the request is repeated once with a fresh consistency proof from the size
//!   the witness returned.
//! * A cosignature is kept only if it verifies with the witness's configured key.
//! * The new checkpoint is published as soon as its cosignatures satisfy the quorum policy, or
//!   when every witness has answered or timed out (so a quorum that cannot be met never stops the
//!   broker from publishing; verifiers that require the quorum then refuse it, loudly).
//!   Cosignatures that arrive later are added. A witness that is down or hangs delays nothing
//!   beyond its timeout; it is logged once per change of its state and shown in `/readyz`.
//! * The published note is kept in `keys/audit-checkpoint-cosigned` (atomically), so that a
//!   restarted broker serves it again.
//!
//! The cosigning runs in its own task ([`run`]), woken by the log task after each sync, and each
//! request to a witness in a task of its own, so that a slow witness never delays the signing
//! of checkpoints nor the cosignatures of the others; it is not asked again while a request to
//! it is still under way.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kruispunt_sdk::transparency::cosignature::{decode_timestamped, signature_line};
use kruispunt_sdk::transparency::{Checkpoint, WitnessPolicy, WitnessVerifier, split_note};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Mutex, Notify, RwLock};

use super::http::TLOG_SIZE;
use super::request;
use crate::audit::log::AuditLog;
use crate::keys::KEYS_DIR;
use crate::store::Store;

/// File (in the key folder) of the latest published cosigned checkpoint.
pub const COSIGNED_FILE: &str = "audit-checkpoint-cosigned";

/// Default time a witness has to answer one request.
pub const DEFAULT_TIMEOUT_MS: u64 = 3000;

/// How often witnesses missing from the published checkpoint are asked again when nothing new
/// was signed.
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// `[witnesses]` in `kruispunt.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// The quorum policy (docs/AUDIT.md, "Witnesses and cosigned checkpoints"); every witness
    /// in it needs its URL (the `add-checkpoint` submission prefix).
    pub policy: String,
    /// How long one witness may take to answer, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// A witness's answer dated more than this many seconds ahead of the broker's clock is not
    /// used (verifiers would not count it: `WitnessPolicy`'s clock skew).
    #[serde(default = "default_max_clock_skew_secs")]
    pub max_clock_skew_secs: u64,
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

fn default_max_clock_skew_secs() -> u64 {
    kruispunt_sdk::transparency::DEFAULT_MAX_CLOCK_SKEW_SECS
}

/// The configuration of witnesses cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WitnessConfigError {
    #[error("[witnesses] policy: {0}")]
    Policy(#[from] kruispunt_sdk::transparency::PolicyError),
    #[error("[witnesses] policy: witness {0} has no URL to ask it at")]
    NoUrl(String),
    #[error("[witnesses]: {0}")]
    Http(String),
}

/// What a witness did last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Health {
    /// Not asked yet.
    Unknown,
    /// Its last answer was a valid cosignature.
    Cosigning,
    /// It did not answer in time, or refused, or its cosignature did not verify.
    Failing,
}

struct Remote {
    name: String,
    url: String,
    key: WitnessVerifier,
    state: Mutex<RemoteState>,
}

struct RemoteState {
    /// The size this witness last cosigned for us (what we send as the old size).
    old: u64,
    health: Health,
    last_error: Option<String>,
    /// A request to it is under way (it is not asked again until it ends).
    in_flight: bool,
}

/// The checkpoint being cosigned and what it has collected.
#[derive(Default)]
struct Current {
    size: u64,
    note: String,
    /// Cosignature lines, by witness index.
    lines: Vec<Option<String>>,
    /// Requests for this checkpoint not answered yet.
    pending: usize,
    published: bool,
}

/// The broker's witnesses.
pub struct Witnesses {
    policy: WitnessPolicy,
    remotes: Vec<Remote>,
    http: reqwest::Client,
    timeout: Duration,
    current: Mutex<Current>,
    published: RwLock<Option<(u64, String)>>,
    path: Option<PathBuf>,
    wake: Notify,
}

impl Witnesses {
    /// The witnesses of `config`; the published note is kept in `data_dir`'s key folder.
    pub fn new(
        config: &WitnessConfig,
        data_dir: Option<&Path>,
    ) -> Result<Self, WitnessConfigError> {
        let policy =
            WitnessPolicy::parse(&config.policy)?.with_max_clock_skew(config.max_clock_skew_secs);
        let mut remotes = policy
            .witnesses()
            .iter()
            .map(|w| {
                let url = w
                    .url
                    .clone()
                    .ok_or_else(|| WitnessConfigError::NoUrl(w.name.clone()))?;
                Ok(Remote {
                    name: w.name.clone(),
                    url: format!("{}/add-checkpoint", url.trim_end_matches('/')),
                    key: w.key.clone(),
                    state: Mutex::new(RemoteState {
                        old: 0,
                        health: Health::Unknown,
                        last_error: None,
                        in_flight: false,
                    }),
                })
            })
            .collect::<Result<Vec<_>, WitnessConfigError>>()?;
        crate::tls::install_ring_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms.max(1)))
            .build()
            .map_err(|e| WitnessConfigError::Http(e.to_string()))?;
        let path = data_dir.map(|d| d.join(KEYS_DIR).join(COSIGNED_FILE));
        let published = path
            .as_deref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|note| {
                let (text, _) = split_note(note.as_bytes()).ok()?;
                let cp = Checkpoint::parse_body(text).ok()?;
                Some((cp.size, note))
            });
        // The witnesses whose cosignatures the kept note carries cosigned that size: ask them
        // from there (a witness that forgot answers 409 with its size, and is asked again).
        if let Some((size, note)) = &published
            && let Ok((_, lines)) = split_note(note.as_bytes())
        {
            for r in &mut remotes {
                if lines
                    .iter()
                    .any(|l| l.name == r.key.name() && l.key_id == r.key.key_id())
                {
                    r.state.get_mut().old = *size;
                }
            }
        }
        Ok(Witnesses {
            policy,
            remotes,
            http,
            timeout: Duration::from_millis(config.timeout_ms.max(1)),
            current: Mutex::new(Current::default()),
            published: RwLock::new(published),
            path,
            wake: Notify::new(),
        })
    }

    /// Whether the cosignatures gathered for the current checkpoint satisfy the policy.
    fn quorum_met(&self, cur: &Current) -> bool {
        let names: Vec<&str> = cur
            .lines
            .iter()
            .zip(&self.remotes)
            .filter(|(l, _)| l.is_some())
            .map(|(_, r)| r.name.as_str())
            .collect();
        self.policy.is_satisfied_by(&names)
    }

    /// The latest published cosigned checkpoint (size and note).
    pub async fn published(&self) -> Option<(u64, String)> {
        self.published.read().await.clone()
    }

    /// Wakes the cosigning task (the log task calls it after each sync).
    pub fn checkpoint_signed(&self) {
        self.wake.notify_one();
    }

    /// Each witness's state, for `/readyz`: name, URL, state, last cosigned size, last error;
    /// and whether the published checkpoint meets the quorum.
    pub async fn status(&self) -> Value {
        let mut list = Vec::new();
        for r in &self.remotes {
            let s = r.state.lock().await;
            list.push(json!({
                "name": r.name,
                "url": r.url,
                "state": s.health,
                "cosigned_size": s.old,
                "error": s.last_error,
            }));
        }
        let cur = self.current.lock().await;
        json!({
            "witnesses": list,
            "quorum_met": !cur.note.is_empty() && self.quorum_met(&cur),
            "checkpoint_size": cur.size,
        })
    }

    /// Asks every witness that has not cosigned the checkpoint `note` of `size` yet (and is not
    /// still busy with an earlier request) to cosign it, each in a task of its own, publishing
    /// as described in the module documentation. Returns at once: a witness that hangs holds
    /// up nothing but its own task, until its timeout.
    pub async fn cosign(self: &Arc<Self>, size: u64, note: &str, state: &crate::state::AppState) {
        let mut cur = self.current.lock().await;
        if cur.note != note {
            *cur = Current {
                size,
                note: note.to_string(),
                lines: vec![None; self.remotes.len()],
                pending: 0,
                published: false,
            };
        }
        for i in 0..self.remotes.len() {
            if cur.lines[i].is_some() {
                continue;
            }
            {
                let mut s = self.remotes[i].state.lock().await;
                if s.in_flight {
                    continue;
                }
                s.in_flight = true;
            }
            cur.pending += 1;
            let (me, state, note) = (Arc::clone(self), state.clone(), note.to_string());
            tokio::spawn(async move {
                let answer = tokio::time::timeout(
                    me.timeout,
                    me.ask(&me.remotes[i], size, &note, &state.audit_log, &*state.store),
                )
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {} ms", me.timeout.as_millis())));
                me.answered(i, size, &note, answer).await;
            });
        }
    }

    /// Records witness `i`'s answer for the checkpoint `note`, and publishes when it is time.
    async fn answered(&self, i: usize, size: u64, note: &str, answer: Result<String, String>) {
        let r = &self.remotes[i];
        {
            let mut s = r.state.lock().await;
            s.in_flight = false;
            let before = s.health;
            match &answer {
                Ok(_) => {
                    s.old = size;
                    s.health = Health::Cosigning;
                    s.last_error = None;
                    if before == Health::Failing {
                        tracing::info!(witness = %r.name, size, "witness cosigns again");
                    }
                }
                Err(e) => {
                    s.health = Health::Failing;
                    s.last_error = Some(e.clone());
                    if before != Health::Failing {
                        tracing::warn!(witness = %r.name, url = %r.url, error = %e, "witness did not cosign the audit checkpoint");
                    }
                }
            }
        }
        let mut cur = self.current.lock().await;
        if cur.note != note {
            return; // a newer checkpoint took over
        }
        cur.pending = cur.pending.saturating_sub(1);
        if let Ok(line) = answer {
            cur.lines[i] = Some(line);
        }
        if self.quorum_met(&cur) || cur.pending == 0 || cur.published {
            let mut full = cur.note.clone();
            for line in cur.lines.iter().flatten() {
                full.push_str(line);
            }
            cur.published = true;
            drop(cur);
            self.publish(size, full).await;
        }
    }

    async fn publish(&self, size: u64, note: String) {
        if let Some(path) = &self.path {
            let (p, n) = (path.clone(), note.clone());
            let stored = tokio::task::spawn_blocking(move || crate::audit::anchor::store(&p, &n))
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r);
            if let Err(e) = stored {
                tracing::warn!(error = %e, path = %path.display(), "the cosigned checkpoint could not be kept");
            }
        }
        let mut slot = self.published.write().await;
        if slot
            .as_ref()
            .is_none_or(|(s, n)| *s < size || (*s == size && n.len() <= note.len()))
        {
            *slot = Some((size, note));
        }
    }

    /// One witness, one checkpoint: with the old size it last cosigned, once more after a 409
    /// with the size it answered. Answers its verified cosignature line.
    async fn ask(
        &self,
        r: &Remote,
        size: u64,
        note: &str,
        log: &AuditLog,
        store: &dyn Store,
    ) -> Result<String, String> {
        let mut old = r.state.lock().await.old;
        for attempt in 0..2 {
            if old > size {
                return Err(format!(
                    "the witness has cosigned {old} entries of this log, more than the {size} signed now"
                ));
            }
            let proof = if old == 0 || old == size {
                Vec::new()
            } else {
                log.consistency_proof(store, old, size)
                    .await
                    .map_err(|e| format!("no consistency proof from {old} to {size}: {e}"))?
            };
            let resp = self
                .http
                .post(&r.url)
                .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(request::encode(old, &proof, note))
                .send()
                .await
                .map_err(|e| format!("request failed: {e}"))?;
            let status = resp.status();
            let conflict_size = status == reqwest::StatusCode::CONFLICT
                && resp
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .is_some_and(|v| v.as_bytes().starts_with(TLOG_SIZE.as_bytes()));
            let body = resp
                .text()
                .await
                .map_err(|e| format!("reading the answer failed: {e}"))?;
            if status.is_success() {
                return self.verified_line(r, note, &body);
            }
            if conflict_size && attempt == 0 {
                old = body
                    .trim_end_matches('\n')
                    .parse()
                    .map_err(|_| format!("409 with a size that is not a number: {body:?}"))?;
                continue;
            }
            let mut detail = body;
            detail.truncate(300);
            return Err(format!("answered {status}: {detail}"));
        }
        Err("the witness answered 409 twice".into())
    }

    /// The witness's line among those it answered, verified over the checkpoint's body.
    fn verified_line(&self, r: &Remote, note: &str, answer: &str) -> Result<String, String> {
        let (text, _) = split_note(note.as_bytes()).map_err(|e| e.to_string())?;
        let combined = format!("{note}{answer}");
        let (_, lines) = split_note(combined.as_bytes())
            .map_err(|e| format!("the answer is not a list of signature lines: {e}"))?;
        let line = lines
            .iter()
            .find(|l| l.name == r.key.name() && l.key_id == r.key.key_id())
            .ok_or_else(|| format!("no cosignature of {} in its answer", r.key.name()))?;
        let ts = r
            .key
            .verify(text, &line.signature)
            .map_err(|e| format!("its cosignature does not verify: {e}"))?;
        let now = u64::try_from(crate::civil::now_secs()).unwrap_or(0);
        if !self.policy.timestamp_acceptable(ts, now) {
            return Err(format!(
                "its cosignature is dated {} s ahead of this broker's clock (at most {} s \
                 allowed): check the witness's clock",
                ts - now,
                self.policy.max_clock_skew()
            ));
        }
        let (_, sig) = decode_timestamped(&line.signature).map_err(|e| e.to_string())?;
        Ok(signature_line(line.name, line.key_id, ts, sig))
    }
}

/// Cosigns each new checkpoint (woken by the log task) and asks missing witnesses again every
/// [`RETRY_EVERY`].
pub async fn run(state: crate::state::AppState) {
    let Some(witnesses) = state.witnesses.clone() else {
        return;
    };
    loop {
        tokio::select! {
            _ = witnesses.wake.notified() => {}
            _ = tokio::time::sleep(RETRY_EVERY) => {}
        }
        if let Some((size, note)) = state.audit_log.checkpoint().await {
            witnesses.cosign(size, &note, &state).await;
        }
    }
}

/// The witnesses of a configuration, if any.
pub fn from_config(
    config: Option<&WitnessConfig>,
    data_dir: &Path,
) -> Result<Option<Arc<Witnesses>>, WitnessConfigError> {
    config
        .map(|c| Witnesses::new(c, Some(data_dir)).map(Arc::new))
        .transpose()
}
