//! One peer binary running as a child process, with its config files and logs in a temporary
//! folder of its own. Killed when dropped; if the test is failing at that moment, the tail of
//! its log is printed so the failure can be read without rerunning.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Log lines printed when a test fails with the peer still owned.
const TAIL_LINES: usize = 60;

/// A running peer.
pub struct PeerProcess {
    name: String,
    child: Child,
    // `None` once kept on disk after a failure.
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl PeerProcess {
    /// Writes `files` (name, contents) into a fresh temporary folder and starts `binary` with
    /// `args` in it, stdout and stderr going to `stdout.log` and `stderr.log` there. Every
    /// `{dir}` in an argument is replaced by that folder's path. `RUST_LOG` defaults to `info`.
    ///
    /// # Panics
    /// If the folder or files cannot be written or the binary cannot be started.
    pub fn start(name: &str, binary: &Path, files: &[(&str, &str)], args: &[&str]) -> Self {
        let dir = match tempfile::Builder::new()
            .prefix(&format!("interop-{name}-"))
            .tempdir()
        {
            Ok(d) => d,
            Err(e) => panic!("{name}: cannot create a temporary folder: {e}"),
        };
        for (file, contents) in files {
            if let Err(e) = std::fs::write(dir.path().join(file), contents) {
                panic!("{name}: cannot write {file}: {e}");
            }
        }
        let log = |file: &str| match File::create(dir.path().join(file)) {
            Ok(f) => f,
            Err(e) => panic!("{name}: cannot create {file}: {e}"),
        };
        let dir_str = dir.path().to_string_lossy().into_owned();
        let args: Vec<String> = args.iter().map(|a| a.replace("{dir}", &dir_str)).collect();
        let mut command = Command::new(binary);
        command
            .args(&args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log("stdout.log"))
            .stderr(log("stderr.log"));
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "info");
        }
        let child = match command.spawn() {
            Ok(c) => c,
            Err(e) => panic!("{name}: cannot start {}: {e}", binary.display()),
        };
        PeerProcess {
            name: name.to_string(),
            child,
            path: dir.path().to_path_buf(),
            dir: Some(dir),
        }
    }

    /// The peer's folder (config files, logs).
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// Path of a file in the peer's folder.
    pub fn path(&self, file: &str) -> PathBuf {
        self.path.join(file)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything the peer wrote so far, stdout then stderr.
    pub fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.path(f)).unwrap_or_default();
        let (out, err) = (read("stdout.log"), read("stderr.log"));
        if err.is_empty() {
            out
        } else {
            format!("{out}\n--- stderr ---\n{err}")
        }
    }

    /// The last `lines` lines of [`PeerProcess::log`].
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Lines of the log containing `needle`.
    pub fn count_log_lines(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    /// Waits until the log contains `needle`; returns whether it did within `timeout`.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        crate::net::wait_until(timeout, || async { self.log().contains(needle) }).await
    }

    /// Asks the process to exit (SIGTERM), so it can save its state first; does not wait. See
    /// [`PeerProcess::is_running`] to wait for it.
    ///
    /// # Panics
    /// If the signal cannot be sent (`kill` missing from the system).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match status {
            Ok(_) => {}
            Err(e) => panic!("{}: cannot send SIGTERM: {e}", self.name),
        }
    }

    /// Kills the process and waits for it to exit.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            // Keep the folder so the whole log can be read after the failure.
            if let Some(dir) = self.dir.take() {
                let _ = dir.keep();
            }
            eprintln!(
                "---- last {TAIL_LINES} log lines of {} (kept in {}) ----\n{}\n---- end of {} log ----",
                self.name,
                self.path.display(),
                self.log_tail(TAIL_LINES),
                self.name
            );
        }
    }
}
