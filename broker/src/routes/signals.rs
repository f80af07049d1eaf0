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
const MAX_LINE: usize = 16 * 1024;

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
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut pending: Vec<(usize, Result<SignalIn, String>)> = Vec::with_capacity(BULK_CHUNK);
    let mut line_no = 0usize;
    let mut done = false;
    while !done {
        match stream.next().await {
            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
            Some(Err(e)) => {
                return Err(Problem::bad_request(
                    "body-read",
                    format!("reading the body failed: {e}"),
                ));
            }
            None => {
                done = true;
                if !buf.is_empty() && buf.last() != Some(&b'\n') {
                    buf.push(b'\n');
                }
            }
        }
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|b| *b == b'\n') {
            let line = &buf[start..start + pos];
            start += pos + 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed = serde_json::from_slice::<SignalIn>(line)
                .map_err(|e| format!("line {}: {e}", line_no + 1));
            pending.push((line_no, parsed));
            line_no += 1;
            if pending.len() == BULK_CHUNK {
                let chunk = prepare(state, principal, std::mem::take(&mut pending)).await?;
                if to_commit.send(chunk).await.is_err() {
                    return Ok(line_no); // the committer failed: its error is the answer
                }
            }
        }
        buf.drain(..start);
        if buf.len() > MAX_LINE {
            return Err(Problem::bad_request(
                "line-too-long",
                format!("line {}: longer than {MAX_LINE} bytes", line_no + 1),
            ));
        }
    }
    if !pending.is_empty() {
        let chunk = prepare(state, principal, pending).await?;
        // A send error means the committer failed; its error is the answer.
        let _ = to_commit.send(chunk).await;
    }
    Ok(line_no)
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
