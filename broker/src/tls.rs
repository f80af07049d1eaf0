//! The server's rustls configuration, always with the ring provider (no aws-lc-rs).

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Installs ring as the process-wide rustls provider; harmless when already installed.
pub fn install_ring_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Writes a new server key (`key`, owner-only) and a PKCS#10 certificate request for `names`
/// (`csr`) for the operator's CA: `kruispunt init --production`. The key never leaves the
/// data directory; the CA returns the certificate chain, which goes where `[tls] cert` points.
pub fn write_key_and_request(key: &Path, csr: &Path, names: &[String]) -> anyhow::Result<()> {
    let pair = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())
        .map_err(|e| anyhow::anyhow!("--tls-name: {e}"))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0].clone());
    let request = params.serialize_request(&pair)?;
    crate::secret_file::write_secret(key, pair.serialize_pem().as_bytes())?;
    crate::secret_file::write_public(csr, request.pem()?.as_bytes())?;
    Ok(())
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| {
            let csr = path.with_extension("csr");
            let hint = if csr.exists() {
                format!(
                    "; have your CA sign the certificate request {} and put the chain (leaf first) here",
                    csr.display()
                )
            } else {
                String::new()
            };
            anyhow::anyhow!("cannot read certificate {}: {e}{hint}", path.display())
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("bad certificate PEM in {}: {e}", path.display()))
}

/// TLS 1.3 and 1.2 with ring, HTTP/1.1 over ALPN, no client certificates.
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    server_config_with_client_ca(cert, key, None)
}

/// As [`server_config`]; with `client_ca`, the server also asks for a client certificate and
/// verifies any presented one against that CA (chain, validity, client-auth usage). The
/// certificate stays *optional* at the TLS layer: partners without `require_mtls` connect
/// with a token only, and the per-partner rule (required, pinned) is applied per request by
/// [`crate::auth::check_mtls`] with the certificate the acceptor attaches to the request (read
/// by the [`crate::auth::Authenticated`] extractor) — so a refusal gets its problem type and its
/// audit entry instead of a bare handshake failure.
pub fn server_config_with_client_ca(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> anyhow::Result<Arc<ServerConfig>> {
    let certs = read_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("cannot read private key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut cfg = match client_ca {
        None => builder.with_no_client_auth().with_single_cert(certs, key)?,
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in read_certs(ca)? {
                roots
                    .add(c)
                    .map_err(|e| anyhow::anyhow!("bad client CA in {}: {e}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| anyhow::anyhow!("client CA {}: {e}", ca.display()))?;
            builder
                .with_client_cert_verifier(verifier)
                .with_single_cert(certs, key)?
        }
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
