//! A real SV2 CPU miner: it connects over Noise ([`sv2_conn`]), sends `SetupConnection` for the
//! mining protocol, opens one or more standard or extended channels, mines their jobs with real
//! sha256d at a capped hashrate, and submits every header that meets its channel's target.
//!
//! - **Standard channels** (the default) mine `NewMiningJob`s (fixed merkle root), and also
//!   `NewExtendedMiningJob`s sent to their group channel, completing the coinbase with the
//!   channel's extranonce prefix. Shares go out as `SubmitSharesStandard`.
//! - **Extended channels** roll the granted extranonce bytes and submit `SubmitSharesExtended`.
//! - Future jobs wait for the `SetNewPrevHash` naming them (sent to the channel or its group);
//!   version bits are rolled within BIP320's `0x1fffe000` when the job allows it; `SetTarget`
//!   changes a channel's share target; `CloseChannel` stops that channel; `Reconnect` moves the
//!   miner to another host or port; `SubmitShares.Success`/`.Error` feed [`Sv2MinerStats`].
//!
//! The connection runs as a tokio task; each channel is hashed on its own std thread (sharing
//! the nonce grinder with the V1 miner), at `hashrate_cap / channels`.
//!
//! ```no_run
//! # async fn demo(addr: std::net::SocketAddr) {
//! use minesim::sv2_miner::{spawn_sv2_miner, ChannelKind, Sv2MinerConfig};
//! let mut config = Sv2MinerConfig::new(addr, "alice.rig1");
//! config.channel_kind = ChannelKind::Extended { min_extranonce_size: 8 };
//! let miner = spawn_sv2_miner(config);
//! // ... read miner.stats().shares_accepted() ...
//! miner.shutdown().await;
//! # }
//! ```

mod channel;
mod cli;
mod config;
mod connection;
mod endpoint;
mod error;
mod rig;
mod session;
mod stats;

pub use cli::{run_cli, Sv2MinerArgs};
pub use config::{ChannelKind, Sv2MinerConfig};
pub use error::Sv2MinerError;
pub use stats::{ChannelSnapshot, Sv2MinerStats};

/// A running SV2 miner: read its counters through `stats()`, end it with `stop()` or
/// `shutdown()` (see [`MinerHandle`](crate::miner_handle::MinerHandle)).
pub type Sv2MinerHandle = crate::miner_handle::MinerHandle<Sv2MinerStats>;

/// Starts a miner (needs a tokio runtime). It stops by itself on a fatal error
/// (`SetupConnection.Error`, every channel refused, a bad address; see
/// [`Sv2MinerStats::last_error`]) and, when `config.reconnect` is off, on a disconnect.
pub fn spawn_sv2_miner(config: Sv2MinerConfig) -> Sv2MinerHandle {
    Sv2MinerHandle::spawn(|stats, stop| connection::run(config, stats, stop))
}
