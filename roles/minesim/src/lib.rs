//! Simulated peers for tests, demos and benchmarks.

pub mod chain;
pub mod pool;
pub mod template_provider;
pub mod v1_miner;
