use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::miner_handle::StopFlag;

/// Counters a miner updates as it runs; tests read them at any time.
#[derive(Debug, Default)]
pub struct MinerStats {
    pub shares_submitted: AtomicU64,
    pub shares_accepted: AtomicU64,
    pub shares_rejected: AtomicU64,
    pub jobs_received: AtomicU64,
    pub clean_jobs_received: AtomicU64,
    /// Successful connections after the first one.
    pub reconnects: AtomicU64,
    /// Hashes computed since start.
    pub hashes: AtomicU64,
    connected: AtomicBool,
    stopping: AtomicBool,
    difficulty_bits: AtomicU64,
    last_job_id: Mutex<Option<String>>,
}

impl MinerStats {
    pub fn shares_submitted(&self) -> u64 {
        self.shares_submitted.load(Ordering::Relaxed)
    }
    pub fn shares_accepted(&self) -> u64 {
        self.shares_accepted.load(Ordering::Relaxed)
    }
    pub fn shares_rejected(&self) -> u64 {
        self.shares_rejected.load(Ordering::Relaxed)
    }
    pub fn jobs_received(&self) -> u64 {
        self.jobs_received.load(Ordering::Relaxed)
    }
    pub fn clean_jobs_received(&self) -> u64 {
        self.clean_jobs_received.load(Ordering::Relaxed)
    }
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
    pub fn hashes(&self) -> u64 {
        self.hashes.load(Ordering::Relaxed)
    }
    /// Whether the miner is connected and past its handshake.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
    /// The difficulty set by the server (0 before any `mining.set_difficulty`).
    pub fn difficulty(&self) -> f64 {
        f64::from_bits(self.difficulty_bits.load(Ordering::Relaxed))
    }
    pub fn last_job_id(&self) -> Option<String> {
        self.last_job_id.lock().ok().and_then(|g| g.clone())
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
    }
    pub(crate) fn set_difficulty(&self, difficulty: f64) {
        self.difficulty_bits
            .store(difficulty.to_bits(), Ordering::Relaxed);
    }
    pub(crate) fn set_last_job_id(&self, job_id: &str) {
        if let Ok(mut slot) = self.last_job_id.lock() {
            *slot = Some(job_id.to_owned());
        }
    }
    /// Whether the miner has stopped or is stopping (it does after a disconnect when not
    /// reconnecting).
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

impl StopFlag for MinerStats {
    fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }
}
