//! The seller's wallet key: the secp256k1 key whose Ethereum address owns the Lumerin contracts
//! and whose public key buyers encrypt destinations to.

use std::fmt;

use alloy::primitives::Address;
use secp256k1::{PublicKey, Secp256k1, SecretKey};

use crate::ecies::{self, EciesError};

/// A seller's secp256k1 secret key with its public key.
///
/// `Debug` shows only the address; there is no `Display`. The secret leaves only through
/// [`WalletKey::secret_hex`], for writing the key file.
#[derive(Clone)]
pub struct WalletKey {
    secret: SecretKey,
    public: PublicKey,
}

/// Why a wallet key text was refused. The messages never contain any of the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletKeyParseError {
    #[error("wallet key is empty")]
    Empty,
    #[error("wallet key is not hexadecimal")]
    NotHex,
    #[error("wallet key has {0} hex digits, expected 64 (32 bytes, optionally prefixed by 0x)")]
    WrongLength(usize),
    #[error("wallet key is not a valid secp256k1 secret key (zero, or not below the curve order)")]
    OutOfRange,
}

impl WalletKey {
    /// Parses 64 hex digits, optionally prefixed by `0x`, with surrounding whitespace (a key
    /// file's trailing newline) ignored.
    pub fn from_hex(text: &str) -> Result<Self, WalletKeyParseError> {
        let text = text.trim();
        let digits = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .unwrap_or(text);
        if digits.is_empty() {
            return Err(WalletKeyParseError::Empty);
        }
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(WalletKeyParseError::NotHex);
        }
        if digits.len() != 64 {
            return Err(WalletKeyParseError::WrongLength(digits.len()));
        }
        let bytes = hex::decode(digits).map_err(|_| WalletKeyParseError::NotHex)?;
        let secret = SecretKey::from_slice(&bytes).map_err(|_| WalletKeyParseError::OutOfRange)?;
        Ok(Self::from_secret(secret))
    }

    /// A new random key from the operating system's generator.
    pub fn generate() -> Self {
        Self::from_secret(SecretKey::new(&mut rand::rngs::OsRng))
    }

    /// Wraps an existing secret key.
    pub fn from_secret(secret: SecretKey) -> Self {
        let public = PublicKey::from_secret_key(&Secp256k1::signing_only(), &secret);
        Self { secret, public }
    }

    /// The Ethereum address: the last 20 bytes of Keccak-256 of the 64-byte `x ‖ y` public key.
    pub fn address(&self) -> Address {
        Address::from_raw_public_key(&self.public.serialize_uncompressed()[1..])
    }

    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The public key as a seller registers it as `pubKey` when creating contracts
    /// (`setCreateNewRentalContractV2`): uncompressed `04 ‖ x ‖ y`, 130 lowercase hex digits,
    /// no `0x`. Every buyer tool Lumerin publishes encrypts to this form, and go-ethereum's
    /// `UnmarshalPubkey` requires it.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public.serialize_uncompressed())
    }

    /// The secret as 64 lowercase hex digits, for writing the key file. Nothing else should
    /// call this.
    pub fn secret_hex(&self) -> String {
        hex::encode(self.secret.secret_bytes())
    }

    /// Decrypts a ciphertext (bytes) encrypted to this key.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, EciesError> {
        ecies::decrypt(&self.secret, ciphertext)
    }

    /// Decrypts a destination as stored on chain (hex, with or without `0x`) to its text.
    pub fn decrypt_destination(&self, hex: &str) -> Result<String, EciesError> {
        ecies::decrypt_hex(&self.secret, hex)
    }
}

impl fmt::Debug for WalletKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalletKey")
            // Display is the EIP-55 checksummed form wallets show.
            .field("address", &format_args!("{}", self.address()))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Anvil's and Hardhat's first development account, whose address is widely published.
    const DEV_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    const DEV_ADDRESS: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
    const DEV_PUBLIC: &str = "048318535b54105d4a7aae60c08fc45f9687181b4fdfc625bd1a753fa7397fed75\
                              3547f11ca8696646f2f3acb08e31016afac23e630c5d11f59f61fef57b0d2aa5";

    #[test]
    fn known_key_gives_known_address_and_public_key() {
        let key = WalletKey::from_hex(DEV_KEY).unwrap();
        assert_eq!(key.address(), DEV_ADDRESS.parse::<Address>().unwrap());
        assert_eq!(key.public_key_hex(), DEV_PUBLIC);
        assert_eq!(key.secret_hex(), DEV_KEY);
    }

    #[test]
    fn accepts_prefix_whitespace_and_upper_case() {
        let expected = WalletKey::from_hex(DEV_KEY).unwrap().address();
        for text in [
            format!("0x{DEV_KEY}"),
            format!("  {DEV_KEY}\n"),
            format!("0X{}\r\n", DEV_KEY.to_uppercase()),
        ] {
            assert_eq!(WalletKey::from_hex(&text).unwrap().address(), expected);
        }
    }

    #[test]
    fn refuses_bad_keys_without_echoing_them() {
        let cases = [
            ("", WalletKeyParseError::Empty),
            ("  \n", WalletKeyParseError::Empty),
            ("0x", WalletKeyParseError::Empty),
            (&DEV_KEY[..63], WalletKeyParseError::WrongLength(63)),
            (&"ab".repeat(33), WalletKeyParseError::WrongLength(66)),
            ("0x0x12", WalletKeyParseError::NotHex),
            (
                "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ffzz",
                WalletKeyParseError::NotHex,
            ),
            (&"00".repeat(32), WalletKeyParseError::OutOfRange),
            (&"ff".repeat(32), WalletKeyParseError::OutOfRange),
        ];
        for (text, expected) in cases {
            let err = WalletKey::from_hex(text).unwrap_err();
            assert_eq!(err, expected, "{text:?}");
            let message = err.to_string();
            assert!(
                text.trim().len() < 8 || !message.contains(&text.trim()[..8]),
                "{message}"
            );
        }
    }

    #[test]
    fn debug_shows_the_address_only() {
        let key = WalletKey::from_hex(DEV_KEY).unwrap();
        let debug = format!("{key:?}");
        assert!(
            debug.contains("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
            "{debug}"
        );
        assert!(!debug.contains(&DEV_KEY[..16]), "{debug}");
        assert!(
            !debug.to_lowercase().contains(&DEV_PUBLIC[2..18]),
            "{debug}"
        );
    }

    #[test]
    fn generated_keys_differ_and_round_trip_through_hex() {
        let a = WalletKey::generate();
        let b = WalletKey::generate();
        assert_ne!(a.address(), b.address());
        let again = WalletKey::from_hex(&a.secret_hex()).unwrap();
        assert_eq!(again.address(), a.address());
        assert_eq!(again.public_key_hex(), a.public_key_hex());
        assert_eq!(a.public_key_hex().len(), 130);
        assert_eq!(
            ecies::public_key_from_hex(&a.public_key_hex()).unwrap(),
            a.public_key()
        );
    }

    #[test]
    fn decrypts_a_destination_encrypted_to_its_public_key() {
        let key = WalletKey::generate();
        let public = ecies::public_key_from_hex(&key.public_key_hex()).unwrap();
        let url = "stratum+tcp://buyer.worker:x@pool.example.com:3333";
        let on_chain = ecies::encrypt_hex(&public, url, &mut rand::rngs::OsRng);
        assert_eq!(key.decrypt_destination(&on_chain).unwrap(), url);
        let other = WalletKey::generate();
        assert_eq!(
            other.decrypt_destination(&on_chain),
            Err(EciesError::MacMismatch)
        );
    }
}
