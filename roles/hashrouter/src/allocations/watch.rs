//! Reloading `allocations.toml` when it changes or on SIGHUP.
//!
//! The file is polled by modification time and length (no file-notification dependency; one
//! `stat` a second is nothing). A rewrite that keeps both exactly is missed by polling, which is
//! what SIGHUP is for. New sets go out on a channel, so this knows nothing of the core.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{static_file, AllocationError, AllocationSet};

/// What the file looked like at the last look: enough to notice a rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

/// `None` when the file cannot be stat'ed (missing, unreadable directory).
fn stamp(path: &Path) -> Option<FileStamp> {
    let metadata = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        modified: metadata.modified().ok(),
        len: metadata.len(),
    })
}

/// The result of looking at the file again.
#[derive(Debug)]
pub enum ReloadOutcome {
    /// Not rewritten, or rewritten to the set already in force.
    Unchanged,
    /// A new valid set, different from the one in force (which it now replaces).
    Loaded(AllocationSet),
    /// The file was refused; the set in force stays.
    Refused(AllocationError),
}

/// The static allocations file as a source: remembers the file's stamp and the last set it
/// accepted, so repeated looks report only real changes.
#[derive(Debug)]
pub struct StaticFileSource {
    path: PathBuf,
    routes: Vec<String>,
    stamp: Option<FileStamp>,
    current: Option<AllocationSet>,
}

impl StaticFileSource {
    /// A source for `path`, validated against the configured `[[routes]]` names. Nothing is
    /// read until [`StaticFileSource::load`] or a poll.
    pub fn new(path: impl Into<PathBuf>, routes: Vec<String>) -> StaticFileSource {
        StaticFileSource {
            path: path.into(),
            routes,
            stamp: None,
            current: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last set accepted from the file.
    pub fn current(&self) -> Option<&AllocationSet> {
        self.current.as_ref()
    }

    /// Reads the file now (at startup); a valid set becomes the current one.
    pub fn load(&mut self) -> Result<AllocationSet, AllocationError> {
        // Stamp before reading: a write racing the read is then seen by the next poll.
        self.stamp = stamp(&self.path);
        let set = static_file::reload(&self.path, &self.routes)?;
        self.current = Some(set.clone());
        Ok(set)
    }

    /// Reloads if the file's modification time or length changed since the last look.
    pub fn poll(&mut self) -> ReloadOutcome {
        if stamp(&self.path) == self.stamp {
            return ReloadOutcome::Unchanged;
        }
        self.refresh()
    }

    /// Reloads whether or not the file looks changed (SIGHUP).
    pub fn refresh(&mut self) -> ReloadOutcome {
        let previous = self.current.clone();
        match self.load() {
            Ok(set) if Some(&set) == previous.as_ref() => ReloadOutcome::Unchanged,
            Ok(set) => ReloadOutcome::Loaded(set),
            Err(error) => ReloadOutcome::Refused(error),
        }
    }
}

/// A request to reload the file now (from the API), answered with the number of allocations
/// in force afterwards or why the file was refused.
pub type ReloadRequest = tokio::sync::oneshot::Sender<Result<usize, String>>;

/// Watches `source` every `period`, on SIGHUP (Unix) and on each of `requests`, sending each
/// new valid set on `sets` (give it a bounded channel). A refused file is logged, naming every bad entry, and nothing
/// is sent: the receiver keeps the allocations in force. Ends when the handle is aborted or
/// when `sets` is found closed (checked every `period`).
///
/// Call after the initial [`StaticFileSource::load`]. Must be called inside a tokio runtime; the
/// SIGHUP handler is installed before this returns, so a SIGHUP sent afterwards is never the
/// default (terminating) one.
pub fn spawn_watcher(
    mut source: StaticFileSource,
    period: Duration,
    sets: async_channel::Sender<AllocationSet>,
    requests: async_channel::Receiver<ReloadRequest>,
) -> tokio::task::JoinHandle<()> {
    let mut hangups = Hangups::install();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !sets.is_closed() {
            let (forced, reply) = tokio::select! {
                _ = ticks.tick() => (false, None),
                () = hangups.next() => {
                    tracing::info!("SIGHUP: reloading allocations");
                    (true, None)
                }
                Ok(reply) = requests.recv() => {
                    tracing::info!("API request: reloading allocations");
                    (true, Some(reply))
                }
            };
            let path = source.path().display().to_string();
            let outcome = if forced {
                source.refresh()
            } else {
                source.poll()
            };
            if let Some(reply) = reply {
                let answer = match &outcome {
                    ReloadOutcome::Refused(error) => Err(error.to_string()),
                    ReloadOutcome::Loaded(set) => Ok(set.len()),
                    ReloadOutcome::Unchanged => Ok(source.current().map_or(0, |s| s.len())),
                };
                let _ = reply.send(answer);
            }
            match outcome {
                ReloadOutcome::Unchanged => {
                    if forced {
                        tracing::info!(path, "allocations unchanged");
                    }
                }
                ReloadOutcome::Loaded(set) => {
                    tracing::info!(path, allocations = set.len(), "allocations reloaded");
                    if sets.send(set).await.is_err() {
                        return;
                    }
                }
                ReloadOutcome::Refused(error) => {
                    tracing::error!(
                        path,
                        "allocations file refused, the running allocations stay in force: {error}"
                    );
                }
            }
        }
    })
}

/// SIGHUP notifications; never fires where there are none (not Unix, or the handler could
/// not be installed).
struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangups {
    fn install() -> Hangups {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let signal = signal(SignalKind::hangup())
                .map_err(|e| tracing::warn!("no SIGHUP reload of allocations: {e}"))
                .ok();
            Hangups { signal }
        }
        #[cfg(not(unix))]
        Hangups {}
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal {
            if signal.recv().await.is_some() {
                return;
            }
            self.signal = None;
        }
        std::future::pending().await
    }
}
