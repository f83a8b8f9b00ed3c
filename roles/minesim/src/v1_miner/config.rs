use std::net::SocketAddr;
use std::time::Duration;

/// How one simulated SV1 device behaves.
#[derive(Debug, Clone)]
pub struct MinerConfig {
    pub server: SocketAddr,
    /// `mining.authorize` user, also the worker name in submits.
    pub user: String,
    pub password: String,
    /// Hashes per second to aim for (the hashing thread sleeps between batches to hold it).
    pub hashrate_cap: f64,
    /// Ask for BIP310 version rolling (mask `1fffe000`) and roll within the granted mask.
    pub version_rolling: bool,
    pub user_agent: String,
    /// Reconnect after a disconnect (otherwise the miner stops).
    pub reconnect: bool,
    /// Pause between a disconnect and the next connection attempt.
    pub reconnect_backoff: Duration,
    /// Nonces tried per (extranonce2, version) before rolling: 2^32 like hardware by default;
    /// tests shrink it to exercise version and extranonce2 rolling quickly.
    pub nonce_range: u64,
}

impl MinerConfig {
    /// A device with default behaviour: 100 kH/s, version rolling on, reconnecting.
    pub fn new(server: SocketAddr, user: impl Into<String>) -> Self {
        Self {
            server,
            user: user.into(),
            password: "x".into(),
            hashrate_cap: 100_000.0,
            version_rolling: true,
            user_agent: concat!("minesim/", env!("CARGO_PKG_VERSION")).into(),
            reconnect: true,
            reconnect_backoff: Duration::from_millis(200),
            nonce_range: 1 << 32,
        }
    }
}
