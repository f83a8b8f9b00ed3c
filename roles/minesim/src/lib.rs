//! Simulated peers for tests, demos and benchmarks.

pub mod pool;
