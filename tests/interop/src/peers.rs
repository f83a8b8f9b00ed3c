//! The real peer binaries, installed by `scripts/install-peers.sh` into a cache folder outside
//! the repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The workspace's install script.
fn install_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install-peers.sh")
}

/// Runs the install script once per test binary (it is idempotent and quick when the binaries
/// are cached; the first run builds them, which takes many minutes) and returns the bin folder.
fn bin_dir() -> &'static Result<PathBuf, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let script = install_script();
        // The script's progress goes to our stderr; its last stdout line is the bin folder.
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
        let dir = stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| PathBuf::from(l.trim()))
            .ok_or_else(|| format!("{} printed no bin folder", script.display()))?;
        Ok(dir)
    })
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
