//! An SV2 connection over Noise on tokio TCP.
//!
//! [`connect`] runs the Noise NX handshake as the initiator (a client of a pool or of our SV2
//! server), [`accept`] as the responder (a pool or our SV2 server). Both hand back split halves so
//! one task can `select!` between [`FrameReader::read`] (cancel-safe) and writing from a queue
//! with [`FrameWriter::write`]. Messages are parsed into parsers_sv2's owned
//! [`AnyMessageOwned`], the type channels_sv2 consumes.
//!
//! The framing itself is sans-IO in [`FrameEncoder`] / [`FrameDecoder`] (what the halves use),
//! so other transports and benchmarks can run the same path without a socket.
//!
//! [`keys`] generates and parses authority keypairs in SRI's base58check format.

mod error;
mod frames;
mod handshake;
pub mod keys;
mod transport;

pub use error::ConnError;
pub use frames::{FrameDecoder, FrameEncoder, MAX_FRAME_PAYLOAD};
pub use handshake::{accept, connect, ResponderKeys};
pub use transport::{FrameReader, FrameWriter};

pub use key_utils::{Secp256k1PublicKey, Secp256k1SecretKey};
pub use parsers_sv2::{
    AnyMessage, AnyMessageOwned, CommonMessages, CommonMessagesOwned, IsSv2Message, Mining,
    MiningOwned,
};
