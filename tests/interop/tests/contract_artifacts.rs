//! The committed Solidity artifacts (`protocols/contracts/artifacts/`) are exactly what
//! `scripts/compile-contracts.sh` builds from the sources today, and its `--check` mode notices
//! when they are not.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use interop::script;

fn run_check(script: &Path) -> Output {
    let out = Command::new("bash")
        .arg(script)
        .arg("--check")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn committed_artifacts_match_the_sources() {
    let out = run_check(&script("compile-contracts.sh"));
    assert!(
        out.status.success(),
        "scripts/compile-contracts.sh --check failed ({}): run scripts/compile-contracts.sh and commit the artifacts",
        out.status
    );
}

#[test]
fn a_source_edited_without_recompiling_fails_the_check() {
    // A copy of the repository's relevant part, so the real artifacts are never touched.
    let root = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for dir in [
        "scripts/js",
        "protocols/contracts/solidity",
        "protocols/contracts/artifacts",
    ] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
        for entry in std::fs::read_dir(repo.join(dir)).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), root.path().join(dir).join(entry.file_name())).unwrap();
            }
        }
    }
    for file in [
        "scripts/compile-contracts.sh",
        "scripts/install-npm-tools.sh",
    ] {
        std::fs::copy(repo.join(file), root.path().join(file)).unwrap();
    }
    let copied_script = root.path().join("scripts/compile-contracts.sh");
    assert!(
        run_check(&copied_script).status.success(),
        "the untouched copy should pass"
    );

    // A comment changes no bytecode, only the recorded source hash.
    let source = root
        .path()
        .join("protocols/contracts/solidity/Implementation.sol");
    let mut text = std::fs::read_to_string(&source).unwrap();
    text.push_str("// edited\n");
    std::fs::write(&source, text).unwrap();
    let out = run_check(&copied_script);
    assert!(
        !out.status.success(),
        "an edited source must fail the check"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("do not match the sources") && stderr.contains("Implementation.json"),
        "the failure should name the stale artifact: {stderr}"
    );
}
