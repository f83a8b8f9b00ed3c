//! Pool settings.

use crate::jds::DeclaredJobs;
use crate::template_provider::TemplateProviderChain;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// SRI's published example authority pair. For tests and demos only.
pub const TEST_AUTHORITY_PUBLIC: &str = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72";
/// Secret half of [`TEST_AUTHORITY_PUBLIC`].
pub const TEST_AUTHORITY_SECRET: &str = "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n";

/// The pool's default payout: P2WPKH to a fixed key hash (also the JDS's default required
/// output, so the two agree out of the box).
pub fn default_coinbase_script_pubkey() -> Vec<u8> {
    [&[0x00u8, 0x14][..], &[0x11u8; 20][..]].concat()
}

/// How a new channel's first target is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InitialTarget {
    /// From the requested nominal hashrate and `shares_per_minute` (SRI's formula), clamped by
    /// the client's `max_target`.
    FromHashrate,
    /// A fixed pool difficulty (difficulty 1 = 2^32 expected hashes), clamped by `max_target`.
    FixedDifficulty(f64),
}

/// Whether the pool takes jobs its clients declared (`SetCustomMiningJob`, clients that set
/// up with `REQUIRES_WORK_SELECTION`).
#[derive(Debug, Clone, Default)]
pub enum CustomJobs {
    /// Work selection is refused at `SetupConnection` (`unsupported-feature-flags`).
    #[default]
    Refuse,
    /// Any token is taken (no Job Declaration Server behind the pool).
    AcceptAnyToken,
    /// The token must name a job the JDS sharing this registry accepted; the custom job must
    /// keep that declaration's version and coinbase outputs.
    Registry(DeclaredJobs),
}

/// Everything the synthetic pool can be told.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub listen: SocketAddr,
    /// Authority public key, base58check (SRI key-utils format).
    pub authority_public: String,
    /// Authority secret key, base58check.
    pub authority_secret: String,
    pub cert_validity: Duration,
    /// Compact network target of every synthetic block. The default (difficulty ~16 000) is far
    /// beyond what a CPU miner reaches in a test; regtest's `0x207fffff` makes every other share
    /// a block.
    pub nbits: u32,
    /// Height of the first synthetic tip's block template.
    pub start_height: u32,
    /// How often the synthetic chain advances on its own (a new prev hash for every channel).
    /// `None`: only when a share finds a block.
    pub block_interval: Option<Duration>,
    /// Target share rate per channel, for the initial target and for vardiff.
    pub shares_per_minute: f32,
    /// `SubmitShares.Success` is sent after this many accepted shares ...
    pub share_batch_size: usize,
    /// ... or after this long with unacknowledged shares, whichever comes first.
    pub share_batch_flush: Duration,
    pub vardiff: bool,
    /// How often vardiff looks at a channel (channels_sv2 acts only after more than 15 s).
    pub vardiff_period: Duration,
    pub initial_target: InitialTarget,
    /// Total extranonce bytes (prefix + rollable) of every channel, at most 32.
    pub extranonce_len: u8,
    /// Most channels open at once across the pool (sizes the prefix allocator).
    pub max_channels: u32,
    /// The scriptPubKey the coinbase pays the whole reward to.
    pub coinbase_script_pubkey: Vec<u8>,
    /// Deadline for the Noise handshake and for the client's `SetupConnection`.
    pub handshake_timeout: Duration,
    /// Custom jobs (job declaration): refused by default.
    pub custom_jobs: CustomJobs,
    /// Mine on this template provider's chain instead of a private synthetic one: pool jobs
    /// and declared jobs share tips, and a block found on a pool job is submitted to the
    /// provider (whose next tip the pool then follows). `nbits`, `start_height` and
    /// `block_interval` are the provider's business then (`block_interval` must be `None`).
    pub follow_chain: Option<TemplateProviderChain>,
    /// Advance the synthetic chain each time this is notified: a benchmark decides exactly when
    /// a new prev hash goes out (see [`crate::pool::control`]). Ignored when following a chain.
    pub block_trigger: Option<Arc<Notify>>,
}

impl PoolConfig {
    /// Defaults with the SRI test authority keys, listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            authority_public: TEST_AUTHORITY_PUBLIC.to_string(),
            authority_secret: TEST_AUTHORITY_SECRET.to_string(),
            cert_validity: Duration::from_secs(3600),
            nbits: 0x1b04_04cb,
            start_height: 1000,
            block_interval: None,
            shares_per_minute: 6.0,
            share_batch_size: 10,
            share_batch_flush: Duration::from_secs(1),
            vardiff: true,
            vardiff_period: Duration::from_secs(20),
            initial_target: InitialTarget::FromHashrate,
            extranonce_len: 16,
            max_channels: 65_536,
            // P2WPKH to a fixed key hash.
            coinbase_script_pubkey: default_coinbase_script_pubkey(),
            handshake_timeout: Duration::from_secs(10),
            custom_jobs: CustomJobs::Refuse,
            follow_chain: None,
            block_trigger: None,
        }
    }
}
