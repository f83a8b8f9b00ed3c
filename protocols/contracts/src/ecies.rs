//! go-ethereum-compatible ECIES on secp256k1: how a Lumerin buyer encrypts where the hashrate
//! should go, to the seller's public key, before writing it on chain.
//!
//! A ciphertext is `R ‖ IV ‖ C ‖ tag`:
//! - `R`: the sender's ephemeral public key, 65 bytes uncompressed (`0x04 ‖ x ‖ y`);
//! - `IV`: 16 bytes, the initial AES-CTR counter block;
//! - `C`: the plaintext under AES-128-CTR (as long as the plaintext, possibly empty);
//! - `tag`: HMAC-SHA256 over `IV ‖ C`, 32 bytes.
//!
//! Keys: `z` is the x coordinate of the ECDH point (32 bytes, big-endian, zero-padded); the NIST
//! SP 800-56 concatenation KDF with SHA-256 gives `K = SHA-256(00000001 ‖ z)` (one block is the
//! 32 bytes needed, no shared info `s1`); the AES key is `K[..16]` and the MAC key is
//! `SHA-256(K[16..])`; the MAC has no shared info `s2`. These are geth's
//! `ECIES_AES128_SHA256` parameters, which npm `ecies-geth` reproduces.
//!
//! On chain the ciphertext is a hex string (lowercase, no `0x`, as Lumerin's buyer tools write
//! it); [`decrypt_hex`] also takes a `0x` prefix and upper case.

use aes::Aes128;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use rand::{CryptoRng, RngCore};
use secp256k1::{ecdh, PublicKey, SecretKey};
use sha2::{Digest, Sha256};

/// AES-128 in CTR mode with the whole 16-byte block as a big-endian counter (Go's
/// `cipher.NewCTR`, OpenSSL's `aes-128-ctr`).
type Aes128Ctr = ctr::Ctr128BE<Aes128>;
type HmacSha256 = Hmac<Sha256>;

/// Length of the uncompressed ephemeral public key that opens a ciphertext.
pub const EPHEMERAL_KEY_LEN: usize = 65;
/// Length of the AES-CTR initialisation vector.
pub const IV_LEN: usize = 16;
/// Length of the HMAC-SHA256 tag that closes a ciphertext.
pub const TAG_LEN: usize = 32;
/// Bytes a ciphertext adds to its plaintext; also the length of an empty message's ciphertext.
pub const OVERHEAD: usize = EPHEMERAL_KEY_LEN + IV_LEN + TAG_LEN;

/// Why a ciphertext (or a public key given as text) was refused. Ciphertexts are public, so the
/// messages may describe them; they never contain key material or plaintext.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EciesError {
    #[error("ciphertext is not hexadecimal: {0}")]
    NotHex(hex::FromHexError),
    #[error(
        "ciphertext is {len} bytes, shorter than the {OVERHEAD} bytes of even an empty message \
         (truncated?)"
    )]
    TooShort { len: usize },
    #[error(
        "ciphertext does not start with an uncompressed ephemeral public key (first byte \
         {0:#04x}, expected 0x04)"
    )]
    NotUncompressedKey(u8),
    #[error("ciphertext's ephemeral public key is not a point on secp256k1 (corrupted?)")]
    InvalidEphemeralKey,
    #[error("ciphertext's MAC does not match: it was altered, or encrypted to another key")]
    MacMismatch,
    #[error("decrypted message is not UTF-8 text")]
    NotUtf8,
    #[error("not a secp256k1 public key: {0}")]
    InvalidPublicKey(&'static str),
}

