//! Simulated peers for tests, demos and benchmarks.

pub mod pool;
pub mod v1_miner;
