//! The jobs a JDS accepted, by the token it handed out for them: what a pool consults when a
//! `SetCustomMiningJob` names a token. Shared (a cloneable handle) and bounded.

use bitcoin::TxOut;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// One accepted declaration (`DeclareMiningJob.Success`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredJob {
    /// `DeclareMiningJob.Success.new_mining_job_token`: what `SetCustomMiningJob.token` carries.
    pub token: Vec<u8>,
    pub version: u32,
    /// The declared coinbase (segwit serialization) around the extranonce.
    pub coinbase_tx_prefix: Vec<u8>,
    pub coinbase_tx_suffix: Vec<u8>,
    /// The declared coinbase's outputs, decoded.
    pub coinbase_outputs: Vec<TxOut>,
    /// wtxids of the block's other transactions, in block order, internal byte order.
    pub wtxids: Vec<[u8; 32]>,
}

#[derive(Debug)]
struct Registry {
    jobs: HashMap<Vec<u8>, DeclaredJob>,
    // Insertion order, for evicting the oldest.
    order: VecDeque<Vec<u8>>,
    capacity: usize,
}

/// Accepted declarations by token, oldest forgotten first past the capacity. Clones share the
/// same registry.
#[derive(Debug, Clone)]
pub struct DeclaredJobs {
    inner: Arc<Mutex<Registry>>,
}

impl Default for DeclaredJobs {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl DeclaredJobs {
    /// An empty registry remembering at most `capacity` jobs (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Registry {
                jobs: HashMap::new(),
                order: VecDeque::new(),
                capacity: capacity.max(1),
            })),
        }
    }

    /// The job declared under `token`, if it is still remembered.
    pub fn get(&self, token: &[u8]) -> Option<DeclaredJob> {
        self.lock().jobs.get(token).cloned()
    }

    pub fn contains(&self, token: &[u8]) -> bool {
        self.lock().jobs.contains_key(token)
    }

    /// Jobs remembered now.
    pub fn len(&self) -> usize {
        self.lock().jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers `job` under its token (a JDS does this; tests may too).
    pub fn insert(&self, job: DeclaredJob) {
        let mut r = self.lock();
        if r.jobs.contains_key(&job.token) {
            r.jobs.insert(job.token.clone(), job);
            return;
        }
        if r.order.len() >= r.capacity {
            if let Some(oldest) = r.order.pop_front() {
                r.jobs.remove(&oldest);
            }
        }
        r.order.push_back(job.token.clone());
        r.jobs.insert(job.token.clone(), job);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // Every mutation leaves the map and its order consistent: keep using it after a panic.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
