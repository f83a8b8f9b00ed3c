//! A real Stratum V1 CPU miner: it speaks SV1 with the `sv1` codec, builds headers from
//! `mining.notify` jobs and submits every nonce whose sha256d meets the current difficulty, at a
//! capped hashrate so tests can model heterogeneous devices.
//!
//! The connection runs as a tokio task; hashing runs on a dedicated std thread so it never blocks
//! the runtime. State shared between them is in [`MinerStats`] (readable by tests at any time) and
//! the current job slot.

mod cli;
mod config;
mod connection;
mod hasher;
mod job;
mod stats;

pub use cli::{run_cli, V1MinerArgs};
pub use config::MinerConfig;
pub use stats::MinerStats;

use std::sync::Arc;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// A running miner: read its counters through [`MinerHandle::stats`], end it with
/// [`MinerHandle::stop`].
pub struct MinerHandle {
    stats: Arc<MinerStats>,
    stop: Arc<Notify>,
    task: JoinHandle<()>,
}

impl MinerHandle {
    /// Live counters, shared with the miner.
    pub fn stats(&self) -> &Arc<MinerStats> {
        &self.stats
    }

    /// Asks the miner to disconnect and stop hashing; returns at once.
    pub fn stop(&self) {
        self.stats.set_stopping();
        self.stop.notify_waiters();
        self.stop.notify_one();
    }

    /// Stops the miner and waits until its connection task and hashing thread are gone.
    pub async fn shutdown(self) {
        self.stop();
        let _ = self.task.await;
    }
}

/// Starts a miner (needs a tokio runtime): connects, handshakes, mines, and reconnects on
/// disconnect when `config.reconnect` is set.
pub fn spawn_miner(config: MinerConfig) -> MinerHandle {
    let stats = Arc::new(MinerStats::default());
    let stop = Arc::new(Notify::new());
    let task = tokio::spawn(connection::run(config, stats.clone(), stop.clone()));
    MinerHandle { stats, stop, task }
}
