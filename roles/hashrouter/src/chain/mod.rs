//! On-chain allocations (Lumerin's marketplace on an EVM chain).
//!
//! - [`wallet_key`]: loading the seller's wallet key from a file or an environment variable.

pub mod wallet_key;
