//! The shipped example configs load and validate; bad configs are refused with an error naming
//! the offending field; the binary's `check-config` and `keygen` behave as documented.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use contracts::{Amount, Policy};
use hashrouter::allocations;
use hashrouter::config::{Config, RouteProtocol};

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

/// Example allocations files are named `allocations*.toml`; every other example is a node config.
fn is_allocations_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("allocations"))
}

#[test]
fn every_example_config_validates() {
    let routes = Config::load(&examples_dir().join("routes.toml")).unwrap();
    let (mut configs, mut allocation_files) = (0, 0);
    for entry in std::fs::read_dir(examples_dir()).expect("config-examples/ exists") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        if is_allocations_file(&path) {
            // Allocations examples use the routes of the routes example.
            if let Err(error) = allocations::reload(&path, &routes.route_names()) {
                panic!("{} does not validate: {error}", path.display());
            }
            allocation_files += 1;
        } else {
            if let Err(error) = Config::load(&path) {
                panic!("{} does not validate: {error}", path.display());
            }
            configs += 1;
        }
    }
    assert!(configs >= 3, "node config examples missing");
    assert!(allocation_files >= 1, "no allocations example");
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
fn a_zero_device_connection_limit_is_refused() {
    assert_refused(
        &format!("{}\n[limits]\nmax_device_connections = 0\n", good_config()),
        "limits.max_device_connections",
    );
    let text = format!(
        "{}\n[limits]\nmax_device_connections = 5000\n",
        good_config()
    );
    let config = Config::parse(&text).expect("a positive limit is valid");
    assert_eq!(config.limits.max_device_connections, Some(5000));
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

#[test]
fn routes_example_has_the_documented_routes() {
    let config = Config::load(&examples_dir().join("routes.toml")).unwrap();
    let routes = config.routes().unwrap();
    let names: Vec<&str> = routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["default", "buyer-pool", "legacy-pool"]);
    assert_eq!(config.route_names(), ["buyer-pool", "legacy-pool"]);

    let default = &routes[0];
    assert_eq!(default.protocol, RouteProtocol::Sv2);
    assert_eq!(default.endpoints, ["127.0.0.1:34254"]);
    assert_eq!(default.user_identity, "my-farm");
    assert!(default.authority.is_some());

    let buyer = &routes[1];
    assert_eq!(buyer.protocol, RouteProtocol::Sv2);
    assert_eq!(
        buyer.endpoints,
        ["127.0.0.1:34255", "127.0.0.1:34256", "[::1]:34255"]
    );
    assert_eq!(
        buyer.authority.unwrap().to_string(),
        TEST_AUTHORITY,
        "the pinned key is the one written"
    );
    assert_eq!(buyer.password, None);

    let legacy = &routes[2];
    assert_eq!(legacy.protocol, RouteProtocol::Stratum);
    assert_eq!(legacy.endpoints, ["127.0.0.1:3334"]);
    assert!(legacy.authority.is_none());
    assert_eq!(legacy.user_identity, "buyer2.worker1");
    assert_eq!(legacy.password.as_deref(), Some("x"));

    let section = config.allocations.as_ref().expect("[allocations]");
    assert_eq!(section.policy, Policy::PurchaseOrder);
    assert_eq!(section.reload_period(), Duration::from_secs(1));
    // Relative to the config file's directory, not to the working directory.
    assert_eq!(section.file, examples_dir().join("allocations.toml"));
}

