//! Support for tests that run real peers (SRI's binaries, an npm V1 pool) as subprocesses next
//! to hashrouter and minesim: installing them ([`peers`]), running one with its config and logs in a
//! temporary folder ([`process`]), loopback ports ([`net`]), and a local EVM chain with our test
//! marketplace on it ([`evm`]).
//!
//! Test support: failures to install or start a peer panic with the reason, so the test fails
//! loudly instead of being skipped.

pub mod evm;
pub mod monitoring;
pub mod net;
pub mod peers;
pub mod process;

pub use evm::{Anvil, Marketplace, DEV_ACCOUNTS};
pub use net::{free_addr, free_port, wait_for_port, wait_until};
pub use peers::{bin, npm_package_dir, script};
pub use process::PeerProcess;
