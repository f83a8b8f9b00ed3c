//! The core's per-share and per-job work, timed through the core's own functions.
//!
//! - `share/hash_share`: rebuilding and hashing the header of an SV1 share (coinbase txid,
//!   12-branch merkle root, sha256d) with [`share::hash_share`];
//! - `share/validate/accepted` and `share/validate/low_difficulty`: `hash_share` plus the
//!   device-target check and credit ([`share::credited_target`]) as `Core::accept_share` runs
//!   them, for a share meeting the device's target and one that does not;
//! - `job/on_upstream_job`: an upstream extended job turned into the [`DeviceJob`] devices
//!   get, in a job book at steady state (full, so each new job also evicts the oldest);
//! - `job/new_tip`: a future job plus SetNewPrevHash, issuing the clean job of a new block;
//! - `job/notify_line`: the `mining.notify` line every SV1 device on a job receives (encoded
//!   once per job and shared);
//! - `job/set_difficulty_line`: a vardiff change for one device.
//!
//! Jobs have 12 merkle branches and a ~200-byte coinbase. The device difficulty is tiny so a
//! valid share can be mined once at start-up; validation costs the same at any difficulty.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use hashrouter::core::jobs::{ExtranonceLayout, JobBook};
use hashrouter::core::share::{self, DeviceShare, ValidShare};
use hashrouter::core::{lines, DeviceJob, PrevHash, UpstreamJob, VERSION_ROLLING_MASK};
use sv1::{parse_server, ServerMessage};
use work::{coinbase_txid, merkle_root, BlockHeader, Target};

/// The device's id, then its 4 rolled extranonce2 bytes (the node's default for SV1).
const DEVICE_ID: [u8; 4] = [0, 0, 0, 7];
const EXTRANONCE2: [u8; 4] = [0, 0, 0xa3, 0xf1];
const VERSION_BITS: u32 = 0x00a4_c000;
/// Low enough that a share is found in a few thousand hashes.
const DEVICE_DIFFICULTY: f64 = 1.0 / 4096.0;

fn layout() -> ExtranonceLayout {
    ExtranonceLayout {
        upstream_prefix: vec![0x1d, 0, 0, 3],
        padding: 0,
    }
}

fn prev_hash(job_id: u32) -> PrevHash {
    PrevHash {
        job_id,
        prev_hash: std::array::from_fn(|i| (i as u8).wrapping_mul(7)),
        min_ntime: 1_732_412_345,
        nbits: 0x1702_8c61,
    }
}

/// A pool's extended job; `future` ones wait for their SetNewPrevHash.
fn upstream_job(job_id: u32, future: bool) -> UpstreamJob {
    UpstreamJob {
        job_id,
        min_ntime: (!future).then_some(1_732_412_345),
        version: 0x2000_0000,
        version_rolling_allowed: true,
        merkle_path: (0..12u8)
            .map(|i| [i.wrapping_mul(37).wrapping_add(1); 32])
            .collect(),
        coinbase_prefix: (0..80u8).collect(),
        coinbase_suffix: (0..110u8).rev().collect(),
    }
}

/// A job book on a chain tip, already holding more jobs than it keeps.
fn steady_book(now: Instant) -> JobBook {
    let mut book = JobBook::new(0);
    assert!(book.on_prev_hash(prev_hash(1), &layout(), 1, now).is_none());
    for id in 2..300 {
        assert!(book
            .on_upstream_job(upstream_job(id, false), &layout(), 1, now)
            .is_some());
    }
    book
}

fn device_share(nonce: u32, ntime: u32) -> DeviceShare<'static> {
    DeviceShare {
        extranonce_prefix: &DEVICE_ID,
        rolled_extranonce: &EXTRANONCE2,
        ntime,
        nonce,
        version_bits: Some(VERSION_BITS),
        strict_version: false,
    }
}

/// What the core does with an SV1 share once its job is found: hash it, then credit it.
fn validate(job: &DeviceJob, share: &DeviceShare<'_>, target: Target, now: Instant) -> bool {
    match share::hash_share(job, share, VERSION_ROLLING_MASK, EXTRANONCE2.len(), now) {
        Ok(valid) => share::credited_target(&valid.hash, job.id, target, None).is_some(),
        Err(_) => false,
    }
}

/// The header hash computed independently with the `work` crate, to check `hash_share`.
fn expected_hash(job: &DeviceJob, share: &DeviceShare<'_>) -> [u8; 32] {
    let txid = coinbase_txid(&[&job.coinb1, &DEVICE_ID, &EXTRANONCE2, &job.coinb2]);
    BlockHeader {
        version: (job.version & !VERSION_ROLLING_MASK) | VERSION_BITS,
        prev_hash: job.prev_hash,
        merkle_root: merkle_root(txid, &job.merkle_path),
        ntime: share.ntime,
        nbits: job.nbits,
        nonce: share.nonce,
    }
    .hash()
}

