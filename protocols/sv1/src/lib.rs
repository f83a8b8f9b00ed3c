//! Stratum V1 codec, free of any runtime.
//!
//! - [`LineFramer`] turns received bytes into bounded, newline-terminated lines (sans-IO).
//! - [`parse_client`] / [`parse_server`] decode one line, borrowing strings from it.
//! - [`encode`] writes complete lines into a caller's `Vec<u8>` for either direction.
//!
//! Byte orders: hashes are `[u8; 32]` in internal (hashing) order; the stratum `prevhash`
//! convention (every 4-byte word byte-swapped) is converted in [`hex`]; `version`, `nbits`,
//! `ntime`, `nonce` and version bits are u32 values written as 8 big-endian hex digits.

mod client;
pub mod encode;
mod error;
mod extranonce;
mod framing;
pub mod hex;
mod id;
mod json;
mod server;

pub use client::{
    parse_client, ClientMessage, ClientRequest, Configure, Info, Submit, VersionRollingRequest,
};
pub use error::Sv1Error;
pub use extranonce::Extranonce2;
pub use framing::{LineFramer, DEFAULT_MAX_LINE};
pub use id::Id;
pub use server::{
    parse_server, ConfigureAnswer, Notify, Reconnect, Response, RpcError, ServerMessage,
    SubscribeAnswer,
};

/// The version-rolling mask BIP 310 recommends and most ASIC firmware asks for.
pub const DEFAULT_VERSION_MASK: u32 = 0x1fff_e000;
