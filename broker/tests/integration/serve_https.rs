//! The broker answers over real TLS with the development CA it created on first start.

use std::sync::Arc;

use kruispunt_broker::config::Config;
use kruispunt_broker::devpki::DevPki;
use kruispunt_broker::server;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TLS connection to `localhost` at `addr`, trusting the CA in the PEM file `ca` and
/// presenting the client certificate and PKCS#8 key `client`, if any.
pub(crate) async fn connect(
    addr: std::net::SocketAddr,
    ca: &std::path::Path,
    client: Option<&(Vec<u8>, Vec<u8>)>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let cfg = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from(cert.clone())],
                rustls_pki_types::PrivateKeyDer::Pkcs8(key.clone().into()),
            )
            .unwrap(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

async fn get(addr: std::net::SocketAddr, ca: &std::path::Path, path: &str) -> String {
    let mut tls = connect(addr, ca, None).await.unwrap();
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

/// A client CA and certificates it issues for partners (rcgen), as an operator would set up.
struct ClientPki {
    ca_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl ClientPki {
    fn new(name: &str) -> ClientPki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        ClientPki {
            ca_pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// (certificate DER, private key DER) for a client named `cn`.
    fn client(&self, cn: &str) -> (Vec<u8>, Vec<u8>) {
        use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.der().to_vec(), key.serialize_der())
    }
}

/// POSTs `body` to `path` over TLS, optionally presenting a client certificate; returns the
/// status code, or `None` when the TLS handshake or the connection failed.
async fn post_with_cert(
    addr: std::net::SocketAddr,
    ca: &std::path::Path,
    client: Option<&(Vec<u8>, Vec<u8>)>,
    path: &str,
    token: &str,
    body: &str,
) -> Option<u16> {
    let mut tls = connect(addr, ca, client).await.ok()?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes()).await.ok()?;
    let mut out = String::new();
    // TLS 1.3 reports a refused client certificate only when the client reads.
    tls.read_to_string(&mut out).await.ok()?;
    out.get(9..12)?.parse().ok()
}

#[tokio::test]
async fn a_partner_that_requires_mtls_is_accepted_only_with_its_certificate() {
    use kruispunt_sdk::client::TokenClaims;

    const PARTNER: &str = "autoschade-almere";
    let dir = tempfile::tempdir().unwrap();
    Config::init_development(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let pki = ClientPki::new("partner client CA");
    let good = pki.client(PARTNER);
    let other_from_same_ca = pki.client("someone else");
    let foreign = ClientPki::new("another CA").client(PARTNER);
    let pin = hex::encode(ring::digest::digest(&ring::digest::SHA256, &good.0));
    std::fs::write(dir.path().join("client-ca.pem"), &pki.ca_pem).unwrap();
    let registry = include_str!("../../../policy/registry/midden-nederland.toml").replace(
        &format!("id = \"{PARTNER}\"\n"),
        &format!("id = \"{PARTNER}\"\nrequire_mtls = true\nclient_cert_sha256 = \"{pin}\"\n"),
    );
    std::fs::write(dir.path().join("registry.toml"), registry).unwrap();
    let mut cfg = Config::load(dir.path()).unwrap();
    cfg.tls.client_ca = Some(dir.path().join("client-ca.pem"));
    cfg.registry = Some(dir.path().join("registry.toml"));
    let running = server::start(&cfg).await.unwrap();
    let ca = DevPki::in_dir(dir.path()).ca_cert;

    let token = kruispunt_test_kit::token::signed(
        dir.path(),
        TokenClaims::new(PARTNER, "tester", cfg.deployment.clone()).roles(["compliance"]),
    );
    let body = format!(
        r#"{{"purpose":"autobranche-contante-aankopen","level":"hit","identifiers":[{{"kind":"kenteken","pseudonym":"{}","key_version":1}}]}}"#,
        "ab".repeat(32)
    );
    let store = running.state.store.clone();
    let counts = running.state.refusals.clone();
    // Refusals recorded: identical repeats are one entry counting them (`detail.repeated`),
    // written when the interval is flushed.
    let refusals = || async {
        counts.flush(&*store).await.unwrap();
        kruispunt_test_kit::all_entries(&*store)
            .await
            .into_iter()
            .filter(|(_, e)| e.reasons.iter().any(|r| r == "mtls-required"))
            .map(|(_, e)| {
                e.detail
                    .get("repeated")
                    .and_then(|r| r.as_u64())
                    .unwrap_or(1)
            })
            .sum::<u64>()
    };

    // A match request presenting `client`, if any.
    let post = |client| post_with_cert(running.addr, &ca, client, "/v1/matches", &token, &body);
    let with_cert = post(Some(&good));
    assert_eq!(
        with_cert.await,
        Some(200),
        "its own certificate is accepted"
    );
    assert_eq!(refusals().await, 0);

    let without = post(None);
    assert_eq!(without.await, Some(403), "no certificate: refused");
    assert_eq!(refusals().await, 1, "the refusal is audited");

    let wrong = post(Some(&other_from_same_ca));
    assert_eq!(
        wrong.await,
        Some(403),
        "another certificate of the CA: refused"
    );
    assert_eq!(refusals().await, 2, "the refusal is audited");

    let untrusted = post(Some(&foreign));
    assert_eq!(
        untrusted.await,
        None,
        "a certificate the client CA did not issue fails the handshake"
    );
    running.shutdown().await.unwrap();
}
