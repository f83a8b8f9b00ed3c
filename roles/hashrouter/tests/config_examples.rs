//! The shipped example configs load and validate; bad configs are refused with an error naming
//! the offending field; the binary's `check-config` and `keygen` behave as documented.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hashrouter::config::Config;

const TEST_AUTHORITY: &str = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72";

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config-examples")
}

/// A small valid config; tests break one field at a time.
fn good_config() -> String {
    format!(
        r#"
[sv1]
listen = "127.0.0.1:3333"
extranonce2_size = 4

[difficulty]
minimum = 0.001
maximum = 1000000.0
initial = 1.0

[upstream]
address = "127.0.0.1:34254"
authority_pubkey = "{TEST_AUTHORITY}"
user_identity = "farm"
"#
    )
}

/// Parses `text` expecting a refusal whose message names `field`.
fn assert_refused(text: &str, field: &str) {
    match Config::parse(text) {
        Ok(_) => panic!("config accepted, expected an error naming `{field}`:\n{text}"),
        Err(error) => {
            let message = error.to_string();
            assert!(
                message.contains(field),
                "error does not name `{field}`: {message}"
            );
        }
    }
}

#[test]
fn every_example_config_validates() {
    let mut checked = 0;
    for entry in std::fs::read_dir(examples_dir()).expect("config-examples/ exists") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        if let Err(error) = Config::load(&path) {
            panic!("{} does not validate: {error}", path.display());
        }
        checked += 1;
    }
    assert!(checked > 0, "no *.toml in config-examples/");
}

#[test]
fn main_example_has_the_documented_values() {
    let config = Config::load(&examples_dir().join("hashrouter.toml")).unwrap();
    assert_eq!(config.sv1.listen, "127.0.0.1:3333");
    assert_eq!(config.upstream.address, "127.0.0.1:34254");
    assert_eq!(config.upstream.authority_pubkey, TEST_AUTHORITY);
}

/// `good_config` with an SV2 server section using `public` / `secret`.
fn sv2_config(public: &str, secret: &str, extra: &str) -> String {
    format!(
        "{}\n[sv2]\nlisten = \"127.0.0.1:3336\"\nauthority_public_key = \"{public}\"\nauthority_secret_key = \"{secret}\"\n{extra}\n",
        good_config()
    )
}

#[test]
fn sv2_example_has_the_documented_values() {
    let config = Config::load(&examples_dir().join("sv2-server.toml")).unwrap();
    let sv2 = config.sv2.expect("[sv2] section");
    assert_eq!(sv2.listen, "127.0.0.1:3336");
    assert_eq!(sv2.max_extranonce_size, 8);
    assert_eq!(sv2.share_batch_size, 10);
}

#[test]
fn sv2_keys_that_do_not_match_are_refused_without_echoing_the_secret() {
    let a = sv2_conn::keys::generate();
    let b = sv2_conn::keys::generate();
    let text = sv2_config(&a.public_string(), &b.secret_string(), "");
    let error = Config::parse(&text).unwrap_err().to_string();
    assert!(error.contains("sv2.authority_secret_key"), "{error}");
    assert!(!error.contains(&b.secret_string()), "{error}");
    let text = sv2_config(&a.public_string(), "not-a-key", "");
    let error = Config::parse(&text).unwrap_err().to_string();
    assert!(error.contains("sv2.authority_secret_key"), "{error}");
    assert!(!error.contains("not-a-key"), "{error}");
    assert_refused(
        &sv2_config("garbage", &a.secret_string(), ""),
        "sv2.authority_public_key",
    );
}

#[test]
fn sv2_limits_are_checked_and_the_secret_never_printed() {
    let keys = sv2_conn::keys::generate();
    let (public, secret) = (keys.public_string(), keys.secret_string());
    let config = Config::parse(&sv2_config(&public, &secret, "")).unwrap();
    assert!(!format!("{config:?}").contains(&secret));
    for (extra, field) in [
        ("max_extranonce_size = 0", "sv2.max_extranonce_size"),
        ("max_extranonce_size = 17", "sv2.max_extranonce_size"),
        ("share_batch_size = 0", "sv2.share_batch_size"),
        ("handshake_timeout_secs = 0", "sv2.handshake_timeout_secs"),
        ("cert_validity_secs = 1", "sv2.cert_validity_secs"),
        ("listen_address = \"x\"", "listen_address"),
    ] {
        assert_refused(&sv2_config(&public, &secret, extra), field);
    }
    assert_refused(
        &sv2_config(&public, &secret, "").replace("127.0.0.1:3336", "localhost:3336"),
        "sv2.listen",
    );
}

