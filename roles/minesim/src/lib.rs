//! Simulated peers for tests, demos and benchmarks.

pub mod v1_miner;
