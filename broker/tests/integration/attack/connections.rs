//! Connection hygiene against `kruispunt serve` (header timeout 1 s in its configuration): a
//! slowloris head, an idle TLS connection and a TCP connection that never starts its handshake
//! are all closed by the broker, which keeps serving. Only "closed, within a generous bound" is
//! asserted, never how fast.

use std::time::Duration;

use super::*;
use kruispunt_broker::config::Connections;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Far longer than the timeout configured here: a connection still open then was not closed.
const BOUND: Duration = Duration::from_secs(60);

/// A TLS connection to the broker `b`, trusting its development CA.
pub async fn connect(b: &Broker) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    crate::serve_https::connect(b.addr(), &b.ca_path, None)
        .await
        .unwrap()
}

/// Whether the broker closes `s` (EOF or an error) within [`BOUND`], reading and discarding.
async fn closed_eventually<S: AsyncReadExt + Unpin>(s: &mut S) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(BOUND, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_and_idle_connections_are_closed() {
    let b = serve(Options {
        connections: Some(Connections {
            header_read_timeout_secs: 1,
            ..Connections::default()
        }),
        ..serve_opts()
    })
    .await;
    // Three slowloris connections: half a head each, then nothing.
    let mut slow = Vec::new();
    for _ in 0..3 {
        let mut s = connect(&b).await;
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nx-slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    for s in &mut slow {
        assert!(closed_eventually(s).await, "a slow head stayed open");
    }
    // An idle TLS connection after one request: closed too.
    let mut idle = connect(&b).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    assert!(
        closed_eventually(&mut idle).await,
        "an idle connection stayed open"
    );
    // A TCP connection that never starts its handshake.
    let mut raw = tokio::net::TcpStream::connect(b.addr()).await.unwrap();
    assert!(
        closed_eventually(&mut raw).await,
        "a silent TCP connection stayed open"
    );
    // The broker still serves.
    assert_eq!(b.get("/healthz", None::<&str>).await.status(), 200);
    b.stop().await;
}