#[test]
fn allocations_example_loads_against_the_routes_example() {
    let config = Config::load(&examples_dir().join("routes.toml")).unwrap();
    let section = config.allocations.as_ref().unwrap();
    let set = section.source(config.route_names()).load().unwrap();
    let ids: Vec<&str> = set.allocations().iter().map(|a| a.id.as_str()).collect();
    // Purchase order: positions 0 and 1, then the explicit order 100.
    assert_eq!(ids, ["contract-1001", "contract-1002", "contract-0999"]);

    let first = set.get("contract-1001").unwrap();
    assert_eq!(first.route, "buyer-pool");
    assert_eq!(first.amount, Amount::Hashrate(100e12));
    assert_eq!(first.start, Some(1_795_478_400));
    assert_eq!(first.end, Some(1_795_478_400 + 86_400));
    let second = set.get("contract-1002").unwrap();
    assert_eq!(second.route, "legacy-pool");
    assert_eq!(second.amount, Amount::Fraction(0.25));
    assert_eq!((second.start, second.end), (Some(1_795_521_600), None));
    let third = set.get("contract-0999").unwrap();
    assert_eq!(third.amount, Amount::Hashrate(1.5e15));
    assert_eq!((third.start, third.order), (None, 100));
    assert_eq!(third.end, Some(1_796_083_200));

    // At noon on the 24th all three are in force and ask for 1850 TH/s of a 1000 TH/s farm:
    // the latest purchase is cut.
    let resolution = set.resolve(1_795_521_600, 1000e12, section.policy);
    assert_eq!(resolution.route_target("buyer-pool"), 750e12);
    assert_eq!(resolution.route_target("legacy-pool"), 250e12);
    assert_eq!(resolution.default_remainder, 0.0);
    let over = resolution.oversubscribed.unwrap();
    assert_eq!(over.cut.len(), 1);
    assert_eq!(over.cut[0].id, "contract-0999");
}

/// `good_config` plus `extra` (routes and allocations sections).
fn with(extra: &str) -> String {
    format!("{}\n{extra}\n", good_config())
}

fn sv2_route(name: &str) -> String {
    format!(
        "[[routes]]\nname = \"{name}\"\nurl = \"sv2+tcp://127.0.0.1:4000\"\n\
         authority_pubkey = \"{TEST_AUTHORITY}\"\nuser_identity = \"buyer\"\n"
    )
}

fn v1_route(name: &str) -> String {
    format!(
        "[[routes]]\nname = \"{name}\"\nurl = \"stratum+tcp://pool.example:3333\"\n\
         user_identity = \"buyer.worker\"\n"
    )
}

#[test]
fn routes_of_both_protocols_load() {
    let config = Config::parse(&with(&format!("{}{}", sv2_route("a"), v1_route("b")))).unwrap();
    let routes = config.routes().unwrap();
    assert_eq!(routes.len(), 3);
    assert_eq!(routes[2].endpoints, ["pool.example:3333"]);
    assert!(config.allocations.is_none());
}

#[test]
fn bad_route_names_are_refused() {
    assert_refused(&with(&sv2_route("default")), "routes[0].name");
    assert_refused(&with(&sv2_route("Default")), "routes[0].name");
    assert_refused(&with(&sv2_route("")), "routes[0].name");
    assert_refused(&with(&sv2_route("pool a")), "routes[0].name");
    assert_refused(&with(&sv2_route(&"x".repeat(65))), "routes[0].name");
    let twice = format!("{}{}", sv2_route("a"), v1_route("a"));
    assert_refused(&with(&twice), "routes[1].name");
}

#[test]
fn bad_route_urls_are_refused_naming_index_and_route() {
    for (url, reason) in [
        ("http://127.0.0.1:4000", "unknown scheme `http`"),
        ("127.0.0.1:4000", "expected sv2+tcp://"),
        ("sv2+tcp://127.0.0.1", "host:port"),
        ("sv2+tcp://127.0.0.1:0", "port"),
        ("sv2+tcp://127.0.0.1:4000/path", "nothing may follow"),
        ("sv2+tcp://::1:4000", "IPv6"),
    ] {
        let text = with(&sv2_route("pool-b")).replace("sv2+tcp://127.0.0.1:4000", url);
        let error = Config::parse(&text).unwrap_err().to_string();
        assert!(error.contains("routes[0].url"), "{url}: {error}");
        assert!(error.contains("route `pool-b`"), "{url}: {error}");
        assert!(error.contains(reason), "{url}: {error}");
    }
}

