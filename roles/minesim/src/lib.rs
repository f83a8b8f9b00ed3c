//! Simulated peers for tests, demos and benchmarks.

pub mod chain;
mod grind;
pub mod miner_handle;
pub mod pool;
pub mod server;
pub mod sv2_miner;
pub mod template_provider;
pub mod v1_miner;