/// Decrypts `ciphertext` (bytes) with the recipient's secret key.
///
/// The tag is checked, in constant time, before anything is decrypted.
pub fn decrypt(secret: &SecretKey, ciphertext: &[u8]) -> Result<Vec<u8>, EciesError> {
    if ciphertext.len() < OVERHEAD {
        return Err(EciesError::TooShort {
            len: ciphertext.len(),
        });
    }
    let (ephemeral, rest) = ciphertext.split_at(EPHEMERAL_KEY_LEN);
    let (iv_and_body, tag) = rest.split_at(rest.len() - TAG_LEN);
    let (iv, body) = iv_and_body.split_at(IV_LEN);

    // geth reads 65 bytes whatever the first byte says; only the uncompressed form can fill them.
    if ephemeral[0] != 0x04 {
        return Err(EciesError::NotUncompressedKey(ephemeral[0]));
    }
    let ephemeral =
        PublicKey::from_slice(ephemeral).map_err(|_| EciesError::InvalidEphemeralKey)?;

    let keys = DerivedKeys::new(&ephemeral, secret);
    let mut mac = keys.mac();
    mac.update(iv_and_body);
    mac.verify_slice(tag).map_err(|_| EciesError::MacMismatch)?;

    let mut plaintext = body.to_vec();
    keys.cipher(iv).apply_keystream(&mut plaintext);
    Ok(plaintext)
}

/// Decrypts a ciphertext in its on-chain form: hex, with or without `0x`, surrounding
/// whitespace ignored; the plaintext must be UTF-8 (a destination URL).
pub fn decrypt_hex(secret: &SecretKey, text: &str) -> Result<String, EciesError> {
    let bytes = decode_hex(text).map_err(EciesError::NotHex)?;
    let plaintext = decrypt(secret, &bytes)?;
    String::from_utf8(plaintext).map_err(|_| EciesError::NotUtf8)
}

/// Encrypts `plaintext` to `public` with a fresh ephemeral key and IV from `rng`.
pub fn encrypt<R: RngCore + CryptoRng>(
    public: &PublicKey,
    plaintext: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let ephemeral = SecretKey::new(rng);
    let mut iv = [0u8; IV_LEN];
    rng.fill_bytes(&mut iv);
    let ephemeral_public =
        PublicKey::from_secret_key(&secp256k1::Secp256k1::signing_only(), &ephemeral);

    let keys = DerivedKeys::new(public, &ephemeral);
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.extend_from_slice(&ephemeral_public.serialize_uncompressed());
    out.extend_from_slice(&iv);
    let body_start = out.len();
    out.extend_from_slice(plaintext);
    keys.cipher(&iv).apply_keystream(&mut out[body_start..]);
    let mut mac = keys.mac();
    mac.update(&out[EPHEMERAL_KEY_LEN..]);
    out.extend_from_slice(&mac.finalize().into_bytes());
    out
}

/// [`encrypt`] for text, returning the on-chain form: lowercase hex without `0x`, as Lumerin's
/// buyer tools write it (`Buffer.toString('hex')`, Go's `hex.EncodeToString`).
pub fn encrypt_hex<R: RngCore + CryptoRng>(
    public: &PublicKey,
    plaintext: &str,
    rng: &mut R,
) -> String {
    hex::encode(encrypt(public, plaintext.as_bytes(), rng))
}

/// Parses a secp256k1 public key in any of the text forms found in Lumerin contracts' `pubKey`:
/// hex with or without `0x`, uncompressed with the `04` prefix (130 digits), uncompressed
/// without it (128 digits, `x ‖ y`), or compressed (66 digits).
pub fn public_key_from_hex(text: &str) -> Result<PublicKey, EciesError> {
    let bytes = decode_hex(text).map_err(|_| EciesError::InvalidPublicKey("not hexadecimal"))?;
    let parsed = match bytes.len() {
        64 => {
            let mut full = [0u8; 65];
            full[0] = 0x04;
            full[1..].copy_from_slice(&bytes);
            PublicKey::from_slice(&full)
        }
        33 | 65 => PublicKey::from_slice(&bytes),
        _ => return Err(EciesError::InvalidPublicKey("wrong length")),
    };
    parsed.map_err(|_| EciesError::InvalidPublicKey("not a point on the curve"))
}

/// Hex digits to bytes: surrounding whitespace and a `0x`/`0X` prefix are ignored.
fn decode_hex(text: &str) -> Result<Vec<u8>, hex::FromHexError> {
    let text = text.trim();
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    hex::decode(digits)
}

/// The AES and MAC keys both sides derive from the ECDH secret.
struct DerivedKeys {
    encryption: [u8; 16],
    mac: [u8; 32],
}

