//! Checks our arithmetic against the `bitcoin` crate on real mainnet data.

use bitcoin::consensus::deserialize;
use bitcoin::hashes::Hash;
use work::{coinbase_txid, merkle_root, sha256d, BlockHeader, Target, DIFFICULTY_1_TARGET};

/// Mainnet genesis block header.
const GENESIS: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";

#[test]
fn genesis_header_hash_and_target() {
    let bytes = hex::decode(GENESIS).unwrap();
    let theirs: bitcoin::block::Header = deserialize(&bytes).unwrap();
    let ours = BlockHeader {
        version: theirs.version.to_consensus() as u32,
        prev_hash: theirs.prev_blockhash.to_byte_array(),
        merkle_root: theirs.merkle_root.to_byte_array(),
        ntime: theirs.time,
        nbits: theirs.bits.to_consensus(),
        nonce: theirs.nonce,
    };
    assert_eq!(ours.to_bytes().as_slice(), bytes.as_slice());
    assert_eq!(ours.hash(), theirs.block_hash().to_byte_array());
    let target = Target::from_compact(ours.nbits).unwrap();
    assert_eq!(target, DIFFICULTY_1_TARGET);
    assert!(target.is_met_by(&ours.hash()));
    let mut harder = ours;
    harder.nonce ^= 1;
    assert!(!target.is_met_by(&harder.hash()));
}

#[test]
fn compact_matches_bitcoin_crate() {
    for nbits in [
        0x1d00ffffu32,
        0x207fffff,
        0x17034219,
        0x1b0404cb,
        0x1c654657,
    ] {
        let theirs = bitcoin::Target::from_compact(bitcoin::CompactTarget::from_consensus(nbits));
        assert_eq!(
            Target::from_compact(nbits).unwrap().to_le_bytes(),
            theirs.to_le_bytes(),
            "{nbits:08x}"
        );
    }
    // Sign bit set with a non-zero mantissa, and an exponent past 256 bits: both invalid.
    assert_eq!(Target::from_compact(0x04923456), None);
    assert_eq!(Target::from_compact(0x23123456), None);
}

#[test]
fn difficulty_round_trips() {
    for difficulty in [1.0, 0.001, 1.5, 1024.0, 65536.0, 1e12] {
        let target = Target::from_difficulty(difficulty);
        let back = target.difficulty();
        assert!(
            (back - difficulty).abs() / difficulty < 1e-9,
            "{difficulty} -> {back}"
        );
    }
    assert_eq!(Target::from_difficulty(1.0), DIFFICULTY_1_TARGET);
    assert!(Target::from_difficulty(2.0) < Target::from_difficulty(1.0));
    assert_eq!(Target::from_difficulty(0.0), Target::MAX);
    assert_eq!(Target::from_difficulty(f64::NAN), Target::MAX);
}

#[test]
fn work_of_difficulty_one_is_two_pow_32() {
    let work = DIFFICULTY_1_TARGET.work();
    assert!((work / 4_294_967_296.0 - 1.0).abs() < 1e-4, "{work}");
}

#[test]
fn merkle_root_of_block_170() {
    // Block 170: coinbase + the first bitcoin transaction.
    let coinbase = "b1fea52486ce0c62bb442b530a3f0132b826c74e473d1f2c220bfa78111c5082";
    let spend = "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16";
    let root = "7dac2c5666815c17a3b36427de37bb9d2e2c5ccec3f8633eb91a4205cb4c10ff";
    let le = |s: &str| -> [u8; 32] {
        let mut v = hex::decode(s).unwrap();
        v.reverse();
        v.try_into().unwrap()
    };
    assert_eq!(merkle_root(le(coinbase), &[le(spend)]), le(root));
    assert_eq!(merkle_root::<[u8; 32]>(le(coinbase), &[]), le(coinbase));
}

#[test]
fn coinbase_txid_hashes_parts_as_one() {
    let whole = b"coinb1-extranonce-coinb2";
    assert_eq!(
        coinbase_txid(&[b"coinb1-", b"extranonce", b"-coinb2"]),
        sha256d(whole)
    );
}
