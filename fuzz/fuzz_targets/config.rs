//! The broker's configuration loader (`Config::from_toml_str`, what `Config::load` reads
//! `kruispunt.toml` with). A configuration that loads is written back by `serve --init` in a
//! form that loads to the same configuration.
#![no_main]

use std::path::Path;

use kruispunt_broker::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = Path::new("/srv/kruispunt");
    let Ok(cfg) = Config::from_toml_str(text, "kruispunt.toml", dir) else {
        return;
    };
    assert_eq!(cfg.data_dir, dir);
    assert!(cfg.tls.cert.starts_with(dir) || cfg.tls.cert.is_absolute());
    let Ok(written) = toml::to_string(&cfg) else {
        return;
    };
    let again = Config::from_toml_str(&written, "written.toml", dir)
        .unwrap_or_else(|e| panic!("a written configuration does not load: {e}\n{written}"));
    assert_eq!(
        toml::to_string(&again).ok(),
        Some(written),
        "the round trip changed it"
    );
});
