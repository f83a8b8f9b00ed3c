use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sv1::Extranonce2;

/// Everything the hashing thread needs to build headers for one job on one connection.
#[derive(Debug)]
pub(crate) struct Job {
    /// Connection number, so shares found for a previous connection are dropped.
    pub session: u64,
    pub job_id: String,
    pub prev_hash: [u8; 32],
    pub coinb1: Vec<u8>,
    pub coinb2: Vec<u8>,
    pub merkle_branch: Vec<[u8; 32]>,
    pub version: u32,
    pub nbits: u32,
    pub ntime: u32,
    pub extranonce1: Vec<u8>,
    pub extranonce2_size: usize,
    /// Granted version-rolling mask, `None` when not rolling.
    pub version_mask: Option<u32>,
}

/// A nonce that met the target, on its way to `mining.submit`.
#[derive(Debug)]
pub(crate) struct Share {
    pub session: u64,
    pub job_id: String,
    pub extranonce2: Extranonce2,
    pub ntime: u32,
    pub nonce: u32,
    pub version_bits: Option<u32>,
}

/// The job currently mined, swapped by the connection task and polled by the hashing thread
/// between batches (the generation number makes the poll a single atomic load).
#[derive(Debug, Default)]
pub(crate) struct JobSlot {
    current: Mutex<Option<Arc<Job>>>,
    generation: AtomicU64,
}

impl JobSlot {
    pub fn publish(&self, job: Option<Job>) {
        if let Ok(mut slot) = self.current.lock() {
            *slot = job.map(Arc::new);
        }
        self.generation.fetch_add(1, Ordering::Release);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn current(&self) -> Option<Arc<Job>> {
        self.current.lock().ok().and_then(|slot| slot.clone())
    }
}