#[test]
fn credentials_in_a_url_are_refused_without_echoing_them() {
    let text = with(&v1_route("b")).replace("pool.example:3333", "user:hunter2@pool.example:3333");
    let error = Config::parse(&text).unwrap_err().to_string();
    assert!(error.contains("routes[0].url"), "{error}");
    assert!(error.contains("user_identity"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
}

#[test]
fn authority_key_is_required_for_sv2_and_refused_for_v1() {
    let without_key = with(&sv2_route("a")).replace(
        &format!("authority_pubkey = \"{TEST_AUTHORITY}\"\nuser_identity = \"buyer\""),
        "user_identity = \"buyer\"",
    );
    assert_refused(&without_key, "routes[0].authority_pubkey");
    let bad_key = with(&sv2_route("a")).replace(
        &format!("authority_pubkey = \"{TEST_AUTHORITY}\"\nuser_identity = \"buyer\""),
        "authority_pubkey = \"nope\"\nuser_identity = \"buyer\"",
    );
    assert_refused(&bad_key, "routes[0].authority_pubkey");
    let v1_with_key = with(&format!(
        "{}authority_pubkey = \"{TEST_AUTHORITY}\"\n",
        v1_route("b")
    ));
    assert_refused(&v1_with_key, "routes[0].authority_pubkey");
}

#[test]
fn route_passwords_are_v1_only_and_never_printed() {
    let v1 = with(&format!("{}password = \"hunter2\"\n", v1_route("b")));
    let config = Config::parse(&v1).unwrap();
    assert!(!format!("{config:?}").contains("hunter2"));
    let routes = config.routes().unwrap();
    assert_eq!(routes[1].password.as_deref(), Some("hunter2"));
    assert!(!format!("{routes:?}").contains("hunter2"));
    let sv2 = with(&format!("{}password = \"hunter2\"\n", sv2_route("a")));
    let error = Config::parse(&sv2).unwrap_err().to_string();
    assert!(error.contains("routes[0].password"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
}

#[test]
fn route_backups_must_share_the_scheme_and_not_repeat() {
    let ok = with(&format!(
        "{}backups = [\"sv2+tcp://127.0.0.1:4001\"]\n",
        sv2_route("a")
    ));
    let routes = Config::parse(&ok).unwrap().routes().unwrap();
    assert_eq!(routes[1].endpoints, ["127.0.0.1:4000", "127.0.0.1:4001"]);
    for backups in [
        "[\"stratum+tcp://127.0.0.1:4001\"]",
        "[\"sv2+tcp://127.0.0.1:4000\"]",
        "[\"sv2+tcp://127.0.0.1:4001\", \"sv2+tcp://127.0.0.1:4001\"]",
    ] {
        let text = with(&format!("{}backups = {backups}\n", sv2_route("a")));
        let field = if backups.matches("4001").count() == 2 {
            "routes[0].backups[1]"
        } else {
            "routes[0].backups[0]"
        };
        assert_refused(&text, field);
    }
}

#[test]
fn route_fields_are_checked() {
    let empty_user = with(&v1_route("b")).replace("\"buyer.worker\"", "\"\"");
    assert_refused(&empty_user, "routes[0].user_identity");
    let no_user = with(&v1_route("b")).replace("user_identity = \"buyer.worker\"", "");
    assert_refused(&no_user, "user_identity");
    let typo = with(&format!("{}passwd = \"x\"\n", v1_route("b")));
    assert_refused(&typo, "passwd");
}

#[test]
fn allocations_section_is_checked() {
    let section = |body: &str| with(&format!("[allocations]\n{body}\n"));
    let config = Config::parse(&section("file = \"a.toml\"")).unwrap();
    let allocations = config.allocations.unwrap();
    assert_eq!(allocations.policy, Policy::PurchaseOrder);
    assert_eq!(allocations.reload_secs, 1);
    let config = Config::parse(&section("file = \"a.toml\"\npolicy = \"pro-rata\"")).unwrap();
    assert_eq!(config.allocations.unwrap().policy, Policy::ProRata);

    assert_refused(
        &section("file = \"a.toml\"\npolicy = \"prorata\""),
        "allocations.policy",
    );
    assert_refused(
        &section("file = \"a.toml\"\nreload_secs = 0"),
        "allocations.reload_secs",
    );
    assert_refused(&section("file = \"\""), "allocations.file");
    assert_refused(&section("policy = \"pro-rata\""), "file");
    assert_refused(&section("file = \"a.toml\"\nreload = 5"), "reload");
}

#[test]
fn a_relative_allocations_file_is_relative_to_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    std::fs::write(&path, with("[allocations]\nfile = \"sub/a.toml\"")).unwrap();
    let config = Config::load(&path).unwrap();
    assert_eq!(
        config.allocations.unwrap().file,
        dir.path().join("sub/a.toml")
    );
    // An absolute path is kept as written.
    let absolute = dir.path().join("elsewhere.toml");
    let text = with(&format!("[allocations]\nfile = {:?}", absolute));
    std::fs::write(&path, text).unwrap();
    assert_eq!(
        Config::load(&path).unwrap().allocations.unwrap().file,
        absolute
    );
}

#[test]
fn check_config_checks_the_allocations_file_too() {
    let output = hashrouter()
        .arg("check-config")
        .arg("--config")
        .arg(examples_dir().join("routes.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("3 allocations, ok"), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        with(&format!(
            "{}[allocations]\nfile = \"allocations.toml\"",
            sv2_route("pool-a")
        )),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("allocations.toml"),
        "[[allocation]]\nid = \"buyer-x\"\nroute = \"pool-x\"\nhashrate = \"1 TH/s\"\n",
    )
    .unwrap();
    let output = hashrouter()
        .arg("check-config")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "bad allocations accepted");
    assert!(
        stderr.contains("allocation `buyer-x`") && stderr.contains("unknown route `pool-x`"),
        "stderr does not name the entry: {stderr}"
    );
}

/// `good_config()` with a `[lumerin]` section of `body`.
fn lumerin_config(body: &str) -> String {
    format!("{}\n[lumerin]\n{body}\n", good_config())
}

const FACTORY: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

#[test]
fn lumerin_example_has_the_documented_values() {
    let config = Config::load(&examples_dir().join("lumerin.toml")).unwrap();
    let lumerin = config.lumerin.expect("[lumerin] section");
    assert_eq!(lumerin.confirmations, 2);
    assert_eq!(lumerin.poll_ms, 2000);
    assert_eq!(lumerin.reconcile_secs, 300);
    // A relative key file is relative to the config file.
    assert_eq!(
        lumerin.wallet_key_file.unwrap(),
        examples_dir().join("wallet.key")
    );
}

#[test]
fn lumerin_settings_are_checked_naming_the_field() {
    let ok = format!("rpc_url = \"http://127.0.0.1:8545\"\nclone_factory = \"{FACTORY}\"");
    Config::parse(&lumerin_config(&format!("{ok}\nwallet_key_env = \"KEY\""))).unwrap();
    for (body, field) in [
        (ok.clone(), "lumerin.wallet_key_file"),
        (
            format!("{ok}\nwallet_key_env = \"KEY\"\nwallet_key_file = \"k\""),
            "lumerin.wallet_key_file",
        ),
        (
            format!("rpc_url = \"ftp://x\"\nclone_factory = \"{FACTORY}\"\nwallet_key_env = \"K\""),
            "lumerin.rpc_url",
        ),
        (
            "rpc_url = \"http://x:1\"\nclone_factory = \"0x12\"\nwallet_key_env = \"K\""
                .to_string(),
            "lumerin.clone_factory",
        ),
        (
            format!("{ok}\nwallet_key_env = \"K\"\npoll_ms = 10"),
            "lumerin.poll_ms",
        ),
        (
            format!("{ok}\nwallet_key_env = \"K\"\nconfirmations = 5000"),
            "lumerin.confirmations",
        ),
        (
            format!("{ok}\nwallet_key_env = \"K\"\nreconcile_secs = 1"),
            "lumerin.reconcile_secs",
        ),
    ] {
        assert_refused(&lumerin_config(&body), field);
    }
}

#[test]
fn lumerin_rpc_keys_never_reach_debug_output() {
    let config = Config::parse(&lumerin_config(&format!(
        "rpc_url = \"https://arb.example/v2/SECRETAPIKEY\"\nclone_factory = \"{FACTORY}\"\nwallet_key_env = \"K\""
    )))
    .unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("SECRETAPIKEY"), "{shown}");
    assert!(shown.contains("https://arb.example"));
}

