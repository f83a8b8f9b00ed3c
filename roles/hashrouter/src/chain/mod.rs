//! The on-chain allocation source (DESIGN.md §8): the Lumerin spot marketplace on an EVM chain.
//!
//! - [`destination`]: a contract's decrypted destination URL, parsed into a route's upstream;
//! - [`rpc`]: the few JSON-RPC reads the watcher needs, encoded with `contracts::abi`;
//! - [`watcher`]: follows the seller's contracts (one log filter, confirmations, periodic full
//!   reconciliation) and sends [`ChainUpdate`]s to the node;
//! - [`status`]: what the operator sees of it.

pub mod destination;
pub mod rpc;
pub mod status;
pub mod wallet_key;
pub mod watcher;

pub use destination::{Destination, DestinationError, DestinationPool};
pub use status::{ChainSnapshot, ContractPhase, ContractSnapshot, ReadProgress};
pub use watcher::{spawn_watcher, ChainUpdate, ContractRoute, WatcherSettings};
