//! Streaming NDJSON uploads: signals are serialised a chunk at a time as the connection takes
//! them, so a million-line upload needs memory for one chunk, not for the file.

use std::sync::Arc;

use crate::wire::SignalIn;

/// Lines serialised per body chunk (and per progress call).
const LINES_PER_CHUNK: usize = 1000;

/// Progress of a bulk upload, reported as chunks are handed to the connection.
///
/// ```
/// use kruispunt_sdk::client::BulkProgress;
/// let p = BulkProgress { attempt: 1, lines: 1000, bytes: 250_000 };
/// assert_eq!(p.lines, 1000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkProgress {
    /// Which attempt this is (1 unless a 429/503 made the client start again).
    pub attempt: u32,
    /// Lines sent so far in this attempt.
    pub lines: u64,
    /// Bytes sent so far in this attempt.
    pub bytes: u64,
}

/// Something a bulk upload can read its signals from — more than once, because a retried
/// upload starts again from the first line (the broker recognises what it already stored).
///
/// Implemented for `Vec<SignalIn>` and, through [`FnSource`], for any function that returns a
/// fresh iterator (a file reader, a database cursor, a generator).
///
/// ```
/// use std::sync::Arc;
/// use kruispunt_sdk::client::{BulkSource, FnSource};
/// use kruispunt_sdk::wire::SignalIn;
///
/// let source = FnSource(|| (0..3).map(|_| SignalIn {
///     kind: "kvk".into(), pseudonym: "00".repeat(32), key_version: 1, code: "cash-rent".into(),
///     observed: "2026-01-01".into(), district: "flevoland".into(),
///     gemeente: Some("GM0034".into()), wijk: None,
///     purposes: vec!["kvo-buitengebied-signalering".into()], expires: None,
/// }));
/// assert_eq!(Arc::new(source).open().count(), 3);
/// ```
pub trait BulkSource: Send + Sync + 'static {
    /// A fresh iterator over every signal, from the first.
    fn open(self: Arc<Self>) -> Box<dyn Iterator<Item = SignalIn> + Send>;
}

impl BulkSource for Vec<SignalIn> {
    fn open(self: Arc<Self>) -> Box<dyn Iterator<Item = SignalIn> + Send> {
        Box::new((0..self.len()).map(move |i| self[i].clone()))
    }
}

/// A [`BulkSource`] from a function returning a fresh iterator each time it is called.
///
/// ```
/// # use kruispunt_sdk::client::FnSource;
/// let _s = FnSource(|| std::iter::empty::<kruispunt_sdk::wire::SignalIn>());
/// ```
pub struct FnSource<F>(pub F);

impl<F, I> BulkSource for FnSource<F>
where
    F: Fn() -> I + Send + Sync + 'static,
    I: Iterator<Item = SignalIn> + Send + 'static,
{
    fn open(self: Arc<Self>) -> Box<dyn Iterator<Item = SignalIn> + Send> {
        Box::new((self.0)())
    }
}

/// The request body of one attempt: NDJSON chunks pulled lazily from the source.
pub(crate) fn ndjson_body<S: BulkSource>(
    source: Arc<S>,
    progress: Arc<dyn Fn(BulkProgress) + Send + Sync>,
    attempt: u32,
) -> reqwest::Body {
    let mut lines = source.open();
    let mut sent = BulkProgress {
        attempt,
        lines: 0,
        bytes: 0,
    };
    let chunks = std::iter::from_fn(move || {
        let mut buf = Vec::with_capacity(LINES_PER_CHUNK * 256);
        let mut n = 0u64;
        for s in lines.by_ref().take(LINES_PER_CHUNK) {
            if let Err(e) = serde_json::to_writer(&mut buf, &s) {
                return Some(Err(std::io::Error::other(e)));
            }
            buf.push(b'\n');
            n += 1;
        }
        if n == 0 {
            return None;
        }
        sent.lines += n;
        sent.bytes += buf.len() as u64;
        progress(sent);
        Some(Ok::<_, std::io::Error>(buf))
    });
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}
