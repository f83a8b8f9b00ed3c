//! The hashing thread: real sha256d over nonces, rolling version bits then extranonce2 when a
//! nonce range is exhausted, throttled to the configured hashrate.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sv1::Extranonce2;
use tokio::sync::mpsc::UnboundedSender;
use work::{coinbase_txid, merkle_root, sha256d, BlockHeader, Target};

use super::job::{Job, JobSlot, Share};
use super::stats::MinerStats;

/// Batches last about this long, which bounds how late a clean job or a stop is noticed.
const BATCH: Duration = Duration::from_millis(20);

pub(crate) fn spawn(
    slot: Arc<JobSlot>,
    stats: Arc<MinerStats>,
    shares: UnboundedSender<Share>,
    hashrate_cap: f64,
    nonce_range: u64,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("v1-miner-hash".into())
        .spawn(move || {
            Hasher {
                slot,
                stats,
                shares,
                throttle: Throttle::new(hashrate_cap),
                nonce_range: nonce_range.clamp(1, 1 << 32),
            }
            .run()
        })
}

struct Hasher {
    slot: Arc<JobSlot>,
    stats: Arc<MinerStats>,
    shares: UnboundedSender<Share>,
    throttle: Throttle,
    nonce_range: u64,
}

impl Hasher {
    fn run(mut self) {
        while !self.stats.stopping() && !self.shares.is_closed() {
            let generation = self.slot.generation();
            match self.slot.current() {
                Some(job) => self.mine(&job, generation),
                None => {
                    // Idle time must not be banked as a burst of hashing later.
                    self.throttle.reset();
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }

    /// Mines `job` until the slot changes or the miner stops.
    fn mine(&mut self, job: &Job, generation: u64) {
        let rolls_per_extranonce = job
            .version_mask
            .map(|mask| 1u64 << mask.count_ones())
            .unwrap_or(1);
        let extranonce_space = 1u128 << (8 * job.extranonce2_size.min(8));
        let mut extranonce_counter: u64 = 0;
        let mut version_counter: u64 = 0;
        loop {
            let extranonce2 =
                match Extranonce2::from_counter(extranonce_counter, job.extranonce2_size) {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::warn!(size = job.extranonce2_size, "cannot mine this job: {e}");
                        self.wait_for_change(generation);
                        return;
                    }
                };
            let version_bits = job
                .version_mask
                .map(|mask| deposit_bits(version_counter, mask));
            let version = match (job.version_mask, version_bits) {
                (Some(mask), Some(bits)) => (job.version & !mask) | bits,
                _ => job.version,
            };
            let txid = coinbase_txid(&[
                &job.coinb1,
                &job.extranonce1,
                extranonce2.as_bytes(),
                &job.coinb2,
            ]);
            let mut header = BlockHeader {
                version,
                prev_hash: job.prev_hash,
                merkle_root: merkle_root(txid, &job.merkle_branch),
                ntime: job.ntime,
                nbits: job.nbits,
                nonce: 0,
            }
            .to_bytes();
            let mut nonce: u64 = 0;
            while nonce < self.nonce_range {
                if self.slot.generation() != generation || self.stats.stopping() {
                    return;
                }
                // Unset difficulty means 1, as in stratum.
                let difficulty = match self.stats.difficulty() {
                    d if d > 0.0 => d,
                    _ => 1.0,
                };
                let target = Target::from_difficulty(difficulty);
                let end = (nonce + self.throttle.batch()).min(self.nonce_range);
                for n in nonce..end {
                    let n = n as u32;
                    header[76..80].copy_from_slice(&n.to_le_bytes());
                    if target.is_met_by(&sha256d(&header)) {
                        let _ = self.shares.send(Share {
                            session: job.session,
                            job_id: job.job_id.clone(),
                            extranonce2,
                            ntime: job.ntime,
                            nonce: n,
                            version_bits,
                        });
                    }
                }
                self.stats.hashes.fetch_add(end - nonce, Ordering::Relaxed);
                self.throttle.account(end - nonce);
                nonce = end;
            }
            version_counter += 1;
            if version_counter >= rolls_per_extranonce {
                version_counter = 0;
                extranonce_counter =
                    ((u128::from(extranonce_counter) + 1) % extranonce_space) as u64;
            }
        }
    }

    fn wait_for_change(&self, generation: u64) {
        while self.slot.generation() == generation && !self.stats.stopping() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Spreads the low bits of `counter` over the set bits of `mask` (a software PDEP), giving
/// every combination of the rollable version bits in turn.
fn deposit_bits(mut counter: u64, mask: u32) -> u32 {
    let mut out = 0u32;
    for bit in 0..32 {
        let position = 1u32 << bit;
        if mask & position != 0 {
            if counter & 1 == 1 {
                out |= position;
            }
            counter >>= 1;
        }
    }
    out
}

/// Holds the average rate at the cap by sleeping once a batch is ahead of schedule.
struct Throttle {
    cap: f64,
    started: Instant,
    done: u64,
}

impl Throttle {
    fn new(cap: f64) -> Self {
        Self {
            cap: if cap.is_finite() && cap > 0.0 {
                cap
            } else {
                f64::MAX
            },
            started: Instant::now(),
            done: 0,
        }
    }

    fn batch(&self) -> u64 {
        ((self.cap * BATCH.as_secs_f64()) as u64).clamp(1, 1 << 22)
    }

    fn reset(&mut self) {
        self.started = Instant::now();
        self.done = 0;
    }

    fn account(&mut self, hashes: u64) {
        self.done += hashes;
        let due = Duration::from_secs_f64(self.done as f64 / self.cap);
        let elapsed = self.started.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        } else if elapsed - due > Duration::from_secs(1) {
            // The CPU cannot keep up; don't sprint to catch up later.
            self.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deposit_bits_fills_the_mask_in_order() {
        assert_eq!(deposit_bits(0, 0x1fffe000), 0);
        assert_eq!(deposit_bits(1, 0x1fffe000), 0x2000);
        assert_eq!(deposit_bits(3, 0x1fffe000), 0x6000);
        assert_eq!(deposit_bits(0xffff, 0x1fffe000), 0x1fffe000);
        assert_eq!(deposit_bits(0b101, 0b1010_0010), 0b1000_0010);
    }
}
