//! Simulated peers for tests, demos and benchmarks.

mod grind;
pub mod pool;
pub mod sv2_miner;
pub mod v1_miner;
