//! What a deployment still lacks before partners can use it. `/readyz` answers `503 not-ready`
//! naming each gap, so that a load balancer sends no one to a broker that would refuse every
//! partner, and an operator who followed docs/OPERATIONS.md sees what is left to do instead of
//! a "ready" that is not.

use std::path::Path;

use kruispunt_policy::Registry;
use kruispunt_policy::registry::PartnerKey;

/// The gaps, in words for the operator; empty when the set-up is complete.
///
/// - No partner token key at all (in the registry, or the development keys): no one can sign in.
/// - Partners that must use mTLS while `[tls] client_ca` is not set: they can never connect.
pub fn setup_gaps(
    registry: &Registry,
    extra_keys: &[(String, PartnerKey)],
    client_ca: Option<&Path>,
) -> Vec<String> {
    let mut gaps = Vec::new();
    let keyed = registry.partners.iter().any(|p| !p.keys.is_empty()) || !extra_keys.is_empty();
    if !keyed {
        gaps.push(
            "no partner has a token key in the registry, so no one can sign in: add each \
             partner's key ([[partners.keys]], printed by `kruispunt partner keygen`) to the \
             registry file named in kruispunt.toml"
                .to_owned(),
        );
    }
    let mtls = registry.mtls_partners();
    if client_ca.is_none() && !mtls.is_empty() {
        gaps.push(format!(
            "{} must use mTLS, but [tls] client_ca is not set in kruispunt.toml, so they cannot \
             connect",
            mtls.join(", ")
        ));
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_registry_without_keys_or_client_ca_has_two_gaps() {
        let registry = Registry::embedded();
        let gaps = setup_gaps(&registry, &[], None);
        assert_eq!(gaps.len(), 2, "{gaps:?}");
        assert!(gaps[0].contains("no partner has a token key"));
        assert!(gaps[1].contains("client_ca"));
        let ca = Path::new("/etc/kruispunt/partners-ca.pem");
        let dev_key = PartnerKey {
            kid: "k".into(),
            alg: kruispunt_policy::registry::KeyAlg::EdDsa,
            public_key: "AAAA".into(),
        };
        assert!(setup_gaps(&registry, &[("x".into(), dev_key)], Some(ca)).is_empty());
    }
}
