//! The broker answers over real TLS with the development CA it created on first start.

use std::sync::Arc;

use kruispunt_broker::config::Config;
use kruispunt_broker::devpki::DevPki;
use kruispunt_broker::server;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: std::net::SocketAddr, ca: &std::path::Path, path: &str) -> String {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (_, conn) = tls.get_ref();
    assert_eq!(
        conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    tls.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn healthz_over_tls13_with_the_development_ca() {
    let dir = tempfile::tempdir().unwrap();
    assert!(Config::init_development(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap());
    // A second init changes nothing.
    assert!(!Config::init_development(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap());
    let cfg = Config::load(dir.path()).unwrap();
    assert!(cfg.development);
    let running = server::start(&cfg).await.unwrap();
    let ca = DevPki::in_dir(dir.path()).ca_cert;
    let resp = get(running.addr, &ca, "/healthz").await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"status\":\"ok\""), "{resp}");
    let addr = running.addr;
    running.shutdown().await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still listening after shutdown"
    );
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Config::init_development(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let cfg = Config::load(dir.path()).unwrap();
    let running = server::start(&cfg).await.unwrap();
    // Another development set-up has another CA: the handshake must fail.
    let other = tempfile::tempdir().unwrap();
    Config::init_development(other.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let other_ca = DevPki::in_dir(other.path()).ca_cert;
    let result = tokio::spawn({
        let addr = running.addr;
        async move { get(addr, &other_ca, "/healthz").await }
    })
    .await;
    assert!(result.is_err(), "handshake with an untrusted CA must fail");
    running.shutdown().await.unwrap();
}
