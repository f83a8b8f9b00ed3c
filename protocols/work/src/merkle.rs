use crate::sha256d;
use sha2::{Digest, Sha256};

/// Txid of a coinbase given as consecutive parts (e.g. `coinb1, extranonce1, extranonce2, coinb2`),
/// hashed without concatenating them into a new buffer.
pub fn coinbase_txid(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    let first = hasher.finalize();
    Sha256::digest(first).into()
}

/// Merkle root from the coinbase txid and the merkle branch (sibling hashes from the bottom up).
pub fn merkle_root<B: AsRef<[u8]>>(coinbase_txid: [u8; 32], path: &[B]) -> [u8; 32] {
    let mut node = coinbase_txid;
    let mut pair = [0u8; 64];
    for sibling in path {
        pair[..32].copy_from_slice(&node);
        pair[32..].copy_from_slice(sibling.as_ref());
        node = sha256d(&pair);
    }
    node
}
