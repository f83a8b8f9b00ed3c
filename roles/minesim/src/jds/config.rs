//! Job Declaration Server settings.

use super::registry::DeclaredJobs;
use crate::pool::{default_coinbase_script_pubkey, TEST_AUTHORITY_PUBLIC, TEST_AUTHORITY_SECRET};
use bitcoin::{Amount, ScriptBuf, TxOut};
use std::net::SocketAddr;
use std::time::Duration;

/// Everything the Job Declaration Server can be told.
#[derive(Debug, Clone)]
pub struct JdsConfig {
    pub listen: SocketAddr,
    /// Authority public key, base58check (SRI key-utils format).
    pub authority_public: String,
    /// Authority secret key, base58check.
    pub authority_secret: String,
    pub cert_validity: Duration,
    /// The pool's payout outputs: sent with every token (`AllocateMiningJobToken.Success.
    /// coinbase_outputs`) and required, by scriptPubKey, in every declared coinbase. Values are
    /// advisory; the client sets the first output's value from its template.
    pub coinbase_outputs: Vec<TxOut>,
    /// Deadline for the Noise handshake and for the client's `SetupConnection`.
    pub handshake_timeout: Duration,
    /// How long a declaration waits for `ProvideMissingTransactions.Success` before it is
    /// refused with `missing-txs`.
    pub missing_txs_timeout: Duration,
    /// Unused tokens kept per client; allocating more forgets the oldest.
    pub max_tokens_per_client: usize,
    /// Declarations waiting for transactions per client; more are refused (`internal-error`).
    pub max_pending_per_client: usize,
    /// Transactions remembered across clients (oldest forgotten first).
    pub mempool_capacity: usize,
    /// Where accepted declarations are registered. Pass the same registry to a pool
    /// ([`crate::pool::CustomJobs::Registry`]) and to a restarted JDS so tokens survive it.
    pub declared_jobs: DeclaredJobs,
}

impl JdsConfig {
    /// Defaults with SRI's example authority keys and the minesim pool's default payout script,
    /// listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            authority_public: TEST_AUTHORITY_PUBLIC.to_string(),
            authority_secret: TEST_AUTHORITY_SECRET.to_string(),
            cert_validity: Duration::from_secs(3600),
            coinbase_outputs: vec![TxOut {
                value: Amount::ZERO,
                script_pubkey: ScriptBuf::from_bytes(default_coinbase_script_pubkey()),
            }],
            handshake_timeout: Duration::from_secs(10),
            missing_txs_timeout: Duration::from_secs(10),
            max_tokens_per_client: 256,
            max_pending_per_client: 16,
            mempool_capacity: 50_000,
            declared_jobs: DeclaredJobs::new(4096),
        }
    }
}
