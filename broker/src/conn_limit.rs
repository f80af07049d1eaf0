//! Connection hygiene for the servers of this binary (the broker's HTTPS edge and the
//! witness's HTTP): [`hygienic`] applies `[connections]` — the cap on connections served at
//! once, and the timeout on request heads and idle connections — to an axum-server. The
//! request timeouts (whole request, body) are the routers' layers.
//!
//! The cap on connections served at once (`[connections] max_connections`). Why: without it, idle or slow connections (slowloris) could hold every file descriptor and
//! task the process has. A connection takes a permit when it is accepted — before its TLS
//! handshake, so handshakes count too — and gives it back when hyper drops the connection's
//! service, i.e. when the connection ends. Beyond the cap a connection is **refused**: closed
//! right after `accept`, without a handshake (no queue: a queue of idle sockets is what the cap
//! is against). Clients see a reset or a failed handshake and may retry.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_server::accept::Accept;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Connections;

/// How long a connection may take to send a request head (and, for TLS, to complete its
/// handshake), and may stay idle between requests.
pub fn head_timeout(c: &Connections) -> std::time::Duration {
    std::time::Duration::from_secs(c.header_read_timeout_secs.max(1))
}

/// `server` with `acceptor` behind the cap on connections, HTTP/1.1 only, and every request
/// head — the first one included, counted from the end of `acceptor`'s work (a TLS handshake
/// has its own timeout there) — and every idle keep-alive wait cut off after
/// [`head_timeout`].
pub fn hygienic<Acc>(
    server: axum_server::Server<std::net::SocketAddr>,
    acceptor: Acc,
    c: &Connections,
) -> axum_server::Server<std::net::SocketAddr, Capped<Acc>> {
    let head = head_timeout(c);
    let mut server = server
        .acceptor(Capped::new(acceptor, c.max_connections.max(1)))
        .http1_only()
        .first_request_timeout(head);
    // hyper starts this timer whenever it waits for a request head: a slow head and an idle
    // keep-alive connection are both closed after it.
    server
        .http_builder()
        .http1()
        .header_read_timeout(head)
        .max_headers(crate::edge::HYPER_MAX_HEADERS);
    server
}

/// An acceptor that admits at most `max` connections at a time, then hands over to `inner`.
#[derive(Clone)]
pub struct Capped<A> {
    inner: A,
    permits: Arc<Semaphore>,
}

impl<A> Capped<A> {
    pub fn new(inner: A, max: usize) -> Capped<A> {
        Capped {
            inner,
            permits: Arc::new(Semaphore::new(max)),
        }
    }
}

impl<I, S, A> Accept<I, S> for Capped<A>
where
    A: Accept<I, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = A::Stream;
    type Service = Permitted<A::Service>;
    type Future =
        Pin<Box<dyn Future<Output = std::io::Result<(A::Stream, Permitted<A::Service>)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        // Taken before the inner acceptor runs; dropping `stream` closes the connection.
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            drop(stream);
            return Box::pin(std::future::ready(Err(std::io::Error::other(
                "connection cap reached",
            ))));
        };
        let accepted = self.inner.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = accepted.await?;
            Ok((
                stream,
                Permitted {
                    inner: service,
                    _permit: Arc::new(permit),
                },
            ))
        })
    }
}

/// A connection's service, holding its permit for as long as the connection lives.
#[derive(Clone)]
pub struct Permitted<S> {
    inner: S,
    _permit: Arc<OwnedSemaphorePermit>,
}

impl<S, R> tower_service::Service<R> for Permitted<S>
where
    S: tower_service::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> S::Future {
        self.inner.call(req)
    }
}
