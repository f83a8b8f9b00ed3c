//! Template provider settings.

use crate::pool::{TEST_AUTHORITY_PUBLIC, TEST_AUTHORITY_SECRET};
use std::net::SocketAddr;
use std::time::Duration;

/// Regtest's compact target: about every other hash is a block.
pub const REGTEST_NBITS: u32 = 0x207f_ffff;

/// Everything the template provider can be told.
#[derive(Debug, Clone)]
pub struct TemplateProviderConfig {
    pub listen: SocketAddr,
    /// Authority public key, base58check (SRI key-utils format).
    pub authority_public: String,
    /// Authority secret key, base58check.
    pub authority_secret: String,
    pub cert_validity: Duration,
    /// Compact network target of every block. Regtest's [`REGTEST_NBITS`] by default; tests that
    /// want shares which are not all blocks pick a harder one.
    pub nbits: u32,
    /// Height of the first block template.
    pub start_height: u32,
    /// Offer a new template (same tip, new transactions) this often. `None`: never.
    pub template_interval: Option<Duration>,
    /// Advance the tip on its own this often (a block found elsewhere). `None`: only when a
    /// client submits a valid solution.
    pub block_interval: Option<Duration>,
    /// Templates kept for `RequestTransactionData` and `SubmitSolution` (oldest dropped first).
    pub retained_templates: usize,
    /// Deadline for the Noise handshake and for the client's `SetupConnection`.
    pub handshake_timeout: Duration,
}

impl TemplateProviderConfig {
    /// Defaults with SRI's example authority keys, listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            authority_public: TEST_AUTHORITY_PUBLIC.to_string(),
            authority_secret: TEST_AUTHORITY_SECRET.to_string(),
            cert_validity: Duration::from_secs(3600),
            nbits: REGTEST_NBITS,
            start_height: 1000,
            template_interval: None,
            block_interval: None,
            retained_templates: 64,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}
