//! Nonce grinding shared by the simulated miners (SV1 and SV2): a dedicated std thread builds
//! block headers from the [`Work`] in its [`WorkSlot`], tries nonces with real sha256d at a
//! capped hashrate, and reports every header that meets the rig's target.
//!
//! When a nonce range is exhausted it rolls the version bits within the work's mask, then the
//! extranonce (when the work has a coinbase to complete), else ntime. What the protocols differ
//! in (where the target comes from, what a found share becomes) is behind [`Rig`].

mod rolling;
mod slot;
mod throttle;

pub(crate) use slot::WorkSlot;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use work::{coinbase_txid, merkle_root, sha256d, BlockHeader, Target};

use rolling::{counter_bytes, deposit_bits};
use throttle::Throttle;

/// How far ntime is rolled past the work's ntime before starting over, in seconds (only when
/// neither version bits nor an extranonce are left to roll; pools accept far more).
const NTIME_ROLL_LIMIT: u32 = 600;

/// One job ready to hash: the header fields and how to get the merkle root.
#[derive(Debug, Clone)]
pub(crate) struct Work<T> {
    /// Echoed in every [`Found`] so the protocol side knows which job a share belongs to.
    pub tag: T,
    pub prev_hash: [u8; 32],
    pub version: u32,
    /// Version bits the miner may roll, `None` when it must not.
    pub version_mask: Option<u32>,
    pub nbits: u32,
    pub ntime: u32,
    pub merkle: MerkleSource,
}

/// Where a header's merkle root comes from.
#[derive(Debug, Clone)]
pub(crate) enum MerkleSource {
    /// Fixed by the server (SV2 standard jobs): header-only mining.
    Fixed([u8; 32]),
    /// A coinbase `prefix + extranonce + suffix` with `extranonce_size` rollable bytes, hashed
    /// up `path` (SV1 jobs, SV2 extended jobs).
    Coinbase {
        prefix: Vec<u8>,
        extranonce_size: usize,
        suffix: Vec<u8>,
        path: Vec<[u8; 32]>,
    },
}

/// A header that met the rig's target.
#[derive(Debug, Clone)]
pub(crate) struct Found<T> {
    pub tag: T,
    /// The rolled extranonce bytes (empty for [`MerkleSource::Fixed`]).
    pub extranonce: Vec<u8>,
    /// The full header version.
    pub version: u32,
    /// The rolled version bits (`version & mask`), `None` when not rolling.
    pub version_bits: Option<u32>,
    pub ntime: u32,
    pub nonce: u32,
    /// sha256d of the header, little-endian.
    pub hash: [u8; 32],
}

/// What a grinding thread is attached to: its target, its counters, where shares go.
pub(crate) trait Rig: Send + 'static {
    type Tag: Clone + Send + Sync + 'static;
    /// The share target, read once per batch so changes apply within milliseconds.
    fn target(&self) -> Target;
    /// Counts hashes done.
    fn hashed(&self, hashes: u64);
    /// Whether the thread should exit.
    fn stopping(&self) -> bool;
    /// Takes a share.
    fn found(&self, share: Found<Self::Tag>);
}

/// Batches last about this long, which bounds how late a new job or a stop is noticed.
const BATCH: Duration = Duration::from_millis(20);

/// Starts a grinding thread on `slot`. `nonce_range` (clamped to 1..=2^32) is how many nonces
/// are tried before rolling; tests shrink it to exercise rolling quickly.
pub(crate) fn spawn<R: Rig>(
    name: &str,
    slot: Arc<WorkSlot<R::Tag>>,
    rig: R,
    hashrate_cap: f64,
    nonce_range: u64,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            Grinder {
                slot,
                rig,
                throttle: Throttle::new(hashrate_cap, BATCH),
                nonce_range: nonce_range.clamp(1, 1 << 32),
            }
            .run()
        })
}

struct Grinder<R: Rig> {
    slot: Arc<WorkSlot<R::Tag>>,
    rig: R,
    throttle: Throttle,
    nonce_range: u64,
}

