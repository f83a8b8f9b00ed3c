//! Settings of the bitcoind JSON-RPC shim.

use std::net::SocketAddr;
use std::time::Duration;

/// HTTP basic-auth credentials the shim requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcAuth {
    pub user: String,
    pub password: String,
}

/// Everything the shim can be told.
#[derive(Debug, Clone)]
pub struct BitcoindRpcConfig {
    pub listen: SocketAddr,
    /// Compact network target of every synthetic block. The default (difficulty ~16 000) is
    /// far beyond what CPU miners reach in a test, so test shares never make blocks.
    pub nbits: u32,
    /// Height of the first block template.
    pub start_height: u32,
    /// How often the synthetic chain advances on its own. `None`: only on `submitblock`.
    pub block_interval: Option<Duration>,
    /// The network addresses are checked against and whose name `getblockchaininfo` reports.
    pub network: bitcoin::Network,
    /// Required credentials; `None` accepts any (or no) `Authorization` header.
    pub auth: Option<RpcAuth>,
    /// Largest request body (a `submitblock` hex is twice the block size).
    pub max_body_bytes: usize,
}

impl BitcoindRpcConfig {
    /// Defaults (regtest addresses, no auth), listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            nbits: 0x1b04_04cb,
            start_height: 1000,
            block_interval: None,
            network: bitcoin::Network::Regtest,
            auth: None,
            max_body_bytes: 4 << 20,
        }
    }
}
