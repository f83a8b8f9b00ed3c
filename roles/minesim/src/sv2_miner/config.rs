use std::time::Duration;

use sv2_conn::Secp256k1PublicKey;

/// Which kind of channel the miner opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// Header-only mining (`OpenStandardMiningChannel`): the server fixes the merkle root, or
    /// sends extended jobs to the channel's group for the miner to complete with its prefix.
    Standard,
    /// `OpenExtendedMiningChannel` asking for at least `min_extranonce_size` rollable bytes.
    Extended { min_extranonce_size: u16 },
}

/// How one simulated SV2 device behaves.
#[derive(Debug, Clone)]
pub struct Sv2MinerConfig {
    /// `HOST:PORT` of the SV2 server (a pool, a proxy, the node).
    pub address: String,
    /// The server's authority key; `None` accepts any server certificate.
    pub authority: Option<Secp256k1PublicKey>,
    /// `user_identity` of every channel.
    pub user_identity: String,
    /// Hashes per second to aim for across all channels; also the nominal hashrate announced.
    pub hashrate_cap: f64,
    pub channel_kind: ChannelKind,
    /// Channels opened on the one connection (1 to 64), each hashed by its own thread at an
    /// equal share of `hashrate_cap`.
    pub channels: u32,
    /// `SetupConnection` flag `REQUIRES_STANDARD_JOBS` (bit 0): no group-addressed extended
    /// jobs for standard channels.
    pub requires_standard_jobs: bool,
    /// `SetupConnection` flag `REQUIRES_VERSION_ROLLING` (bit 2).
    pub requires_version_rolling: bool,
    /// Roll version bits (mask `0x1fffe000`) on jobs that allow it.
    pub version_rolling: bool,
    /// `max_target` of every channel open (little-endian); all ones by default.
    pub max_target: [u8; 32],
    /// `vendor` in `SetupConnection`.
    pub vendor: String,
    /// `device_id` in `SetupConnection`.
    pub device_id: String,
    /// Reconnect after a disconnect (otherwise the miner stops). A `Reconnect` message is obeyed
    /// either way.
    pub reconnect: bool,
    /// Pause between a disconnect and the next connection attempt.
    pub reconnect_backoff: Duration,
    /// Deadline for the TCP connect, the Noise handshake and the `SetupConnection` reply.
    pub connect_timeout: Duration,
    /// Nonces tried per (extranonce, version) before rolling: 2^32 like hardware by default;
    /// tests shrink it to exercise rolling quickly.
    pub nonce_range: u64,
}

impl Sv2MinerConfig {
    /// A one-channel standard-channel device at 100 kH/s, rolling versions, reconnecting,
    /// accepting any server certificate.
    pub fn new(address: impl ToString, user_identity: impl Into<String>) -> Self {
        Self {
            address: address.to_string(),
            authority: None,
            user_identity: user_identity.into(),
            hashrate_cap: 100_000.0,
            channel_kind: ChannelKind::Standard,
            channels: 1,
            requires_standard_jobs: false,
            requires_version_rolling: false,
            version_rolling: true,
            max_target: [0xff; 32],
            vendor: "minesim".into(),
            device_id: concat!("minesim-sv2-miner/", env!("CARGO_PKG_VERSION")).into(),
            reconnect: true,
            reconnect_backoff: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(10),
            nonce_range: 1 << 32,
        }
    }
}
