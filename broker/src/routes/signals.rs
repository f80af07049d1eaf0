//! `POST /v1/signals` (JSON batch), `POST /v1/signals/bulk` (streamed NDJSON) and
//! `DELETE /v1/signals/{id}` (withdrawal by the supplier).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use futures_util::StreamExt;
use kruispunt_sdk::wire::{
    MAX_SIGNAL_BATCH, SignalBatch, SignalIn, UploadResponse, WithdrawResponse,
};

use crate::auth::Authenticated;
use crate::auth::Principal;
use crate::ingest::{Prepared, commit, ingest, prepare, withdraw as withdraw_signal};
use crate::problem::Problem;
use crate::routes::json::StrictJson;
use crate::state::AppState;
use crate::store::SignalId;

/// Longest NDJSON line accepted; a signal is a few hundred bytes.
pub const MAX_LINE: usize = 16 * 1024;

/// Lines of a streamed bulk upload stored per transaction (each with its audit entry).
/// Larger commits amortise the random index pages each commit rewrites (100 000 rows: about
/// twice the rate at 1–2 M stored rows; no gain below ~300 k), but on SQLite a commit holds the
/// single write lock, which match decisions wait for — seconds at that size. It stays at one
/// JSON batch's size; see docs/OPERATIONS.md (sizing).
pub const BULK_CHUNK: usize = MAX_SIGNAL_BATCH;

pub async fn upload(
    State(state): State<AppState>,
    Authenticated { principal, .. }: Authenticated,
    StrictJson(batch): StrictJson<SignalBatch>,
) -> Result<Json<UploadResponse>, Problem> {
    if batch.signals.is_empty() {
        return Err(Problem::bad_request(
            "empty-batch",
            "signals: at least one signal is required",
        ));
    }
    if batch.signals.len() > MAX_SIGNAL_BATCH {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch-too-large",
            "Batch too large",
            format!(
                "signals: at most {MAX_SIGNAL_BATCH} per request, got {}; use POST /v1/signals/bulk",
                batch.signals.len()
            ),
        ));
    }
    let items = batch.signals.into_iter().map(Ok).enumerate().collect();
    Ok(Json(ingest(&state, &principal, items).await?))
}

/// Streams NDJSON (one [`SignalIn`] per line) in constant memory: every [`BULK_CHUNK`]
/// lines are stored in their own transaction with their own audit entry, so a broken
/// connection keeps what was committed and a re-upload of the whole file is idempotent.
///
/// Two stages run side by side: this task reads, parses and checks the next chunk
/// ([`crate::ingest::prepare`]: JSON, validation, policy, at-rest keying) while a committer
/// task stores the previous one ([`crate::ingest::commit`]), so a bulk load keeps both cores
/// busy instead of taking turns. At most one checked chunk waits between them. Whatever ends
/// the upload — the body's end, a bad line, a failed commit — the committer finishes the chunk
/// it holds before the answer is sent: the answer counts exactly what was stored.
pub async fn bulk(
    State(state): State<AppState>,
    Authenticated { principal, .. }: Authenticated,
    body: Body,
) -> Result<Json<UploadResponse>, Problem> {
    let (to_commit, mut chunks) = tokio::sync::mpsc::channel::<Prepared>(1);
    let committer = {
        let (state, principal) = (state.clone(), principal.clone());
        tokio::spawn(async move {
            let mut total = UploadResponse {
                stored: 0,
                duplicates: 0,
                rejected: 0,
                results: Vec::new(),
            };
            while let Some(chunk) = chunks.recv().await {
                absorb(&mut total, commit(&state, &principal, chunk).await?);
            }
            Ok::<_, Problem>(total)
        })
    };
    let read = read_ndjson(&state, &principal, body, to_commit).await;
    // `read_ndjson` dropped the sender: the committer ends after the last chunk it was given.
    let committed = committer.await.map_err(|e| {
        tracing::error!(error = %e, "the bulk upload's committer task failed");
        Problem::unavailable("the upload could not be completed; see the broker's log")
    })?;
    // A failed commit is the first thing that went wrong (reading stops when it fails).
    let total = committed?;
    match read? {
        0 => Err(Problem::bad_request(
            "empty-batch",
            "the NDJSON body holds no signals",
        )),
        _ => Ok(Json(total)),
    }
}

/// The reading stage of [`bulk`]: splits the body into lines, parses and checks every
/// [`BULK_CHUNK`] of them and hands each chunk to the committer through `to_commit`. Returns
/// the number of lines read, or the first problem with the body; stops early (without an
/// error of its own) when the committer has stopped.
async fn read_ndjson(
    state: &AppState,
    principal: &Principal,
    body: Body,
    to_commit: tokio::sync::mpsc::Sender<Prepared>,
) -> Result<usize, Problem> {
    let mut stream = body.into_data_stream();
    let mut lines = NdjsonLines::new();
    let mut pending: Vec<NdjsonItem> = Vec::with_capacity(BULK_CHUNK);
    let mut done = false;
    while !done {
        match stream.next().await {
            Some(Ok(chunk)) => lines.push(&chunk),
            Some(Err(e)) => {
                return Err(Problem::bad_request(
                    "body-read",
                    format!("reading the body failed: {e}"),
                ));
            }
            None => {
                done = true;
                lines.finish();
            }
        }
        while let Some(item) = lines.next_item()? {
            pending.push(item);
            if pending.len() == BULK_CHUNK {
                let chunk = prepare(state, principal, std::mem::take(&mut pending)).await?;
                if to_commit.send(chunk).await.is_err() {
                    // the committer failed: its error is the answer
                    return Ok(lines.count());
                }
            }
        }
    }
    let line_no = lines.count();
    if !pending.is_empty() {
        let chunk = prepare(state, principal, pending).await?;
        // A send error means the committer failed; its error is the answer.
        let _ = to_commit.send(chunk).await;
    }
    Ok(line_no)
}