fn shares(c: &mut Criterion) {
    let now = Instant::now();
    let mut book = steady_book(now);
    let job: Arc<DeviceJob> = book
        .on_upstream_job(upstream_job(300, false), &layout(), 1, now)
        .unwrap();
    let target = Target::from_difficulty(DEVICE_DIFFICULTY);
    let hash = |nonce| -> ValidShare {
        share::hash_share(
            &job,
            &device_share(nonce, job.ntime),
            VERSION_ROLLING_MASK,
            EXTRANONCE2.len(),
            now,
        )
        .unwrap()
    };
    let good = (0..1u32 << 20)
        .find(|&n| target.is_met_by(&hash(n).hash))
        .expect("a share within 2^20 nonces at difficulty 1/4096");
    let bad = (0..u32::MAX)
        .find(|&n| !target.is_met_by(&hash(n).hash))
        .unwrap();
    let accepted = device_share(good, job.ntime);
    let refused = device_share(bad, job.ntime);
    assert_eq!(hash(good).hash, expected_hash(&job, &accepted));
    assert_eq!(hash(bad).hash, expected_hash(&job, &refused));
    assert!(validate(&job, &accepted, target, now));
    assert!(!validate(&job, &refused, target, now));

    c.benchmark_group("share")
        .bench_function("hash_share", |b| {
            b.iter(|| {
                share::hash_share(
                    black_box(&job),
                    black_box(&accepted),
                    VERSION_ROLLING_MASK,
                    EXTRANONCE2.len(),
                    now,
                )
                .unwrap()
            })
        });
    let mut group = c.benchmark_group("share/validate");
    group.bench_function("accepted", |b| {
        b.iter(|| validate(black_box(&job), black_box(&accepted), target, now))
    });
    group.bench_function("low_difficulty", |b| {
        b.iter(|| validate(black_box(&job), black_box(&refused), target, now))
    });
    group.finish();
}

fn jobs(c: &mut Criterion) {
    let now = Instant::now();
    let layout = layout();
    let mut book = steady_book(now);
    let mut next_id = 1_000;
    let pool_job = upstream_job(next_id, false);
    let job = book
        .on_upstream_job(pool_job.clone(), &layout, 1, now)
        .unwrap();
    // The device job carries the upstream extranonce prefix in coinb1 and the pool's suffix.
    let mut coinb1 = pool_job.coinbase_prefix.clone();
    coinb1.extend_from_slice(&layout.upstream_prefix);
    assert_eq!(
        (&job.coinb1, &job.coinb2),
        (&coinb1, &pool_job.coinbase_suffix)
    );
    assert_eq!(job.merkle_path, pool_job.merkle_path);
    let mut group = c.benchmark_group("job");
    group.bench_function("on_upstream_job", |b| {
        b.iter_batched(
            || pool_job.clone(),
            |upstream| book.on_upstream_job(upstream, &layout, 1, now).unwrap(),
            BatchSize::SmallInput,
        )
    });

    next_id += 1;
    let waiting = book.on_upstream_job(upstream_job(next_id, true), &layout, 1, now);
    assert!(waiting.is_none(), "a future job waits for its tip");
    let clean = book
        .on_prev_hash(prev_hash(next_id), &layout, 1, now)
        .unwrap();
    assert!(clean.clean && clean.upstream_job_id == next_id);
    group.bench_function("new_tip", |b| {
        b.iter_batched(
            || {
                next_id += 1;
                (upstream_job(next_id, true), prev_hash(next_id))
            },
            |(future, prev)| {
                book.on_upstream_job(future, &layout, 1, now);
                book.on_prev_hash(prev, &layout, 1, now).unwrap()
            },
            BatchSize::SmallInput,
        )
    });

    let line = lines::notify(&job, true);
    match parse_server(&line[..line.len() - 1]).unwrap() {
        ServerMessage::Notify(n) => {
            assert_eq!(n.job_id, format!("{:x}", job.id));
            assert_eq!(
                (n.coinb1, n.coinb2),
                (job.coinb1.clone(), job.coinb2.clone())
            );
            assert_eq!(n.merkle_branch, job.merkle_path);
            assert_eq!(
                (n.prev_hash, n.nbits, n.ntime),
                (job.prev_hash, job.nbits, job.ntime)
            );
            assert!(n.clean_jobs);
        }
        other => panic!("not a notify: {other:?}"),
    }
    group.bench_function("notify_line", |b| {
        b.iter(|| lines::notify(black_box(&job), true))
    });
    assert!(lines::set_difficulty(2048.0).is_some());
    group.bench_function("set_difficulty_line", |b| {
        b.iter(|| lines::set_difficulty(black_box(2048.0)).unwrap())
    });
    group.finish();
}

criterion_group!(hot_paths, shares, jobs);
criterion_main!(hot_paths);
