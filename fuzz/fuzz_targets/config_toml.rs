//! The config file (`didgate::Config::parse`): TOML into typed structs with
//! `deny_unknown_fields`, then validation. A config that validates must
//! also survive what the gateway derives from it at start, so each
//! accepted config goes through those accessors too (session settings,
//! trusted proxies, status list URLs, route path options, the risk engine's
//! config, the database URL, each chain's network).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fn setup() {
    // Environment overrides would make runs differ by machine.
    for (k, _) in std::env::vars() {
        if k.starts_with("DIDGATE_") {
            std::env::remove_var(k);
        }
    }
}

fuzz_target!(init: setup(), |data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = didgate::Config::parse(
        text,
        Path::new("fuzz.toml"),
        Path::new("/nonexistent/didgate-fuzz"),
    ) else {
        return;
    };
    let _ = config.login_credential_types();
    let _ = config.session_settings();
    let _ = config.server.trusted_proxies();
    let _ = config.credentials.status_list_urls();
    let _ = config.risk.engine_config([7; 16]);
    let _ = config.database_url();
    for route in &config.routes {
        let _ = route.path_options();
    }
    for (name, chain) in &config.chains {
        let _ = chain.network(name, did_registry::ethr::Address::ZERO);
    }
});
