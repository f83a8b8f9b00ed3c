//! Mining job tokens: a counter (unique for the life of the server) followed by random bytes (so
//! a client cannot guess another client's tokens).

use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes in every token: 8 of counter, 8 random.
pub const TOKEN_LEN: usize = 16;

/// Hands out tokens.
#[derive(Debug, Default)]
pub(crate) struct TokenMint {
    next: AtomicU64,
}

impl TokenMint {
    pub fn mint(&self) -> Vec<u8> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut token = Vec::with_capacity(TOKEN_LEN);
        token.extend_from_slice(&n.to_be_bytes());
        token.extend_from_slice(&rand::random::<[u8; 8]>());
        token
    }
}
