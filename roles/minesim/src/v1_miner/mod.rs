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

/// A running miner: read its counters through `stats()`, end it with `stop()` or `shutdown()`
/// (see [`MinerHandle`](crate::miner_handle::MinerHandle)).
pub type MinerHandle = crate::miner_handle::MinerHandle<MinerStats>;

/// Starts a miner (needs a tokio runtime): connects, handshakes, mines, and reconnects on
/// disconnect when `config.reconnect` is set.
pub fn spawn_miner(config: MinerConfig) -> MinerHandle {
    MinerHandle::spawn(|stats, stop| connection::run(config, stats, stop))
}
