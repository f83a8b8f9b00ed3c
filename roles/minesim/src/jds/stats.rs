//! Counters tests and demos read while the Job Declaration Server runs.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Pushed solutions kept for [`JdsStats::pushed_solutions`]; older ones are only counted.
const KEPT_SOLUTIONS: usize = 1024;

/// A `PushSolution` as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedSolution {
    /// The full extranonce.
    pub extranonce: Vec<u8>,
    /// Previous block hash, internal byte order.
    pub prev_hash: [u8; 32],
    pub nonce: u32,
    pub ntime: u32,
    pub nbits: u32,
    pub version: u32,
}

#[derive(Debug, Default)]
struct Lists {
    refused: HashMap<String, u64>,
    solutions: VecDeque<PushedSolution>,
}

/// JDS-wide counters; safe to read from any thread at any time.
#[derive(Debug, Default)]
pub struct JdsStats {
    connected_clients: AtomicUsize,
    tokens_allocated: AtomicU64,
    jobs_declared: AtomicU64,
    declarations_refused: AtomicU64,
    missing_tx_requests: AtomicU64,
    solutions_pushed: AtomicU64,
    lists: Mutex<Lists>,
}

impl JdsStats {
    /// Clients past `SetupConnection`, not yet disconnected.
    pub fn connected_clients(&self) -> usize {
        self.connected_clients.load(Ordering::SeqCst)
    }

    /// `AllocateMiningJobToken.Success` sent.
    pub fn tokens_allocated(&self) -> u64 {
        self.tokens_allocated.load(Ordering::SeqCst)
    }

    /// `DeclareMiningJob.Success` sent.
    pub fn jobs_declared(&self) -> u64 {
        self.jobs_declared.load(Ordering::SeqCst)
    }

    /// `DeclareMiningJob.Error` sent, whatever the code.
    pub fn declarations_refused(&self) -> u64 {
        self.declarations_refused.load(Ordering::SeqCst)
    }

    /// `DeclareMiningJob.Error` sent with `code` (`invalid-mining-job-token`, ...).
    pub fn refused_with(&self, code: &str) -> u64 {
        self.lock().refused.get(code).copied().unwrap_or(0)
    }

    /// `ProvideMissingTransactions` sent.
    pub fn missing_tx_requests(&self) -> u64 {
        self.missing_tx_requests.load(Ordering::SeqCst)
    }

    /// `PushSolution` received since the start.
    pub fn solutions_pushed(&self) -> u64 {
        self.solutions_pushed.load(Ordering::SeqCst)
    }

    /// The most recent pushed solutions, oldest first.
    pub fn pushed_solutions(&self) -> Vec<PushedSolution> {
        self.lock().solutions.iter().cloned().collect()
    }

    pub(crate) fn client_connected(&self) {
        self.connected_clients.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn client_disconnected(&self) {
        self.connected_clients.fetch_sub(1, Ordering::SeqCst);
    }

    pub(crate) fn token_allocated(&self) {
        self.tokens_allocated.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn job_declared(&self) {
        self.jobs_declared.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn declaration_refused(&self, code: &str) {
        *self.lock().refused.entry(code.to_string()).or_default() += 1;
        self.declarations_refused.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn missing_txs_requested(&self) {
        self.missing_tx_requests.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn solution_pushed(&self, solution: PushedSolution) {
        let mut lists = self.lock();
        if lists.solutions.len() >= KEPT_SOLUTIONS {
            lists.solutions.pop_front();
        }
        lists.solutions.push_back(solution);
        self.solutions_pushed.fetch_add(1, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lists> {
        // A panic while holding the lock leaves plain counters behind: keep using them.
        self.lists.lock().unwrap_or_else(|p| p.into_inner())
    }
}
