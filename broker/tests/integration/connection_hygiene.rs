//! Connection hygiene: a slowloris head and an idle TLS connection are closed after the header
//! timeout, and connections beyond the cap are refused (closed before the TLS handshake) until
//! one ends. The same for the witness (`kruispunt witness serve`, plain HTTP, the same code),
//! and a body that stalls is answered 503. Short test values; only "closed eventually, within a
//! generous bound" is asserted.

use std::time::Duration;

use crate::audit_common::*;
use kruispunt_broker::config::Connections;
use kruispunt_test_kit::Options;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Far longer than any timeout configured here: a connection still open then was not closed.
const BOUND: Duration = Duration::from_secs(60);

async fn broker(connections: Connections) -> Broker {
    Broker::start_with(Options {
        unlimited: true,
        connections: Some(connections),
        ..Options::default()
    })
    .await
}

/// Whether the server closes `tls` (EOF or an error) within [`BOUND`], reading and discarding.
async fn closed_eventually<S: AsyncReadExt + Unpin>(tls: &mut S) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(BOUND, async {
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_and_idle_connections_are_closed() {
    let b = broker(Connections {
        header_read_timeout_secs: 1,
        ..Connections::default()
    })
    .await;
    let addr = b.running.as_ref().unwrap().addr;

    // Slowloris: half a head, then nothing.
    let mut slow = crate::serve_https::connect(addr, &b.ca_path, None)
        .await
        .unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nx-slow: ")
        .await
        .unwrap();
    assert!(
        closed_eventually(&mut slow).await,
        "a slow head stayed open"
    );

    // An idle TLS connection: handshake done, no request.
    let mut idle = crate::serve_https::connect(addr, &b.ca_path, None)
        .await
        .unwrap();
    assert!(
        closed_eventually(&mut idle).await,
        "an idle connection stayed open"
    );

    // A TCP connection that never starts its handshake.
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_eventually(&mut raw).await,
        "a silent TCP connection stayed open"
    );

    // The broker still serves.
    assert_eq!(b.get("/healthz", None::<&str>).await.status(), 200);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_refused_until_one_ends() {
    let b = broker(Connections {
        max_connections: 3,
        header_read_timeout_secs: 600,
        ..Connections::default()
    })
    .await;
    let addr = b.running.as_ref().unwrap().addr;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(
            crate::serve_https::connect(addr, &b.ca_path, None)
                .await
                .unwrap(),
        );
    }
    // The fourth is closed before its handshake.
    assert!(
        crate::serve_https::connect(addr, &b.ca_path, None)
            .await
            .is_err(),
        "a connection beyond the cap was served"
    );
    // One ends; a new one is served again (once the server has noticed).
    let mut first = held.remove(0);
    first.shutdown().await.unwrap();
    drop(first);
    let mut served = false;
    for _ in 0..200 {
        if let Ok(mut tls) = crate::serve_https::connect(addr, &b.ca_path, None).await {
            tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut out = String::new();
            let _ = tls.read_to_string(&mut out).await;
            if out.starts_with("HTTP/1.1 200") {
                served = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "no connection was served after one ended");
    drop(held);
    b.stop().await;
}

/// Reads one HTTP/1.1 response (head and a `content-length` body) from `tls`; the head's
/// lines, lowercased.
async fn read_response<S: AsyncReadExt + Unpin>(tls: &mut S) -> Vec<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
            let lines: Vec<String> = head.lines().map(str::to_string).collect();
            let length: usize = lines
                .iter()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            while data.len() < end + 4 + length {
                let n = tls.read(&mut buf).await.unwrap();
                assert!(n > 0, "the connection ended inside a response");
                data.extend_from_slice(&buf[..n]);
            }
            return lines;
        }
        let n = tls.read(&mut buf).await.unwrap();
        assert!(n > 0, "the connection ended before a response");
        data.extend_from_slice(&buf[..n]);
    }
}

/// A refusal decided before the body is read (here: no token) says `Connection: close`, so a
/// keep-alive client does not send its next request into a connection the broker closes (it
/// failed as an EOF, found by schemathesis); a request whose body was read keeps the
/// connection, and the next request on it is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_body_closes_the_connection_with_notice() {
    let b = broker(Connections::default()).await;
    let addr = b.running.as_ref().unwrap().addr;
    let body = format!("{{\"purpose\":\"{}\"}}", "x".repeat(100));
    let post = |token: Option<String>| {
        format!(
            "POST /v1/matches HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n{}\r\n{body}",
            body.len(),
            token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n")),
        )
    };

    // Refused before the body is read.
    let mut tls = crate::serve_https::connect(addr, &b.ca_path, None)
        .await
        .unwrap();
    tls.write_all(post(None).as_bytes()).await.unwrap();
    let head = read_response(&mut tls).await;
    assert!(head[0].starts_with("http/1.1 401"), "{head:?}");
    assert!(head.iter().any(|l| l == "connection: close"), "{head:?}");

    // Read to its end (and refused as invalid): the connection stays open for the next request.
    let token = b.token("autobedrijf-de-vecht", &["compliance"]);
    let mut tls = crate::serve_https::connect(addr, &b.ca_path, None)
        .await
        .unwrap();
    tls.write_all(post(Some(token)).as_bytes()).await.unwrap();
    let head = read_response(&mut tls).await;
    assert!(head[0].starts_with("http/1.1 400"), "{head:?}");
    assert!(!head.iter().any(|l| l == "connection: close"), "{head:?}");
    tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let head = read_response(&mut tls).await;
    assert!(head[0].starts_with("http/1.1 200"), "{head:?}");
    b.stop().await;
}

