//! Hashrate allocations: what a buyer bought, and how the farm's hashrate is divided.
//!
//! Every allocation source (the static `allocations.toml`, later the EVM chain) produces the
//! same [`Allocation`] model; [`resolve`] turns the allocations active at a moment, the farm's
//! measured hashrate and an over-subscription [`Policy`] into a target rate per route, the
//! default route taking the remainder. Nothing here does I/O or reads a clock.
//!
//! For allocations bought on Lumerin's marketplace, [`wallet::WalletKey`] is the seller's key and
//! [`ecies`] decrypts the destinations buyers encrypt to it (go-ethereum's ECIES).
//!
//! [`abi`] holds the Lumerin spot marketplace's contract bindings, which the chain source uses
//! to encode its calls and decode their returns and logs.

pub mod abi;
mod allocation;
pub mod ecies;
mod hashrate;
mod policy;
mod resolution;
pub mod wallet;

pub use allocation::{Allocation, Amount, DEFAULT_ROUTE};
pub use hashrate::{Hashrate, HashrateError};
pub use policy::{Policy, PolicyError};
pub use resolution::{resolve, Cut, Grant, OverSubscription, Resolution};
pub use wallet::{WalletKey, WalletKeyParseError};
