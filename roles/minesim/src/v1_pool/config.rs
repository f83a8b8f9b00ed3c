//! V1 pool settings.

use std::net::SocketAddr;
use std::time::Duration;

/// Simple vardiff: every `retarget` period, steer each connection's difficulty towards
/// `shares_per_minute` accepted shares.
#[derive(Debug, Clone, PartialEq)]
pub struct V1Vardiff {
    pub shares_per_minute: f64,
    /// How often a connection's share rate is looked at.
    pub retarget: Duration,
    pub min_difficulty: f64,
    pub max_difficulty: f64,
}

/// Everything the synthetic Stratum V1 pool can be told.
#[derive(Debug, Clone)]
pub struct V1PoolConfig {
    pub listen: SocketAddr,
    /// Bytes of the per-connection `extranonce1` (1 to 8; unique per connection).
    pub extranonce1_size: usize,
    /// Bytes the miner rolls (2 to 8). The default 8 leaves a routing node room for a 4-byte
    /// device id plus the device's own extranonce2.
    pub extranonce2_size: usize,
    /// Share difficulty of every new connection (difficulty 1 = 2^32 expected hashes); fixed
    /// unless `vardiff` is set. The default suits CPU miners (one share per ~4 s at 100 kH/s).
    pub difficulty: f64,
    pub vardiff: Option<V1Vardiff>,
    /// The version-rolling mask granted through `mining.configure` (ANDed with the miner's).
    pub version_mask: u32,
    /// Compact network target of every synthetic block (the default, difficulty ~16 000, is
    /// far beyond what CPU miners reach in a test).
    pub nbits: u32,
    /// Height of the first synthetic block being mined.
    pub start_height: u32,
    /// How often the synthetic chain advances on its own (a clean job for everyone). `None`:
    /// only when a share finds a block.
    pub block_interval: Option<Duration>,
    /// How often a new template on the same tip is offered (a job with `clean_jobs` false).
    pub refresh_interval: Option<Duration>,
    /// The scriptPubKey the coinbase pays the whole reward to.
    pub coinbase_script_pubkey: Vec<u8>,
    /// Longest accepted line; a longer one closes the connection.
    pub max_line: usize,
    /// How far past the later of the job's ntime and the pool's clock a share's ntime may be.
    pub max_ntime_future: Duration,
}

impl V1PoolConfig {
    /// Defaults, listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            extranonce1_size: 4,
            extranonce2_size: 8,
            difficulty: 0.0001,
            vardiff: None,
            version_mask: sv1::DEFAULT_VERSION_MASK,
            nbits: 0x1b04_04cb,
            start_height: 1000,
            block_interval: None,
            refresh_interval: None,
            // P2WPKH to a fixed key hash.
            coinbase_script_pubkey: [&[0x00u8, 0x14][..], &[0x22u8; 20][..]].concat(),
            max_line: sv1::DEFAULT_MAX_LINE,
            max_ntime_future: Duration::from_secs(7200),
        }
    }

    /// Checks the sizes and difficulties, naming the field at fault.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(1..=8).contains(&self.extranonce1_size) {
            return Err(format!(
                "extranonce1_size must be 1 to 8, got {}",
                self.extranonce1_size
            ));
        }
        if !(sv1::Extranonce2::MIN_LEN..=sv1::Extranonce2::MAX_LEN).contains(&self.extranonce2_size)
        {
            return Err(format!(
                "extranonce2_size must be 2 to 8, got {}",
                self.extranonce2_size
            ));
        }
        if !(self.difficulty.is_finite() && self.difficulty > 0.0) {
            return Err(format!(
                "difficulty must be positive, got {}",
                self.difficulty
            ));
        }
        if let Some(v) = &self.vardiff {
            let positive = |x: f64| x.is_finite() && x > 0.0;
            if !(positive(v.shares_per_minute)
                && positive(v.min_difficulty)
                && positive(v.max_difficulty)
                && v.min_difficulty <= v.max_difficulty
                && !v.retarget.is_zero())
            {
                return Err(format!("invalid vardiff settings: {v:?}"));
            }
        }
        if work::Target::from_compact(self.nbits).is_none() {
            return Err(format!("nbits {:#010x} is not a valid target", self.nbits));
        }
        Ok(())
    }
}