#[test]
fn the_base_config_of_these_tests_is_valid() {
    Config::parse(&good_config()).unwrap();
}

#[test]
fn unknown_key_is_refused() {
    let text = good_config().replace("listen =", "lisen =");
    assert_refused(&text, "lisen");
}

#[test]
fn unknown_section_is_refused() {
    let text = format!("{}\n[upstreams]\naddress = \"x:1\"\n", good_config());
    assert_refused(&text, "upstreams");
}

#[test]
fn extranonce2_size_out_of_range_is_refused() {
    let text = good_config().replace("extranonce2_size = 4", "extranonce2_size = 9");
    assert_refused(&text, "sv1.extranonce2_size");
    let text = good_config().replace("extranonce2_size = 4", "extranonce2_size = 1");
    assert_refused(&text, "sv1.extranonce2_size");
}

#[test]
fn bad_authority_pubkey_is_refused() {
    let text = good_config().replace(TEST_AUTHORITY, "not-a-key");
    assert_refused(&text, "upstream.authority_pubkey");
    // One character changed: the base58check checksum no longer matches.
    let text = good_config().replace(TEST_AUTHORITY, &TEST_AUTHORITY.replace('9', "8"));
    assert_refused(&text, "upstream.authority_pubkey");
}

#[test]
fn difficulty_minimum_above_maximum_is_refused() {
    let text = good_config().replace("minimum = 0.001", "minimum = 2000000.0");
    assert_refused(&text, "difficulty.minimum");
}

#[test]
fn upstream_address_without_port_is_refused() {
    let text = good_config().replace("\"127.0.0.1:34254\"", "\"127.0.0.1\"");
    assert_refused(&text, "upstream.address");
    let text = good_config().replace("\"127.0.0.1:34254\"", "\"pool.example\"");
    assert_refused(&text, "upstream.address");
}

#[test]
fn upstream_address_must_be_a_host_or_bracketed_ipv6() {
    for bad in ["::1", "[::1]", "pool example:34254", "[zz::1]:34254"] {
        let text = good_config().replace("\"127.0.0.1:34254\"", &format!("\"{bad}\""));
        assert_refused(&text, "upstream.address");
    }
    for good in ["[::1]:34254", "pool-1.example.com:3336"] {
        let text = good_config().replace("\"127.0.0.1:34254\"", &format!("\"{good}\""));
        Config::parse(&text).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
}

#[test]
fn reconnect_limits_do_not_overflow() {
    let text = good_config().replace(
        "[upstream]",
        "[upstream]\nreconnect_max_secs = 9223372036854775807",
    );
    Config::parse(&text).expect("a huge maximum is valid, not an overflow");
}

#[test]
fn missing_required_field_is_refused() {
    let text = good_config().replace("user_identity = \"farm\"", "");
    assert_refused(&text, "user_identity");
}

fn hashrouter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hashrouter"))
}

#[test]
fn check_config_accepts_a_good_file() {
    let output = hashrouter()
        .arg("check-config")
        .arg("--config")
        .arg(examples_dir().join("hashrouter.toml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("ok"));
}

#[test]
fn check_config_refuses_a_bad_file_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        good_config().replace("extranonce2_size = 4", "extranonce2_size = 9"),
    )
    .unwrap();
    let output = hashrouter()
        .arg("check-config")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "bad config accepted");
    assert!(
        stderr.contains("sv1.extranonce2_size"),
        "stderr does not name the field: {stderr}"
    );
}

#[test]
fn keygen_prints_a_usable_keypair() {
    let output = hashrouter().arg("keygen").output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "expected two lines: {stdout}");
    let value = |line: &str, key: &str| -> String {
        let rest = line
            .strip_prefix(key)
            .and_then(|r| r.strip_prefix(" = \""))
            .and_then(|r| r.strip_suffix('"'))
            .unwrap_or_else(|| panic!("expected `{key} = \"...\"`, got {line}"));
        rest.to_string()
    };
    let public = value(lines[0], "authority_public_key");
    let secret = value(lines[1], "authority_secret_key");
    sv2_conn::ResponderKeys::from_strings(&public, &secret, Duration::from_secs(60))
        .expect("keygen output parses as an authority keypair");
    // The public key is also what `upstream.authority_pubkey` accepts.
    Config::parse(&good_config().replace(TEST_AUTHORITY, &public)).unwrap();
}
