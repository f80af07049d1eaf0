//! `kruispunt init --production` as an operator runs it: a set-up with the broker's own keys and
//! a certificate request, and no development material — not after `init`, and not after `serve`
//! either (a production directory never gains a development CA or demo keys). The certificate is
//! then signed by a real CA tool (openssl), and `/readyz` names what is still missing (partner
//! keys, the client CA for mTLS partners) until the operator has added it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use kruispunt_policy::Registry;
use kruispunt_policy::registry::{KeyAlg, PartnerKey};
use kruispunt_test_kit::ServeProcess;
use ring::signature::KeyPair as _;
use serde_json::Value;

fn kruispunt(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kruispunt"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("KRUISPUNT_DATA_DIR")
        .output()
        .unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every development artefact `serve` writes into an empty directory.
fn assert_no_development_material(dir: &Path) {
    for dev in ["tls/ca.pem", "tls/ca.key", "tls/clients", "keys/partners"] {
        assert!(
            !dir.join(dev).exists(),
            "{dev} exists in a production set-up"
        );
    }
    let cfg = std::fs::read_to_string(dir.join("kruispunt.toml")).unwrap();
    assert!(cfg.contains("development = false"), "{cfg}");
}

fn serve(dir: &Path) -> Result<ServeProcess, String> {
    ServeProcess::spawn(
        Path::new(env!("CARGO_BIN_EXE_kruispunt")),
        dir,
        &[],
        "error",
    )
}

async fn readyz(ca: &Path, port: u16) -> (u16, Value) {
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap()])
        .build()
        .unwrap();
    let r = client
        .get(format!("https://localhost:{port}/readyz"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_production_writes_no_development_material_and_readyz_names_what_is_missing() {
    kruispunt_broker::tls::install_ring_provider();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("broker");
    let out = kruispunt(
        &[
            "init",
            "--production",
            "--deployment",
            "ops-test",
            "--tls-name",
            "localhost",
            "--listen",
            "127.0.0.1:0",
        ],
        &dir,
    );
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(
        printed
            .lines()
            .any(|l| l.trim().starts_with("kruispunt/ops-test+")),
        "the audit verifier key is printed: {printed}"
    );
    for secret in [
        "keys/at-rest.key",
        "keys/audit-signing.pk8",
        "tls/server.key",
    ] {
        assert_eq!(mode(&dir.join(secret)), 0o600, "{secret}");
    }
    assert!(
        std::fs::read_to_string(dir.join("tls/server.csr"))
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE REQUEST-----")
    );
    assert_no_development_material(&dir);

    // A second init changes nothing.
    let again = kruispunt(
        &[
            "init",
            "--production",
            "--deployment",
            "other",
            "--tls-name",
            "localhost",
        ],
        &dir,
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // Without the certificate, serve says what to do — and adds nothing of development.
    let err = serve(&dir).err().expect("no certificate yet");
    assert!(err.contains("server.csr"), "{err}");
    assert_no_development_material(&dir);

    // The operator's CA signs the request (openssl, as a CA would).
    let ca_dir = root.path().join("ca");
    std::fs::create_dir(&ca_dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "operator test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    std::fs::write(ca_dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(ca_dir.join("ca.key"), ca_key.serialize_pem()).unwrap();
    std::fs::write(
        ca_dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let signed = Command::new("openssl")
        .args(["x509", "-req", "-days", "30", "-in"])
        .arg(dir.join("tls/server.csr"))
        .arg("-CA")
        .arg(ca_dir.join("ca.pem"))
        .arg("-CAkey")
        .arg(ca_dir.join("ca.key"))
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(ca_dir.join("ext.cnf"))
        .arg("-out")
        .arg(dir.join("tls/server.pem"))
        .output()
        .unwrap();
    assert!(signed.status.success(), "{signed:?}");

    // Serving, but not ready: no partner can sign in, mTLS partners cannot connect.
    {
        let s = serve(&dir).expect("serves with the signed certificate");
        let (status, body) = readyz(&ca_dir.join("ca.pem"), s.port).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["type"], "urn:kruispunt:problem:not-ready");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("no partner has a token key"), "{detail}");
        assert!(detail.contains("client_ca"), "{detail}");
    }
    assert_no_development_material(&dir);

    // The operator adds a registry with a partner's key and the client CA: ready.
    let mut registry = Registry::embedded();
    let rng = ring::rand::SystemRandom::new();
    let pk8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pk8.as_ref()).unwrap();
    registry.partners[0].keys.push(PartnerKey {
        kid: "ops-test-1".into(),
        alg: KeyAlg::EdDsa,
        public_key: base64::engine::general_purpose::STANDARD.encode(pair.public_key().as_ref()),
    });
    std::fs::write(
        dir.join("registry.toml"),
        toml::to_string(&registry).unwrap(),
    )
    .unwrap();
    let cfg_path = dir.join("kruispunt.toml");
    let mut cfg: toml::Table = std::fs::read_to_string(&cfg_path).unwrap().parse().unwrap();
    cfg.insert("registry".into(), "registry.toml".into());
    cfg["tls"].as_table_mut().unwrap().insert(
        "client_ca".into(),
        ca_dir.join("ca.pem").display().to_string().into(),
    );
    std::fs::write(&cfg_path, toml::to_string(&cfg).unwrap()).unwrap();
    let s = serve(&dir).expect("serves");
    let (status, body) = readyz(&ca_dir.join("ca.pem"), s.port).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
}
