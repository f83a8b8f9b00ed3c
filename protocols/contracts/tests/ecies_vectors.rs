//! The ECIES vectors ecies-geth generated (test-vectors/ecies/vectors.json, see its README):
//! each decrypts to its plaintext, and every kind of alteration is refused with the error that
//! names it.

use std::path::Path;

use contracts::ecies::{self, EciesError, EPHEMERAL_KEY_LEN, IV_LEN, OVERHEAD, TAG_LEN};
use contracts::WalletKey;
use secp256k1::SecretKey;
use serde_json::Value;

struct Vector {
    name: String,
    key: WalletKey,
    secret: SecretKey,
    public_key: String,
    plaintext: String,
    ciphertext_hex: String,
    ciphertext: Vec<u8>,
}

fn vectors() -> Vec<Vector> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-vectors/ecies/vectors.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    assert!(json["generator"]
        .as_str()
        .unwrap()
        .starts_with("ecies-geth "));
    let vectors: Vec<Vector> = json["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let field = |name: &str| v[name].as_str().unwrap().to_string();
            let secret_hex = field("private_key");
            let secret = SecretKey::from_slice(&hex::decode(&secret_hex).unwrap()).unwrap();
            let ciphertext_hex = field("ciphertext");
            Vector {
                name: field("name"),
                key: WalletKey::from_hex(&secret_hex).unwrap(),
                secret,
                public_key: field("public_key"),
                plaintext: field("plaintext"),
                ciphertext: hex::decode(&ciphertext_hex).unwrap(),
                ciphertext_hex,
            }
        })
        .collect();
    assert!(vectors.len() >= 8, "only {} vectors", vectors.len());
    vectors
}

#[test]
fn every_vector_decrypts_to_its_plaintext() {
    for v in vectors() {
        assert_eq!(
            v.key.decrypt_destination(&v.ciphertext_hex).unwrap(),
            v.plaintext,
            "{}",
            v.name
        );
        assert_eq!(
            ecies::decrypt(&v.secret, &v.ciphertext).unwrap(),
            v.plaintext.as_bytes(),
            "{}",
            v.name
        );
        assert_eq!(
            ecies::decrypt_hex(&v.secret, &format!("0x{}", v.ciphertext_hex)).unwrap(),
            v.plaintext,
            "{}",
            v.name
        );
        // Our public key form is the one ecies-geth's getPublic gives.
        assert_eq!(v.key.public_key_hex(), v.public_key, "{}", v.name);
    }
}

#[test]
fn vectors_cover_empty_long_unicode_and_a_padded_shared_secret() {
    let vectors = vectors();
    let named = |name: &str| vectors.iter().find(|v| v.name == name).unwrap();
    assert_eq!(named("empty").ciphertext.len(), OVERHEAD);
    assert!(named("long").plaintext.len() > 900);
    assert!(!named("unicode").plaintext.is_ascii());
    assert!(named("leading_zero_shared_secret")
        .plaintext
        .starts_with("stratum+tcp://"));
}

#[test]
fn flipping_any_byte_is_refused_with_the_error_naming_the_part() {
    for v in vectors() {
        let len = v.ciphertext.len();
        for i in 0..len {
            let mut altered = v.ciphertext.clone();
            altered[i] ^= 0x01;
            let err = ecies::decrypt(&v.secret, &altered).unwrap_err();
            let expected = if i == 0 {
                EciesError::NotUncompressedKey(0x05)
            } else if i < EPHEMERAL_KEY_LEN {
                // A changed coordinate no longer satisfies the curve equation.
                EciesError::InvalidEphemeralKey
            } else {
                // IV, body or tag: all covered by the MAC.
                EciesError::MacMismatch
            };
            assert_eq!(err, expected, "{}: byte {i} of {len}", v.name);
        }
    }
}

#[test]
fn truncated_or_extended_ciphertexts_are_refused() {
    for v in vectors() {
        let len = v.ciphertext.len();
        for keep in [
            0,
            1,
            EPHEMERAL_KEY_LEN,
            EPHEMERAL_KEY_LEN + IV_LEN,
            OVERHEAD - 1,
        ] {
            assert_eq!(
                ecies::decrypt(&v.secret, &v.ciphertext[..keep]),
                Err(EciesError::TooShort { len: keep }),
                "{}: first {keep} bytes",
                v.name
            );
        }
        // Dropping bytes from the end (the tag's last, a whole tag) or adding one keeps the
        // length valid but the tag no longer matches.
        for keep in [len - 1, len - TAG_LEN] {
            if keep >= OVERHEAD {
                assert_eq!(
                    ecies::decrypt(&v.secret, &v.ciphertext[..keep]),
                    Err(EciesError::MacMismatch),
                    "{}: first {keep} of {len} bytes",
                    v.name
                );
            }
        }
        let mut longer = v.ciphertext.clone();
        longer.push(0);
        assert_eq!(
            ecies::decrypt(&v.secret, &longer),
            Err(EciesError::MacMismatch),
            "{}: one byte added",
            v.name
        );
        // A truncated hex string (odd digit count) is not hex at all.
        assert!(matches!(
            ecies::decrypt_hex(&v.secret, &v.ciphertext_hex[..v.ciphertext_hex.len() - 1]),
            Err(EciesError::NotHex(_))
        ));
    }
}

#[test]
fn the_wrong_key_is_refused() {
    let vectors = vectors();
    let wrong = WalletKey::generate();
    for v in &vectors {
        assert_eq!(
            wrong.decrypt_destination(&v.ciphertext_hex),
            Err(EciesError::MacMismatch),
            "{}",
            v.name
        );
        // Another vector's key (some share a key: pick one that differs).
        if let Some(other) = vectors.iter().find(|o| o.public_key != v.public_key) {
            assert_eq!(
                other.key.decrypt_destination(&v.ciphertext_hex),
                Err(EciesError::MacMismatch),
                "{} with {}'s key",
                v.name,
                other.name
            );
        }
    }
}

#[test]
fn our_encryption_to_a_vector_key_round_trips() {
    let mut rng = rand::rngs::OsRng;
    for v in vectors() {
        let public = ecies::public_key_from_hex(&v.public_key).unwrap();
        let text = ecies::encrypt_hex(&public, &v.plaintext, &mut rng);
        assert_eq!(text.len(), v.ciphertext_hex.len(), "{}", v.name);
        assert_ne!(
            text, v.ciphertext_hex,
            "{}: fresh ephemeral key and IV",
            v.name
        );
        assert_eq!(
            v.key.decrypt_destination(&text).unwrap(),
            v.plaintext,
            "{}",
            v.name
        );
    }
}
