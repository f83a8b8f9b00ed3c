//! The proof-of-work primitives every share costs, as reference figures for the node's share
//! validation: `work/sha256d_header` (one 80-byte header), `work/coinbase_txid` (a ~200-byte
//! coinbase) and `work/merkle_root_12` (folding a 12-branch merkle path).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use work::{coinbase_txid, merkle_root, sha256d, BlockHeader, Target};

fn benches(c: &mut Criterion) {
    // Block 125552's header, whose hash is well known: the reference input is a real one.
    let header = BlockHeader {
        version: 1,
        prev_hash: hash_le("00000000000008a3a41b85b8b29ad444def299fee21793cd8b9e567eab02cd81"),
        merkle_root: hash_le("2b12fcf1b09288fcaff797d71e950e71ae42b91e8bdb2304758dfcffc2b620e3"),
        ntime: 1_305_998_791,
        nbits: 0x1a44_b9f2,
        nonce: 2_504_433_986,
    };
    let hash = header.hash();
    assert_eq!(
        hash,
        hash_le("00000000000000001e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d")
    );
    assert!(Target::from_compact(header.nbits).unwrap().is_met_by(&hash));
    let bytes = header.to_bytes();
    let mut group = c.benchmark_group("work");
    group.bench_function("sha256d_header", |b| b.iter(|| sha256d(black_box(&bytes))));

    let coinb1: Vec<u8> = (0..80u8).collect();
    let extranonce = [0u8, 0, 0, 7, 0, 0, 0xa3, 0xf1];
    let coinb2: Vec<u8> = (0..110u8).rev().collect();
    group.bench_function("coinbase_txid", |b| {
        b.iter(|| {
            coinbase_txid(black_box(&[
                &coinb1,
                &extranonce[..4],
                &extranonce[4..],
                &coinb2,
            ]))
        })
    });

    let branch: Vec<[u8; 32]> = (0..12u8).map(|i| [i.wrapping_mul(37); 32]).collect();
    let txid = coinbase_txid(&[&coinb1, &extranonce, &coinb2]);
    group.bench_function("merkle_root_12", |b| {
        b.iter(|| merkle_root(black_box(txid), black_box(&branch)))
    });
    group.finish();
}

/// A hash written the usual way (big-endian hex) in internal byte order.
fn hash_le(hex_be: &str) -> [u8; 32] {
    let mut bytes: [u8; 32] = hex::decode(hex_be).unwrap().try_into().unwrap();
    bytes.reverse();
    bytes
}

criterion_group!(work_benches, benches);
criterion_main!(work_benches);
