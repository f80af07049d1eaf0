//! How a client certificate names the partner it was issued to, and the per-partner mTLS rule
//! built on it ([`check_mtls`]).
//!
//! The TLS layer only proves that a certificate chains to the configured client CA; one CA
//! usually issues certificates to several partners, so the broker must also check *whose*
//! certificate it is, or the police's `require_mtls` would be met by a car dealer's
//! certificate. Without a pinned hash, a certificate names its partner by carrying the DNS
//! subject alternative name `<partner id>.partner.kruispunt.invalid` (`.invalid` is reserved,
//! RFC 2606, so the name can never collide with a real host). A partner id that is not a valid
//! DNS label cannot be named this way and needs a pin (`client_cert_sha256`).

use kruispunt_policy::registry::Partner;
use rustls_pki_types::{CertificateDer, ServerName};

use crate::auth::jwt::AuthError;

/// The DNS suffix under which client certificates name partners.
pub const SUFFIX: &str = "partner.kruispunt.invalid";

/// The subject alternative name a certificate for `partner` carries, if the id can be one.
pub fn dns_name(partner: &str) -> Option<String> {
    let label_ok = !partner.is_empty()
        && partner.len() <= 63
        && !partner.starts_with('-')
        && !partner.ends_with('-')
        && partner
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    label_ok.then(|| format!("{partner}.{SUFFIX}"))
}

/// A name no partner id can produce (ids have no `_`): a certificate valid for it carries a
/// wildcard, which would name every partner, so it names none.
const PROBE: &str = "_wildcard-probe.partner.kruispunt.invalid";

/// Whether the DER certificate names `partner` among its subject alternative names (exactly,
/// not through a wildcard). An unparsable certificate names nobody.
pub fn names_partner(der: &[u8], partner: &str) -> bool {
    let Some(name) = dns_name(partner) else {
        return false;
    };
    let der = CertificateDer::from(der);
    let Ok(cert) = webpki::EndEntityCert::try_from(&der) else {
        return false;
    };
    let valid_for = |name: String| {
        ServerName::try_from(name).is_ok_and(|n| cert.verify_is_valid_for_subject_name(&n).is_ok())
    };
    valid_for(name) && !valid_for(PROBE.to_string())
}

/// Checks a partner's mTLS requirement. The TLS layer has already validated the certificate
/// chain (against the configured client CA); this adds the per-partner rules:
/// a partner with `require_mtls` must present a certificate, and a presented certificate must
/// be the partner's own (also when mTLS is optional, so that nobody acts under another's
/// certificate): exactly the pinned one when `client_cert_sha256` is set, otherwise one that
/// names the partner (see the module documentation). One client CA may then serve every
/// partner without one partner's certificate satisfying another's requirement.
pub fn check_mtls(partner: &Partner, peer_cert_der: Option<&[u8]>) -> Result<(), AuthError> {
    let Some(der) = peer_cert_der else {
        return if partner.require_mtls {
            Err(AuthError::MtlsRequired(format!(
                "partner `{}` must connect with its client certificate (mTLS)",
                partner.id
            )))
        } else {
            Ok(())
        };
    };
    if let Some(pin) = &partner.client_cert_sha256 {
        let pin: String = pin
            .chars()
            .filter(|c| *c != ':' && !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        let got = hex::encode(ring::digest::digest(&ring::digest::SHA256, der));
        if got != pin {
            return Err(AuthError::MtlsRequired(format!(
                "the client certificate is not the one pinned for partner `{}`",
                partner.id
            )));
        }
        return Ok(());
    }
    if names_partner(der, &partner.id) {
        return Ok(());
    }
    Err(AuthError::MtlsRequired(match dns_name(&partner.id) {
        Some(name) => format!(
            "the client certificate was not issued to partner `{}`: it must name `{name}` (a DNS subject alternative name) or be pinned with client_cert_sha256",
            partner.id
        ),
        None => format!(
            "partner `{}` has no name a certificate can carry; pin its certificate with client_cert_sha256",
            partner.id
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_for(names: &[&str]) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_certificate_names_only_its_own_partner() {
        let der = cert_for(&["politie-midden-nederland.partner.kruispunt.invalid"]);
        assert!(names_partner(&der, "politie-midden-nederland"));
        assert!(!names_partner(&der, "autobedrijf-de-vecht"));
        assert!(!names_partner(&der, "politie"));
        // A wildcard in the certificate does not name every partner.
        let wild = cert_for(&["*.partner.kruispunt.invalid"]);
        assert!(!names_partner(&wild, "politie-midden-nederland"));
        assert!(!names_partner(b"not DER", "politie-midden-nederland"));
    }

    #[test]
    fn ids_that_are_not_dns_labels_need_a_pin() {
        assert_eq!(
            dns_name("om-midden-nederland").as_deref(),
            Some("om-midden-nederland.partner.kruispunt.invalid")
        );
        for bad in ["", "a_b", "a.b", "-a", "A", &"x".repeat(64)] {
            assert_eq!(dns_name(bad), None, "{bad:?}");
        }
    }
}
