//! Our ECIES encryption against npm `ecies-geth` (what Lumerin's buyer tools use): ciphertexts
//! made by `contracts::ecies::encrypt`, in the on-chain hex form, are decrypted by ecies-geth
//! through `scripts/js/gen_ecies_vectors.js decrypt` (one node process for all of them), and an
//! altered one is refused by it, which shows the script really checks.
//!
//! The other direction (ecies-geth's ciphertexts decrypted by our code) is
//! `protocols/contracts/tests/ecies_vectors.rs`, on committed vectors.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use contracts::ecies;
use contracts::WalletKey;
use interop::npm_package_dir;
use serde_json::{json, Value};

/// Runs the script's `decrypt` mode on (secret key hex, ciphertext hex) pairs and returns, per
/// pair, the plaintext bytes or ecies-geth's error.
fn ecies_geth_decrypt(requests: &[(String, String)]) -> Vec<Result<Vec<u8>, String>> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/js/gen_ecies_vectors.js");
    let input: Vec<Value> = requests
        .iter()
        .map(|(key, ciphertext)| json!({ "private_key": key, "ciphertext": ciphertext }))
        .collect();
    let mut child = Command::new("node")
        .arg(&script)
        .arg("decrypt")
        .env("ECIES_GETH_DIR", npm_package_dir("ecies-geth"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts (install-npm-tools.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "decrypt script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results.len(), requests.len());
    results
        .into_iter()
        .map(|r| match r.get("plaintext_hex").and_then(Value::as_str) {
            Some(h) => Ok(hex::decode(h).unwrap()),
            None => Err(r["error"].as_str().unwrap_or("no error given").to_string()),
        })
        .collect()
}

#[test]
fn ecies_geth_decrypts_what_we_encrypt_and_refuses_what_we_alter() {
    let mut rng = rand::rngs::OsRng;
    let plaintexts: Vec<Vec<u8>> = vec![
        b"stratum+tcp://user:pass@127.0.0.1:3333".to_vec(),
        Vec::new(),
        b"sixteen bytes!!!".to_vec(),
        "stratum+tcp://mineur-é:пароль@池.example:3333 ⛏️"
            .as_bytes()
            .to_vec(),
        format!("stratum+tcp://{}:x@pool.example.com:3333", "w".repeat(2000)).into_bytes(),
        (0..=255u8).collect(),
    ];
    let keys: Vec<WalletKey> = (0..3).map(|_| WalletKey::generate()).collect();

    let mut requests = Vec::new();
    let mut expected = Vec::new();
    for (i, plaintext) in plaintexts.iter().enumerate() {
        let key = &keys[i % keys.len()];
        // Encrypt to the public key as a buyer would read it from the contract's `pubKey`.
        let public = ecies::public_key_from_hex(&key.public_key_hex()).unwrap();
        let ciphertext = hex::encode(ecies::encrypt(&public, plaintext, &mut rng));
        requests.push((key.secret_hex(), ciphertext));
        expected.push(Ok(plaintext.clone()));
    }
    // The same ciphertexts, each altered in one part, must all be refused.
    let valid = requests.len();
    for (i, (key, ciphertext)) in requests.clone().into_iter().enumerate().take(3) {
        let mut bytes = hex::decode(&ciphertext).unwrap();
        let at = [70, 90, bytes.len() - 1][i]; // IV, body (or tag when empty), tag
        bytes[at] ^= 0x80;
        requests.push((key, hex::encode(bytes)));
    }
    // And one decrypted with another key.
    requests.push((keys[1].secret_hex(), requests[0].1.clone()));

    let results = ecies_geth_decrypt(&requests);
    for (i, (result, want)) in results[..valid].iter().zip(&expected).enumerate() {
        assert_eq!(result, want, "ciphertext {i} not decrypted by ecies-geth");
    }
    for (i, result) in results[valid..].iter().enumerate() {
        let err = result
            .as_ref()
            .expect_err("ecies-geth accepted an altered ciphertext");
        assert!(err.contains("MAC"), "altered ciphertext {i}: {err}");
    }
}
