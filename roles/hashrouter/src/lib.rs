//! hashrouter: a Stratum V2 node for mining farms.
//!
//! - [`allocations`]: the static allocations file and its reloading (the model and its
//!   resolution into per-route targets live in the `contracts` crate);
//! - [`chain`]: on-chain allocations (Lumerin), starting with the seller's wallet key;
//! - [`core`]: the sans-IO state machine (device sessions, jobs, shares, upstream channel);
//! - [`net`]: the tokio shell around it (SV1 listener, SV2 upstream client);
//! - [`node`]: wiring a running node together from a [`config::Config`];
//! - [`demo`]: the self-contained demo with simulated pool and miners;
//! - [`store`]: the accounting store (SQLite) and its writer task;
//! - [`status`]: `hashrouter status`, the node's picture in a terminal from its HTTP API.

pub mod allocations;
pub mod api;
pub mod chain;
pub mod config;
pub mod core;
pub mod demo;
pub mod net;
pub mod node;
pub mod simulate;
pub mod status;
pub mod store;
mod wall_clock;