/// `job_declaration = { .. }` for a section, pinned to the test key.
fn jd(address: &str) -> String {
    format!("job_declaration = {{ address = \"{address}\", authority_pubkey = \"{TEST_AUTHORITY}\" }}\n")
}

fn template_provider(extra: &str) -> String {
    format!(
        "[template_provider]\naddress = \"127.0.0.1:8442\"\nauthority_pubkey = \"{TEST_AUTHORITY}\"\n{extra}\n"
    )
}

/// `good_config` with `upstream_extra` in `[upstream]`, then `sections`.
fn jd_config(upstream_extra: &str, sections: &str) -> String {
    format!("{}{upstream_extra}\n{sections}\n", good_config())
}

const REGTEST_ADDRESS: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
const MAINNET_ADDRESS: &str = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
const P2WPKH_SCRIPT: &str = "0014751e76e8199196d454941c45d1b3a323f1433bd6";

#[test]
fn job_declaration_example_has_the_documented_values() {
    let config = Config::load(&examples_dir().join("job-declaration.toml")).unwrap();
    let tp = config
        .template_provider
        .as_ref()
        .expect("[template_provider]");
    assert_eq!(tp.address, "127.0.0.1:8442");
    assert_eq!(tp.endpoints(), ["127.0.0.1:8442", "127.0.0.1:8443"]);
    assert_eq!(tp.coinbase_tag, "hashrouter");
    let solo = config.solo.as_ref().expect("[solo]");
    assert_eq!(hex::encode(solo.payout_script().unwrap()), P2WPKH_SCRIPT);
    let routes = config.routes().unwrap();
    let jds: Vec<Option<&str>> = routes
        .iter()
        .map(|r| r.job_declaration.as_ref().map(|jd| jd.address.as_str()))
        .collect();
    assert_eq!(
        jds,
        [Some("127.0.0.1:34264"), Some("127.0.0.1:34265"), None]
    );
    assert_eq!(
        routes[1].job_declaration.as_ref().unwrap().authority_field,
        "routes[0].job_declaration.authority_pubkey"
    );
}