/// One line of a bulk upload: its index (blank lines are not counted) and the signal it holds,
/// or why it holds none.
pub type NdjsonItem = (usize, Result<SignalIn, String>);

/// The line handling of the bulk upload, apart from the body stream and the storage so that it
/// can be tested and fuzzed on its own: bytes go in as they arrive ([`NdjsonLines::push`], then
/// [`NdjsonLines::finish`] at the end of the body), parsed items come out with their number
/// ([`NdjsonLines::next_item`]). A line ends at `\n` (a `\r` before it is dropped); blank lines
/// are skipped and not counted; the last line needs no newline. How the body is cut into
/// chunks never changes the items.
#[derive(Debug, Default)]
pub struct NdjsonLines {
    buf: Vec<u8>,
    /// Where the unread part of `buf` starts.
    start: usize,
    /// Items handed out so far (the next item's index).
    count: usize,
}

impl NdjsonLines {
    pub fn new() -> NdjsonLines {
        NdjsonLines {
            buf: Vec::with_capacity(1 << 16),
            start: 0,
            count: 0,
        }
    }

    /// Appends the next bytes of the body.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.drain(..self.start);
        self.start = 0;
        self.buf.extend_from_slice(chunk);
    }

    /// The body has ended: a last line without a newline is complete.
    pub fn finish(&mut self) {
        if self.buf.len() > self.start && self.buf.last() != Some(&b'\n') {
            self.buf.push(b'\n');
        }
    }

    /// The next complete, non-blank line parsed as a signal (or why it is not one, naming its
    /// line number), with its index in the upload; `Ok(None)` when no complete line is left.
    /// A line longer than [`MAX_LINE`] bytes (its `\r` included) refuses the upload, whether
    /// it arrived whole or is still incomplete — so a body without newlines cannot grow the
    /// buffer without bound, and the chunking never decides.
    pub fn next_item(&mut self) -> Result<Option<NdjsonItem>, Problem> {
        loop {
            let rest = &self.buf[self.start..];
            let Some(pos) = rest.iter().position(|b| *b == b'\n') else {
                return match rest.len() > MAX_LINE {
                    true => Err(self.too_long()),
                    false => Ok(None),
                };
            };
            if pos > MAX_LINE {
                return Err(self.too_long());
            }
            let line = &rest[..pos];
            self.start += pos + 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let index = self.count;
            self.count += 1;
            let parsed = serde_json::from_slice::<SignalIn>(line)
                .map_err(|e| format!("line {}: {e}", index + 1));
            return Ok(Some((index, parsed)));
        }
    }

    /// Items handed out so far.
    pub fn count(&self) -> usize {
        self.count
    }

    fn too_long(&self) -> Problem {
        Problem::bad_request(
            "line-too-long",
            format!("line {}: longer than {MAX_LINE} bytes", self.count + 1),
        )
    }
}

/// Sums a chunk's outcome into the whole upload's; only rejected items are listed (up to 1000)
/// so that the answer to a million-row upload stays small.
fn absorb(total: &mut UploadResponse, part: UploadResponse) {
    total.stored += part.stored;
    total.duplicates += part.duplicates;
    total.rejected += part.rejected;
    let room = 1000usize.saturating_sub(total.results.len());
    total.results.extend(
        part.results
            .into_iter()
            .filter(|r| r.status == kruispunt_sdk::wire::ItemStatus::Rejected)
            .take(room),
    );
}

pub async fn withdraw(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Authenticated { principal, .. }: Authenticated,
) -> Result<Json<WithdrawResponse>, Problem> {
    let signal_id: SignalId = id.parse().map_err(|_| {
        Problem::bad_request(
            "invalid-signal-id",
            "id: must be 32 lowercase hex characters",
        )
    })?;
    withdraw_signal(&state, &principal, signal_id).await?;
    Ok(Json(WithdrawResponse {
        id: signal_id.to_string(),
        withdrawn: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `body` in the given pieces; the items' indexes and whether the upload was refused.
    fn read(pieces: &[&[u8]]) -> (Vec<usize>, Option<&'static str>) {
        let mut lines = NdjsonLines::new();
        let mut indexes = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            lines.push(piece);
            if i + 1 == pieces.len() {
                lines.finish();
            }
            loop {
                match lines.next_item() {
                    Ok(Some((index, _))) => indexes.push(index),
                    Ok(None) => break,
                    Err(p) => return (indexes, Some(p.slug)),
                }
            }
        }
        (indexes, None)
    }

    /// The `ndjson` fuzz target's property (the chunking never changes the outcome) showed it:
    /// a line over the limit was refused when it arrived in pieces but parsed when one chunk of
    /// the body held it whole.
    #[test]
    fn a_line_over_the_limit_is_refused_however_the_body_is_cut() {
        let long = format!("{{\"kind\":\"{}\"}}\n", "x".repeat(MAX_LINE));
        let body = format!("{{}}\n{long}{{}}\n");
        let (whole, half) = body.as_bytes().split_at(10);
        let expected = (vec![0], Some("line-too-long"));
        assert_eq!(read(&[body.as_bytes()]), expected, "in one chunk");
        assert_eq!(read(&[whole, half]), expected, "in two chunks");
    }

    #[test]
    fn lines_are_numbered_without_blank_lines_and_the_last_needs_no_newline() {
        let body: &[u8] = b"{}\r\n\n  \n{\"kind\":1}\n{}";
        assert_eq!(read(&[body]), (vec![0, 1, 2], None));
        let pieces: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(read(&pieces), (vec![0, 1, 2], None));
    }
}