impl<R: Rig> Grinder<R> {
    fn run(mut self) {
        while !self.rig.stopping() {
            let generation = self.slot.generation();
            match self.slot.current() {
                Some(work) => self.mine(&work, generation),
                None => {
                    // Idle time must not be banked as a burst of hashing later.
                    self.throttle.reset();
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }

    /// Mines `work` until the slot changes or the rig stops.
    fn mine(&mut self, work: &Work<R::Tag>, generation: u64) {
        let rolls_per_step = work
            .version_mask
            .map(|mask| 1u64 << mask.count_ones())
            .unwrap_or(1);
        let extranonce_size = match &work.merkle {
            MerkleSource::Fixed(_) => 0,
            MerkleSource::Coinbase {
                extranonce_size, ..
            } => *extranonce_size,
        };
        let extranonce_space = 1u128 << (8 * extranonce_size.min(8));
        let mut extranonce_counter: u64 = 0;
        let mut ntime_offset: u32 = 0;
        let mut version_counter: u64 = 0;
        loop {
            let extranonce = counter_bytes(extranonce_counter, extranonce_size);
            let version_bits = work
                .version_mask
                .map(|mask| deposit_bits(version_counter, mask));
            let version = match (work.version_mask, version_bits) {
                (Some(mask), Some(bits)) => (work.version & !mask) | bits,
                _ => work.version,
            };
            let root = match &work.merkle {
                MerkleSource::Fixed(root) => *root,
                MerkleSource::Coinbase {
                    prefix,
                    suffix,
                    path,
                    ..
                } => merkle_root(coinbase_txid(&[prefix, &extranonce, suffix]), path),
            };
            let ntime = work.ntime.wrapping_add(ntime_offset);
            let mut header = BlockHeader {
                version,
                prev_hash: work.prev_hash,
                merkle_root: root,
                ntime,
                nbits: work.nbits,
                nonce: 0,
            }
            .to_bytes();
            let mut nonce: u64 = 0;
            while nonce < self.nonce_range {
                if self.slot.generation() != generation || self.rig.stopping() {
                    return;
                }
                let target = self.rig.target();
                let end = (nonce + self.throttle.batch()).min(self.nonce_range);
                for n in nonce..end {
                    let n = n as u32;
                    header[76..80].copy_from_slice(&n.to_le_bytes());
                    let hash = sha256d(&header);
                    if target.is_met_by(&hash) {
                        self.rig.found(Found {
                            tag: work.tag.clone(),
                            extranonce: extranonce.clone(),
                            version,
                            version_bits,
                            ntime,
                            nonce: n,
                            hash,
                        });
                    }
                }
                self.rig.hashed(end - nonce);
                self.throttle.account(end - nonce);
                nonce = end;
            }
            version_counter += 1;
            if version_counter >= rolls_per_step {
                version_counter = 0;
                if extranonce_space > 1 {
                    extranonce_counter =
                        ((u128::from(extranonce_counter) + 1) % extranonce_space) as u64;
                } else {
                    ntime_offset = (ntime_offset + 1) % NTIME_ROLL_LIMIT;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Mutex;

    /// Collects shares; stops after `want` of them.
    struct TestRig {
        target: Target,
        found: Arc<Mutex<Vec<Found<u8>>>>,
        hashes: Arc<AtomicU64>,
        want: usize,
        stop: Arc<AtomicBool>,
    }

    impl Rig for TestRig {
        type Tag = u8;
        fn target(&self) -> Target {
            self.target
        }
        fn hashed(&self, hashes: u64) {
            self.hashes.fetch_add(hashes, Ordering::Relaxed);
        }
        fn stopping(&self) -> bool {
            self.stop.load(Ordering::Relaxed)
        }
        fn found(&self, share: Found<u8>) {
            let mut found = self.found.lock().unwrap();
            found.push(share);
            if found.len() >= self.want {
                self.stop.store(true, Ordering::Relaxed);
            }
        }
    }

    fn grind(work: Work<u8>, nonce_range: u64, want: usize) -> Vec<Found<u8>> {
        let slot = Arc::new(WorkSlot::default());
        slot.publish(Some(work));
        let found = Arc::new(Mutex::new(Vec::new()));
        let rig = TestRig {
            // About one share in 16 hashes.
            target: Target::from_le_bytes({
                let mut t = [0xff; 32];
                t[31] = 0x0f;
                t
            }),
            found: found.clone(),
            hashes: Arc::default(),
            want,
            stop: Arc::default(),
        };
        spawn("grind-test", slot, rig, f64::INFINITY, nonce_range)
            .unwrap()
            .join()
            .unwrap();
        let found = found.lock().unwrap().clone();
        found
    }

    fn header_hash(work: &Work<u8>, share: &Found<u8>) -> [u8; 32] {
        let root = match &work.merkle {
            MerkleSource::Fixed(root) => *root,
            MerkleSource::Coinbase {
                prefix,
                suffix,
                path,
                ..
            } => merkle_root(coinbase_txid(&[prefix, &share.extranonce, suffix]), path),
        };
        BlockHeader {
            version: share.version,
            prev_hash: work.prev_hash,
            merkle_root: root,
            ntime: share.ntime,
            nbits: work.nbits,
            nonce: share.nonce,
        }
        .hash()
    }

    fn work(merkle: MerkleSource, version_mask: Option<u32>) -> Work<u8> {
        Work {
            tag: 7,
            prev_hash: [3; 32],
            version: 0x2000_0000,
            version_mask,
            nbits: 0x1d00_ffff,
            ntime: 1_700_000_000,
            merkle,
        }
    }

    #[test]
    fn coinbase_work_rolls_versions_then_extranonces() {
        let w = work(
            MerkleSource::Coinbase {
                prefix: vec![1, 2, 3],
                extranonce_size: 4,
                suffix: vec![9, 9],
                path: vec![[5; 32]],
            },
            Some(0x0000_6000),
        );
        // 4 nonces per roll, 4 version combinations per extranonce: 40 shares span several.
        let shares = grind(w.clone(), 4, 40);
        let mut extranonces = std::collections::HashSet::new();
        let mut versions = std::collections::HashSet::new();
        for s in &shares {
            assert_eq!(s.tag, 7);
            assert_eq!(s.hash, header_hash(&w, s), "reported hash is the header's");
            assert_eq!(s.version & !0x6000, 0x2000_0000);
            assert_eq!(s.version_bits, Some(s.version & 0x6000));
            assert_eq!(s.ntime, w.ntime);
            assert_eq!(s.extranonce.len(), 4);
            assert!(s.nonce < 4);
            extranonces.insert(s.extranonce.clone());
            versions.insert(s.version);
        }
        assert!(extranonces.len() > 1, "extranonce rolled");
        assert_eq!(versions.len(), 4, "every version combination used");
    }

    #[test]
    fn fixed_root_without_rolling_rolls_ntime() {
        let w = work(MerkleSource::Fixed([8; 32]), None);
        let shares = grind(w.clone(), 8, 20);
        for s in &shares {
            assert_eq!(s.hash, header_hash(&w, s));
            assert!(s.extranonce.is_empty());
            assert_eq!(s.version, w.version);
            assert_eq!(s.version_bits, None);
            assert!(s.ntime >= w.ntime && s.ntime < w.ntime + NTIME_ROLL_LIMIT);
        }
        let ntimes: std::collections::HashSet<_> = shares.iter().map(|s| s.ntime).collect();
        assert!(ntimes.len() > 1, "ntime rolled");
    }
}