#[test]
fn template_provider_defaults_and_solo_payouts_load() {
    let config = Config::parse(&jd_config(&jd("127.0.0.1:9000"), &template_provider(""))).unwrap();
    assert_eq!(config.template_provider.unwrap().coinbase_tag, "hashrouter");
    assert!(config.solo.is_none());
    let script = format!("[solo]\npayout_script = \"{P2WPKH_SCRIPT}\"\n");
    let config = Config::parse(&jd_config("", &(template_provider("") + &script))).unwrap();
    assert_eq!(
        hex::encode(config.solo.unwrap().payout_script().unwrap()),
        P2WPKH_SCRIPT
    );
    let mainnet =
        format!("[solo]\nnetwork = \"bitcoin\"\npayout_address = \"{MAINNET_ADDRESS}\"\n");
    let config = Config::parse(&jd_config("", &(template_provider("") + &mainnet))).unwrap();
    assert_eq!(
        hex::encode(config.solo.unwrap().payout_script().unwrap()),
        P2WPKH_SCRIPT
    );
    // The longest tag that fits.
    let tag = format!("coinbase_tag = \"{}\"", "t".repeat(58));
    assert!(Config::parse(&jd_config("", &template_provider(&tag))).is_ok());
}

#[test]
fn job_declaration_refusals_name_their_field() {
    let tp = template_provider("");
    let jd_route = |extra: &str| format!("{}{}", sv2_route("buyer"), extra);
    for (text, field) in [
        // Job declaration needs templates.
        (jd_config(&jd("127.0.0.1:9000"), ""), "upstream.job_declaration"),
        (jd_config("", &jd_route(&jd("127.0.0.1:9000"))), "routes[0].job_declaration"),
        // Only SV2 routes declare jobs.
        (
            jd_config("", &format!("{}{}{tp}", v1_route("legacy"), jd("127.0.0.1:9000"))),
            "routes[0].job_declaration",
        ),
        (jd_config(&jd("127.0.0.1"), &tp), "upstream.job_declaration.address"),
        (
            jd_config("", &format!("{}{tp}", jd_route(&jd("127.0.0.1:9000").replace(TEST_AUTHORITY, "nope")))),
            "routes[0].job_declaration.authority_pubkey",
        ),
        (
            jd_config("job_declaration = { address = \"127.0.0.1:9000\" }", &tp),
            "authority_pubkey",
        ),
        (
            jd_config(&jd("127.0.0.1:9000").replace(" }", ", user = \"x\" }"), &tp),
            "user",
        ),
        // The template provider itself.
        (jd_config("", &tp.replace("127.0.0.1:8442", "127.0.0.1")), "template_provider.address"),
        (jd_config("", &tp.replace(TEST_AUTHORITY, "nope")), "template_provider.authority_pubkey"),
        (
            jd_config("", &template_provider(&format!("coinbase_tag = \"{}\"", "t".repeat(59)))),
            "template_provider.coinbase_tag",
        ),
        (
            jd_config("", &template_provider("backups = [\"127.0.0.1:8442\"]")),
            "template_provider.backups[0]",
        ),
        (jd_config("", &template_provider("port = 1")), "port"),
        // Solo mining.
        (
            jd_config("", &format!("[solo]\npayout_script = \"{P2WPKH_SCRIPT}\"\n")),
            "solo",
        ),
        (jd_config("", &format!("{tp}[solo]\n")), "solo.payout_address"),
        (
            jd_config(
                "",
                &format!("{tp}[solo]\nnetwork = \"regtest\"\npayout_address = \"{REGTEST_ADDRESS}\"\npayout_script = \"51\"\n"),
            ),
            "solo.payout_script",
        ),
        (
            jd_config("", &format!("{tp}[solo]\npayout_address = \"{REGTEST_ADDRESS}\"\n")),
            "solo.network",
        ),
        (
            jd_config(
                "",
                &format!("{tp}[solo]\nnetwork = \"bitcoin\"\npayout_address = \"{REGTEST_ADDRESS}\"\n"),
            ),
            "solo.payout_address",
        ),
        (
            jd_config("", &format!("{tp}[solo]\nnetwork = \"regtest\"\npayout_address = \"1nope\"\n")),
            "solo.payout_address",
        ),
        (
            jd_config("", &format!("{tp}[solo]\npayout_script = \"zz\"\n")),
            "solo.payout_script",
        ),
        (
            jd_config("", &format!("{tp}[solo]\nnetwork = \"regtest\"\npayout_script = \"51\"\n")),
            "solo.network",
        ),
        (
            jd_config("", &format!("{tp}[solo]\nnetwork = \"mainnet\"\npayout_script = \"51\"\n")),
            "network",
        ),
    ] {
        assert_refused(&text, field);
    }
}

#[test]
fn api_settings_are_checked() {
    assert_refused(&with("[api]\nlisten = \"localhost\"\n"), "api.listen");
    assert_refused(
        &with("[api]\ntoken_file = \"t\"\ntoken_env = \"T\"\n"),
        "api.token_file",
    );
    assert_refused(&with("[api]\ntoken_env = \"\"\n"), "api.token_env");
    assert_refused(&with("[api]\ntoken = \"secret\"\n"), "token");
    let config = Config::parse(&with("[api]\n")).unwrap();
    assert_eq!(config.api.unwrap().listen, "127.0.0.1:9100");
}
