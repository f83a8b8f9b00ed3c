//! Simulated peers for tests, demos and benchmarks.

pub mod chain;
mod grind;
pub mod pool;
pub mod sv2_miner;
pub mod template_provider;
pub mod v1_miner;