impl DerivedKeys {
    fn new(public: &PublicKey, secret: &SecretKey) -> Self {
        let point = ecdh::shared_secret_point(public, secret);
        let shared_x = &point[..32];
        // Concat KDF, one SHA-256 block: counter 1 (big-endian u32) ‖ z, no shared info.
        let k = Sha256::new()
            .chain_update(1u32.to_be_bytes())
            .chain_update(shared_x)
            .finalize();
        let mut encryption = [0u8; 16];
        encryption.copy_from_slice(&k[..16]);
        let mac = Sha256::digest(&k[16..]).into();
        Self { encryption, mac }
    }

    fn cipher(&self, iv: &[u8]) -> Aes128Ctr {
        Aes128Ctr::new(&self.encryption.into(), iv.into())
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length; 32 bytes cannot fail.
        <HmacSha256 as Mac>::new_from_slice(&self.mac).unwrap_or_else(|_| unreachable!())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn keypair(seed: u64) -> (SecretKey, PublicKey) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let secret = SecretKey::new(&mut rng);
        let public = PublicKey::from_secret_key(&secp256k1::Secp256k1::new(), &secret);
        (secret, public)
    }

    #[test]
    fn round_trips_every_length_around_the_block_size() {
        let (secret, public) = keypair(1);
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 100, 1000] {
            let plaintext: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let ciphertext = encrypt(&public, &plaintext, &mut rng);
            assert_eq!(ciphertext.len(), OVERHEAD + len);
            assert_eq!(ciphertext[0], 0x04);
            assert_eq!(
                decrypt(&secret, &ciphertext).unwrap(),
                plaintext,
                "length {len}"
            );
        }
    }

    #[test]
    fn hex_form_round_trips_with_and_without_prefix() {
        let (secret, public) = keypair(3);
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let url = "stratum+tcp://user:pass@127.0.0.1:3333";
        let text = encrypt_hex(&public, url, &mut rng);
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(decrypt_hex(&secret, &text).unwrap(), url);
        assert_eq!(decrypt_hex(&secret, &format!("0x{text}")).unwrap(), url);
        assert_eq!(
            decrypt_hex(&secret, &format!(" 0X{} \n", text.to_uppercase())).unwrap(),
            url
        );
    }

    #[test]
    fn two_encryptions_differ() {
        let (_, public) = keypair(5);
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        let a = encrypt(&public, b"same", &mut rng);
        let b = encrypt(&public, b"same", &mut rng);
        assert_ne!(a, b);
    }

    #[test]
    fn non_hex_and_non_utf8_are_refused() {
        let (secret, public) = keypair(7);
        // A buggy buyer UI once wrote this on chain (Lumerin proxy-router's tests keep it).
        assert!(matches!(
            decrypt_hex(&secret, "[object Promise]"),
            Err(EciesError::NotHex(_))
        ));
        assert!(matches!(
            decrypt_hex(&secret, "abc"),
            Err(EciesError::NotHex(_))
        ));
        assert_eq!(
            decrypt_hex(&secret, ""),
            Err(EciesError::TooShort { len: 0 })
        );
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        let ciphertext = hex::encode(encrypt(&public, &[0xff, 0xfe], &mut rng));
        assert_eq!(decrypt_hex(&secret, &ciphertext), Err(EciesError::NotUtf8));
    }

    #[test]
    fn public_key_text_forms_parse_to_the_same_key() {
        let (_, public) = keypair(9);
        let full = hex::encode(public.serialize_uncompressed());
        let raw = &full[2..];
        let compressed = hex::encode(public.serialize());
        for text in [
            full.clone(),
            format!("0x{full}"),
            raw.to_string(),
            format!("0x{raw}"),
            compressed,
        ] {
            assert_eq!(public_key_from_hex(&text).unwrap(), public, "{text}");
        }
        assert!(public_key_from_hex("04").is_err());
        assert!(public_key_from_hex(&"ff".repeat(64)).is_err());
        assert!(public_key_from_hex("zz").is_err());
    }
}