/// A `kruispunt witness serve` process with `args`, witnessing one log; and its address.
fn witness(
    dir: &std::path::Path,
    args: &[&str],
) -> (crate::witness::WitnessProcess, std::net::SocketAddr) {
    use ring::signature::{Ed25519KeyPair, KeyPair as _};
    let key = Ed25519KeyPair::from_seed_unchecked(&[45; 32]).unwrap();
    let origin = "kruispunt/witness-hygiene";
    let vkey = kruispunt_sdk::transparency::Verifier::new(origin, key.public_key().as_ref())
        .unwrap()
        .to_string();
    let w = crate::witness::WitnessProcess::start_with(
        dir,
        "witness.test/hygiene",
        &[format!("{origin}={vkey}")],
        args,
    );
    let addr = w.url.trim_start_matches("http://").parse().unwrap();
    (w, addr)
}

/// A request the witness answers at once (400: not an add-checkpoint body it can use).
const SMALL_REQUEST: &[u8] = b"POST /add-checkpoint HTTP/1.1\r\nhost: localhost\r\n\
    content-length: 6\r\nconnection: close\r\n\r\nold 0\n";
/// The same, keeping the connection open afterwards.
const KEEP_ALIVE_REQUEST: &[u8] =
    b"POST /add-checkpoint HTTP/1.1\r\nhost: localhost\r\ncontent-length: 6\r\n\r\nold 0\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_witness_closes_slow_heads_bodies_and_idle_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (w, addr) = witness(
        dir.path(),
        &[
            "--header-read-timeout-secs",
            "1",
            "--request-timeout-secs",
            "2",
        ],
    );

    // Slowloris: half a head, then nothing.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST /add-checkpoint HTTP/1.1\r\nhost: localhost\r\nx-slow: ")
        .await
        .unwrap();
    assert!(
        closed_eventually(&mut slow).await,
        "a slow head stayed open"
    );

    // A TCP connection that never sends anything.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_eventually(&mut silent).await,
        "a silent connection stayed open"
    );

    // A body that promises 1000 bytes and stalls after 6: answered 503, then closed.
    let mut trickle = tokio::net::TcpStream::connect(addr).await.unwrap();
    trickle
        .write_all(
            b"POST /add-checkpoint HTTP/1.1\r\nhost: localhost\r\ncontent-length: 1000\r\n\r\nold 0\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(BOUND, trickle.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "a stalled body stayed open");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");

    // An idle keep-alive connection after an answer is closed too.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(KEEP_ALIVE_REQUEST).await.unwrap();
    assert!(
        closed_eventually(&mut idle).await,
        "an idle keep-alive connection stayed open"
    );

    // The witness still serves.
    let (status, _, body) = w.add("old 0\n".into()).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_witness_refuses_connections_beyond_its_cap_until_one_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (_w, addr) = witness(
        dir.path(),
        &[
            "--max-connections",
            "3",
            "--header-read-timeout-secs",
            "600",
        ],
    );
    // Three connections, each answered once (so the witness has certainly accepted it and it
    // holds its permit) and then kept open, idle.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(KEEP_ALIVE_REQUEST).await.unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 1024];
        // The answer is a problem (JSON): complete once its closing brace is in.
        while !got.ends_with(b"}") {
            let n = tokio::time::timeout(BOUND, c.read(&mut chunk))
                .await
                .expect("an answer")
                .unwrap();
            assert!(n > 0, "closed before answering");
            got.extend_from_slice(&chunk[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 400"));
        held.push(c);
    }
    // The fourth is closed at once (its head timeout is far beyond the bound).
    let mut fourth = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_eventually(&mut fourth).await,
        "a connection beyond the cap was kept"
    );
    // One ends; a new one is served again (once the witness has noticed).
    drop(held.remove(0));
    let mut served = false;
    for _ in 0..200 {
        if let Ok(mut c) = tokio::net::TcpStream::connect(addr).await
            && c.write_all(SMALL_REQUEST).await.is_ok()
        {
            let mut out = String::new();
            let _ = c.read_to_string(&mut out).await;
            if out.starts_with("HTTP/1.1 400") {
                served = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "no connection was served after one ended");
    drop(held);
}
