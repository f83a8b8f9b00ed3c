//! The real peers, installed into cache folders outside the repository: SRI's binaries by
//! `scripts/install-peers.sh`, npm packages by `scripts/install-npm-tools.sh`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// One of the workspace's scripts (`scripts/<name>`).
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(name)
}

/// Runs an install script (idempotent, quick when its peers are cached) and returns the folder
/// it prints on its last stdout line; its progress goes to our stderr.
fn run_install_script(name: &str) -> Result<PathBuf, String> {
    let script = script(name);
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed: {}", script.display(), out.status));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| PathBuf::from(l.trim()))
        .ok_or_else(|| format!("{} printed no folder", script.display()))
}

/// The SRI binaries' folder, installed once per test binary (the first install builds them,
/// which takes many minutes).
fn bin_dir() -> &'static Result<PathBuf, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| run_install_script("install-peers.sh"))
}

/// The npm cache folder (holding `node_modules/`), installed once per test binary.
fn npm_dir() -> &'static Result<PathBuf, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| run_install_script("install-npm-tools.sh"))
}

/// Folder of the installed npm package `name` (`stratum-pool-sha256`), installing it first if
/// needed.
///
/// # Panics
/// If the install fails or the package is not there afterwards.
pub fn npm_package_dir(name: &str) -> PathBuf {
    let dir = match npm_dir() {
        Ok(dir) => dir,
        Err(e) => panic!("installing the npm peers failed: {e}"),
    };
    let path = dir.join("node_modules").join(name);
    assert!(
        path.join("package.json").is_file(),
        "{} is missing after install-npm-tools.sh",
        path.display()
    );
    path
}

/// Path of the installed peer binary `name` (`pool_sv2`, `translator_sv2`, `mining_device`),
/// installing the peers first if needed.
///
/// # Panics
/// If the install fails or the binary is not there afterwards: the test cannot run without it.
pub fn bin(name: &str) -> PathBuf {
    let dir = match bin_dir() {
        Ok(dir) => dir,
        Err(e) => panic!("installing the peers failed: {e}"),
    };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing after install-peers.sh",
        path.display()
    );
    path
}
