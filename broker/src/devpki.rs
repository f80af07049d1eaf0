//! Development certificates: a throw-away CA and a server certificate it signs, created on
//! first start so that `serve` speaks real TLS with zero set-up. Production deployments name
//! their own certificate and key in `kruispunt.toml`.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::secret_file;

/// Where the development PKI lives inside the data directory.
#[derive(Debug, Clone)]
pub struct DevPki {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl DevPki {
    pub fn in_dir(data_dir: &Path) -> Self {
        let tls = data_dir.join("tls");
        Self {
            ca_cert: tls.join("ca.pem"),
            ca_key: tls.join("ca.key"),
            server_cert: tls.join("server.pem"),
            server_key: tls.join("server.key"),
        }
    }

    /// The client certificate and key the development set-up issues to `partner`
    /// (`tls/clients/<partner>.pem` and `.key`).
    pub fn client_identity(&self, partner: &str) -> (PathBuf, PathBuf) {
        let dir = self.clients_dir();
        (
            dir.join(format!("{partner}.pem")),
            dir.join(format!("{partner}.key")),
        )
    }

    fn clients_dir(&self) -> PathBuf {
        self.ca_cert
            .parent()
            .map_or_else(|| PathBuf::from("clients"), |d| d.join("clients"))
    }

    /// Issues a client certificate (for mTLS) to each of `partners` that has none yet, signed
    /// by the development CA and naming the partner the way [`crate::auth::mtls`] checks.
    /// Returns the partners that got one. Ids no certificate can name are skipped (they would
    /// need a pinned certificate, which a development set-up does not invent).
    pub fn create_client_certs_if_missing(&self, partners: &[&str]) -> anyhow::Result<Vec<String>> {
        let todo: Vec<(&str, String)> = partners
            .iter()
            .filter(|p| !self.client_identity(p).0.exists())
            .filter_map(|p| crate::auth::mtls::dns_name(p).map(|n| (*p, n)))
            .collect();
        if todo.is_empty() {
            return Ok(Vec::new());
        }
        let ca_key_pem = std::fs::read_to_string(&self.ca_key).map_err(|e| {
            anyhow::anyhow!(
                "cannot read the development CA key {}: {e}",
                self.ca_key.display()
            )
        })?;
        let issuer = Issuer::new(ca_params()?, KeyPair::from_pem(&ca_key_pem)?);
        secret_file::create_private_dir(&self.clients_dir())?;
        let mut issued = Vec::with_capacity(todo.len());
        for (partner, name) in todo {
            let key = KeyPair::generate()?;
            let params = leaf_params(
                vec![name],
                partner,
                Some("Kruispunt (development only)"),
                ExtendedKeyUsagePurpose::ClientAuth,
            )?;
            let cert = params.signed_by(&key, &issuer)?;
            let (cert_path, key_path) = self.client_identity(partner);
            // Key first: a certificate on disk means its key is there too (a key without its
            // certificate is left from an interrupted run and replaced).
            let _ = std::fs::remove_file(&key_path);
            secret_file::write_secret(&key_path, key.serialize_pem().as_bytes())?;
            secret_file::write_public(&cert_path, cert.pem().as_bytes())?;
            issued.push(partner.to_string());
        }
        Ok(issued)
    }

    pub fn exists(&self) -> bool {
        self.ca_cert.exists() && self.server_cert.exists() && self.server_key.exists()
    }

    /// Creates the CA and a server certificate for `localhost`, 127.0.0.1 and ::1 plus any
    /// extra names, writing keys readable by the owner only. Existing files are kept.
    pub fn create_if_missing(&self, extra_names: &[String]) -> anyhow::Result<bool> {
        if self.exists() {
            return Ok(false);
        }
        if let Some(dir) = self.ca_cert.parent() {
            secret_file::create_private_dir(dir)?;
        }
        let ca_key = KeyPair::generate()?;
        let ca_params = ca_params()?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let mut names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        names.extend(extra_names.iter().cloned());
        let server_key = KeyPair::generate()?;
        let params = leaf_params(
            names,
            "kruispunt broker (development)",
            None,
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        let server_cert = params.signed_by(&server_key, &issuer)?;

        secret_file::write_public(&self.ca_cert, ca_cert.pem().as_bytes())?;
        secret_file::write_secret(&self.ca_key, issuer_key_pem(&issuer).as_bytes())?;
        secret_file::write_public(&self.server_cert, server_cert.pem().as_bytes())?;
        secret_file::write_secret(&self.server_key, server_key.serialize_pem().as_bytes())?;
        Ok(true)
    }
}

fn issuer_key_pem(issuer: &Issuer<'_, KeyPair>) -> String {
    issuer.key().serialize_pem()
}

/// A certificate the development CA issues (the server's, or a partner's client certificate):
/// subject `common_name` (and `organisation`), for `names`, usable for `usage` only, valid
/// 2024–2031.
fn leaf_params(
    names: Vec<String>,
    common_name: &str,
    organisation: Option<&str>,
    usage: ExtendedKeyUsagePurpose,
) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    if let Some(organisation) = organisation {
        params
            .distinguished_name
            .push(DnType::OrganizationName, organisation);
    }
    params.extended_key_usages = vec![usage];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2031, 1, 1);
    Ok(params)
}

/// The development CA's parameters. Issuing later (a client certificate for a partner added
/// to the registry) rebuilds the issuer from these and the stored key: the same name and key
/// give certificates that chain to the CA written on first start.
fn ca_params() -> anyhow::Result<CertificateParams> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Kruispunt development CA");
    ca_params
        .distinguished_name
        .push(DnType::OrganizationName, "Kruispunt (development only)");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    ca_params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    Ok(ca_params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_and_keeps_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let pki = DevPki::in_dir(dir.path());
        assert!(pki.create_if_missing(&[]).unwrap());
        let first = std::fs::read(&pki.server_cert).unwrap();
        assert!(!pki.create_if_missing(&[]).unwrap());
        assert_eq!(first, std::fs::read(&pki.server_cert).unwrap());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&pki.server_key)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn client_certificates_name_their_partner_and_are_issued_once() {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let dir = tempfile::tempdir().unwrap();
        let pki = DevPki::in_dir(dir.path());
        pki.create_if_missing(&[]).unwrap();
        let partners = ["politie-midden-nederland", "not_a_label"];
        assert_eq!(
            pki.create_client_certs_if_missing(&partners).unwrap(),
            ["politie-midden-nederland"]
        );
        assert!(
            pki.create_client_certs_if_missing(&partners)
                .unwrap()
                .is_empty()
        );
        let (cert, key) = pki.client_identity("politie-midden-nederland");
        let der = CertificateDer::from_pem_file(&cert).unwrap();
        assert!(crate::auth::mtls::names_partner(
            &der,
            "politie-midden-nederland"
        ));
        assert!(!crate::auth::mtls::names_partner(
            &der,
            "om-midden-nederland"
        ));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
