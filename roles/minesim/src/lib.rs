//! Simulated peers for tests, demos and benchmarks.

pub mod bitcoind_rpc;
pub mod chain;
mod grind;
pub mod jds;
pub mod load;
pub mod miner_handle;
pub mod pool;
pub mod server;
pub mod sv2_miner;
pub mod template_provider;
pub mod v1_miner;
pub mod v1_pool;
