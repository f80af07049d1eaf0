//! The policy registry loader (`Registry::from_toml_str`, what `Registry::load` and
//! `kruispunt policy check` read a registry file with), its consistency checks and what the
//! broker derives from it at start: the policy's data document and the token verifier (which
//! parses every partner's registered public key, base64 or PEM). A registry that parses
//! survives a TOML round trip with the same data and the same findings.
#![no_main]

use kruispunt_broker::auth::jwt::TokenVerifier;
use kruispunt_policy::Registry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(reg) = Registry::from_toml_str(text, "fuzz.toml") else {
        return;
    };
    let issues = reg.issues();
    let data = reg.to_data();
    let _ = reg.hash();
    let _ = TokenVerifier::new(&reg, &[], "fuzz", 30);
    if let Ok(again) = toml::to_string(&reg) {
        let reg2 = Registry::from_toml_str(&again, "again.toml")
            .unwrap_or_else(|e| panic!("a serialised registry does not parse: {e}\n{again}"));
        assert_eq!(
            reg2.to_data(),
            data,
            "the TOML round trip changed the registry"
        );
        // The same findings (their line numbers are those of the re-serialised text).
        let found = |i: &[kruispunt_policy::RegistryIssue]| -> Vec<(String, String)> {
            i.iter()
                .map(|i| (i.field.clone(), i.message.clone()))
                .collect()
        };
        assert_eq!(found(&reg2.issues()), found(&issues));
    }
});
