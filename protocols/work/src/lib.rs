//! Proof-of-work arithmetic shared by the node and its simulated peers.
//!
//! Bitcoin hashes are compared as little-endian 256-bit numbers; every `[u8; 32]` here (hashes,
//! targets, merkle nodes) is in that internal byte order unless a function says otherwise.

mod header;
mod merkle;
mod target;

pub use header::BlockHeader;
pub use merkle::{coinbase_txid, merkle_root};
pub use target::{Target, DIFFICULTY_1_TARGET};

use sha2::{Digest, Sha256};

/// Double SHA-256, the hash of block headers and transaction ids.
pub fn sha256d(data: &[u8]) -> [u8; 32] {
    let first = Sha256::digest(data);
    Sha256::digest(first).into()
}

/// Expected number of hashes behind one share at `difficulty` (difficulty 1 ≈ 2^32 hashes).
pub fn work_of_difficulty(difficulty: f64) -> f64 {
    difficulty * 4_294_967_296.0
}
