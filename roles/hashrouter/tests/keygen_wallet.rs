//! `hashrouter keygen --wallet FILE`, run as the built binary: creates a 0600 key file once,
//! reads it afterwards, prints the address and public key that belong to the key in the file,
//! and refuses a key file others can read. Plain `keygen` still prints an SV2 keypair.

use std::path::Path;
use std::process::{Command, Output};

use contracts::WalletKey;

fn keygen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hashrouter"))
        .arg("keygen")
        .args(args)
        .output()
        .expect("hashrouter runs")
}

/// The value of `name = "..."` in keygen's output.
fn value(stdout: &str, name: &str) -> String {
    let prefix = format!("{name} = \"");
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {name} in:\n{stdout}"));
    line[prefix.len()..].trim_end_matches('"').to_string()
}

fn run_wallet(path: &Path) -> (String, String, String) {
    let out = keygen(&["--wallet", path.to_str().unwrap()]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "keygen failed: {stderr}\n{stdout}");
    let address = value(&stdout, "wallet_address");
    let public = value(&stdout, "wallet_public_key");
    (stdout, address, public)
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn creates_a_private_key_file_then_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wallet.key");

    let (first, address, public) = run_wallet(&path);
    assert!(first.contains("(created)"), "{first}");
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);

    // What was printed belongs to the key in the file.
    let contents = std::fs::read_to_string(&path).unwrap();
    let key = WalletKey::from_hex(&contents).unwrap();
    assert_eq!(address, key.address().to_string());
    assert_eq!(public, key.public_key_hex());
    assert_eq!(public.len(), 130);
    assert!(public.starts_with("04"));
    assert!(
        !first.contains(contents.trim()),
        "the secret is printed:\n{first}"
    );

    let (second, address_again, public_again) = run_wallet(&path);
    assert!(second.contains("(read)"), "{second}");
    assert_eq!(address_again, address);
    assert_eq!(public_again, public);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        contents,
        "file rewritten"
    );
}

#[test]
fn reads_an_existing_key_file_the_operator_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("existing.key");
    std::fs::write(
        &path,
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (_, address, public) = run_wallet(&path);
    assert_eq!(address, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    assert_eq!(
        public,
        "048318535b54105d4a7aae60c08fc45f9687181b4fdfc625bd1a753fa7397fed75\
         3547f11ca8696646f2f3acb08e31016afac23e630c5d11f59f61fef57b0d2aa5"
    );
}

#[cfg(unix)]
#[test]
fn refuses_a_world_readable_key_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("open.key");
    let key = WalletKey::generate();
    std::fs::write(&path, key.secret_hex()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

    let out = keygen(&["--wallet", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(!stdout.contains("wallet_address"), "{stdout}");
    assert!(!stderr.contains(&key.secret_hex()[..16]) && !stdout.contains(&key.secret_hex()[..16]));
    // Left as it was.
    assert_eq!(mode(&path), 0o644);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), key.secret_hex());
}

#[test]
fn plain_keygen_still_prints_an_sv2_authority_keypair() {
    let out = keygen(&[]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let public = value(&stdout, "authority_public_key");
    let secret = value(&stdout, "authority_secret_key");
    assert!(!public.is_empty() && !secret.is_empty());
    assert!(!stdout.contains("wallet"), "{stdout}");
}

/// `check-config` reads the `[lumerin]` wallet key the way the node will: the generated file
/// passes and names its address; once others can read it, the config is refused.
#[cfg(unix)]
#[test]
fn check_config_checks_the_wallet_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("wallet.key");
    let (_, address, _) = run_wallet(&key);
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        r#"
[sv1]
listen = "127.0.0.1:0"

[upstream]
address = "127.0.0.1:34254"
authority_pubkey = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72"
user_identity = "farm"

[lumerin]
rpc_url = "http://127.0.0.1:8545"
clone_factory = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
wallet_key_file = "wallet.key"
"#,
    )
    .unwrap();
    let check = || {
        Command::new(env!("CARGO_BIN_EXE_hashrouter"))
            .args(["check-config", "--config", config.to_str().unwrap()])
            .output()
            .expect("hashrouter runs")
    };
    let out = check();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&address), "{stdout}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("chmod 600"), "{stderr}");
}
