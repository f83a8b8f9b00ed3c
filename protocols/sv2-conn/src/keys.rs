//! Authority keypairs in the base58check format SRI's key-utils reads and writes.

use key_utils::{Secp256k1PublicKey, Secp256k1SecretKey};
use secp256k1::{rand::thread_rng, Keypair, Parity, Secp256k1};

/// A freshly generated authority keypair.
#[derive(Debug, Clone, Copy)]
pub struct AuthorityKeypair {
    pub public: Secp256k1PublicKey,
    pub secret: Secp256k1SecretKey,
}

impl AuthorityKeypair {
    /// The public key as a base58check string (what clients configure as the pool's key).
    pub fn public_string(&self) -> String {
        self.public.to_string()
    }

    /// The secret key as a base58check string (what the server keeps in its config).
    pub fn secret_string(&self) -> String {
        self.secret.to_string()
    }
}

/// Generates a new authority keypair. Like SRI's `key-utils` binary, it keeps only keys whose
/// public point has even parity, so the x-only public key signs unambiguously.
pub fn generate() -> AuthorityKeypair {
    let secp = Secp256k1::new();
    loop {
        let (secret, _) = secp.generate_keypair(&mut thread_rng());
        let kp = Keypair::from_secret_key(&secp, &secret);
        let (xonly, parity) = kp.x_only_public_key();
        if parity == Parity::Even {
            return AuthorityKeypair {
                public: Secp256k1PublicKey(xonly),
                secret: Secp256k1SecretKey(kp.secret_key()),
            };
        }
    }
}
